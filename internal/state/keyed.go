package state

import (
	"context"
	"sync"
)

// keyedMutex is a mutex per key within one process: the memory store's
// locks, and the Redis store's first gate, so that of the goroutines of one
// process waiting for a lock only one contends for it in Redis and the
// others are handed it at once when it is released here.
type keyedMutex struct {
	mu   sync.Mutex
	held map[string]chan struct{} // closed when the key is unlocked
}

// lock waits until key is free or ctx ends, and returns the function that
// frees it (only its first call acts).
func (k *keyedMutex) lock(ctx context.Context, key string) (unlock func(), err error) {
	for {
		k.mu.Lock()
		if k.held == nil {
			k.held = map[string]chan struct{}{}
		}
		freed, busy := k.held[key]
		if !busy {
			ch := make(chan struct{})
			k.held[key] = ch
			k.mu.Unlock()
			return sync.OnceFunc(func() {
				k.mu.Lock()
				delete(k.held, key)
				k.mu.Unlock()
				close(ch)
			}), nil
		}
		k.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}
