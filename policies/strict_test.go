package policies_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/policies"
)

// exportTo writes the bundled policy to a fresh directory, as
// `remediator policy export` does, and returns it.
func exportTo(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	src := policies.BundledFS()
	names, err := fs.Glob(src, "*.rego")
	if err != nil || len(names) == 0 {
		t.Fatalf("bundled policy files: %v, %v", names, err)
	}
	for _, n := range names {
		b, err := fs.ReadFile(src, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadRefusesBadConfig: a setting the policy does not know, or one with a
// bad value, refuses the load with the policy's own message, naming the key
// (and, for a typo, the key that was meant), not only a failing Rego test.
func TestLoadRefusesBadConfig(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		bundled  bool
		exported bool // load an exported copy of the bundled policy instead
		want     []string
	}{
		{
			name: "typo in a key", bundled: true,
			data: `{"remediator": {"config": {"alowed_namespaces": ["order-context"]}}}`,
			want: []string{`data.remediator.config: unknown key "alowed_namespaces" (did you mean "allowed_namespaces"?)`},
		},
		{
			name: "unknown key unlike any", bundled: true,
			data: `{"remediator": {"config": {"zzz": 1}}}`,
			want: []string{`data.remediator.config: unknown key "zzz"`},
		},
		{
			name: "bad value", bundled: true,
			data: `{"remediator": {"config": {"max_replicas": "twelve"}}}`,
			want: []string{"config max_replicas must be a non-negative number"},
		},
		{
			name: "typo in an exported policy loaded without the bundled one", exported: true,
			data: `{"remediator": {"config": {"max_replica": 3}}}`,
			want: []string{`unknown key "max_replica" (did you mean "max_replicas"?)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			opts := []policies.Option{policies.WithDir(dir)}
			if tc.exported {
				dir = exportTo(t)
				opts = []policies.Option{policies.WithDir(dir), policies.WithoutBundled()}
			}
			writeFiles(t, dir, map[string]string{"config.json": tc.data})
			_, err := policies.New(context.Background(), opts...)
			if err == nil {
				t.Fatal("New accepted a bad configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), "test_loaded_config_is_valid") {
				t.Errorf("error %q names a Rego test rather than only saying what is wrong", err)
			}
			set, err := policies.Load(dir, !tc.exported)
			if err != nil {
				t.Fatal(err)
			}
			err = set.Check(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want[0]) {
				t.Fatalf("Set.Check = %v, want it to say %q", err, tc.want[0])
			}
		})
	}
}

// TestConfigKeyTakesEffect is the positive control of the typo: the key
// spelt right loads, and a namespace outside allowed_namespaces is denied.
func TestConfigKeyTakesEffect(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"config.json": `{"remediator": {"config": {"allowed_namespaces": ["payment-context"]}}}`,
		"mine.json":   `{"remediator": {"custom": {"freeze": true}}}`,
	})
	e, _ := newEngine(t, policies.WithDir(dir))
	d, err := e.Decide(context.Background(), baseInput()) // namespace order-context
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow {
		t.Fatalf("an action outside allowed_namespaces was allowed: %+v", d)
	}
	in := baseInput()
	in.Target.Namespace = "payment-context"
	if d, err := e.Decide(context.Background(), in); err != nil || !d.Allow {
		t.Fatalf("an action inside allowed_namespaces: %+v, %v", d, err)
	}
}

// TestExportedPolicyBesideBundled: an exported policy loaded beside the
// bundled one is refused at load, naming a rule both define and the flag
// that replaces the bundled policy; with that flag it loads and decides.
func TestExportedPolicyBesideBundled(t *testing.T) {
	dir := exportTo(t)
	_, err := policies.New(context.Background(), policies.WithDir(dir))
	if err == nil {
		t.Fatal("New accepted an exported policy beside the bundled one")
	}
	for _, w := range []string{"is defined by both the bundled policy and " + dir, "--no-bundled-policy", "rule data.remediator."} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not say %q", err, w)
		}
	}
	if _, err := policies.Load(dir, true); err == nil || !strings.Contains(err.Error(), "--no-bundled-policy") {
		t.Errorf("Load = %v, want the conflict named", err)
	}

	e, _ := newEngine(t, policies.WithDir(dir), policies.WithoutBundled())
	if d, err := e.Decide(context.Background(), baseInput()); err != nil || !d.Allow {
		t.Fatalf("exported policy with WithoutBundled: %+v, %v", d, err)
	}
}

// TestReloadRefusesBadConfig: a typo introduced while serving is refused on
// reload; the old policy keeps deciding.
func TestReloadRefusesBadConfig(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.json": maxReplicasData(7)})
	e, reg := newEngine(t, policies.WithDir(dir))
	writeFiles(t, dir, map[string]string{"config.json": `{"remediator": {"config": {"max_replica": 9}}}`})
	err := e.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), `unknown key "max_replica" (did you mean "max_replicas"?)`) {
		t.Fatalf("Reload = %v", err)
	}
	if got := metricstest.Gathered(t, reg, "remediator_policy_reloads_total", map[string]string{"result": "failure"}); got != 1 {
		t.Errorf("reloads{result=failure} = %v, want 1", got)
	}
	if got := decidedMax(t, e); got != int64(7) {
		t.Fatalf("after a refused reload max_replicas = %v, want the old 7", got)
	}
}
