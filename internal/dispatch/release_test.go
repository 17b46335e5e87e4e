package dispatch_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/internal/state"
)

var errDown = errors.New("state store down")

// outageStore is a memory store whose calls fail while down; openOK lets
// OpenIncident through (a store that fails midway through an alert).
type outageStore struct {
	*state.Memory
	down   atomic.Bool
	openOK bool
}

func (s *outageStore) Release(ctx context.Context, keys []string) error {
	if s.down.Load() {
		return errDown
	}
	return s.Memory.Release(ctx, keys)
}

func (s *outageStore) OpenIncident(ctx context.Context, key, rb string) (state.Incident, bool, error) {
	if s.down.Load() && !s.openOK {
		return state.Incident{}, false, errDown
	}
	return s.Memory.OpenIncident(ctx, key, rb)
}

func (s *outageStore) Lock(ctx context.Context, key string) (*state.Lease, error) {
	if s.down.Load() {
		return nil, errDown
	}
	return s.Memory.Lock(ctx, key)
}

func (s *outageStore) AbandonIncident(ctx context.Context, key string) error {
	if s.down.Load() {
		return errDown
	}
	return s.Memory.AbandonIncident(ctx, key)
}

// TestStateFailureReleasesDedupeKey: an alert queued before a state store
// outage is denied (fail closed), and once the store answers again its
// dedupe key is released and the incident it opened dropped, so that
// Alertmanager's re-send is processed as new instead of dropped until the
// key's TTL.
func TestStateFailureReleasesDedupeKey(t *testing.T) {
	for _, tc := range []struct {
		name   string
		openOK bool // the store fails after the incident was opened
	}{
		{"store down before the incident", false},
		{"store fails under the options", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			st := &outageStore{Memory: state.NewMemory(nil), openOK: tc.openOK}
			reg := prometheus.NewRegistry()
			p, _ := processor(t, defaultRunbooks(t), engine(t))
			p.State, p.Metrics = st, dispatch.NewMetrics(reg)
			history := &recorded{}
			d := &dispatch.Dispatcher{Processor: p, Recorder: history, Workers: 1, Log: discard(), Dedupe: st}

			a := cpuAlert("outage", "shop", "web")
			key := alert.Key(a.Alert)
			// The receiver reserved it before the outage.
			if fresh, _ := st.Reserve(ctx, []string{key}, time.Hour); !fresh[0] {
				t.Fatal("setup: key not fresh")
			}
			st.down.Store(true)
			queue := make(chan alert.Alert, 1)
			queue <- a
			runCtx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() { defer close(done); d.Run(runCtx, queue) }()
			t.Cleanup(func() { stop(); <-done })

			waitUntil(t, "the alert processed", func() bool { return len(history.List()) == 1 })
			out := history.List()[0]
			if out.Status != dispatch.StatusDenied || out.Chosen != 0 {
				t.Fatalf("outcome during the outage: %s chosen %d, want denied, nothing chosen", out.Status, out.Chosen)
			}
			if got := metricstest.Gathered(t, reg, "remediator_actions_total", nil); got != 0 {
				t.Fatalf("%v actions during the outage", got)
			}
			if st.Memory.Len() != 1 {
				t.Fatal("the key was released while the store was down (it cannot have been)")
			}

			st.down.Store(false)
			waitUntil(t, "the key released", func() bool {
				return metricstest.Gathered(t, reg, "remediator_state_failure_releases_total", map[string]string{"result": "released"}) == 1
			})
			if fresh, _ := st.Reserve(ctx, []string{key}, time.Hour); !fresh[0] {
				t.Fatal("after the store came back the dedupe key is still reserved: the re-send would be dropped")
			}
			// The re-send is handled as the first notification of its incident.
			if o := p.Process(ctx, a); o.Status != dispatch.StatusPlanned || o.Chosen != 1 {
				t.Fatalf("re-send after recovery: %s chosen %d (%s), want option 1 planned", o.Status, o.Chosen, o.Error)
			}
		})
	}
}

func TestStateFailureReleaseAbandonedAtShutdown(t *testing.T) {
	st := &outageStore{Memory: state.NewMemory(nil)}
	reg := prometheus.NewRegistry()
	p, _ := processor(t, defaultRunbooks(t), engine(t))
	p.State, p.Metrics = st, dispatch.NewMetrics(reg)
	d := &dispatch.Dispatcher{Processor: p, Recorder: &recorded{}, Workers: 1, Log: discard(), Dedupe: st}
	st.down.Store(true)
	queue := make(chan alert.Alert, 1)
	queue <- cpuAlert("shutdown", "shop", "web")
	close(queue)
	// The queue is drained and closed: Run returns without waiting for a
	// store that does not come back.
	d.Run(context.Background(), queue)
	if got := metricstest.Gathered(t, reg, "remediator_state_failure_releases_total", map[string]string{"result": "abandoned"}); got != 1 {
		t.Errorf("abandoned releases = %v, want 1", got)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// recorded is a dispatch.Recorder keeping outcomes in memory, in order.
type recorded struct {
	mu  sync.Mutex
	out []dispatch.Outcome
}

func (r *recorded) Record(_ context.Context, o dispatch.Outcome) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.out = append(r.out, o)
	return nil
}

func (r *recorded) List() []dispatch.Outcome {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.out)
}
