package dispatch_test

import (
	"context"
	"slices"
	"strings"
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
	"github.com/remediator/remediator/remediations/postgres"
)

// TestCircuitBreaker: an action that keeps failing on a target (here a real
// pgx executor pointed at a closed port) is stopped after
// max_consecutive_failures, counted in remediator_circuit_open_total, and
// tried once more after circuit_open_seconds.
func TestCircuitBreaker(t *testing.T) {
	ctx := context.Background()
	t.Setenv("CIRCUIT_TEST_DSN", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=1")
	pg, err := postgres.NewExecutor(ctx, map[string]postgres.TargetConfig{
		"default": {DSNEnv: "CIRCUIT_TEST_DSN", CallTimeout: 2 * time.Second},
	}, discard())
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	var mu sync.Mutex
	now := time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }

	reg := prometheus.NewRegistry()
	p := &dispatch.Processor{
		Runbooks: defaultRunbooks(t), Policy: engine(t), State: state.NewMemory(clock),
		Executor: remediations.NewRouter(false, map[string]remediations.Backend{"postgres": pg}),
		Log:      discard(), Metrics: dispatch.NewMetrics(reg), Now: clock,
	}
	send := func(n int) dispatch.Outcome {
		return p.Process(ctx, alert.Alert{Alert: template.Alert{
			Status:      "firing",
			Labels:      template.KV{"alertname": "PostgresTooManyConnections", "database": "orders"},
			StartsAt:    now,
			Fingerprint: "circuit" + strings.Repeat("x", n),
		}})
	}
	terminate := func(o dispatch.Outcome) dispatch.OptionOutcome { return o.Options[0] }

	// Three failures, each after the cooldown, open the circuit.
	for i := range 3 {
		o := send(i)
		if o.Status != dispatch.StatusFailed || terminate(o).Error == "" {
			t.Fatalf("attempt %d: status %q, option 1 %+v; want a failed terminate_idle", i+1, o.Status, terminate(o))
		}
		advance(601 * time.Second)
	}
	o := send(3)
	// (Three runs within the hour also trip the per-target hourly limit.)
	if d := terminate(o).Decision; d == nil || d.Allow || !slices.Contains(d.Codes, "circuit_open") {
		t.Fatalf("after 3 failures option 1 = %+v, want denied by circuit_open", terminate(o).Decision)
	}
	if got := metricstest.Gathered(t, reg, "remediator_circuit_open_total", map[string]string{"action": "postgres.terminate_idle"}); got != 1 {
		t.Fatalf("circuit_open_total = %v, want 1", got)
	}

	// Half-open after circuit_open_seconds (1800 s) since the last run: one more try.
	advance(1800 * time.Second)
	if o := send(4); o.Status != dispatch.StatusFailed || terminate(o).Decision == nil || !terminate(o).Decision.Allow {
		t.Fatalf("after circuit_open_seconds: status %q, decision %+v; want one more (failing) attempt", o.Status, terminate(o).Decision)
	}
}
