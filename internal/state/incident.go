package state

import (
	"context"
	"time"
)

// Incident retention. Every key of a shared store must expire; these bound
// how long an incident is remembered.
const (
	// IncidentRetention is how long an open incident lives after the last
	// notification that touched it. Alertmanager re-sends a firing alert
	// every repeat_interval (4h by default), and each re-send refreshes it,
	// so only an incident whose alert went silent without a resolution (a
	// lost notification, send_resolved: false) ever expires open.
	IncidentRetention = 7 * 24 * time.Hour
	// ClosedIncidentRetention is how long a closed incident is kept, so that
	// a firing notification delivered after its resolution (two Alertmanager
	// peers, a retry) is recognised as belonging to it and does not act.
	ClosedIncidentRetention = 24 * time.Hour
)

// Incident is an alert's firing notifications and its resolution, keyed by
// the alert's fingerprint and startsAt (see dispatch.IncidentKey). Times are
// the store's clock, like History's.
type Incident struct {
	// OpenedAt is when the first firing notification opened it.
	OpenedAt time.Time
	// Step counts escalations: 0 until the first.
	Step int
	// SteppedAt is when Step last changed (OpenedAt before any escalation):
	// the next escalation is due escalate_after later.
	SteppedAt time.Time
	// Option is the 1-based resolution option last taken for it, 0 if none.
	Option int
	// ClosedAt is when its resolution closed it; zero while open.
	ClosedAt time.Time
	// Now is the store's clock at the call.
	Now time.Time
}

// Open reports whether the incident is still open.
func (i Incident) Open() bool { return i.ClosedAt.IsZero() }

// Incidents keeps incidents. Every method is one atomic step in the store
// (one Lua script in Redis), so that of several replicas handling the same
// notification at once exactly one opens, escalates or closes an incident.
type Incidents interface {
	// OpenIncident opens the incident key for runbook unless it exists, and
	// returns it; opened reports whether this call opened it. An existing
	// open incident's retention is refreshed.
	OpenIncident(ctx context.Context, key, runbook string) (inc Incident, opened bool, err error)
	// EscalateIncident moves the open incident key from step to step+1 if it
	// is still at step and at least after has passed since it got there; ok
	// reports whether this call did. Of concurrent callers only one can.
	EscalateIncident(ctx context.Context, key string, step int, after time.Duration) (inc Incident, ok bool, err error)
	// TookOption records that option (1-based) was taken for the open
	// incident key; the recorded option only ever grows.
	TookOption(ctx context.Context, key string, option int) error
	// AbandonIncident deletes the open incident key if it has neither
	// escalated nor taken an option: its opening notification could not be
	// processed (the store failed midway), and its retry must open it
	// afresh rather than be taken for a re-send.
	AbandonIncident(ctx context.Context, key string) error
	// CloseIncident closes the open incident key; closed reports whether
	// this call did (false if it is unknown or already closed).
	CloseIncident(ctx context.Context, key string) (inc Incident, closed bool, err error)
}
