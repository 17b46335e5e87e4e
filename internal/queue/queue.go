// Package queue is the bounded hand-off between the HTTP receiver and the
// dispatcher's workers.
package queue

import (
	"errors"
	"sync"
)

// Queue is a bounded FIFO. Producers push batches all-or-nothing, so a
// notification is either queued whole or refused whole (and then retried whole
// by Alertmanager); consumers range over C.
type Queue[T any] struct {
	mu     sync.Mutex // serialises producers so the capacity check holds until the sends finish
	ch     chan T
	closed bool
}

// New returns a queue that holds at most capacity items.
func New[T any](capacity int) *Queue[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &Queue[T]{ch: make(chan T, capacity)}
}

// Why TryPush refused a batch: the caller tells a client "retry later" in
// both cases, but a full queue is a capacity problem to alert on and a
// closed one is a shutdown.
var (
	ErrFull   = errors.New("queue full")
	ErrClosed = errors.New("queue closed: shutting down")
)

// TryPush queues all items, or none of them when they do not all fit
// (ErrFull) or the queue is closed (ErrClosed). It never blocks on
// consumers.
func (q *Queue[T]) TryPush(items ...T) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return ErrClosed
	}
	// Only producers add to ch and they hold mu, so free space can only grow
	// between this check and the sends below.
	if cap(q.ch)-len(q.ch) < len(items) {
		return ErrFull
	}
	for _, it := range items {
		q.ch <- it
	}
	return nil
}

// C is the channel consumers receive from; it is closed by Close once drained
// of producers.
func (q *Queue[T]) C() <-chan T { return q.ch }

// Len is the number of queued items.
func (q *Queue[T]) Len() int { return len(q.ch) }

// Cap is the queue's capacity.
func (q *Queue[T]) Cap() int { return cap(q.ch) }

// Close refuses further pushes and closes C after the items already queued, so
// consumers drain what was accepted and then stop. It is safe to call twice.
func (q *Queue[T]) Close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		close(q.ch)
	}
}
