package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/redistest"
)

var _ Store = (*Redis)(nil)

// newTestRedis returns a store on the test Redis; the test fails (it does not
// skip) when that Redis is unreachable. Every key under prefix is deleted
// when the test ends.
func newTestRedis(t testing.TB, prefix string, mutate func(*RedisOptions)) *Redis {
	t.Helper()
	o := RedisOptions{URL: redistest.URL(), Prefix: prefix, CallTimeout: 2 * time.Second}
	if mutate != nil {
		mutate(&o)
	}
	r, err := NewRedis(o)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Ping(context.Background()); err != nil {
		t.Fatalf("the state tests need a real Redis at %s (set REMEDIATOR_TEST_REDIS_ADDR to use another): %v", redistest.Addr(), err)
	}
	t.Cleanup(func() {
		cleanupPrefix(t, prefix)
		_ = r.Close()
	})
	return r
}

// cleanupPrefix deletes every key under prefix, with a client of its own
// (the test may have closed the store's).
func cleanupPrefix(t testing.TB, prefix string) {
	r, err := NewRedis(RedisOptions{URL: redistest.URL(), Prefix: prefix})
	if err != nil {
		t.Error(err)
		return
	}
	defer r.Close()
	if err := r.DeletePrefix(context.Background()); err != nil {
		t.Errorf("cleaning up %s*: %v", prefix, err)
	}
}

func textLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func TestRedisLockLostWhileHeld(t *testing.T) {
	ctx := context.Background()
	var logs strings.Builder
	r := newTestRedis(t, redistest.Prefix(), func(o *RedisOptions) {
		o.LockTTL = 300 * time.Millisecond
		o.Logger = textLogger(&logs)
	})
	l, err := r.Lock(ctx, "Deployment/shop/cart")
	must(t, err)
	// Someone (an operator, a FLUSHDB, a failover that lost the key) removes it.
	must(t, r.client.Del(ctx, r.lockKey("Deployment/shop/cart")).Err())
	select {
	case <-l.Lost():
	case <-time.After(time.Second):
		t.Fatal("renewal did not notice the lock was gone")
	}
	if !errors.Is(l.Err(), ErrLockLost) || !errors.Is(l.Unlock(), ErrLockLost) {
		t.Errorf("Err %v, Unlock %v; want ErrLockLost", l.Err(), l.Unlock())
	}
	if r.LocksLost() != 1 {
		t.Errorf("LocksLost() = %d, want 1", r.LocksLost())
	}
	if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "Deployment/shop/cart") {
		t.Errorf("lost lock not logged loudly: %s", logs.String())
	}

	// Another owner's lock is never deleted by a stale holder.
	l2, err := r.Lock(ctx, "k")
	must(t, err)
	must(t, r.client.Set(ctx, r.lockKey("k"), "someone-else", time.Minute).Err())
	if err := l2.Unlock(); !errors.Is(err, ErrLockLost) {
		t.Errorf("Unlock of a taken-over lock: %v, want ErrLockLost", err)
	}
	if v, _ := r.client.Get(ctx, r.lockKey("k")).Result(); v != "someone-else" {
		t.Errorf("the new owner's lock was deleted (value %q)", v)
	}
}

// TestRedisKeys checks the layout promises: every key carries the prefix and
// a TTL, and another prefix is another deployment.
func TestRedisKeys(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix()
	r := newTestRedis(t, prefix, nil)
	reserve(t, r, time.Hour, "alert-1")
	must(t, r.RecordAction(ctx, "Deployment/shop/cart", "kubernetes.scale", false))
	must(t, r.RecordAction(ctx, "Deployment/shop/cart", "kubernetes.rollout_restart", true))
	l, err := r.Lock(ctx, "Deployment/shop/cart")
	must(t, err)
	defer func() { must(t, l.Unlock()) }()

	keys, err := r.client.Keys(ctx, prefix+"*").Result()
	must(t, err)
	want := []string{
		prefix + "dedupe:alert-1",
		prefix + "lock:Deployment/shop/cart",
		prefix + "actions:global",
		prefix + "actions:target:Deployment/shop/cart",
		prefix + "actions:action:Deployment/shop/cart#kubernetes.scale",
		prefix + "actions:action:Deployment/shop/cart#kubernetes.rollout_restart",
		prefix + "lastrun:Deployment/shop/cart#kubernetes.scale",
		prefix + "lastrun:Deployment/shop/cart#kubernetes.rollout_restart",
		prefix + "failures:Deployment/shop/cart#kubernetes.scale",
	}
	got := map[string]bool{}
	for _, k := range keys {
		got[k] = true
		ttl, err := r.client.PTTL(ctx, k).Result()
		must(t, err)
		if ttl <= 0 {
			t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
	}
	for _, k := range want {
		if !got[k] {
			t.Errorf("key %s missing; have %v", k, keys)
		}
	}
	if len(keys) != len(want) {
		t.Errorf("%d keys, want %d: %v", len(keys), len(want), keys)
	}

	other := newTestRedis(t, redistest.Prefix(), nil)
	if got := reserve(t, other, time.Hour, "alert-1"); !got[0] {
		t.Error("a store with another prefix saw this one's dedupe key")
	}
	if h, _ := other.History(ctx, "Deployment/shop/cart", "kubernetes.scale"); h.GlobalActionsLastHour != 0 {
		t.Errorf("a store with another prefix counts this one's actions: %+v", h)
	}
}

// TestRedisUnreachable: a Redis that accepts connections and never answers
// (the worst case: no refusal to fail fast on) makes every call fail within
// the call timeout, and Lock fails instead of waiting.
func TestRedisUnreachable(t *testing.T) {
	ln := silentListener(t)
	r, err := NewRedis(RedisOptions{URL: "redis://:hunter2@" + ln.Addr().String() + "/0", CallTimeout: 200 * time.Millisecond})
	must(t, err)
	defer r.Close()
	ctx := context.Background()
	for name, call := range map[string]func() error{
		"Ping":         func() error { return r.Ping(ctx) },
		"Reserve":      func() error { _, err := r.Reserve(ctx, []string{"k"}, time.Hour); return err },
		"Release":      func() error { return r.Release(ctx, []string{"k"}) },
		"Lock":         func() error { _, err := r.Lock(ctx, "k"); return err },
		"History":      func() error { _, err := r.History(ctx, "t", "a"); return err },
		"RecordAction": func() error { return r.RecordAction(ctx, "t", "a", true) },
	} {
		start := time.Now()
		err := call()
		if err == nil {
			t.Errorf("%s succeeded against a Redis that never answers", name)
			continue
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("%s took %v to fail, want about the call timeout", name, took)
		}
		if strings.Contains(err.Error(), "hunter2") || !strings.Contains(err.Error(), ln.Addr().String()) {
			t.Errorf("%s error %q: want the address and no password", name, err)
		}
	}
}

// silentListener accepts connections and never answers.
func silentListener(t testing.TB) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		var conns []net.Conn
		defer func() {
			for _, c := range conns {
				_ = c.Close()
			}
		}()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	return ln
}

