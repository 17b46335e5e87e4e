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
	limit int
	items []dispatch.Outcome
}

// NewMemory keeps at most limit outcomes.
func NewMemory(limit int) *Memory { return &Memory{limit: max(limit, 1)} }

// Record implements dispatch.Recorder.
func (m *Memory) Record(_ context.Context, o dispatch.Outcome) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.items) == m.limit {
		m.items = append(m.items[:0], m.items[1:]...)
	}
	m.items = append(m.items, o)
	return nil
}

// List returns the kept outcomes, oldest first.
func (m *Memory) List() []dispatch.Outcome {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]dispatch.Outcome(nil), m.items...)
}
