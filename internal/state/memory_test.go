package state

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeClock is an injectable clock the tests move by hand.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2025, 6, 12, 9, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

var _ Store = (*Memory)(nil)

func TestNewMemoryNilClock(t *testing.T) {
	m := NewMemory(nil)
	if got := reserve(t, m, time.Hour, "k"); !got[0] {
		t.Fatal("first Reserve of a key is not fresh")
	}
	if got := reserve(t, m, time.Hour, "k"); got[0] {
		t.Error("with the real clock, a key reserved for an hour is fresh again")
	}
}

func TestReserveExpiry(t *testing.T) {
	const ttl = 10 * time.Minute
	for _, tc := range []struct {
		name    string
		advance time.Duration
		key     string
		held    bool
	}{
		{name: "immediately", advance: 0, key: "a", held: true},
		{name: "just before ttl", advance: ttl - time.Nanosecond, key: "a", held: true},
		{name: "at ttl", advance: ttl, key: "a", held: false},
		{name: "after ttl", advance: ttl + time.Second, key: "a", held: false},
		{name: "other key of the batch", advance: ttl / 2, key: "b", held: true},
		{name: "never reserved", advance: 0, key: "c", held: false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			m := NewMemory(clk.Now)
			if got := reserve(t, m, ttl, "a", "b"); !got[0] || !got[1] {
				t.Fatalf("first Reserve = %v, want both fresh", got)
			}
			clk.Advance(tc.advance)
			if got := reserve(t, m, ttl, tc.key); got[0] == tc.held {
				t.Errorf("Reserve(%q) %v after reserving: fresh %v, want %v", tc.key, tc.advance, got[0], !tc.held)
			}
		})
	}
}

func TestReserveDoesNotExtend(t *testing.T) {
	clk := newFakeClock()
	m := NewMemory(clk.Now)
	reserve(t, m, time.Minute, "k")
	clk.Advance(50 * time.Second)
	if got := reserve(t, m, time.Minute, "k"); got[0] {
		t.Fatal("a held key was reserved again")
	}
	clk.Advance(10 * time.Second) // a minute after the first reservation
	if got := reserve(t, m, time.Minute, "k"); !got[0] {
		t.Error("a refused Reserve extended the key's expiry")
	}
}

func TestReleaseFreesKeys(t *testing.T) {
	m := NewMemory(nil)
	ctx := context.Background()
	reserve(t, m, time.Hour, "a", "b")
	must(t, m.Release(ctx, []string{"a", "never-reserved"}))
	if got := reserve(t, m, time.Hour, "a", "b"); !got[0] || got[1] {
		t.Errorf("after releasing a: Reserve(a, b) = %v, want [true false]", got)
	}
	if m.Len() != 2 {
		t.Errorf("Len() = %d, want 2", m.Len())
	}
}

func TestSweepDropsExpiredKeys(t *testing.T) {
	clk := newFakeClock()
	m := NewMemory(clk.Now)

	reserve(t, m, 10*time.Second, "a", "b", "c")
	reserve(t, m, time.Hour, "long")
	if got := m.Len(); got != 4 {
		t.Fatalf("Len() = %d, want 4", got)
	}

	// Expired, but the next sweep is not due yet: the keys stay held (and
	// are reported unseen).
	clk.Advance(30 * time.Second)
	reserve(t, m, 10*time.Second, "d")
	if got := m.Len(); got != 5 {
		t.Fatalf("Len() before sweepEvery = %d, want 5 (no sweep yet)", got)
	}
	if m.seenForTest("a") {
		t.Error("expired key a still seen")
	}

	// Past sweepEvery since the first sweep: a, b, c and d have expired and
	// are dropped; long stays, and the new key is added.
	clk.Advance(sweepEvery)
	reserve(t, m, 10*time.Second, "e")
	if got := m.Len(); got != 2 {
		t.Fatalf("Len() after sweep = %d, want 2 (long, e)", got)
	}
	for key, want := range map[string]bool{"a": false, "d": false, "long": true, "e": true} {
		if got := m.seenForTest(key); got != want {
			t.Errorf("Seen(%q) after sweep = %v, want %v", key, got, want)
		}
	}
}

