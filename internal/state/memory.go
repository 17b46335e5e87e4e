package state

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// lastRunRetention bounds how long a target's last run is remembered without
// any further action; it is longer than any sensible cooldown.
const lastRunRetention = 24 * time.Hour

// sweepEvery is how often expired entries are dropped, so memory stays bounded
// by the rate of distinct alerts and targets rather than by uptime.
const sweepEvery = time.Minute

// Memory is a Store for a single replica. It is safe for concurrent use.
type Memory struct {
	now    func() time.Time
	window time.Duration // Window; tests shorten it

	locks keyedMutex // guarded by its own mutex

	mu        sync.Mutex
	seen      map[string]time.Time // key -> expiry
	global    []time.Time          // action times within Window, oldest first
	targets   map[string]*targetHistory
	incidents map[string]*memIncident
	nextSweep time.Time
}

type targetHistory struct {
	runs    []time.Time // action times within Window, oldest first
	actions map[string]*actionHistory
}

type actionHistory struct {
	runs     []time.Time // runs of this action within window, oldest first
	lastRun  time.Time
	failures int
}

// NewMemory returns an empty store. now is the clock; nil means time.Now.
func NewMemory(now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{
		now:       now,
		window:    Window,
		seen:      make(map[string]time.Time),
		targets:   make(map[string]*targetHistory),
		incidents: make(map[string]*memIncident),
	}
}

// Reserve implements Store.
func (m *Memory) Reserve(_ context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	fresh := make([]bool, len(keys))
	for i, k := range keys {
		if exp, ok := m.seen[k]; ok && now.Before(exp) {
			continue
		}
		m.seen[k] = now.Add(ttl)
		fresh[i] = true
	}
	m.sweepLocked(now)
	return fresh, nil
}

// Release implements Store.
func (m *Memory) Release(_ context.Context, keys []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, k := range keys {
		delete(m.seen, k)
	}
	return nil
}

// Ping implements Store; memory is always reachable.
func (m *Memory) Ping(context.Context) error { return nil }

// Len reports how many dedupe keys are held (expired ones included until the
// next sweep); tests use it to check that memory stays bounded.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.seen)
}

// Lock implements Store. A memory lock lives as long as the process, so it
// needs no expiry or renewal and is never lost.
func (m *Memory) Lock(ctx context.Context, key string) (*Lease, error) {
	unlock, err := m.locks.lock(ctx, key)
	if err != nil {
		return nil, fmt.Errorf("waiting for lock on %s: %w", key, err)
	}
	return newLease(key, func() error { unlock(); return nil }), nil
}

// History implements Store.
func (m *Memory) History(_ context.Context, target, action string) (History, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	cutoff := now.Add(-m.window)
	h := History{Now: now, GlobalActionsLastHour: countSince(m.global, cutoff)}
	if t, ok := m.targets[target]; ok {
		h.TargetActionsLastHour = countSince(t.runs, cutoff)
		if a, ok := t.actions[action]; ok {
			h.ActionRunsLastHour = countSince(a.runs, cutoff)
			h.LastRun = a.lastRun
			h.ConsecutiveFailures = a.failures
		}
	}
	return h, nil
}

// RecordAction implements Store.
func (m *Memory) RecordAction(_ context.Context, target, action string, succeeded bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recordResultLocked(m.recordRunLocked(target, action), succeeded)
	return nil
}

// RecordRun implements Store.
func (m *Memory) RecordRun(_ context.Context, target, action string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recordRunLocked(target, action)
	return nil
}

// RecordResult implements Store.
func (m *Memory) RecordResult(_ context.Context, target, action string, succeeded bool) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.recordResultLocked(m.actionLocked(target, action), succeeded)
	return nil
}

// actionLocked is the history of action on target, created if new. m.mu is held.
func (m *Memory) actionLocked(target, action string) *actionHistory {
	t, ok := m.targets[target]
	if !ok {
		t = &targetHistory{actions: make(map[string]*actionHistory)}
		m.targets[target] = t
	}
	a, ok := t.actions[action]
	if !ok {
		a = &actionHistory{}
		t.actions[action] = a
	}
	return a
}

// recordRunLocked counts a run in the windows. m.mu is held.
func (m *Memory) recordRunLocked(target, action string) *actionHistory {
	now := m.now()
	cutoff := now.Add(-m.window)
	m.global = append(pruneBefore(m.global, cutoff), now)
	a := m.actionLocked(target, action)
	t := m.targets[target]
	t.runs = append(pruneBefore(t.runs, cutoff), now)
	a.runs = append(pruneBefore(a.runs, cutoff), now)
	a.lastRun = now
	m.sweepLocked(now)
	return a
}

func (m *Memory) recordResultLocked(a *actionHistory, succeeded bool) {
	if succeeded {
		a.failures = 0
	} else {
		a.failures++
	}
}

// sweepLocked drops expired dedupe keys and forgotten targets. m.mu is held.
func (m *Memory) sweepLocked(now time.Time) {
	if now.Before(m.nextSweep) {
		return
	}
	m.nextSweep = now.Add(sweepEvery)
	for k, exp := range m.seen {
		if !now.Before(exp) {
			delete(m.seen, k)
		}
	}
	for k, inc := range m.incidents {
		if !now.Before(inc.expires) {
			delete(m.incidents, k)
		}
	}
	cutoff := now.Add(-m.window)
	m.global = pruneBefore(m.global, cutoff)
	for name, t := range m.targets {
		t.runs = pruneBefore(t.runs, cutoff)
		for act, a := range t.actions {
			a.runs = pruneBefore(a.runs, cutoff)
			// A failure streak is kept while it lasts: forgetting it would
			// reopen a tripped circuit just because time passed.
			if a.failures == 0 && now.Sub(a.lastRun) > lastRunRetention {
				delete(t.actions, act)
			}
		}
		if len(t.runs) == 0 && len(t.actions) == 0 {
			delete(m.targets, name)
		}
	}
}

// countSince counts the times in ts (oldest first) that are after cutoff.
func countSince(ts []time.Time, cutoff time.Time) int { return len(pruneBefore(ts, cutoff)) }

// pruneBefore returns the tail of ts (oldest first) that is after cutoff.
func pruneBefore(ts []time.Time, cutoff time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(cutoff) {
		i++
	}
	return ts[i:]
}
