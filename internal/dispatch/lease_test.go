package dispatch_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/remediations"
)

// lockThief is an executor whose resolution runs until its context ends; as
// it starts, the target's lock key is deleted from Redis behind the holder's
// back (an operator, a FLUSHDB, a failover that lost the key).
type lockThief struct {
	raw     *goredis.Client
	lockKey string
	cause   chan error
}

func (l *lockThief) Execute(ctx context.Context, a remediations.Action, _ remediations.Target, _ remediations.Params) (remediations.Result, error) {
	if a.Spec().Kind == remediations.Investigation {
		return remediations.Result{}, nil // evidence, taken without the lock
	}
	if err := l.raw.Del(ctx, l.lockKey).Err(); err != nil {
		l.cause <- context.Cause(ctx) // nil unless the lock was lost already
		return remediations.Result{}, err
	}
	select {
	case <-ctx.Done():
		l.cause <- context.Cause(ctx)
		return remediations.Result{}, ctx.Err()
	case <-time.After(30 * time.Second):
		l.cause <- nil
		return remediations.Result{Changes: []string{"ran to the end without the lock"}}, nil
	}
}

// A running action whose target lock is lost is stopped: another replica
// may take the lock and act on the same target from then on.
func TestActionStopsWhenTargetLockIsLost(t *testing.T) {
	st := redisReplicas(t, 1, func(o *state.RedisOptions) { o.LockTTL = 300 * time.Millisecond })[0]
	raw := goredis.NewClient(&goredis.Options{Addr: redistest.Addr()})
	t.Cleanup(func() { _ = raw.Close() })

	exec := &lockThief{raw: raw, lockKey: st.Prefix() + "lock:Deployment/shop/web", cause: make(chan error, 1)}
	p := &dispatch.Processor{
		Runbooks: defaultRunbooks(t), Policy: engine(t), State: st, Executor: exec,
		Log: discard(), Metrics: dispatch.NewMetrics(nil),
	}
	out := p.Process(context.Background(), cpuAlert("lost", "shop", "web"))

	if cause := <-exec.cause; !errors.Is(cause, state.ErrLockLost) {
		t.Fatalf("the action's context ended with %v, want it stopped by ErrLockLost", cause)
	}
	if out.Chosen != 1 || out.Status != dispatch.StatusFailed {
		t.Fatalf("outcome %s, chosen %d; want option 1 taken and failed", out.Status, out.Chosen)
	}
	if e := out.Options[0].Error; !strings.Contains(e, "target lock was lost") || !strings.Contains(e, "Deployment/shop/web") {
		t.Errorf("option error %q, want it to say the action stopped because the lock on Deployment/shop/web was lost", e)
	}
	if st.LocksLost() != 1 {
		t.Errorf("LocksLost() = %d, want 1", st.LocksLost())
	}
}