// TestSweepBoundsMemory marks a stream of distinct short-lived keys for much
// longer than their ttl: the number held must stay bounded by the rate of
// keys, not grow with the number marked.
func TestSweepBoundsMemory(t *testing.T) {
	clk := newFakeClock()
	m := NewMemory(clk.Now)
	const ttl = 30 * time.Second
	maxLen := 0
	for i := range 10_000 {
		reserve(t, m, ttl, "alert-"+strconv.Itoa(i))
		maxLen = max(maxLen, m.Len())
		clk.Advance(time.Second)
	}
	// At one key a second, at most ttl+sweepEvery seconds' worth are held.
	if limit := int((ttl + sweepEvery) / time.Second); maxLen > limit {
		t.Errorf("Len() reached %d marking one key a second with ttl %v, want ≤ %d", maxLen, ttl, limit)
	}
}

func TestHistoryWindow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		advance    time.Duration
		wantTarget int
		wantGlobal int
	}{
		{name: "now", advance: 0, wantTarget: 2, wantGlobal: 3},
		{name: "59m later", advance: 59 * time.Minute, wantTarget: 2, wantGlobal: 3},
		{name: "exactly 1h later", advance: Window, wantTarget: 0, wantGlobal: 0},
		{name: "61m later", advance: 61 * time.Minute, wantTarget: 0, wantGlobal: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			m := NewMemory(clk.Now)
			ctx := context.Background()
			must(t, m.RecordAction(ctx, "Deployment/shop/cart", "kubernetes.scale", true))
			must(t, m.RecordAction(ctx, "Deployment/shop/cart", "kubernetes.rollout_restart", false))
			must(t, m.RecordAction(ctx, "Deployment/shop/web", "kubernetes.scale", true))
			clk.Advance(tc.advance)
			h, err := m.History(ctx, "Deployment/shop/cart", "kubernetes.scale")
			if err != nil {
				t.Fatal(err)
			}
			if h.TargetActionsLastHour != tc.wantTarget || h.GlobalActionsLastHour != tc.wantGlobal {
				t.Errorf("History = target %d, global %d; want target %d, global %d",
					h.TargetActionsLastHour, h.GlobalActionsLastHour, tc.wantTarget, tc.wantGlobal)
			}
		})
	}
}

// TestHistorySlidingWindow spreads actions over time and checks that the
// counters only include those of the last hour.
func TestHistorySlidingWindow(t *testing.T) {
	clk := newFakeClock()
	m := NewMemory(clk.Now)
	ctx := context.Background()
	start := clk.Now()
	const a, b = "Deployment/shop/a", "Deployment/shop/b"

	must(t, m.RecordAction(ctx, a, "x", true)) // t=0
	clk.Advance(20 * time.Minute)
	must(t, m.RecordAction(ctx, b, "x", true)) // t=20m
	clk.Advance(20 * time.Minute)
	must(t, m.RecordAction(ctx, a, "y", true)) // t=40m

	for _, step := range []struct {
		at                 time.Duration // since t=0
		wantA, wantB, glob int
	}{
		{at: 40 * time.Minute, wantA: 2, wantB: 1, glob: 3},
		{at: 59 * time.Minute, wantA: 2, wantB: 1, glob: 3},
		{at: 61 * time.Minute, wantA: 1, wantB: 1, glob: 2},
		{at: 79 * time.Minute, wantA: 1, wantB: 1, glob: 2},
		{at: 81 * time.Minute, wantA: 1, wantB: 0, glob: 1},
		{at: 101 * time.Minute, wantA: 0, wantB: 0, glob: 0},
	} {
		clk.Set(start.Add(step.at))
		ha, _ := m.History(ctx, a, "x")
		hb, _ := m.History(ctx, b, "x")
		if ha.TargetActionsLastHour != step.wantA || hb.TargetActionsLastHour != step.wantB || ha.GlobalActionsLastHour != step.glob || hb.GlobalActionsLastHour != step.glob {
			t.Errorf("at %v: a=%d b=%d global=%d/%d; want a=%d b=%d global=%d", step.at,
				ha.TargetActionsLastHour, hb.TargetActionsLastHour, ha.GlobalActionsLastHour, hb.GlobalActionsLastHour,
				step.wantA, step.wantB, step.glob)
		}
	}

	// Recording after a long pause prunes the old entries and counts only the new one.
	must(t, m.RecordAction(ctx, a, "x", true))
	if h, _ := m.History(ctx, a, "x"); h.TargetActionsLastHour != 1 || h.GlobalActionsLastHour != 1 {
		t.Errorf("after a new action: target %d, global %d; want 1, 1", h.TargetActionsLastHour, h.GlobalActionsLastHour)
	}
}

