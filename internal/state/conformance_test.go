package state

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/redistest"
)

// suiteOpts are what a conformance case needs of the stores it gets.
type suiteOpts struct {
	lockTTL time.Duration // Redis only; memory locks never expire
	window  time.Duration // the counters' window; Window when 0
}

// impl makes the stores of one implementation for a case: a and b are two
// replicas sharing state (for Memory, one store used by both).
type impl struct {
	name     string
	replicas func(t *testing.T, o suiteOpts) (a, b Store)
	// crash simulates the death of the replica holding a: its lock is no
	// longer renewed nor released. nil when the implementation has no
	// replica that can crash apart from the process (Memory).
	crash func(t *testing.T, a Store)
}

func memoryImpl() impl {
	return impl{name: "memory", replicas: func(t *testing.T, o suiteOpts) (Store, Store) {
		m := NewMemory(nil)
		if o.window > 0 {
			m.window = o.window
		}
		return m, m
	}}
}

func redisImpl() impl {
	return impl{
		name: "redis",
		replicas: func(t *testing.T, o suiteOpts) (Store, Store) {
			prefix := redistest.Prefix()
			mk := func() *Redis {
				r := newTestRedis(t, prefix, func(ro *RedisOptions) { ro.LockTTL = o.lockTTL })
				if o.window > 0 {
					r.window = o.window
				}
				return r
			}
			return mk(), mk()
		},
		// Closing the client cuts the replica off: renewals fail, and
		// nothing deletes the lock.
		crash: func(t *testing.T, a Store) { _ = a.(*Redis).Close() },
	}
}

func TestConformance(t *testing.T) {
	for _, im := range []impl{memoryImpl(), redisImpl()} {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			for _, c := range conformanceCases(im) {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					c.run(t)
				})
			}
		})
	}
}

type conformanceCase struct {
	name string
	run  func(t *testing.T)
}

