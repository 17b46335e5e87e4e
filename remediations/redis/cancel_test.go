package redis_test

import (
	"context"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/blackhole"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/redis"
)

// TestExecuteReturnsOnCancel: an action blocked on a Redis that accepted the
// connection and never answers returns as soon as its context is cancelled
// (a shutdown, a lost target lock), not when call_timeout ends the read.
func TestExecuteReturnsOnCancel(t *testing.T) {
	// call_timeout is go-redis's read deadline; it is long so that only the
	// cancellation can end the action within the bound.
	const callTimeout = 10 * time.Second
	const bound = 2 * time.Second
	cache := remediations.Target{Kind: redis.KindRedis}
	for _, tc := range []struct {
		action  remediations.Action
		params  remediations.Params
		preview bool
	}{
		{redis.CacheReport, nil, false},
		{redis.DeleteKeys, remediations.Params{"pattern": "expired:*"}, false},
		{redis.DeleteKeys, remediations.Params{"pattern": "expired:*"}, true},
	} {
		name := tc.action.Spec().Name
		if tc.preview {
			name += " preview"
		}
		t.Run(name, func(t *testing.T) {
			bh := blackhole.Start(t)
			// The start-up ping would wait call_timeout: a short ctx ends it.
			startCtx, cancelStart := context.WithTimeout(context.Background(), 100*time.Millisecond)
			defer cancelStart()
			e, err := redis.NewExecutor(startCtx, map[string]redis.TargetConfig{
				"default": {URLFile: urlFile(t, "redis://"+bh.Addr()+"/0"), CallTimeout: callTimeout},
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.Close() })
			sent := bh.Received()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() {
				var err error
				if tc.preview {
					_, err = e.Preview(ctx, tc.action, cache, tc.params)
				} else {
					_, err = e.Execute(ctx, tc.action, cache, tc.params)
				}
				done <- err
			}()
			bh.WaitReceived(t, sent)
			blackhole.CancelReturns(t, cancel, done, bound)
		})
	}
}