func TestLastRunAndFailures(t *testing.T) {
	const target = "Deployment/shop/cart"
	type rec struct {
		action    string
		succeeded bool
		after     time.Duration // advance the clock before recording
	}
	start := newFakeClock().Now()
	for _, tc := range []struct {
		name         string
		records      []rec
		action       string
		wantLastRun  time.Duration // since start; -1 means never
		wantFailures int
	}{
		// Every case also records a failure of the action on another
		// target first, which must not show in this target's history.
		{name: "never run on this target", action: "kubernetes.scale", wantLastRun: -1},
		{
			name:        "one success",
			records:     []rec{{"kubernetes.scale", true, time.Minute}},
			action:      "kubernetes.scale",
			wantLastRun: time.Minute,
		},
		{
			name:         "failures count up",
			records:      []rec{{"kubernetes.scale", false, 0}, {"kubernetes.scale", false, time.Minute}, {"kubernetes.scale", false, time.Minute}},
			action:       "kubernetes.scale",
			wantLastRun:  2 * time.Minute,
			wantFailures: 3,
		},
		{
			name:        "success resets the streak",
			records:     []rec{{"kubernetes.scale", false, 0}, {"kubernetes.scale", false, time.Minute}, {"kubernetes.scale", true, time.Minute}},
			action:      "kubernetes.scale",
			wantLastRun: 2 * time.Minute,
		},
		{
			name:         "streak restarts after a success",
			records:      []rec{{"kubernetes.scale", false, 0}, {"kubernetes.scale", true, time.Minute}, {"kubernetes.scale", false, time.Minute}},
			action:       "kubernetes.scale",
			wantLastRun:  2 * time.Minute,
			wantFailures: 1,
		},
		{
			name:         "per action: other action's runs do not count",
			records:      []rec{{"kubernetes.scale", false, 0}, {"kubernetes.rollout_restart", true, 5 * time.Minute}},
			action:       "kubernetes.scale",
			wantLastRun:  0,
			wantFailures: 1,
		},
		{
			name:        "per action: the other action",
			records:     []rec{{"kubernetes.scale", false, 0}, {"kubernetes.rollout_restart", true, 5 * time.Minute}},
			action:      "kubernetes.rollout_restart",
			wantLastRun: 5 * time.Minute,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clk := newFakeClock()
			m := NewMemory(clk.Now)
			ctx := context.Background()
			must(t, m.RecordAction(ctx, "Deployment/shop/other", tc.action, false))
			for _, r := range tc.records {
				clk.Advance(r.after)
				must(t, m.RecordAction(ctx, target, r.action, r.succeeded))
			}
			h, err := m.History(ctx, target, tc.action)
			if err != nil {
				t.Fatal(err)
			}
			want := time.Time{}
			if tc.wantLastRun >= 0 {
				want = start.Add(tc.wantLastRun)
			}
			if !h.LastRun.Equal(want) {
				t.Errorf("LastRun = %v, want %v", h.LastRun, want)
			}
			if h.ConsecutiveFailures != tc.wantFailures {
				t.Errorf("ConsecutiveFailures = %d, want %d", h.ConsecutiveFailures, tc.wantFailures)
			}
		})
	}
}

