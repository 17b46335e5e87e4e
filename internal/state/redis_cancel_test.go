package state

import (
	"context"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/blackhole"
)

// TestRedisCallsReturnOnCancel: a call blocked on a Redis that accepted the
// connection and never answers returns as soon as its context is cancelled,
// not when the call timeout ends the read. A shutdown cancels the workers'
// calls and must not wait call_timeout for each (issue 12).
func TestRedisCallsReturnOnCancel(t *testing.T) {
	// The call timeout is the read deadline go-redis sets; it is long so
	// that only the cancellation can end the call within the bound below.
	const callTimeout = 10 * time.Second
	// Generous: the spec is "promptly after the cancellation", and a
	// cancellation that is not honoured shows as callTimeout.
	const bound = 2 * time.Second
	calls := []struct {
		name string
		call func(ctx context.Context, r *Redis) error
	}{
		{"Ping", func(ctx context.Context, r *Redis) error { return r.Ping(ctx) }},
		{"Reserve", func(ctx context.Context, r *Redis) error {
			_, err := r.Reserve(ctx, []string{"k"}, time.Hour)
			return err
		}},
		{"Release", func(ctx context.Context, r *Redis) error { return r.Release(ctx, []string{"k"}) }},
		{"Lock", func(ctx context.Context, r *Redis) error {
			l, err := r.Lock(ctx, "k")
			if err == nil {
				_ = l.Unlock()
			}
			return err
		}},
		{"History", func(ctx context.Context, r *Redis) error { _, err := r.History(ctx, "t", "a"); return err }},
		{"RecordRun", func(ctx context.Context, r *Redis) error { return r.RecordRun(ctx, "t", "a") }},
		{"RecordResult", func(ctx context.Context, r *Redis) error { return r.RecordResult(ctx, "t", "a", true) }},
		{"OpenIncident", func(ctx context.Context, r *Redis) error { _, _, err := r.OpenIncident(ctx, "i", "rb"); return err }},
		{"TookOption", func(ctx context.Context, r *Redis) error { return r.TookOption(ctx, "i", 1) }},
		{"AbandonIncident", func(ctx context.Context, r *Redis) error { return r.AbandonIncident(ctx, "i") }},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			bh := blackhole.Start(t)
			r, err := NewRedis(RedisOptions{URL: "redis://" + bh.Addr() + "/0", CallTimeout: callTimeout})
			must(t, err)
			t.Cleanup(func() { _ = r.Close() })
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tc.call(ctx, r) }()
			bh.WaitReceived(t, 0)
			blackhole.CancelReturns(t, cancel, done, bound)
		})
	}
}
