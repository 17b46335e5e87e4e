package state

import (
	"context"
	"errors"
	"sync"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// unlockWaker wakes the goroutines of this process that wait for a Redis
// lock as soon as any replica releases it, instead of leaving them asleep
// until their next poll. Every release PUBLISHes the lock's key on one
// channel (inside the unlock script); one subscription per store hears it.
//
// Pub/sub delivers at most once and not across a reconnect, so the poll
// with backoff stays as the fallback: a lost message costs a poll interval,
// never a lock.
type unlockWaker struct {
	client  *goredis.Client
	channel string

	mu      sync.Mutex
	waiters map[string]map[chan struct{}]struct{}
	ps      *goredis.PubSub // nil until subscribed; nil again after close
	retryAt time.Time       // after a failed subscription, when to try again
	closed  bool
	done    chan struct{} // closed when the dispatch loop ends
}

// subscribeRetry is how long waiters only poll after the subscription could
// not be set up (Redis down, or pub/sub refused by an ACL).
const subscribeRetry = 30 * time.Second

func newUnlockWaker(client *goredis.Client, channel string) *unlockWaker {
	return &unlockWaker{client: client, channel: channel, waiters: map[string]map[chan struct{}]struct{}{}}
}

// wait registers interest in the release of lock key lk. The returned
// channel receives a value after any release of lk published once wait has
// returned; done must be called when the caller stops waiting. If the
// subscription cannot be set up, the channel never fires and the caller
// polls.
func (w *unlockWaker) wait(ctx context.Context, lk string) (wake <-chan struct{}, done func()) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return ch, func() {}
	}
	if w.ps == nil && !time.Now().Before(w.retryAt) {
		// Confirmed before the first wait, so that a release published
		// after this call returns is heard. Once it runs, go-redis
		// reconnects and resubscribes it by itself.
		ps := w.subscribe(ctx)
		if ps == nil {
			if !errors.Is(ctx.Err(), context.Canceled) {
				// Redis failed, not the caller: poll only for a while.
				w.retryAt = time.Now().Add(subscribeRetry)
			}
			return ch, func() {}
		}
		w.ps = ps
		w.done = make(chan struct{})
		go w.dispatch(ps.Channel(), w.done)
	}
	if w.ps == nil {
		return ch, func() {}
	}
	set := w.waiters[lk]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		w.waiters[lk] = set
	}
	set[ch] = struct{}{}
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		// set is w.waiters[lk] while it has members: it is only dropped
		// when empty.
		delete(set, ch)
		if len(set) == 0 {
			delete(w.waiters, lk)
		}
	}
}

// subscribe subscribes to the channel and waits for Redis to confirm it; nil
// if it does not by ctx's deadline, or ctx is cancelled first. go-redis does
// not interrupt a blocked read on cancellation (see redisurl.Call), so the
// subscription is made in a goroutine that a cancelled caller stops waiting
// for; that goroutine closes what it made once its deadline ends it.
func (w *unlockWaker) subscribe(ctx context.Context) *goredis.PubSub {
	made := make(chan *goredis.PubSub, 1)
	go func() {
		ps := w.client.Subscribe(ctx, w.channel)
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			ps = nil
		}
		made <- ps
	}()
	select {
	case ps := <-made:
		return ps
	case <-ctx.Done():
		go func() {
			if ps := <-made; ps != nil {
				_ = ps.Close()
			}
		}()
		return nil
	}
}

// dispatch hands each published release to the waiters of that lock.
func (w *unlockWaker) dispatch(msgs <-chan *goredis.Message, done chan struct{}) {
	defer close(done)
	for m := range msgs {
		w.mu.Lock()
		for ch := range w.waiters[m.Payload] {
			select {
			case ch <- struct{}{}:
			default: // already woken; it will try the lock once
			}
		}
		w.mu.Unlock()
	}
}

// close ends the subscription and waits for the dispatch loop.
func (w *unlockWaker) close() error {
	w.mu.Lock()
	w.closed = true
	ps, done := w.ps, w.done
	w.ps = nil
	w.mu.Unlock()
	if ps == nil {
		return nil
	}
	err := ps.Close()
	<-done
	return err
}
