package state

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/redistest"
)

// incidentCases are the conformance cases for Incidents. They never sleep:
// escalation is tried with after = 0 (due at once) and an hour (not due).
func incidentCases(im impl) []conformanceCase {
	ctx := context.Background()
	return []conformanceCase{
		{"incident: opened once across replicas, re-sends see it", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			inc, opened, err := a.OpenIncident(ctx, "fp/t0", "HighCPUUsage")
			must(t, err)
			if !opened || !inc.Open() || inc.OpenedAt.IsZero() || inc.Step != 0 || inc.Option != 0 {
				t.Fatalf("first OpenIncident = %+v opened %v; want a fresh open incident", inc, opened)
			}
			again, opened, err := b.OpenIncident(ctx, "fp/t0", "HighCPUUsage")
			must(t, err)
			if opened || !again.OpenedAt.Equal(inc.OpenedAt) {
				t.Errorf("re-sent OpenIncident = %+v opened %v; want the same incident, not opened", again, opened)
			}
			if _, opened, _ := b.OpenIncident(ctx, "fp/t1", "HighCPUUsage"); !opened {
				t.Error("another startsAt is another incident")
			}
		}},
		{"incident: concurrent open, exactly one opener", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			var wg sync.WaitGroup
			var openers atomic.Int32
			for i := range 50 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					_, opened, err := s.OpenIncident(ctx, "fp/t", "R")
					if err != nil {
						t.Error(err)
					}
					if opened {
						openers.Add(1)
					}
				})
			}
			wg.Wait()
			if n := openers.Load(); n != 1 {
				t.Errorf("%d openers, want 1", n)
			}
		}},
		{"incident: escalation only when due, once per step", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			_, _, err := a.OpenIncident(ctx, "fp/t", "R")
			must(t, err)
			for i, step := range []struct {
				s     Store
				from  int
				after time.Duration
				want  bool
				step  int // after the call
			}{
				{a, 0, time.Hour, false, 0}, // not due
				{b, 1, 0, false, 0},         // not at that step
				{b, 0, 0, true, 1},          // due: escalates
				{a, 0, 0, false, 1},         // that step is taken
				{a, 1, time.Hour, false, 1}, // the next is not due yet
				{a, 1, 0, true, 2},
			} {
				inc, ok, err := step.s.EscalateIncident(ctx, "fp/t", step.from, step.after)
				must(t, err)
				if ok != step.want || inc.Step != step.step {
					t.Errorf("step %d: EscalateIncident(from %d, after %v) = step %d ok %v; want step %d ok %v",
						i, step.from, step.after, inc.Step, ok, step.step, step.want)
				}
				if ok && inc.SteppedAt.Before(inc.OpenedAt) {
					t.Errorf("step %d: SteppedAt %v before OpenedAt %v", i, inc.SteppedAt, inc.OpenedAt)
				}
			}
			if _, ok, err := a.EscalateIncident(ctx, "fp/unknown", 0, 0); err != nil || ok {
				t.Errorf("escalating an unknown incident: ok %v err %v", ok, err)
			}
		}},
		{"incident: concurrent escalation, exactly one", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			_, _, err := a.OpenIncident(ctx, "fp/t", "R")
			must(t, err)
			var wg sync.WaitGroup
			var won atomic.Int32
			for i := range 50 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					_, ok, err := s.EscalateIncident(ctx, "fp/t", 0, 0)
					if err != nil {
						t.Error(err)
					}
					if ok {
						won.Add(1)
					}
				})
			}
			wg.Wait()
			if n := won.Load(); n != 1 {
				t.Errorf("%d escalations of one step, want 1", n)
			}
		}},
		{"incident: option only grows", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			_, _, err := a.OpenIncident(ctx, "fp/t", "R")
			must(t, err)
			must(t, a.TookOption(ctx, "fp/t", 2))
			must(t, b.TookOption(ctx, "fp/t", 1))
			must(t, b.TookOption(ctx, "fp/unknown", 1))
			inc, _, err := b.OpenIncident(ctx, "fp/t", "R")
			must(t, err)
			if inc.Option != 2 {
				t.Errorf("Option = %d, want 2", inc.Option)
			}
		}},
		{"incident: abandon only an incident that did nothing", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			for _, k := range []string{"fp/idle", "fp/acted", "fp/escalated", "fp/closed"} {
				_, _, err := a.OpenIncident(ctx, k, "R")
				must(t, err)
			}
			must(t, a.TookOption(ctx, "fp/acted", 1))
			_, _, err := a.EscalateIncident(ctx, "fp/escalated", 0, 0)
			must(t, err)
			_, _, err = a.CloseIncident(ctx, "fp/closed")
			must(t, err)
			for _, k := range []string{"fp/idle", "fp/acted", "fp/escalated", "fp/closed", "fp/unknown"} {
				must(t, b.AbandonIncident(ctx, k))
			}
			for k, wantOpened := range map[string]bool{"fp/idle": true, "fp/acted": false, "fp/escalated": false, "fp/closed": false} {
				if _, opened, _ := a.OpenIncident(ctx, k, "R"); opened != wantOpened {
					t.Errorf("%s after AbandonIncident: reopened %v, want %v", k, opened, wantOpened)
				}
			}
		}},
		{"incident: closed once, stays closed", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			opened, _, err := a.OpenIncident(ctx, "fp/t", "R")
			must(t, err)
			inc, closed, err := b.CloseIncident(ctx, "fp/t")
			must(t, err)
			if !closed || inc.Open() || !inc.OpenedAt.Equal(opened.OpenedAt) || inc.ClosedAt.Before(inc.OpenedAt) {
				t.Fatalf("CloseIncident = %+v closed %v; want it closed after it opened", inc, closed)
			}
			if _, closed, _ := a.CloseIncident(ctx, "fp/t"); closed {
				t.Error("closed twice")
			}
			late, opened2, err := b.OpenIncident(ctx, "fp/t", "R")
			must(t, err)
			if opened2 || late.Open() {
				t.Errorf("a late firing notification reopened the closed incident: %+v", late)
			}
			if _, ok, _ := a.EscalateIncident(ctx, "fp/t", 0, 0); ok {
				t.Error("a closed incident escalated")
			}
			if _, closed, err := a.CloseIncident(ctx, "fp/never-opened"); err != nil || closed {
				t.Errorf("closing an unknown incident: closed %v err %v", closed, err)
			}
		}},
	}
}

