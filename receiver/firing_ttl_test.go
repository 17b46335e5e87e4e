package receiver

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/queue"
	"github.com/remediator/remediator/internal/state"
)

// TestFiringDedupeTTL: firing notifications are remembered for
// FiringDedupeTTL, resolved ones for DedupeTTL, in one payload.
func TestFiringDedupeTTL(t *testing.T) {
	clk := &clock{now: time.Date(2025, 6, 12, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, 100, Options{DedupeTTL: 24 * time.Hour, FiringDedupeTTL: time.Minute, Now: clk.Now})
	body := readTestdata(t, "multi_alert_group.json") // two firing, one resolved
	for i, step := range []struct {
		advance              time.Duration
		accepted, duplicates int
	}{
		{0, 3, 0},
		{time.Minute - time.Nanosecond, 0, 3}, // within both windows
		{time.Nanosecond, 2, 1},               // the firing ones are new again: re-sends reach the incidents
		{time.Hour, 2, 1},
		{24 * time.Hour, 3, 0},
	} {
		clk.Advance(step.advance)
		w := e.post(t, body)
		resp := decodeResponse(t, w)
		if w.Code != http.StatusOK || *resp.Accepted != step.accepted || *resp.Duplicates != step.duplicates {
			t.Fatalf("step %d: code %d accepted %d duplicates %d; want %d %d", i, w.Code, *resp.Accepted, *resp.Duplicates, step.accepted, step.duplicates)
		}
	}
}

// secondReserveFails fails the second call of Reserve, only.
type secondReserveFails struct {
	*state.Memory
	calls int
}

func (s *secondReserveFails) Reserve(ctx context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	s.calls++
	if s.calls == 2 {
		return nil, errors.New("store went away")
	}
	return s.Memory.Reserve(ctx, keys, ttl)
}

// TestFiringDedupeTTLPartialFailure: firing and resolved keys are reserved in
// two calls; when the second fails, the first's keys are released, so the
// retry of the 503 is processed whole.
func TestFiringDedupeTTLPartialFailure(t *testing.T) {
	st := &secondReserveFails{Memory: state.NewMemory(nil)}
	q := queue.New[alert.Alert](10)
	h := New(q, st, Options{FiringDedupeTTL: time.Minute})
	e := &env{q: q, store: st.Memory, h: h}
	body := readTestdata(t, "multi_alert_group.json")
	if w := e.post(t, body); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("second reservation failed: code %d, want 503", w.Code)
	}
	if q.Len() != 0 {
		t.Fatalf("%d alerts queued by a failed request", q.Len())
	}
	w := e.post(t, body)
	if resp := decodeResponse(t, w); w.Code != http.StatusOK || *resp.Accepted != 3 {
		t.Fatalf("retry: code %d %+v, want all 3 accepted", w.Code, resp)
	}
}
