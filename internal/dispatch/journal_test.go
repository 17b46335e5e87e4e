package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/remediations"
)

// fakeJournal records what the processor writes, in order; failIntent makes
// Intent fail.
type fakeJournal struct {
	failIntent bool
	backend    *fakeBackend
	events     []string
	intents    []dispatch.Intent
	outcomes   []dispatch.ActionOutcome
}

func (j *fakeJournal) Intent(_ context.Context, in dispatch.Intent) (string, error) {
	if j.failIntent {
		return "", errors.New("disk full")
	}
	j.events = append(j.events, "intent (runs before: "+string(rune('0'+j.backend.runs))+")")
	j.intents = append(j.intents, in)
	return "intent-1", nil
}

func (j *fakeJournal) Outcome(_ context.Context, id string, out dispatch.ActionOutcome) error {
	j.events = append(j.events, "outcome "+id+" (runs before: "+string(rune('0'+j.backend.runs))+")")
	j.outcomes = append(j.outcomes, out)
	return nil
}

func TestJournal(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failIntent bool
	}{
		{"intent before, outcome after", false},
		{"no intent, no action (fail closed)", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{}
			j := &fakeJournal{failIntent: tc.failIntent, backend: b}
			p := &dispatch.Processor{
				Runbooks: defaultRunbooks(t), Policy: &recordingPolicy{allow: true, dryRun: map[string]bool{}}, State: state.NewMemory(nil),
				Executor: remediations.NewRouter(false, map[string]remediations.Backend{"postgres": b}),
				Log:      discard(), Metrics: dispatch.NewMetrics(nil), Journal: j,
			}
			out := p.Process(context.Background(), pgAlert())
			if tc.failIntent {
				// The investigation ran (it only reads); the resolution did not.
				if b.runs != 1 || out.Status != dispatch.StatusFailed || out.Chosen != 0 || out.Options[0].Result != nil ||
					!strings.Contains(out.Options[0].Error, "intent") || !strings.Contains(out.Options[0].Error, "disk full") || len(out.Options) != 1 {
					t.Fatalf("backend runs %d, outcome %+v", b.runs, out)
				}
				return
			}
			// Investigation first (not journaled), then intent, the run, outcome.
			want := []string{"intent (runs before: 1)", "outcome intent-1 (runs before: 2)"}
			if strings.Join(j.events, ";") != strings.Join(want, ";") {
				t.Fatalf("journal events %v, want %v", j.events, want)
			}
			in := j.intents[0]
			if in.Action != "postgres.terminate_idle" || in.Option != 1 || in.Alert.Fingerprint != "pg1" || in.Runbook == "" ||
				in.Target.Database != "orders" || in.Decision == nil || !in.Decision.Allow || in.DryRun || in.Params == nil {
				t.Errorf("intent %+v", in)
			}
			if o := j.outcomes[0]; o.Error != "" || o.Result == nil || len(o.Result.Changes) != 1 {
				t.Errorf("outcome %+v", o)
			}
			if out.Options[0].IntentID != "intent-1" || out.Status != dispatch.StatusExecuted {
				t.Errorf("outcome %+v", out)
			}
		})
	}
}
