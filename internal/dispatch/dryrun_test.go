package dispatch_test

import (
	"context"
	"maps"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// recordingPolicy records input.dry_run per action and allows or denies all.
type recordingPolicy struct {
	allow  bool
	mu     sync.Mutex
	dryRun map[string]bool
}

func (p *recordingPolicy) Decide(_ context.Context, in policies.Input) (policies.Decision, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dryRun[in.Action.Name] = in.DryRun
	return policies.Decision{Allow: p.allow, Reasons: []string{"test"}}, nil
}

// fakeBackend acts on every target and records it.
type fakeBackend struct{ runs int }

func (*fakeBackend) Configured(remediations.Target) bool { return true }

func (f *fakeBackend) Execute(_ context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	f.runs++
	plan, err := a.Plan(t, p)
	return remediations.Result{Plan: plan, Changes: []string{"terminated pid 1"}}, err
}

func pgAlert() alert.Alert {
	return alert.Alert{Alert: template.Alert{
		Status:      "firing",
		Labels:      template.KV{"alertname": "PostgresTooManyConnections", "database": "orders", "namespace": "shop", "deployment": "orders"},
		StartsAt:    time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
		Fingerprint: "pg1",
	}}
}

// TestDryRunPerOption: policy's input.dry_run says, option by option,
// whether that option would only be planned: with a router, a configured
// backend acts (dry_run false) while one without an executor plans.
func TestDryRunPerOption(t *testing.T) {
	tests := []struct {
		name     string
		executor func(*fakeBackend) remediations.Executor
		dryRun   bool // Processor.DryRun
		want     map[string]bool
	}{
		{
			name: "router: postgres acts, kubernetes plans",
			executor: func(b *fakeBackend) remediations.Executor {
				return remediations.NewRouter(false, map[string]remediations.Backend{"postgres": b})
			},
			want: map[string]bool{"postgres.terminate_idle": false, "kubernetes.set_env": true},
		},
		{
			name: "router in global dry-run",
			executor: func(b *fakeBackend) remediations.Executor {
				return remediations.NewRouter(true, map[string]remediations.Backend{"postgres": b})
			},
			want: map[string]bool{"postgres.terminate_idle": true, "kubernetes.set_env": true},
		},
		{
			name: "Processor.DryRun forces every option",
			executor: func(b *fakeBackend) remediations.Executor {
				return remediations.NewRouter(false, map[string]remediations.Backend{"postgres": b})
			},
			dryRun: true,
			want:   map[string]bool{"postgres.terminate_idle": true, "kubernetes.set_env": true},
		},
		{
			name:     "an executor that is no planner: the DryRun field",
			executor: func(*fakeBackend) remediations.Executor { return remediations.DryRun{} },
			want:     map[string]bool{"postgres.terminate_idle": false, "kubernetes.set_env": false},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pol := &recordingPolicy{dryRun: map[string]bool{}}
			p := &dispatch.Processor{
				Runbooks: defaultRunbooks(t), Policy: pol, State: state.NewMemory(nil), Executor: tc.executor(&fakeBackend{}),
				DryRun: tc.dryRun, Log: discard(), Metrics: dispatch.NewMetrics(nil),
			}
			if out := p.Process(context.Background(), pgAlert()); out.Status != dispatch.StatusDenied || len(out.Options) != 2 {
				t.Fatalf("outcome %s with %d options, want denied after 2", out.Status, len(out.Options))
			}
			if !maps.Equal(pol.dryRun, tc.want) {
				t.Errorf("input.dry_run = %v, want %v", pol.dryRun, tc.want)
			}
		})
	}
}

// TestRouterExecutes: an allowed option on a configured backend is executed,
// not planned, and recorded so.
func TestRouterExecutes(t *testing.T) {
	b := &fakeBackend{}
	p := &dispatch.Processor{
		Runbooks: defaultRunbooks(t), Policy: &recordingPolicy{allow: true, dryRun: map[string]bool{}}, State: state.NewMemory(nil),
		Executor: remediations.NewRouter(false, map[string]remediations.Backend{"postgres": b}),
		Log:      discard(), Metrics: dispatch.NewMetrics(nil),
	}
	out := p.Process(context.Background(), pgAlert())
	if out.Status != dispatch.StatusExecuted || out.Chosen != 1 || out.Options[0].Result == nil || out.Options[0].Result.DryRun {
		t.Fatalf("outcome %+v, want option 1 executed", out)
	}
	// The investigation (connection_report) ran through the backend too.
	if b.runs != 2 || len(out.Investigations) != 1 || out.Investigations[0].Result.DryRun {
		t.Errorf("backend runs %d, investigations %+v", b.runs, out.Investigations)
	}
}
