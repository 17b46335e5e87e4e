// Package audit keeps the history of what the daemon decided and did.
package audit

import (
	"context"
	"sync"

	"github.com/remediator/remediator/internal/dispatch"
)

// Memory keeps the most recent outcomes in memory, oldest dropped first.
type Memory struct {
	mu    sync.Mutex
	items []dispatch.Outcome // ring buffer of cap limit
	next  int                // where the next outcome goes once the ring is full
}

// NewMemory keeps at most limit outcomes.
func NewMemory(limit int) *Memory {
	return &Memory{items: make([]dispatch.Outcome, 0, max(limit, 1))}
}

// Record implements dispatch.Recorder.
func (m *Memory) Record(_ context.Context, o dispatch.Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.items) < cap(m.items) {
		m.items = append(m.items, o)
		return nil
	}
	m.items[m.next] = o
	m.next = (m.next + 1) % len(m.items)
	return nil
}

// List returns the kept outcomes, oldest first.
func (m *Memory) List() []dispatch.Outcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]dispatch.Outcome, 0, len(m.items))
	out = append(out, m.items[m.next:]...)
	return append(out, m.items[:m.next]...)
}
