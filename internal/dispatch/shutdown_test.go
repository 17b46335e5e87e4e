package dispatch_test

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"testing"
	"time"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// errShutdown is the cause a daemon's shutdown cancels the workers with.
var errShutdown = errors.New("shutdown: server.shutdown_timeout passed")

// stallExecutor plans like remediations.DryRun, except that calls of the
// stalled actions wait until their context ends (a backend that never
// answers, interrupted by the cancellation). entered receives one value per
// stalled call.
type stallExecutor struct {
	stalled map[string]bool
	entered chan string
}

func newStallExecutor(actions ...string) *stallExecutor {
	e := &stallExecutor{stalled: map[string]bool{}, entered: make(chan string, 100)}
	for _, a := range actions {
		e.stalled[a] = true
	}
	return e
}

func (e *stallExecutor) Execute(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	if name := a.Spec().Name; e.stalled[name] {
		e.entered <- name
		<-ctx.Done()
		return remediations.Result{}, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	return remediations.DryRun{}.Execute(ctx, a, t, p)
}

// stallDecider is a policy evaluation that does not finish before its
// context ends, and then fails as OPA does.
type stallDecider struct{ entered chan struct{} }

func (d stallDecider) Decide(ctx context.Context, _ policies.Input) (policies.Decision, error) {
	d.entered <- struct{}{}
	<-ctx.Done()
	return policies.Decision{Reasons: []string{"denied: policy evaluation failed"}, Codes: []string{"policy_error"}}, ctx.Err()
}

// TestCancelledProcessing: an alert whose processing a shutdown cuts short is
// never recorded as denied. If no action had started it is dropped, with the
// cause, so that its dedupe key is released; an action that had started is
// recorded as failed (and, as any action, never run again).
func TestCancelledProcessing(t *testing.T) {
	tests := []struct {
		name string
		// setup stalls the processing somewhere and returns a channel that
		// receives once it is stalled (nil: cancelled before it starts).
		setup  func(p *dispatch.Processor, st *state.Memory) <-chan struct{}
		status string
		chosen int
	}{
		{
			name:   "cancelled before processing",
			setup:  func(*dispatch.Processor, *state.Memory) <-chan struct{} { return nil },
			status: dispatch.StatusDropped,
		},
		{
			name: "cancelled in an investigation",
			setup: func(p *dispatch.Processor, _ *state.Memory) <-chan struct{} {
				e := newStallExecutor("kubernetes.top_pods")
				p.Executor = e
				return onFirst(e.entered)
			},
			status: dispatch.StatusDropped,
		},
		{
			name: "cancelled waiting for the target lock",
			setup: func(p *dispatch.Processor, st *state.Memory) <-chan struct{} {
				// Another worker holds the target.
				l, err := st.Lock(context.Background(), "Deployment/shop/web")
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = l.Unlock() })
				ls := &lockSignal{Memory: st, entered: make(chan struct{}, 10)}
				p.State = ls
				return ls.entered
			},
			status: dispatch.StatusDropped,
		},
		{
			name: "cancelled in the policy evaluation",
			setup: func(p *dispatch.Processor, _ *state.Memory) <-chan struct{} {
				d := stallDecider{entered: make(chan struct{}, 10)}
				p.Policy = d
				return d.entered
			},
			status: dispatch.StatusDropped,
		},
		{
			name: "cancelled while the action runs",
			setup: func(p *dispatch.Processor, _ *state.Memory) <-chan struct{} {
				e := newStallExecutor("kubernetes.scale")
				p.Executor = e
				return onFirst(e.entered)
			},
			status: dispatch.StatusFailed, chosen: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, st := processor(t, defaultRunbooks(t), engine(t))
			stalled := tc.setup(p, st)
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			done := make(chan dispatch.Outcome, 1)
			if stalled == nil {
				cancel(errShutdown)
			}
			go func() { done <- p.Process(ctx, cpuAlert("c1", "shop", "web")) }()
			if stalled != nil {
				<-stalled
				cancel(errShutdown)
			}
			var out dispatch.Outcome
			select {
			case out = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Process did not return after the cancellation")
			}
			if out.Status != tc.status || out.Chosen != tc.chosen {
				t.Fatalf("outcome %q chosen %d (%s), want %q chosen %d\n%+v", out.Status, out.Chosen, out.Error, tc.status, tc.chosen, out)
			}
			if !strings.Contains(out.Error, errShutdown.Error()) {
				t.Errorf("error %q does not give the cause %q", out.Error, errShutdown)
			}
			for _, o := range out.Options {
				if o.Option != tc.chosen && o.Result != nil {
					t.Errorf("option %d ran: %+v", o.Option, o)
				}
			}
		})
	}
}

