package state

import (
	"context"
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/redistest"
)

// waiting reports how many goroutines of r wait in Redis for lock key lk.
func (r *Redis) waiting(lk string) int {
	r.waker.mu.Lock()
	defer r.waker.mu.Unlock()
	return len(r.waker.waiters[lk])
}

// lockAndUnlock takes key on r in the background, releases it at once, and
// reports how that went.
func lockAndUnlock(r *Redis, key string) <-chan error {
	got := make(chan error, 1)
	go func() {
		l, err := r.Lock(context.Background(), key)
		if err == nil {
			err = l.Unlock()
		}
		got <- err
	}()
	return got
}

// awaitLock fails the test with why unless got reports a lock taken and
// released. The bound only keeps a broken hand-over from hanging the test.
func awaitLock(t *testing.T, got <-chan error, why string) {
	t.Helper()
	select {
	case err := <-got:
		must(t, err)
	case <-time.After(20 * time.Second):
		t.Fatal(why)
	}
}

// A lock released on one replica is taken by a waiter on another as soon as
// the release is published, not at the waiter's next poll: here the poll is
// an hour away, so only the wake-up can hand it over.
func TestRedisUnlockWakesWaitersOnOtherReplicas(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix()
	holder := newTestRedis(t, prefix, nil)
	waiter := newTestRedis(t, prefix, nil)
	waiter.pollMin, waiter.pollMax = time.Hour, time.Hour

	held, err := holder.Lock(ctx, "Deployment/shop/web")
	must(t, err)
	got := lockAndUnlock(waiter, "Deployment/shop/web")
	lk := waiter.lockKey("Deployment/shop/web")
	for waiter.waiting(lk) == 0 {
		time.Sleep(time.Millisecond)
	}
	must(t, held.Unlock())
	awaitLock(t, got, "the waiter was not woken by the release; it would have slept until its next poll in an hour")
	if n := waiter.waiting(lk); n != 0 {
		t.Errorf("%d waiters still registered after the lock was taken", n)
	}
}

// Without the subscription (Redis refused it, or it is down at the first
// wait) a waiter still gets the lock by polling.
func TestRedisLockPollsWithoutSubscription(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix()
	holder := newTestRedis(t, prefix, nil)
	waiter := newTestRedis(t, prefix, nil)
	must(t, waiter.waker.close()) // waits from now on never subscribe

	held, err := holder.Lock(ctx, "k")
	must(t, err)
	got := lockAndUnlock(waiter, "k")
	time.Sleep(20 * time.Millisecond) // let it poll at least once
	must(t, held.Unlock())
	awaitLock(t, got, "the waiter never took the released lock by polling")
}

// Goroutines of one process queue for a key among themselves: a waiter
// whose context ends while queued gives up cleanly, and the next one takes
// the key once it is released.
func TestRedisLocalQueue(t *testing.T) {
	prefix := redistest.Prefix()
	r := newTestRedis(t, prefix, nil)
	held, err := r.Lock(context.Background(), "k")
	must(t, err)

	short, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := r.Lock(short, "k"); err == nil {
		t.Fatal("a second lock on a held key succeeded")
	}
	got := lockAndUnlock(r, "k")
	must(t, held.Unlock())
	awaitLock(t, got, "the queued waiter never got the key")
	r.local.mu.Lock()
	n := len(r.local.held)
	r.local.mu.Unlock()
	if n != 0 {
		t.Errorf("%d keys still held locally after every holder unlocked", n)
	}
}

// With pub/sub refused by an ACL (no channel permissions), locks still
// work: the unlock script's PUBLISH is ignored, SUBSCRIBE fails once, and a
// waiter finds the lock free by polling.
func TestRedisLocksWithoutPubSubPermission(t *testing.T) {
	ctx := context.Background()
	prefix := redistest.Prefix()
	admin := newTestRedis(t, prefix, nil)
	user := "remediator-test-" + strings.ToLower(rand.Text()[:8])
	must(t, admin.client.Do(ctx, "ACL", "SETUSER", user, "on", ">pw", "~*", "resetchannels", "+@all").Err())
	t.Cleanup(func() { admin.client.Do(context.Background(), "ACL", "DELUSER", user) })
	restricted := func() *Redis {
		return newTestRedis(t, prefix, func(o *RedisOptions) {
			o.URL = "redis://" + user + ":pw@" + redistest.Addr() + "/0"
		})
	}
	holder, waiter := restricted(), restricted()

	held, err := holder.Lock(ctx, "k")
	must(t, err)
	got := lockAndUnlock(waiter, "k")
	time.Sleep(20 * time.Millisecond)
	if err := held.Unlock(); err != nil {
		t.Fatalf("unlock with PUBLISH refused: %v", err)
	}
	awaitLock(t, got, "the waiter never took the released lock")
	waiter.waker.mu.Lock()
	subscribed := waiter.waker.ps != nil
	waiter.waker.mu.Unlock()
	if subscribed {
		t.Error("the waiter subscribed although the ACL grants no channel")
	}
}
