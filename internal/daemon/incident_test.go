package daemon_test

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/remediations"
)

// gateExecutor plans like remediations.DryRun, but its first call waits
// until the gate opens: it holds a worker busy so that alerts stay queued.
type gateExecutor struct {
	entered chan struct{} // closed when the first call arrives
	gate    chan struct{} // closed to let every call through
	once    sync.Once
}

func newGateExecutor() *gateExecutor {
	return &gateExecutor{entered: make(chan struct{}), gate: make(chan struct{})}
}

func (g *gateExecutor) Execute(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	g.once.Do(func() { close(g.entered) })
	select {
	case <-g.gate:
	case <-ctx.Done():
		return remediations.Result{}, ctx.Err()
	}
	return remediations.DryRun{}.Execute(ctx, a, t, p)
}

// TestRedisOutageMidRun extends TestRedisStateOutage (which starts with the
// store down) to an outage that begins while alerts are in flight and
// queued: they are denied, nothing acts while the store is down, the daemon
// stays up, and once the store is back their dedupe keys are released, so
// Alertmanager's re-sends are processed (and act) instead of being dropped
// as duplicates until the keys' TTL.
func TestRedisOutageMidRun(t *testing.T) {
	proxy := newRedisProxy(t)
	proxy.setUp(true)
	st := proxiedRedis(t, proxy)
	gate := newGateExecutor()
	h := startWith(t, func(c *config.Config) {
		c.Dispatcher.Workers = 1
		c.Receiver.ResolvedDedupeTTL = 24 * time.Hour // resolved and firing alike: only the release
		c.Receiver.FiringDedupeTTL = 24 * time.Hour
	}, daemon.Options{State: st, StateHealthInterval: 100 * time.Millisecond, Executor: gate}, true)

	// One alert in a worker (held at its first investigation), one queued.
	if r := h.postFile("high-cpu.json"); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
		t.Fatalf("first alert: %d %v", r.code, r.body)
	}
	<-gate.entered
	if r := h.postFile("high-memory.json"); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
		t.Fatalf("second alert: %d %v", r.code, r.body)
	}

	proxy.setUp(false)
	waitFor(t, "not ready", func() bool { return h.get("/readyz", false).StatusCode == http.StatusServiceUnavailable })
	close(gate.gate)
	waitFor(t, "both alerts processed", func() bool { return len(h.outcomes()) == 2 })
	for _, o := range h.outcomes() {
		if o.Status != dispatch.StatusDenied || o.Chosen != 0 {
			t.Errorf("%s during the outage: %s chosen %d, want denied", o.Alert.Fingerprint, o.Status, o.Chosen)
		}
	}
	if r := h.postFile("high-cpu.json"); r.code != http.StatusServiceUnavailable {
		t.Errorf("webhook during the outage: %d, want 503", r.code)
	}
	if resp := h.get("/healthz", false); resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz during the outage: %d", resp.StatusCode)
	}
	m := h.metrics()
	if n := metricstest.Scraped(t, m, "remediator_actions_total", nil); n != 0 {
		t.Errorf("%v actions while the store was down", n)
	}

	proxy.setUp(true)
	waitFor(t, "ready after the outage", func() bool { return h.get("/readyz", false).StatusCode == http.StatusOK })
	waitFor(t, "both dedupe keys released", func() bool {
		return metricstest.Scraped(t, h.metrics(), "remediator_state_failure_releases_total", map[string]string{"result": "released"}) == 2
	})
	// Alertmanager's re-sends: new, not duplicates, and acted on.
	for _, f := range []string{"high-cpu.json", "high-memory.json"} {
		if r := h.postFile(f); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
			t.Fatalf("re-send of %s after recovery: %d %v, want accepted", f, r.code, r.body)
		}
	}
	waitFor(t, "re-sends processed", func() bool { return len(h.outcomes()) == 4 })
	for _, o := range h.outcomes()[2:] {
		if o.Status != dispatch.StatusPlanned {
			t.Errorf("%s after recovery: %s (%s), want planned", o.Alert.Fingerprint, o.Status, o.Error)
		}
	}
}

// TestRedisStateSurvivesRestart: with the Redis store, what the policy
// counts (cooldowns, the per-target hourly limit), the dedupe keys and the
// incidents outlive the daemon: each restart sees the earlier runs.
func TestRedisStateSurvivesRestart(t *testing.T) {
	prefix := redistest.Prefix()
	t.Cleanup(func() { cleanupRedisPrefix(t, prefix) })
	cpu := sample(t, "high-cpu.json")
	withFingerprint := func(fp string) []byte {
		return bytes.ReplaceAll(cpu, []byte("a1b2c3d4e5f60001"), []byte(fp))
	}
	for i, step := range []struct {
		name     string
		body     []byte
		accepted float64
		status   string
		chosen   int
		codes    []string // denial codes of option 1 (if considered)
	}{
		{"first alert: scale", cpu, 1, dispatch.StatusPlanned, 1, nil},
		{"its re-send after a restart: a duplicate", cpu, 0, "", 0, nil},
		{"another alert on the target: scaling cools down", withFingerprint("00000000000000b2"), 1, dispatch.StatusPlanned, 2, []string{"cooldown"}},
		{"a third: restart is left", withFingerprint("00000000000000b3"), 1, dispatch.StatusPlanned, 3, []string{"cooldown"}},
		{"a fourth: the hourly per-target limit", withFingerprint("00000000000000b4"), 1, dispatch.StatusDenied, 0, []string{"cooldown", "rate_limit_target"}},
	} {
		// A new daemon, and a new store client, for every step.
		st, err := state.NewRedis(state.RedisOptions{URL: redistest.URL(), Prefix: prefix})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Ping(context.Background()); err != nil {
			t.Fatalf("this test needs a real Redis at %s: %v", redistest.Addr(), err)
		}
		h := startWith(t, nil, daemon.Options{State: st}, true)
		r := h.post(step.body, "Bearer "+token)
		if r.code != http.StatusOK || r.body["accepted"] != step.accepted {
			t.Fatalf("step %d (%s): %d %v, want accepted %v", i, step.name, r.code, r.body, step.accepted)
		}
		if step.accepted == 1 {
			waitFor(t, "the alert processed", func() bool { return len(h.outcomes()) == 1 })
			o := h.outcomes()[0]
			if o.Status != step.status || o.Chosen != step.chosen {
				t.Errorf("step %d (%s): %s chosen %d (%s), want %s %d", i, step.name, o.Status, o.Chosen, o.Error, step.status, step.chosen)
			}
			if step.codes != nil {
				var codes []string
				if d := o.Options[0].Decision; d != nil {
					codes = slices.Sorted(slices.Values(d.Codes))
				}
				if !slices.Equal(codes, step.codes) {
					t.Errorf("step %d (%s): option 1 denied for %v, want %v", i, step.name, codes, step.codes)
				}
			}
		}
		if err := h.stop(); err != nil {
			t.Fatal(err)
		}
		_ = st.Close()
	}
}
