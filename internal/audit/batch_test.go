package audit_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/dispatch"
)

// TestRecordAll: the alerts a shutdown drops are recorded in one batch, each
// a record of its own that the history lists and filters by result=dropped.
func TestRecordAll(t *testing.T) {
	forEachStore(t, func(t *testing.T, dsn string) {
		ctx := context.Background()
		s := open(t, dsn, "a", newClock(t0))
		const n = 25
		outs := make([]dispatch.Outcome, n)
		for i := range outs {
			o := outcome(fmt.Sprintf("A%02d", i), "R", dispatch.StatusDropped, pgTarget, "")
			o.Error = "not processed: shutdown (still queued; no action ran)"
			outs[i] = o
		}
		if err := s.RecordAll(ctx, outs); err != nil {
			t.Fatal(err)
		}
		if err := s.Record(ctx, outcome("Other", "R", "denied", pgTarget, "")); err != nil {
			t.Fatal(err)
		}
		f := audit.Filter{Result: dispatch.StatusDropped, Limit: audit.MaxLimit}
		if err := f.Validate(); err != nil {
			t.Fatalf("result=dropped refused: %v", err)
		}
		p, err := s.List(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, r := range p.Items {
			if r.Result != dispatch.StatusDropped || r.Error == "" || seen[r.Fingerprint] {
				t.Errorf("record %+v: want one dropped record per alert, with its reason", r)
			}
			seen[r.Fingerprint] = true
		}
		if len(seen) != n {
			t.Errorf("%d dropped records, want %d", len(seen), n)
		}
	})
}
