package dispatch_test

import (
	"context"
	"errors"
	"testing"

	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/remediations"
)

// lookupBackend is a Kubernetes-like backend whose target lookup fails while
// down is set.
type lookupBackend struct {
	fakeBackend
	down bool
}

func (l *lookupBackend) ResolveTarget(_ context.Context, _ remediations.Action, t remediations.Target) (remediations.Target, error) {
	if l.down {
		return t, errors.New("the server is currently unable to handle the request")
	}
	return t, nil
}

// TestLookupFailureStopsTheWalk: an option whose target cannot be looked up
// is not a denied option. The walk stops there instead of falling through
// to a harsher one, nothing is recorded as taken in the incident, and the
// next notification of the same alert considers the options again.
func TestLookupFailureStopsTheWalk(t *testing.T) {
	b := &lookupBackend{down: true}
	st := state.NewMemory(nil)
	policy := &recordingPolicy{allow: true, dryRun: map[string]bool{}}
	p := &dispatch.Processor{
		Runbooks: defaultRunbooks(t), Policy: policy, State: st,
		Executor: remediations.NewRouter(false, map[string]remediations.Backend{"kubernetes": b}),
		Log:      discard(), Metrics: dispatch.NewMetrics(nil),
	}
	a := cpuAlert("lookup-1", "shop", "web")

	out := p.Process(context.Background(), a)
	if out.Status != dispatch.StatusFailed || out.Chosen != 0 || len(out.Options) != 1 || out.Options[0].Decision != nil {
		t.Fatalf("with the API down: status %s chosen %d options %+v; want failed at option 1, undecided, nothing later", out.Status, out.Chosen, out.Options)
	}
	if runs := b.runs; runs != 0 {
		t.Fatalf("%d backend runs while lookups fail, want 0", runs)
	}

	// Alertmanager's re-send, the API back: the options are considered
	// again and the first one runs.
	b.down = false
	out = p.Process(context.Background(), a)
	if out.Status != dispatch.StatusExecuted || out.Chosen != 1 {
		t.Fatalf("re-send with the API back: status %s chosen %d (%s); want option 1 executed", out.Status, out.Chosen, out.Error)
	}
	// And once an option is taken, re-sends do not act again.
	out = p.Process(context.Background(), a)
	if out.Status != dispatch.StatusIncidentOpen {
		t.Fatalf("re-send after an option was taken: %s, want %s", out.Status, dispatch.StatusIncidentOpen)
	}
}