// TestForgottenTargetsSwept checks that a target's history is dropped once
// its last run is older than lastRunRetention, but that a failure streak is
// kept however old it is.
func TestForgottenTargetsSwept(t *testing.T) {
	clk := newFakeClock()
	m := NewMemory(clk.Now)
	ctx := context.Background()
	start := clk.Now()
	const ok, failing, mixed = "Deployment/shop/ok", "Deployment/shop/failing", "Deployment/shop/mixed"

	must(t, m.RecordAction(ctx, ok, "kubernetes.scale", true))
	must(t, m.RecordAction(ctx, failing, "kubernetes.scale", false))
	must(t, m.RecordAction(ctx, failing, "kubernetes.scale", false))
	must(t, m.RecordAction(ctx, mixed, "kubernetes.scale", true))
	must(t, m.RecordAction(ctx, mixed, "kubernetes.rollout_restart", false))

	// Just within retention: a sweep keeps everything.
	clk.Advance(lastRunRetention)
	reserve(t, m, time.Second, "tick")
	if h, _ := m.History(ctx, ok, "kubernetes.scale"); !h.LastRun.Equal(start) {
		t.Errorf("within retention: LastRun = %v, want %v", h.LastRun, start)
	}

	// Past retention, but no sweep yet: still remembered.
	clk.Advance(time.Second)
	if h, _ := m.History(ctx, ok, "kubernetes.scale"); !h.LastRun.Equal(start) {
		t.Errorf("before the sweep: LastRun = %v, want %v", h.LastRun, start)
	}

	// A sweep (run by Reserve once sweepEvery has passed) forgets the target
	// that only succeeded and the successful action of the mixed one.
	clk.Advance(sweepEvery)
	reserve(t, m, time.Second, "tick2")

	for _, tc := range []struct {
		target, action string
		wantLastRun    time.Time
		wantFailures   int
	}{
		{ok, "kubernetes.scale", time.Time{}, 0},
		{failing, "kubernetes.scale", start, 2},
		{mixed, "kubernetes.scale", time.Time{}, 0},
		{mixed, "kubernetes.rollout_restart", start, 1},
	} {
		h, err := m.History(ctx, tc.target, tc.action)
		if err != nil {
			t.Fatal(err)
		}
		if !h.LastRun.Equal(tc.wantLastRun) || h.ConsecutiveFailures != tc.wantFailures {
			t.Errorf("after the sweep %s %s: LastRun %v, failures %d; want %v, %d",
				tc.target, tc.action, h.LastRun, h.ConsecutiveFailures, tc.wantLastRun, tc.wantFailures)
		}
		if h.TargetActionsLastHour != 0 || h.GlobalActionsLastHour != 0 {
			t.Errorf("after the sweep %s: hourly counts %d/%d, want 0/0", tc.target, h.TargetActionsLastHour, h.GlobalActionsLastHour)
		}
	}

	m.mu.Lock()
	_, okKept := m.targets[ok]
	_, failingKept := m.targets[failing]
	n := len(m.targets)
	m.mu.Unlock()
	if okKept || !failingKept || n != 2 {
		t.Errorf("targets held after the sweep: %d (ok kept %v, failing kept %v); want 2 (failing, mixed)", n, okKept, failingKept)
	}

	// A success ends the streak; once that success is old, the target goes too.
	must(t, m.RecordAction(ctx, failing, "kubernetes.scale", true))
	must(t, m.RecordAction(ctx, mixed, "kubernetes.rollout_restart", true))
	clk.Advance(lastRunRetention + sweepEvery + time.Second)
	reserve(t, m, time.Second, "tick3")
	m.mu.Lock()
	n = len(m.targets)
	m.mu.Unlock()
	if n != 0 {
		t.Errorf("targets held after their streaks ended and retention passed: %d, want 0", n)
	}
}

func TestLockSameKeyWaits(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m := NewMemory(nil)
		ctx := context.Background()
		unlock, err := m.Lock(ctx, "Deployment/shop/cart")
		if err != nil {
			t.Fatal(err)
		}

		acquired := make(chan *Lease)
		go func() {
			u, err := m.Lock(ctx, "Deployment/shop/cart")
			if err != nil {
				t.Errorf("second Lock: %v", err)
				return
			}
			acquired <- u
		}()

		// Wait until the goroutine is durably blocked: either in Lock (right)
		// or sending on acquired (wrong, it got the lock while it was held).
		synctest.Wait()
		select {
		case u := <-acquired:
			must(t, u.Unlock())
			t.Fatal("second Lock on the same key returned while the first was held")
		default:
		}

		must(t, unlock.Unlock())
		u := <-acquired // the waiter gets the lock once it is released
		must(t, u.Unlock())
	})
}

