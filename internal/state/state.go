// Package state keeps what the daemon must remember between alerts: which
// notifications it has already accepted, which targets are being worked on,
// how often it has acted, and which incidents are open. The policy's rate limits and cooldowns are
// computed from it.
//
// Two implementations: Memory serves one replica; Redis lets several replicas
// act as one, every update that must be atomic being one Lua script.
package state

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Window is the sliding window for the hourly action counters.
const Window = time.Hour

// History is what the store knows about past actions, as the policy sees it.
type History struct {
	// TargetActionsLastHour counts actions (any action) on the target within Window.
	TargetActionsLastHour int
	// ActionRunsLastHour counts runs of this action on this target within Window.
	ActionRunsLastHour int
	// GlobalActionsLastHour counts all actions within Window.
	GlobalActionsLastHour int
	// LastRun is when this action last ran on this target; zero if never.
	LastRun time.Time
	// ConsecutiveFailures counts failed runs of this action on this target
	// since its last success.
	ConsecutiveFailures int
	// Now is the store's clock when the history was read. LastRun is measured
	// against it, not against the reader's clock: with a shared store, all
	// replicas then agree on a cooldown even if their clocks are skewed.
	Now time.Time
}

// Store is the state shared by the receiver and the dispatcher. The memory
// implementation serves one replica; a shared implementation lets several
// replicas act as one.
type Store interface {
	// Reserve atomically claims each dedupe key for ttl. fresh[i] is true
	// when this call claimed keys[i], false when it was already claimed and
	// has not expired. Of any number of concurrent callers (replicas
	// included), exactly one gets true for a key. An existing claim is not
	// extended.
	Reserve(ctx context.Context, keys []string, ttl time.Duration) (fresh []bool, err error)
	// Release drops claims this caller made with Reserve, so that a
	// notification that could not be queued is processed when it is retried.
	Release(ctx context.Context, keys []string) error
	// Lock takes the per-target lock for key, waiting until it is free or ctx
	// ends. The lease stays held until it is unlocked; a shared store renews
	// it while held and reports through the lease if it is lost.
	Lock(ctx context.Context, key string) (*Lease, error)
	// History reports past actions for target and action.
	History(ctx context.Context, target, action string) (History, error)
	// RecordAction counts one run of action on target and its success:
	// RecordRun, then RecordResult (two updates in a shared store), for a
	// caller that learns of a run only after it ended.
	RecordAction(ctx context.Context, target, action string, succeeded bool) error
	// RecordRun counts one run of action on target as it starts: the
	// hourly windows and the last run. Counting before the action runs is
	// what lets a decision made right after see it (see dispatch's
	// admission lock).
	RecordRun(ctx context.Context, target, action string) error
	// RecordResult records how a run RecordRun counted ended: a success
	// resets the consecutive-failure count, a failure adds one.
	RecordResult(ctx context.Context, target, action string, succeeded bool) error
	// Ping reports whether the store is reachable.
	Ping(ctx context.Context) error
	// Incidents group an alert's notifications (see incident.go).
	Incidents
}

// ErrLockLost is the error of a lease whose lock expired or was taken over
// while it was held.
var ErrLockLost = errors.New("lock lost")

// Lease is a held per-target lock.
type Lease struct {
	key     string
	release func() error

	once    sync.Once
	unlockE error

	lostOnce sync.Once
	lost     chan struct{}
	lostErr  error // set before lost is closed
}

func newLease(key string, release func() error) *Lease {
	return &Lease{key: key, release: release, lost: make(chan struct{})}
}

// Key is the locked key.
func (l *Lease) Key() string { return l.key }

// Unlock releases the lock. Only the first call acts; later calls return its
// result. It reports an error when the lock was lost while held or could not
// be released (a shared store's lock then expires by itself).
func (l *Lease) Unlock() error {
	l.once.Do(func() { l.unlockE = l.release() })
	return l.unlockE
}

// Lost is closed when the lock is known to be lost while held.
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Err is nil while the lock is held, and why it was lost once Lost is closed.
func (l *Lease) Err() error {
	select {
	case <-l.lost:
		return l.lostErr
	default:
		return nil
	}
}

// markLost records that the lock was lost; only the first call counts, and
// runs report (to log and count it) before Lost is closed.
func (l *Lease) markLost(err error, report func()) {
	l.lostOnce.Do(func() {
		report()
		l.lostErr = err
		close(l.lost)
	})
}
