package redisurl

import (
	"context"
	"time"
)

// Call runs one go-redis command (or pipeline, or script) under a deadline of
// timeout (none of its own when timeout <= 0: ctx's, or go-redis's read and
// write timeouts), and returns as soon as ctx ends even if Redis has not
// answered.
//
// go-redis does not interrupt a blocked read when a context is cancelled:
// with ContextTimeoutEnabled (see Bound) it copies the context's deadline to
// the connection before each read and write, and that is all. A cancellation
// (a shutdown, a lost lock) would therefore wait for a Redis that has stopped
// answering until the call timeout. So the command runs in a goroutine of
// its own, and a cancelled caller stops waiting for it: the command's read
// still ends by its deadline (at most timeout later), and go-redis then
// discards the connection, whose reply was never read. A command already on
// the wire may still run in Redis; the caller's error (ctx's) does not say it
// did not.
func Call[T any](ctx context.Context, timeout time.Duration, cmd func(context.Context) (T, error)) (T, error) {
	callCtx, cancel := context.WithCancel(ctx)
	if timeout > 0 {
		callCtx, cancel = context.WithTimeout(ctx, timeout)
	}
	if ctx.Done() == nil {
		// Nothing can cancel ctx: the deadline alone ends the call.
		defer cancel()
		return cmd(callCtx)
	}
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	go func() {
		defer cancel()
		v, err := cmd(callCtx)
		done <- result{v, err}
	}()
	select {
	case r := <-done:
		return r.v, r.err
	case <-ctx.Done():
		select {
		case r := <-done: // answered as ctx ended: the answer wins
			return r.v, r.err
		default:
			var zero T
			return zero, ctx.Err()
		}
	}
}