func TestLockDifferentKeysIndependent(t *testing.T) {
	m := NewMemory(nil)
	// A cancelled context makes Lock fail instead of wait, so a Lock that
	// would block shows up as an error.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var unlocks []*Lease
	for _, key := range []string{"Deployment/shop/a", "Deployment/shop/b", "Namespace/shop"} {
		u, err := m.Lock(ctx, key)
		if err != nil {
			t.Fatalf("Lock(%q) while other keys are held: %v", key, err)
		}
		unlocks = append(unlocks, u)
	}
	if _, err := m.Lock(ctx, "Deployment/shop/a"); err == nil {
		t.Fatal("Lock on a held key with a cancelled context succeeded")
	}
	for _, u := range unlocks {
		must(t, u.Unlock())
	}
}

func TestLockContextEnds(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ctx    func(context.Context) (context.Context, context.CancelFunc)
		cancel bool // cancel once the waiter blocks (else the deadline ends it)
		want   error
	}{
		{name: "cancelled", ctx: context.WithCancel, cancel: true, want: context.Canceled},
		{name: "deadline", ctx: func(ctx context.Context) (context.Context, context.CancelFunc) {
			return context.WithTimeout(ctx, time.Minute)
		}, want: context.DeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				m := NewMemory(nil)
				unlock, err := m.Lock(context.Background(), "k")
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = unlock.Unlock() }()

				ctx, cancel := tc.ctx(context.Background())
				defer cancel()
				errc := make(chan error)
				go func() {
					u, err := m.Lock(ctx, "k")
					if u != nil {
						t.Error("Lock returned a lease with an error")
					}
					errc <- err
				}()
				synctest.Wait()
				if tc.cancel {
					cancel()
				} // else the bubble's clock reaches the deadline once all are blocked
				err = <-errc
				if !errors.Is(err, tc.want) {
					t.Fatalf("Lock error = %v, want %v", err, tc.want)
				}
				if got := err.Error(); got != "waiting for lock on k: "+tc.want.Error() {
					t.Errorf("Lock error text = %q", got)
				}
			})
		})
	}
}

func TestUnlockIdempotent(t *testing.T) {
	m := NewMemory(nil)
	ctx := context.Background()
	first, err := m.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	must(t, first.Unlock())
	second, err := m.Lock(ctx, "k")
	if err != nil {
		t.Fatal(err)
	}
	// A stale second call of the first unlock must not release the lock
	// the second holder now has (nor panic closing a closed channel).
	must(t, first.Unlock())
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := m.Lock(cancelled, "k"); err == nil {
		t.Fatal("a repeated unlock of an earlier holder released the current holder's lock")
	}
	must(t, second.Unlock())
	must(t, second.Unlock())
	third, err := m.Lock(cancelled, "k")
	if err != nil {
		t.Fatalf("Lock after unlock: %v", err)
	}
	must(t, third.Unlock())
}

// TestLockMutualExclusion has many goroutines take the same lock and checks
// that at most one holds it at a time. Run with -race.
func TestLockMutualExclusion(t *testing.T) {
	m := NewMemory(nil)
	ctx := context.Background()
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		holders int
		maxHeld int
		total   int
	)
	for range 32 {
		wg.Go(func() {
			for range 50 {
				unlock, err := m.Lock(ctx, "shared")
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				holders++
				maxHeld = max(maxHeld, holders)
				total++
				mu.Unlock()

				mu.Lock()
				holders--
				mu.Unlock()
				if err := unlock.Unlock(); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if maxHeld != 1 || total != 32*50 {
		t.Errorf("max concurrent holders %d (want 1), acquisitions %d (want %d)", maxHeld, total, 32*50)
	}
	m.locks.mu.Lock()
	n := len(m.locks.held)
	m.locks.mu.Unlock()
	if n != 0 {
		t.Errorf("%d locks held after every holder unlocked", n)
	}
}

// seen reports whether key is held and unexpired, without reserving it.
func (m *Memory) seenForTest(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp, ok := m.seen[key]
	return ok && m.now().Before(exp)
}

// reserve reserves keys and fails the test on error.
func reserve(t testing.TB, s Store, ttl time.Duration, keys ...string) []bool {
	t.Helper()
	fresh, err := s.Reserve(context.Background(), keys, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return fresh
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
