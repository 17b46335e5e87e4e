package dispatch_test

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// redisReplicas returns n Redis stores sharing one fresh prefix: n replicas,
// each with opts applied. The test fails (never skips) when the real Redis
// is unreachable.
func redisReplicas(t testing.TB, n int, opts ...func(*state.RedisOptions)) []*state.Redis {
	t.Helper()
	prefix := redistest.Prefix()
	var out []*state.Redis
	for range n {
		o := state.RedisOptions{URL: redistest.URL(), Prefix: prefix}
		for _, f := range opts {
			f(&o)
		}
		r, err := state.NewRedis(o)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Ping(context.Background()); err != nil {
			t.Fatalf("this test needs a real Redis at %s (set REMEDIATOR_TEST_REDIS_ADDR): %v", redistest.Addr(), err)
		}
		out = append(out, r)
	}
	t.Cleanup(func() {
		if err := out[0].DeletePrefix(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		for _, r := range out {
			_ = r.Close()
		}
	})
	return out
}

func redisProcessor(t testing.TB, e *policies.Engine, st state.Store) *dispatch.Processor {
	return &dispatch.Processor{
		Runbooks: defaultRunbooks(t), Policy: e, State: st, Executor: remediations.DryRun{}, DryRun: true,
		Log: discard(), Metrics: dispatch.NewMetrics(nil),
	}
}

// TestUnreachableStoreDenies: without the state store, no option is taken.
func TestUnreachableStoreDenies(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	st, err := state.NewRedis(state.RedisOptions{URL: "redis://" + ln.Addr().String() + "/0", CallTimeout: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	pol := &recordingPolicy{allow: true, dryRun: map[string]bool{}}
	p := redisProcessor(t, nil, st)
	p.Policy = pol
	out := p.Process(context.Background(), cpuAlert("a", "shop", "web"))
	if out.Status != dispatch.StatusDenied || out.Chosen != 0 {
		t.Fatalf("status %s chosen %d, want denied with no option chosen", out.Status, out.Chosen)
	}
	for _, o := range out.Options {
		if o.Result != nil || o.Decision != nil || !strings.Contains(o.Error, ln.Addr().String()) {
			t.Errorf("option %d: %+v; want skipped with the store's error, undecided, not run", o.Option, o)
		}
	}
	if len(pol.dryRun) != 0 {
		t.Errorf("policy consulted without state: %v", pol.dryRun)
	}
}

// TestTargetLockAcrossReplicas: alerts for one target processed at once by
// two replicas sharing Redis: exactly one scales, the others see its
// cooldown.
func TestTargetLockAcrossReplicas(t *testing.T) {
	stores := redisReplicas(t, 2)
	e := engine(t)
	procs := []*dispatch.Processor{redisProcessor(t, e, stores[0]), redisProcessor(t, e, stores[1])}
	const n = 8
	var wg sync.WaitGroup
	outs := make([]dispatch.Outcome, n)
	for i := range n {
		wg.Go(func() { outs[i] = procs[i%2].Process(context.Background(), cpuAlert(strconv.Itoa(i), "shop", "web")) })
	}
	wg.Wait()
	scaled := 0
	for _, o := range outs {
		if o.Chosen == 1 {
			scaled++
		}
	}
	if scaled != 1 {
		t.Fatalf("%d of %d alerts on two replicas scaled the same target, want exactly 1", scaled, n)
	}
	// The other replica's history holds it.
	h, err := stores[1].History(context.Background(), "Deployment/shop/web", "kubernetes.scale")
	if err != nil {
		t.Fatal(err)
	}
	if h.ActionRunsLastHour != 1 || h.LastRun.IsZero() {
		t.Errorf("history on the other replica: %+v", h)
	}
}

// BenchmarkProcess measures whole decisions (lock, history, policy, record)
// per second with the real engine and bundled policy on each store.
func BenchmarkProcess(b *testing.B) {
	for _, name := range []string{"memory", "redis"} {
		b.Run(name, func(b *testing.B) {
			var st state.Store = state.NewMemory(nil)
			if name == "redis" {
				st = redisReplicas(b, 1)[0]
			}
			p := redisProcessor(b, engine(b), st)
			ctx := context.Background()
			i := 0
			decisions := 0
			for b.Loop() {
				i++
				out := p.Process(ctx, cpuAlert(strconv.Itoa(i), "shop", "web-"+strconv.Itoa(i%500)))
				for _, o := range out.Options {
					if o.Decision != nil {
						decisions++
					}
				}
			}
			b.ReportMetric(float64(decisions)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}
