// Package queue is the bounded hand-off between the HTTP receiver and the
// dispatcher's workers.
package queue

import (
	"errors"
	"sync"
)

// Queue is a bounded FIFO, bounded in items and, when made with NewSized, in
// bytes. Producers push batches, all-or-nothing (TryPush) or as much as fits
// (Offer); consumers range over C.
type Queue[T any] struct {
	mu     sync.Mutex // serialises producers so the capacity check holds until the sends finish
	ch     chan T
	closed bool

	// Byte accounting. Items leave ch in the order they entered, so the
	// sizes of the items still queued are the last len(ch) entries of
	// sizes: producers drop the older ones (consumed since) before checking
	// room. Consumers take from ch and never touch this, which keeps C a
	// plain channel.
	size     func(T) int64
	maxBytes int64
	sizes    []int64 // ring of at most cap(ch) entries
	head     int     // index of the oldest entry
	count    int     // entries in sizes
	bytes    int64   // sum of the entries
}

// New returns a queue that holds at most capacity items.
func New[T any](capacity int) *Queue[T] {
	if capacity < 1 {
		capacity = 1
	}
	return &Queue[T]{ch: make(chan T, capacity)}
}

// NewSized returns a queue that holds at most capacity items and at most
// maxBytes of them, as size measures them. An item larger than maxBytes is
// still taken into an empty queue, so that every item can eventually pass.
func NewSized[T any](capacity int, maxBytes int64, size func(T) int64) *Queue[T] {
	q := New[T](capacity)
	q.size, q.maxBytes = size, maxBytes
	q.sizes = make([]int64, cap(q.ch))
	return q
}

// Why a push was refused: the caller tells a client "retry later" in both
// cases, but a full queue is a capacity problem to alert on and a closed one
// is a shutdown.
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
	if q.fit(items) < len(items) {
		return ErrFull
	}
	q.push(items)
	return nil
}

// Offer queues the longest prefix of items that fits and returns its
// length; when that is not all of them it also returns why (ErrFull or
// ErrClosed). It never blocks on consumers.
func (q *Queue[T]) Offer(items ...T) (int, error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	n := q.fit(items)
	q.push(items[:n])
	if n < len(items) {
		return n, ErrFull
	}
	return n, nil
}

// fit returns how many of items, from the first, fit now. q.mu is held.
func (q *Queue[T]) fit(items []T) int {
	// Only producers add to ch and they hold mu, so free space can only grow
	// between this check and the sends in push.
	n := min(len(items), cap(q.ch)-len(q.ch))
	if q.size == nil {
		return n
	}
	q.forgetConsumed()
	bytes := q.bytes
	for i := range n {
		s := q.size(items[i])
		if bytes+s > q.maxBytes && !(bytes == 0 && i == 0) {
			return i
		}
		bytes += s
	}
	return n
}

// push sends items, which fit. q.mu is held.
func (q *Queue[T]) push(items []T) {
	for _, it := range items {
		if q.size != nil {
			s := q.size(it)
			q.sizes[(q.head+q.count)%len(q.sizes)] = s
			q.count++
			q.bytes += s
		}
		q.ch <- it
	}
}

// forgetConsumed drops the sizes of items consumers took since the last
// look. q.mu is held. len(ch) may shrink while this runs (never grow: only
// producers add), so at worst a few consumed items are still counted until
// the next push: the bound errs on the safe side.
func (q *Queue[T]) forgetConsumed() {
	for q.count > len(q.ch) {
		q.bytes -= q.sizes[q.head]
		q.head = (q.head + 1) % len(q.sizes)
		q.count--
	}
}

// Full reports whether the queue has no room for one more item (of any
// size): producers can refuse work before preparing it. A closed queue is
// not full; pushes tell it apart.
func (q *Queue[T]) Full() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	if len(q.ch) == cap(q.ch) {
		return true
	}
	if q.size == nil {
		return false
	}
	q.forgetConsumed()
	return q.bytes >= q.maxBytes
}

// C is the channel consumers receive from; it is closed by Close once drained
// of producers.
func (q *Queue[T]) C() <-chan T { return q.ch }

// Len is the number of queued items.
func (q *Queue[T]) Len() int { return len(q.ch) }

// Cap is the queue's capacity.
func (q *Queue[T]) Cap() int { return cap(q.ch) }

// Bytes is the size of the queued items (0 for a queue made with New).
func (q *Queue[T]) Bytes() int64 {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.size != nil {
		q.forgetConsumed()
	}
	return q.bytes
}

// MaxBytes is the queue's byte bound (0 for a queue made with New).
func (q *Queue[T]) MaxBytes() int64 { return q.maxBytes }

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
