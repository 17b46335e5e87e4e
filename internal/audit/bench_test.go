package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/remediations"
)

// BenchmarkAuditWrite is the audit cost of one action: its intent, its
// outcome, and its alert's record (what the dispatcher writes per action).
func BenchmarkAuditWrite(b *testing.B) {
	for _, be := range backends {
		b.Run(be.name, func(b *testing.B) {
			s := open(b, be.dsn(b), "bench", newClock(time.Now()))
			ctx := context.Background()
			o := outcome("PostgresTooManyConnections", "PostgresTooManyConnections", dispatch.StatusExecuted, pgTarget, "postgres.terminate_idle")
			res := &remediations.Result{Changes: []string{"terminated pid 42"}, Evidence: map[string]any{"terminated": 1}}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				id, err := s.Intent(ctx, intent(o))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Outcome(ctx, id, dispatch.ActionOutcome{Result: res, Duration: time.Millisecond}); err != nil {
					b.Fatal(err)
				}
				o.Options[0].IntentID = id
				if err := s.Record(ctx, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