// lockSignal is a memory store that tells when a lock is asked for.
type lockSignal struct {
	*state.Memory
	entered chan struct{}
}

func (s *lockSignal) Lock(ctx context.Context, key string) (*state.Lease, error) {
	s.entered <- struct{}{}
	return s.Memory.Lock(ctx, key)
}

// onFirst returns a channel that receives once the first value arrives on in.
func onFirst[T any](in <-chan T) <-chan struct{} {
	out := make(chan struct{}, 1)
	go func() {
		<-in
		out <- struct{}{}
	}()
	return out
}

// TestShutdownRecordsEveryAlert: when the dispatcher is stopped with alerts
// in its workers and its queue, every alert gets exactly one record. Those
// whose action had started are failed; the others, in flight or still
// queued, are dropped with the cause, and their dedupe keys are released so
// that a re-send is processed.
func TestShutdownRecordsEveryAlert(t *testing.T) {
	const workers, n = 2, 20
	p, st := processor(t, defaultRunbooks(t), engine(t))
	exec := newStallExecutor("kubernetes.scale")
	p.Executor = exec
	history := &recorded{}
	d := &dispatch.Dispatcher{Processor: p, Recorder: history, Workers: workers, Log: discard(), Dedupe: st}

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	queue := make(chan alert.Alert, n)
	keys := map[string]string{} // fingerprint: dedupe key
	for i := range n {
		a := cpuAlert(fmt.Sprintf("sd%02d", i), "shop", fmt.Sprintf("web-%d", i))
		keys[a.Fingerprint] = alert.Key(a.Alert)
		// The receiver reserved it before queueing it.
		if fresh, err := st.Reserve(ctx, []string{keys[a.Fingerprint]}, time.Hour); err != nil || !fresh[0] {
			t.Fatalf("setup: reserve %v %v", fresh, err)
		}
		queue <- a
	}
	done := make(chan struct{})
	go func() { defer close(done); d.Run(ctx, queue) }()
	for range workers {
		<-exec.entered // both workers are running an action
	}
	// As the daemon does: the queue is closed before the workers are cancelled.
	close(queue)
	cancel(errShutdown)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the cancellation")
	}

	got := map[string]dispatch.Outcome{}
	for _, o := range history.List() {
		if _, dup := got[o.Alert.Fingerprint]; dup {
			t.Errorf("%s recorded twice", o.Alert.Fingerprint)
		}
		got[o.Alert.Fingerprint] = o
	}
	var failed, dropped int
	for fp, key := range keys {
		o, ok := got[fp]
		if !ok {
			t.Errorf("%s accepted but not recorded", fp)
			continue
		}
		fresh, err := st.Reserve(context.Background(), []string{key}, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		switch o.Status {
		case dispatch.StatusFailed:
			failed++
			if o.Chosen != 1 || !strings.Contains(o.Error, errShutdown.Error()) {
				t.Errorf("%s: failed, chosen %d, error %q; want option 1 and the cause", fp, o.Chosen, o.Error)
			}
			if fresh[0] {
				t.Errorf("%s: its action ran, yet its dedupe key was released (a re-send would run it again)", fp)
			}
		case dispatch.StatusDropped:
			dropped++
			if o.Runbook != "HighCPUUsage" || !strings.Contains(o.Error, errShutdown.Error()) {
				t.Errorf("%s: dropped with runbook %q, error %q; want the runbook and the cause", fp, o.Runbook, o.Error)
			}
			if !fresh[0] {
				t.Errorf("%s: dropped, but its dedupe key is still reserved (a re-send would be taken for a duplicate)", fp)
			}
		default:
			t.Errorf("%s: %s (%s), want failed or dropped", fp, o.Status, o.Error)
		}
	}
	t.Logf("%d of %d recorded: %d failed (their actions had started), %d dropped", len(got), n, failed, dropped)
	if failed != workers || dropped != n-workers {
		t.Errorf("%d failed and %d dropped, want %d and %d", failed, dropped, workers, n-workers)
	}
}