// TestMemoryIncidentClock: with an injected clock, escalation waits for
// after, and incidents are forgotten after their retention.
func TestMemoryIncidentClock(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	m := NewMemory(func() time.Time { return now })
	_, _, err := m.OpenIncident(ctx, "fp/t", "R")
	must(t, err)
	now = now.Add(14 * time.Minute)
	if _, ok, _ := m.EscalateIncident(ctx, "fp/t", 0, 15*time.Minute); ok {
		t.Fatal("escalated before escalate_after")
	}
	now = now.Add(time.Minute)
	inc, ok, _ := m.EscalateIncident(ctx, "fp/t", 0, 15*time.Minute)
	if !ok || !inc.SteppedAt.Equal(now) {
		t.Fatalf("at escalate_after: ok %v %+v", ok, inc)
	}
	now = now.Add(IncidentRetention + time.Minute)
	if _, opened, _ := m.OpenIncident(ctx, "fp/t", "R"); !opened {
		t.Error("an incident untouched for its retention was not forgotten")
	}
	_, _, _ = m.CloseIncident(ctx, "fp/t")
	now = now.Add(ClosedIncidentRetention + time.Minute)
	m.mu.Lock()
	m.nextSweep = time.Time{}
	m.sweepLocked(now)
	n := len(m.incidents)
	m.mu.Unlock()
	if n != 0 {
		t.Errorf("%d incidents kept after their retention", n)
	}
}

// TestRedisIncidentKeys: an incident is one key under the prefix with a TTL:
// the open retention while open, the closed one once closed.
func TestRedisIncidentKeys(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix()
	r := newTestRedis(t, prefix, nil)
	_, _, err := r.OpenIncident(ctx, "fp/2026-11-25T08:00:00Z", "HighCPUUsage")
	must(t, err)
	key := prefix + "incident:fp/2026-11-25T08:00:00Z"
	keys, err := r.client.Keys(ctx, prefix+"*").Result()
	must(t, err)
	if len(keys) != 1 || keys[0] != key {
		t.Fatalf("keys %v, want [%s]", keys, key)
	}
	for _, step := range []struct {
		do       func() error
		min, max time.Duration
	}{
		{func() error { return nil }, IncidentRetention - time.Minute, IncidentRetention},
		{func() error { _, _, err := r.CloseIncident(ctx, "fp/2026-11-25T08:00:00Z"); return err }, ClosedIncidentRetention - time.Minute, ClosedIncidentRetention},
	} {
		must(t, step.do())
		ttl, err := r.client.PTTL(ctx, key).Result()
		must(t, err)
		if ttl < step.min || ttl > step.max {
			t.Errorf("TTL %v, want within [%v, %v]", ttl, step.min, step.max)
		}
	}
}

// BenchmarkOpenIncident is the store call every firing notification that
// matches a runbook makes: a new incident each time.
func BenchmarkOpenIncident(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if _, _, err := s.OpenIncident(ctx, "bench/"+strconv.Itoa(i), "R"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
