package dispatch_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/remediations"
)

// testClock is a settable clock shared by the stores and the processors.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *testClock) Set(t time.Time) { c.mu.Lock(); defer c.mu.Unlock(); c.now = t }

// incidentReplicas returns two state stores sharing state, on clk.
func incidentReplicas(t *testing.T, backend string, clk *testClock) (state.Store, state.Store) {
	t.Helper()
	if backend == "memory" {
		m := state.NewMemory(clk.Now)
		return m, m
	}
	r := redisReplicas(t, 2, func(o *state.RedisOptions) { o.Clock = clk.Now })
	return r[0], r[1]
}

// TestIncidentEscalation follows one HighCPUUsage incident (the shipped
// runbook escalates after 15m) through two replicas: its re-sends do
// nothing until escalate_after has passed since the last step; then the next
// option is taken, once, even when several re-sends race; the resolution
// closes it and observes the time to resolve. The clock is injected.
func TestIncidentEscalation(t *testing.T) {
	for _, backend := range []string{"memory", "redis"} {
		t.Run(backend, func(t *testing.T) {
			t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
			clk := &testClock{now: t0}
			sa, sb := incidentReplicas(t, backend, clk)
			reg := prometheus.NewRegistry()
			metrics := dispatch.NewMetrics(reg)
			procs := [2]*dispatch.Processor{}
			for i, st := range []state.Store{sa, sb} {
				procs[i] = &dispatch.Processor{
					Runbooks: defaultRunbooks(t), Policy: engine(t), State: st, Executor: remediations.DryRun{}, DryRun: true,
					Log: discard(), Metrics: metrics, Now: clk.Now,
				}
			}
			firing := cpuAlert("esc", "shop", "web")
			firing.StartsAt = t0
			resolved := firing
			resolved.Status = alert.StatusResolved

			for i, step := range []struct {
				name       string
				at         time.Duration
				a          alert.Alert
				senders    int // concurrent deliveries (1 when 0)
				status     string
				chosen     int
				escalation int
			}{
				{"first firing: option 1", 0, firing, 0, dispatch.StatusPlanned, 1, 0},
				{"re-sent before escalate_after", 5 * time.Minute, firing, 0, dispatch.StatusIncidentOpen, 0, 0},
				{"re-sent just before escalate_after", 15*time.Minute - time.Second, firing, 0, dispatch.StatusIncidentOpen, 0, 0},
				{"still firing at escalate_after: option 2", 15 * time.Minute, firing, 0, dispatch.StatusPlanned, 2, 1},
				{"re-sent right after the escalation", 16 * time.Minute, firing, 0, dispatch.StatusIncidentOpen, 0, 0},
				{"8 re-sends race at the second step: option 3 once", 30 * time.Minute, firing, 8, dispatch.StatusPlanned, 3, 2},
				{"no option left", 50 * time.Minute, firing, 0, dispatch.StatusIncidentOpen, 0, 0},
				{"resolution closes it", time.Hour, resolved, 0, dispatch.StatusResolved, 0, 0},
				{"late firing of the closed incident", time.Hour + time.Minute, firing, 0, dispatch.StatusIncidentClosed, 0, 0},
				{"re-sent resolution", time.Hour + 2*time.Minute, resolved, 0, dispatch.StatusResolved, 0, 0},
			} {
				clk.Set(t0.Add(step.at))
				n := max(step.senders, 1)
				outs := make([]dispatch.Outcome, n)
				var wg sync.WaitGroup
				for j := range n {
					wg.Go(func() { outs[j] = procs[(i+j)%2].Process(context.Background(), step.a) })
				}
				wg.Wait()
				acted := 0
				for _, o := range outs {
					if o.Chosen == 0 {
						if n > 1 && o.Status != dispatch.StatusIncidentOpen {
							t.Errorf("%s: a losing re-send has status %q, want %q", step.name, o.Status, dispatch.StatusIncidentOpen)
						}
						continue
					}
					acted++
					if o.Status != step.status || o.Chosen != step.chosen || o.Escalation != step.escalation {
						t.Errorf("%s: status %q chosen %d escalation %d; want %q %d %d", step.name, o.Status, o.Chosen, o.Escalation, step.status, step.chosen, step.escalation)
					}
				}
				if want := min(step.chosen, 1); acted != want {
					t.Fatalf("%s: %d deliveries took an option, want %d (outcomes %+v)", step.name, acted, want, outs)
				}
				if step.chosen == 0 && outs[0].Status != step.status {
					t.Fatalf("%s: status %q (%s), want %q", step.name, outs[0].Status, outs[0].Error, step.status)
				}
			}

			for _, m := range []struct {
				name   string
				labels map[string]string
				want   float64
			}{
				{"remediator_incidents_opened_total", map[string]string{"runbook": "HighCPUUsage"}, 1},
				{"remediator_incidents_escalated_total", map[string]string{"runbook": "HighCPUUsage"}, 2},
				{"remediator_incidents_closed_total", map[string]string{"runbook": "HighCPUUsage"}, 1},
				{"remediator_incident_time_to_resolve_seconds", map[string]string{"runbook": "HighCPUUsage"}, 1}, // observations
				{"remediator_actions_total", nil, 3},
				{"remediator_alerts_processed_total", map[string]string{"outcome": dispatch.StatusIncidentOpen}, 4 + 7},
			} {
				if got := metricstest.Gathered(t, reg, m.name, m.labels); got != m.want {
					t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
				}
			}
			if sum := histogramSum(t, reg, "remediator_incident_time_to_resolve_seconds"); sum != 3600 {
				t.Errorf("time to resolve observed %vs, want 3600s", sum)
			}
		})
	}
}

// TestIncidentWithoutEscalation: a runbook without escalate_after never acts
// on a re-send, however late; a new startsAt is a new incident.
func TestIncidentWithoutEscalation(t *testing.T) {
	t0 := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clk := &testClock{now: t0}
	p, _ := processor(t, defaultRunbooks(t), engine(t))
	p.State = state.NewMemory(clk.Now)
	p.Now = clk.Now
	pg := alert.Alert{Alert: template.Alert{
		Status:      "firing",
		Labels:      template.KV{"alertname": "PostgresTooManyConnections", "database": "orders"},
		StartsAt:    t0,
		Fingerprint: "pg",
	}}
	refired := pg
	refired.StartsAt = t0.Add(3 * time.Hour)
	for i, step := range []struct {
		at     time.Duration
		a      alert.Alert
		status string
	}{
		{0, pg, dispatch.StatusPlanned},
		{time.Hour, pg, dispatch.StatusIncidentOpen},
		{6 * time.Hour, pg, dispatch.StatusIncidentOpen},
		{6 * time.Hour, refired, dispatch.StatusPlanned},
	} {
		clk.Set(t0.Add(step.at))
		if o := p.Process(context.Background(), step.a); o.Status != step.status {
			t.Errorf("step %d: status %q (%s), want %q", i, o.Status, o.Error, step.status)
		}
	}
}

func histogramSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetHistogram().GetSampleSum()
			}
		}
	}
	return sum
}
