package dispatch_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/builtin"
)

// cpuAlert is a firing HighCPUUsage alert for one Deployment.
func cpuAlert(fp, namespace, deployment string) alert.Alert {
	return alert.Alert{Alert: template.Alert{
		Status:      "firing",
		Labels:      template.KV{"alertname": "HighCPUUsage", "namespace": namespace, "deployment": deployment},
		StartsAt:    time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
		Fingerprint: fp,
	}}
}

func defaultRunbooks(t testing.TB) *runbook.Set {
	t.Helper()
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	set, err := runbook.Defaults(catalog)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

func engine(t testing.TB, opts ...policies.Option) *policies.Engine {
	t.Helper()
	e, err := policies.New(context.Background(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// policyDir writes a complete replacement policy (loaded without the bundled one).
func policyDir(t *testing.T, rego string) policies.Option {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.rego"), []byte(rego), 0o644); err != nil {
		t.Fatal(err)
	}
	return policies.WithDir(dir)
}

func processor(t *testing.T, set *runbook.Set, e *policies.Engine) (*dispatch.Processor, *state.Memory) {
	t.Helper()
	st := state.NewMemory(nil)
	return &dispatch.Processor{
		Runbooks: set, Policy: e, State: st, Executor: remediations.DryRun{}, DryRun: true,
		Log: discard(), Metrics: dispatch.NewMetrics(nil),
	}, st
}

func TestProcess(t *testing.T) {
	set := defaultRunbooks(t)
	tests := []struct {
		name     string
		policy   []policies.Option
		alert    alert.Alert
		status   string
		chosen   int
		options  int    // options considered
		codes    string // deny codes of option 1, comma-joined
		recorded int    // actions recorded in state for the target
	}{
		{
			name:  "first allowed option is planned",
			alert: cpuAlert("f1", "shop", "web"), status: dispatch.StatusPlanned, chosen: 1, options: 1, recorded: 1,
		},
		{
			name:   "resolved alerts never act",
			alert:  func() alert.Alert { a := cpuAlert("f1", "shop", "web"); a.Status = "resolved"; return a }(),
			status: dispatch.StatusResolved,
		},
		{
			name:   "no runbook",
			alert:  alert.Alert{Alert: template.Alert{Status: "firing", Labels: template.KV{"alertname": "Nope"}, Fingerprint: "f2"}},
			status: dispatch.StatusNoRunbook,
		},
		{
			name:   "labels name no target",
			alert:  alert.Alert{Alert: template.Alert{Status: "firing", Labels: template.KV{"alertname": "HighCPUUsage"}, Fingerprint: "f3"}},
			status: dispatch.StatusInvalidTarget,
		},
		{
			name:   "policy evaluation error denies every option (fail closed)",
			policy: []policies.Option{policies.WithoutBundled(), policyDir(t, "package remediator\n\ndecision := {\"allow\": true} if true\n\ndecision := {\"allow\": false} if true\n")},
			alert:  cpuAlert("f4", "shop", "web"), status: dispatch.StatusDenied, options: 3, codes: "policy_error",
		},
		{
			name:   "undefined decision denies (fail closed)",
			policy: []policies.Option{policies.WithoutBundled(), policyDir(t, "package remediator\n\ndecision := {\"allow\": true} if input.never\n")},
			alert:  cpuAlert("f5", "shop", "web"), status: dispatch.StatusDenied, options: 3, codes: "policy_error",
		},
		{
			name: "policy that returns invalid params is denied",
			policy: []policies.Option{policies.WithoutBundled(), policyDir(t,
				"package remediator\n\ndecision := {\"allow\": true, \"reasons\": [\"ok\"], \"params\": {\"step\": \"lots\"}}\n")},
			alert: cpuAlert("f6", "shop", "web"), status: dispatch.StatusDenied, options: 3, codes: "invalid_policy_params",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, st := processor(t, set, engine(t, tc.policy...))
			out := p.Process(context.Background(), tc.alert)
			if out.Status != tc.status || out.Chosen != tc.chosen || len(out.Options) != tc.options {
				t.Fatalf("outcome: status %q chosen %d options %d; want %q %d %d\n%+v", out.Status, out.Chosen, len(out.Options), tc.status, tc.chosen, tc.options, out)
			}
			if tc.codes != "" {
				d := out.Options[0].Decision
				if d == nil || d.Allow || strings.Join(d.Codes, ",") != tc.codes {
					t.Fatalf("option 1 decision = %+v, want denied with %s", d, tc.codes)
				}
				for _, o := range out.Options {
					if o.Result != nil {
						t.Fatalf("option %d ran although denied", o.Option)
					}
				}
			}
			h, _ := st.History(context.Background(), "Deployment/shop/web", "kubernetes.scale")
			if h.TargetActionsLastHour != tc.recorded {
				t.Fatalf("actions recorded = %d, want %d", h.TargetActionsLastHour, tc.recorded)
			}
		})
	}
}

// TestCooldownFallsThrough: the second alert for a target finds scaling in
// its cooldown and takes the runbook's next option.
func TestCooldownFallsThrough(t *testing.T) {
	p, _ := processor(t, defaultRunbooks(t), engine(t))
	first := p.Process(context.Background(), cpuAlert("a", "shop", "web"))
	second := p.Process(context.Background(), cpuAlert("b", "shop", "web"))
	other := p.Process(context.Background(), cpuAlert("c", "shop", "api"))
	if first.Chosen != 1 || second.Chosen != 2 || other.Chosen != 1 {
		t.Fatalf("chosen: first %d second %d other target %d; want 1 2 1", first.Chosen, second.Chosen, other.Chosen)
	}
	if d := second.Options[0].Decision; d == nil || strings.Join(d.Codes, ",") != "cooldown" {
		t.Fatalf("second alert option 1: %+v", d)
	}
}

// TestTargetLock: alerts for one target processed concurrently still see
// each other's actions: exactly one of them scales.
func TestTargetLock(t *testing.T) {
	p, _ := processor(t, defaultRunbooks(t), engine(t))
	const n = 8
	var wg sync.WaitGroup
	outs := make([]dispatch.Outcome, n)
	for i := range n {
		wg.Go(func() { outs[i] = p.Process(context.Background(), cpuAlert(string(rune('a'+i)), "shop", "web")) })
	}
	wg.Wait()
	scaled := 0
	for _, o := range outs {
		if o.Chosen == 1 {
			scaled++
		}
	}
	if scaled != 1 {
		t.Fatalf("%d of %d concurrent alerts scaled the same target, want exactly 1", scaled, n)
	}
}

func TestRenderErrorSkipsOption(t *testing.T) {
	catalog, _ := builtin.Catalog()
	var doc struct {
		Runbooks []*runbook.Runbook `yaml:"runbooks"`
	}
	yml := `runbooks:
  - name: R
    match: ['alertname="HighCPUUsage"']
    target: {kind: Deployment, namespace: [namespace], name: [deployment]}
    resolve:
      - action: kubernetes.delete_pods
        params: {selector: 'app={{ index .Labels 1 }}'}
      - action: kubernetes.rollout_restart
`
	if err := runbook.DecodeStrict([]byte(yml), &doc); err != nil {
		t.Fatal(err)
	}
	set, err := runbook.Compile(doc.Runbooks, catalog, "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	p, _ := processor(t, set, engine(t))
	out := p.Process(context.Background(), cpuAlert("r", "shop", "web"))
	if out.Chosen != 2 || out.Options[0].Error == "" || out.Options[0].Decision != nil {
		t.Fatalf("outcome: %+v", out)
	}
}