func TestNewRedisURLErrors(t *testing.T) {
	for _, tc := range []struct {
		url, want string
	}{
		{"", "empty URL"},
		{"http://localhost:6379", `invalid URL scheme "http"`},
		{"redis://:p%zzw@localhost:6379", "not shown"},
		{"redis://localhost:6379/notanumber", "invalid URL"},
	} {
		_, err := NewRedis(RedisOptions{URL: tc.url})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewRedis(%q) = %v, want an error with %q", tc.url, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "zzw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
	if _, err := NewRedis(RedisOptions{URL: "redis://localhost:6379", LockTTL: -1}); err == nil {
		t.Error("negative lock ttl accepted")
	}
	r, err := NewRedis(RedisOptions{URL: "redis://u:pw@localhost:6380/2"})
	must(t, err)
	defer r.Close()
	if r.Addr() != "localhost:6380/2" || r.Prefix() != DefaultPrefix || r.lockTTL != DefaultLockTTL {
		t.Errorf("Addr %q Prefix %q lockTTL %v", r.Addr(), r.Prefix(), r.lockTTL)
	}
}

func benchStores(b *testing.B) map[string]Store {
	return map[string]Store{"memory": NewMemory(nil), "redis": newTestRedis(b, redistest.Prefix(), nil)}
}

func BenchmarkReserve(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if _, err := s.Reserve(ctx, []string{"bench-" + strconv.Itoa(i)}, time.Minute); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkRecordAction(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			i := 0
			for b.Loop() {
				i++
				if err := s.RecordAction(ctx, "Deployment/shop/t"+strconv.Itoa(i%100), "kubernetes.scale", i%3 != 0); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkHistory(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for i := range 100 {
				must(b, s.RecordAction(ctx, "Deployment/shop/t"+strconv.Itoa(i%10), "kubernetes.scale", true))
			}
			i := 0
			for b.Loop() {
				i++
				if _, err := s.History(ctx, "Deployment/shop/t"+strconv.Itoa(i%10), "kubernetes.scale"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkLockUnlock(b *testing.B) {
	for name, s := range benchStores(b) {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				l, err := s.Lock(ctx, "Deployment/shop/cart")
				if err != nil {
					b.Fatal(err)
				}
				if err := l.Unlock(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLockContended: goroutines on two replicas take one lock, hold
// it for 1 ms and then work 5 ms without it, as decisions take the
// admission lock and then run their action. It reports how long Lock
// waited (mean and p99): the time a decision waits for its turn, plus any
// time the lock stays free while its waiters sleep.
func BenchmarkLockContended(b *testing.B) {
	for _, perCPU := range []int{1, 4} {
		b.Run(fmt.Sprintf("goroutines=%dxGOMAXPROCS", perCPU), func(b *testing.B) {
			prefix := redistest.Prefix()
			replicas := []*Redis{newTestRedis(b, prefix, nil), newTestRedis(b, prefix, nil)}
			var (
				next  atomic.Int64
				mu    sync.Mutex
				waits []time.Duration
			)
			b.SetParallelism(perCPU)
			b.RunParallel(func(pb *testing.PB) {
				r := replicas[next.Add(1)%2]
				ctx := context.Background()
				var mine []time.Duration
				for pb.Next() {
					start := time.Now()
					l, err := r.Lock(ctx, "admission")
					if err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
					time.Sleep(time.Millisecond)
					if err := l.Unlock(); err != nil {
						b.Error(err)
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
				mu.Lock()
				waits = append(waits, mine...)
				mu.Unlock()
			})
			slices.Sort(waits)
			var sum time.Duration
			for _, w := range waits {
				sum += w
			}
			if len(waits) > 0 {
				b.ReportMetric(float64(sum.Microseconds())/float64(len(waits)), "wait-µs/op")
				b.ReportMetric(float64(waits[len(waits)*99/100].Microseconds()), "p99-wait-µs")
			}
		})
	}
}
