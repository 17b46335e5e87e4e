// Package state keeps what the daemon must remember between alerts: which
// notifications it has already seen, which targets are being worked on, and
// how often it has acted. The policy's rate limits and cooldowns are computed
// from it.
package state

import (
	"context"
	"time"
)

// Window is the sliding window for the hourly action counters.
const Window = time.Hour

// History is what the store knows about past actions, as the policy sees it.
type History struct {
	// TargetActionsLastHour counts actions (any action) on the target within Window.
	TargetActionsLastHour int
	// GlobalActionsLastHour counts all actions within Window.
	GlobalActionsLastHour int
	// LastRun is when this action last ran on this target; zero if never.
	LastRun time.Time
	// ConsecutiveFailures counts failed runs of this action on this target
	// since its last success.
	ConsecutiveFailures int
}

// Store is the state shared by the receiver and the dispatcher. The memory
// implementation serves one replica; a shared implementation lets several
// replicas act as one.
type Store interface {
	// Seen reports whether key was marked and has not expired.
	Seen(ctx context.Context, key string) (bool, error)
	// MarkSeen marks keys for ttl.
	MarkSeen(ctx context.Context, keys []string, ttl time.Duration) error
	// Lock takes the per-target lock for key, waiting until it is free or ctx
	// ends. The returned function releases it.
	Lock(ctx context.Context, key string) (unlock func(), err error)
	// History reports past actions for target and action.
	History(ctx context.Context, target, action string) (History, error)
	// RecordAction counts one run of action on target and its success.
	RecordAction(ctx context.Context, target, action string, succeeded bool) error
}
