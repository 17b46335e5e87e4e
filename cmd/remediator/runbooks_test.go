package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/remediations/builtin"
)

// bundledRunbooks is the shipped set, compiled, for the tests to compare with.
func bundledRunbooks(t *testing.T) []*runbook.Runbook {
	t.Helper()
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.Defaults(catalog)
	if err != nil {
		t.Fatal(err)
	}
	return set.Runbooks
}

// TestRunbooksExportLoads: the exported file is a config that serve loads,
// and its runbooks are the bundled ones (names, matchers, targets, steps and
// params, in order), alone: include_default_runbooks: false keeps the
// bundled set from being appended after them.
func TestRunbooksExportLoads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "remediator.yaml")

	code, stdout, stderr := runPromptly(t, []string{"runbooks", "export", "-o", file})
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, file) {
		t.Errorf("stdout does not name %s:\n%s", file, stdout)
	}
	written, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	// Without -o the same document goes to stdout.
	if code, stdout, stderr := runPromptly(t, []string{"runbooks", "export"}); code != 0 || stdout != string(written) {
		t.Errorf("export to stdout: exit %d, stderr %q; differs from the file: %t", code, stderr, stdout != string(written))
	}

	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file, catalog)
	if err != nil {
		t.Fatalf("the exported file does not load: %v", err)
	}
	if cfg.IncludeDefaultRunbooks == nil || *cfg.IncludeDefaultRunbooks {
		t.Errorf("include_default_runbooks is %v, want false", cfg.IncludeDefaultRunbooks)
	}
	bundled := bundledRunbooks(t)
	got, want := cfg.RunbookSet.Runbooks, bundled
	if len(got) != len(want) {
		t.Fatalf("loaded %d runbooks, want the %d bundled ones (and no duplicates)", len(got), len(want))
	}
	for i := range want {
		// listRunbook holds every user-written field: name, description,
		// matchers, target, escalate_after, steps with params and targets.
		g, w := listRunbook(got[i]), listRunbook(want[i])
		if !reflect.DeepEqual(g, w) {
			t.Errorf("runbook %d:\n got  %+v\n want %+v", i, g, w)
		}
	}

	// Like policy export, a second export does not overwrite the file.
	code, _, stderr = runPromptly(t, []string{"runbooks", "export", "--output", file})
	if code != 1 || !strings.Contains(stderr, "not overwriting") {
		t.Errorf("export over an existing file: exit %d, stderr %q; want 1 and a refusal", code, stderr)
	}
}

// TestRunbooksList: `runbooks` lists every bundled runbook with its matchers,
// in text and JSON; with --config the user's runbooks come first, marked user.
func TestRunbooksList(t *testing.T) {
	bundled := bundledRunbooks(t)
	cfgFile := filepath.Join(t.TempDir(), "remediator.yaml")
	const userYAML = `runbooks:
  - name: CheckoutDown
    match: ['alertname="CheckoutDown"', 'team="payments"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve:
      - action: kubernetes.rollout_restart
  - name: HighCPUUsage
    match: ['alertname="HighCPUUsage"', 'namespace="shop"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve:
      - action: kubernetes.scale
        params: {step: 1, max_replicas: 4}
`
	if err := os.WriteFile(cfgFile, []byte(userYAML), 0o644); err != nil {
		t.Fatal(err)
	}

	type entry struct{ name, source, match string }
	var bundledOnly, withUser []entry
	withUser = []entry{
		{"CheckoutDown", "user", `alertname="CheckoutDown", team="payments"`},
		{"HighCPUUsage", "user", `alertname="HighCPUUsage", namespace="shop"`},
	}
	for _, r := range bundled {
		var ms []string
		for _, m := range r.Match {
			ms = append(ms, m.String())
		}
		e := entry{r.Name, "bundled", strings.Join(ms, ", ")}
		bundledOnly = append(bundledOnly, e)
		if r.Name != "HighCPUUsage" { // replaced by the user's
			withUser = append(withUser, e)
		}
	}

	tests := []struct {
		name string
		args []string
		want []entry // in this order
	}{
		{"bundled", []string{"runbooks"}, bundledOnly},
		{"bundled, list named", []string{"runbooks", "list"}, bundledOnly},
		{"with a config", []string{"runbooks", "--config", cfgFile}, withUser},
	}
	for _, tc := range tests {
		t.Run(tc.name+" text", func(t *testing.T) {
			code, stdout, stderr := runPromptly(t, tc.args)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			blocks := strings.Split(strings.TrimSpace(stdout), "\n\n")
			if len(blocks) != len(tc.want) {
				t.Fatalf("%d blocks, want %d:\n%s", len(blocks), len(tc.want), stdout)
			}
			for i, w := range tc.want {
				b := blocks[i]
				if head := strings.SplitN(b, "\n", 2)[0]; !strings.HasPrefix(head, w.name+" ("+w.source) {
					t.Errorf("block %d starts %q, want %s (%s ...)", i, head, w.name, w.source)
				}
				if !strings.Contains(b, "\n  match:       "+w.match+"\n") {
					t.Errorf("block %d (%s) lacks the matchers %s:\n%s", i, w.name, w.match, b)
				}
				if !strings.Contains(b, "\n    1. ") {
					t.Errorf("block %d (%s) lists no resolution option:\n%s", i, w.name, b)
				}
			}
		})
		t.Run(tc.name+" json", func(t *testing.T) {
			code, stdout, stderr := runPromptly(t, append(tc.args, "-o", "json"))
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			var doc struct {
				Runbooks []struct {
					Name, Source string
					Match        []string
					Resolve      []struct{ Action string }
				}
			}
			if err := json.Unmarshal([]byte(stdout), &doc); err != nil {
				t.Fatalf("not JSON: %v\n%s", err, stdout)
			}
			if len(doc.Runbooks) != len(tc.want) {
				t.Fatalf("%d runbooks, want %d", len(doc.Runbooks), len(tc.want))
			}
			for i, w := range tc.want {
				r := doc.Runbooks[i]
				if r.Name != w.name || r.Source != w.source || strings.Join(r.Match, ", ") != w.match || len(r.Resolve) == 0 {
					t.Errorf("runbook %d = %+v, want %s (%s) matching %s with resolution options", i, r, w.name, w.source, w.match)
				}
			}
		})
	}

	// The user's HighCPUUsage says it replaces the bundled one.
	_, stdout, _ := runPromptly(t, []string{"runbooks", "-c", cfgFile})
	if !strings.Contains(stdout, "HighCPUUsage (user, replaces the bundled one)") {
		t.Errorf("the user's HighCPUUsage is not marked as replacing the bundled one:\n%s", stdout)
	}
}