func conformanceCases(im impl) []conformanceCase {
	ctx := context.Background()
	cases := []conformanceCase{
		{"reserve: each key once, across replicas", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			for i, step := range []struct {
				s    Store
				keys []string
				want []bool
			}{
				{a, []string{"k1", "k2"}, []bool{true, true}},
				{b, []string{"k2", "k3"}, []bool{false, true}},
				{a, []string{"k1", "k3", "k4"}, []bool{false, false, true}},
				{b, nil, []bool{}},
			} {
				got := reserve(t, step.s, time.Hour, step.keys...)
				if fmt.Sprint(got) != fmt.Sprint(step.want) {
					t.Errorf("step %d: Reserve(%v) = %v, want %v", i, step.keys, got, step.want)
				}
			}
		}},
		{"release frees the key for the other replica", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			reserve(t, a, time.Hour, "k", "kept")
			must(t, a.Release(ctx, []string{"k"}))
			must(t, a.Release(ctx, nil))
			if got := reserve(t, b, time.Hour, "k", "kept"); !got[0] || got[1] {
				t.Errorf("after Release(k): Reserve(k, kept) = %v, want [true false]", got)
			}
		}},
		{"reserved keys expire", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			const ttl = 150 * time.Millisecond
			reserve(t, a, ttl, "k")
			if got := reserve(t, b, ttl, "k"); got[0] {
				t.Fatal("key fresh again right after it was reserved")
			}
			time.Sleep(ttl + 100*time.Millisecond)
			if got := reserve(t, b, ttl, "k"); !got[0] {
				t.Error("key still held after its ttl")
			}
		}},
		{"concurrent reserve: 1000 calls over 100 keys, each key once", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				wins = map[string]int{}
			)
			for i := range 1000 {
				s := a
				if i%2 == 1 {
					s = b
				}
				key := "alert-" + strconv.Itoa(i%100)
				wg.Go(func() {
					fresh, err := s.Reserve(ctx, []string{key}, time.Hour)
					if err != nil {
						t.Error(err)
						return
					}
					if fresh[0] {
						mu.Lock()
						wins[key]++
						mu.Unlock()
					}
				})
			}
			wg.Wait()
			if len(wins) != 100 {
				t.Errorf("%d keys reserved, want 100", len(wins))
			}
			for k, n := range wins {
				if n != 1 {
					t.Errorf("key %s reserved %d times", k, n)
				}
			}
		}},
		{"lock: contention across replicas", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{lockTTL: time.Second})
			la, err := a.Lock(ctx, "Deployment/shop/cart")
			must(t, err)
			short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			if l, err := b.Lock(short, "Deployment/shop/cart"); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("second Lock while held: lease %v, err %v; want DeadlineExceeded", l != nil, err)
			}
			other, err := b.Lock(ctx, "Deployment/shop/web")
			must(t, err)
			must(t, other.Unlock())

			got := make(chan *Lease, 1)
			go func() {
				l, err := b.Lock(ctx, "Deployment/shop/cart")
				if err != nil {
					t.Error(err)
				}
				got <- l
			}()
			select {
			case <-got:
				t.Fatal("waiter got the lock while it was held")
			case <-time.After(100 * time.Millisecond):
			}
			must(t, la.Unlock())
			select {
			case lb := <-got:
				must(t, lb.Unlock())
			case <-time.After(5 * time.Second):
				t.Fatal("waiter did not get the lock after it was released")
			}
			if err := la.Unlock(); err != nil {
				t.Errorf("second Unlock: %v, want the first's nil", err)
			}
		}},
		{"lock: mutual exclusion under load", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{lockTTL: 5 * time.Second})
			var (
				wg               sync.WaitGroup
				mu               sync.Mutex
				held, most, runs int
			)
			for i := range 8 {
				s := a
				if i%2 == 1 {
					s = b
				}
				wg.Go(func() {
					for range 10 {
						l, err := s.Lock(ctx, "shared")
						if err != nil {
							t.Error(err)
							return
						}
						mu.Lock()
						held++
						most = max(most, held)
						runs++
						mu.Unlock()
						time.Sleep(time.Millisecond)
						mu.Lock()
						held--
						mu.Unlock()
						if err := l.Unlock(); err != nil {
							t.Error(err)
						}
					}
				})
			}
			wg.Wait()
			if most != 1 || runs != 80 {
				t.Errorf("most concurrent holders %d (want 1), acquisitions %d (want 80)", most, runs)
			}
		}},
		{"lock: held past its ttl while renewed", func(t *testing.T) {
			// Renewed every ttl/3: a ttl of a second leaves renewals
			// 600ms of slack on a loaded CI machine (with 300ms, a
			// starved renewal let the lock expire once in CI, while the
			// hostile-sender test loaded both cores).
			const ttl = time.Second
			a, b := im.replicas(t, suiteOpts{lockTTL: ttl})
			l, err := a.Lock(ctx, "slow")
			must(t, err)
			time.Sleep(3 * ttl)
			short, cancel := context.WithTimeout(ctx, ttl/2)
			defer cancel()
			if _, err := b.Lock(short, "slow"); err == nil {
				t.Fatal("the other replica took a lock held (and renewed) past its ttl")
			}
			if err := l.Err(); err != nil {
				t.Fatalf("lease reports %v while held", err)
			}
			must(t, l.Unlock())
		}},
		{"counters within the window", func(t *testing.T) {
			const window = 600 * time.Millisecond
			a, b := im.replicas(t, suiteOpts{window: window})
			const cart, web = "Deployment/shop/cart", "Deployment/shop/web"
			must(t, a.RecordAction(ctx, cart, "kubernetes.scale", true))
			must(t, b.RecordAction(ctx, cart, "kubernetes.rollout_restart", false))
			must(t, a.RecordAction(ctx, cart, "kubernetes.scale", true))
			must(t, b.RecordAction(ctx, web, "kubernetes.scale", true))
			h, err := b.History(ctx, cart, "kubernetes.scale")
			must(t, err)
			if h.TargetActionsLastHour != 3 || h.ActionRunsLastHour != 2 || h.GlobalActionsLastHour != 4 {
				t.Errorf("History = target %d, action %d, global %d; want 3, 2, 4", h.TargetActionsLastHour, h.ActionRunsLastHour, h.GlobalActionsLastHour)
			}
			if ago := h.Now.Sub(h.LastRun); h.LastRun.IsZero() || ago < 0 || ago > 5*time.Second {
				t.Errorf("LastRun %v, Now %v: want a run just before now", h.LastRun, h.Now)
			}
			time.Sleep(window + 100*time.Millisecond)
			must(t, a.RecordAction(ctx, web, "kubernetes.scale", true))
			h2, err := a.History(ctx, cart, "kubernetes.scale")
			must(t, err)
			if h2.TargetActionsLastHour != 0 || h2.ActionRunsLastHour != 0 || h2.GlobalActionsLastHour != 1 {
				t.Errorf("after the window: target %d, action %d, global %d; want 0, 0, 1", h2.TargetActionsLastHour, h2.ActionRunsLastHour, h2.GlobalActionsLastHour)
			}
			if !h2.LastRun.Equal(h.LastRun) {
				t.Errorf("LastRun after the window %v, want it kept (%v)", h2.LastRun, h.LastRun)
			}
		}},
		{"never run", func(t *testing.T) {
			a, _ := im.replicas(t, suiteOpts{})
			h, err := a.History(ctx, "Deployment/shop/new", "kubernetes.scale")
			must(t, err)
			if h.Now.IsZero() || !h.LastRun.IsZero() || h.TargetActionsLastHour+h.ActionRunsLastHour+h.GlobalActionsLastHour+h.ConsecutiveFailures != 0 {
				t.Errorf("History of a target never acted on: %+v", h)
			}
		}},
		{"failure streak and reset", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			const tgt = "Deployment/shop/cart"
			for i, step := range []struct {
				s         Store
				action    string
				succeeded bool
				want      int // failures of kubernetes.scale after the step
			}{
				{a, "kubernetes.scale", false, 1},
				{b, "kubernetes.scale", false, 2},
				{a, "kubernetes.rollout_restart", true, 2}, // another action
				{b, "kubernetes.scale", true, 0},
				{a, "kubernetes.scale", false, 1},
			} {
				must(t, step.s.RecordAction(ctx, tgt, step.action, step.succeeded))
				h, err := a.History(ctx, tgt, "kubernetes.scale")
				must(t, err)
				if h.ConsecutiveFailures != step.want {
					t.Errorf("step %d: ConsecutiveFailures %d, want %d", i, h.ConsecutiveFailures, step.want)
				}
			}
			if h, _ := b.History(ctx, "Deployment/shop/other", "kubernetes.scale"); h.ConsecutiveFailures != 0 {
				t.Errorf("another target has %d failures", h.ConsecutiveFailures)
			}
		}},
		{"concurrent RecordAction counts exactly", func(t *testing.T) {
			a, b := im.replicas(t, suiteOpts{})
			const tgt, n, m = "Deployment/shop/cart", 20, 25
			var wg sync.WaitGroup
			for i := range n {
				s := a
				if i%2 == 1 {
					s = b
				}
				action := "a" + strconv.Itoa(i%2)
				wg.Go(func() {
					for range m {
						if err := s.RecordAction(ctx, tgt, action, false); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			for _, action := range []string{"a0", "a1"} {
				h, err := a.History(ctx, tgt, action)
				must(t, err)
				if h.GlobalActionsLastHour != n*m || h.TargetActionsLastHour != n*m || h.ActionRunsLastHour != n*m/2 || h.ConsecutiveFailures != n*m/2 {
					t.Errorf("%s: global %d target %d action %d failures %d; want %d %d %d %d", action,
						h.GlobalActionsLastHour, h.TargetActionsLastHour, h.ActionRunsLastHour, h.ConsecutiveFailures, n*m, n*m, n*m/2, n*m/2)
				}
			}
		}},
	}
	cases = append(cases, incidentCases(im)...)
	if im.crash != nil {
		cases = append(cases, conformanceCase{"lock of a crashed holder expires", func(t *testing.T) {
			const ttl = 300 * time.Millisecond
			a, b := im.replicas(t, suiteOpts{lockTTL: ttl})
			l, err := a.Lock(ctx, "Deployment/shop/cart")
			must(t, err)
			im.crash(t, a)
			start := time.Now()
			lb, err := b.Lock(ctx, "Deployment/shop/cart")
			must(t, err)
			if waited := time.Since(start); waited > ttl+time.Second {
				t.Errorf("took the crashed holder's lock after %v, want about its ttl %v", waited, ttl)
			}
			// The crashed holder, were it still running, learns it lost it.
			select {
			case <-l.Lost():
			case <-time.After(2 * ttl):
				t.Fatal("the cut-off holder's lease is not marked lost")
			}
			if !errors.Is(l.Err(), ErrLockLost) || !errors.Is(l.Unlock(), ErrLockLost) {
				t.Errorf("lost lease: Err %v, Unlock %v; want ErrLockLost", l.Err(), l.Unlock())
			}
			must(t, lb.Unlock())
		}})
	}
	return cases
}
