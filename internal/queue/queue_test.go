package queue_test

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/remediator/remediator/internal/queue"
)

// drain receives everything left in q after Close, failing if C is not closed
// once the queued items are out (a receive on an open, empty channel would
// block, so the test would hang rather than pass).
func drain[T any](t *testing.T, q *queue.Queue[T]) []T {
	t.Helper()
	var out []T
	for v := range q.C() {
		out = append(out, v)
	}
	return out
}

func TestNewCapacity(t *testing.T) {
	for _, tc := range []struct {
		capacity, want int
	}{
		{capacity: -5, want: 1},
		{capacity: 0, want: 1},
		{capacity: 1, want: 1},
		{capacity: 7, want: 7},
	} {
		t.Run(fmt.Sprint(tc.capacity), func(t *testing.T) {
			q := queue.New[int](tc.capacity)
			if got := q.Cap(); got != tc.want {
				t.Errorf("Cap() = %d, want %d", got, tc.want)
			}
			if got := q.Len(); got != 0 {
				t.Errorf("Len() of a new queue = %d, want 0", got)
			}
		})
	}
}

// TestTryPushAllOrNothing pushes a sequence of batches into a queue of
// capacity 3 and checks after each one whether it was accepted, the length,
// and finally the exact contents: a refused batch must leave no trace.
func TestTryPushAllOrNothing(t *testing.T) {
	type push struct {
		items   []int
		ok      bool
		wantLen int
	}
	for _, tc := range []struct {
		name   string
		pushes []push
		want   []int
	}{
		{
			name:   "batch that exactly fills",
			pushes: []push{{items: []int{1, 2, 3}, ok: true, wantLen: 3}},
			want:   []int{1, 2, 3},
		},
		{
			name:   "batch larger than capacity on an empty queue",
			pushes: []push{{items: []int{1, 2, 3, 4}, ok: false, wantLen: 0}},
			want:   nil,
		},
		{
			name: "batch that does not fit the remaining space",
			pushes: []push{
				{items: []int{1, 2}, ok: true, wantLen: 2},
				{items: []int{3, 4}, ok: false, wantLen: 2},
				{items: []int{5}, ok: true, wantLen: 3},
			},
			want: []int{1, 2, 5},
		},
		{
			name: "full queue refuses even one item",
			pushes: []push{
				{items: []int{1, 2, 3}, ok: true, wantLen: 3},
				{items: []int{4}, ok: false, wantLen: 3},
			},
			want: []int{1, 2, 3},
		},
		{
			name: "empty batch is accepted and changes nothing",
			pushes: []push{
				{items: []int{1, 2, 3}, ok: true, wantLen: 3},
				{items: nil, ok: true, wantLen: 3},
			},
			want: []int{1, 2, 3},
		},
		{
			name: "single items in FIFO order",
			pushes: []push{
				{items: []int{10}, ok: true, wantLen: 1},
				{items: []int{20}, ok: true, wantLen: 2},
				{items: []int{30}, ok: true, wantLen: 3},
			},
			want: []int{10, 20, 30},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := queue.New[int](3)
			for i, p := range tc.pushes {
				err := q.TryPush(p.items...)
				if (err == nil) != p.ok || (err != nil && !errors.Is(err, queue.ErrFull)) {
					t.Fatalf("push %d TryPush(%v) = %v, want accepted=%v (refused with ErrFull)", i, p.items, err, p.ok)
				}
				if got := q.Len(); got != p.wantLen {
					t.Fatalf("after push %d Len() = %d, want %d", i, got, p.wantLen)
				}
				if got := q.Cap(); got != 3 {
					t.Fatalf("after push %d Cap() = %d, want 3", i, got)
				}
			}
			q.Close()
			if got := drain(t, q); !slices.Equal(got, tc.want) {
				t.Errorf("queued %v, want %v", got, tc.want)
			}
		})
	}
}

func TestFIFOAcrossConsumption(t *testing.T) {
	q := queue.New[string](2)
	if q.TryPush("a", "b") != nil {
		t.Fatal("TryPush(a, b) on an empty queue of 2 refused")
	}
	if got := <-q.C(); got != "a" {
		t.Fatalf("first item = %q, want a", got)
	}
	// Consuming one item frees exactly one slot.
	if !errors.Is(q.TryPush("c", "d"), queue.ErrFull) {
		t.Fatal("TryPush(c, d) accepted with one free slot")
	}
	if q.TryPush("c") != nil {
		t.Fatal("TryPush(c) refused with one free slot")
	}
	q.Close()
	if got, want := drain(t, q), []string{"b", "c"}; !slices.Equal(got, want) {
		t.Errorf("remaining items = %v, want %v", got, want)
	}
}

func TestClose(t *testing.T) {
	q := queue.New[int](4)
	if q.TryPush(1, 2, 3) != nil {
		t.Fatal("TryPush refused on an empty queue")
	}
	q.Close()
	if err := q.TryPush(4); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("TryPush after Close = %v, want ErrClosed", err)
	}
	if err := q.TryPush(); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("TryPush() with no items after Close = %v, want ErrClosed", err)
	}
	q.Close() // must not panic (closing a closed channel would)
	if got := q.Len(); got != 3 {
		t.Errorf("Len() after Close = %d, want the 3 accepted items", got)
	}
	// Items accepted before Close are still delivered, in order, and then C
	// is closed so that a ranging consumer stops.
	if got, want := drain(t, q), []int{1, 2, 3}; !slices.Equal(got, want) {
		t.Errorf("drained %v, want %v", got, want)
	}
	if v, ok := <-q.C(); ok {
		t.Errorf("receive after drain = %v, true; want C closed", v)
	}
	if err := q.TryPush(5); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("TryPush after Close and drain = %v, want ErrClosed", err)
	}
}

func TestCloseEmptyAndTwice(t *testing.T) {
	q := queue.New[int](1)
	q.Close()
	q.Close()
	if _, ok := <-q.C(); ok {
		t.Fatal("C still open after Close of an empty queue")
	}
}

type item struct{ producer, batch, seq int }

// TestConcurrentProducers has many producers push batches (retrying refused
// ones) while one consumer drains. Run with -race. It checks that nothing is
// lost or duplicated, that each batch arrives whole and contiguous (producers
// are serialised), that each producer's batches arrive in push order, and
// that Len never exceeds Cap.
func TestConcurrentProducers(t *testing.T) {
	const (
		producers = 16
		batches   = 100
		capacity  = 8
	)
	q := queue.New[item](capacity)

	var (
		received []item
		overCap  []int
		done     = make(chan struct{})
	)
	go func() {
		defer close(done)
		for it := range q.C() {
			received = append(received, it)
			if n := q.Len(); n > q.Cap() {
				overCap = append(overCap, n)
			}
		}
	}()

	var wg sync.WaitGroup
	var mu sync.Mutex
	refused := 0
	for p := range producers {
		wg.Go(func() {
			for b := range batches {
				size := 1 + (p+b)%capacity // 1..capacity items
				batch := make([]item, size)
				for i := range batch {
					batch[i] = item{producer: p, batch: b, seq: i}
				}
				for q.TryPush(batch...) != nil {
					mu.Lock()
					refused++
					mu.Unlock()
					if n := q.Len(); n > q.Cap() {
						t.Errorf("Len() = %d exceeds Cap() = %d", n, q.Cap())
					}
					runtime.Gosched() // let the consumer make room
				}
			}
		})
	}
	wg.Wait()
	q.Close()
	<-done

	if len(overCap) > 0 {
		t.Errorf("consumer saw Len() above Cap() %d: %v", capacity, overCap)
	}
	want := 0
	for p := range producers {
		for b := range batches {
			want += 1 + (p+b)%capacity
		}
	}
	if len(received) != want {
		t.Fatalf("received %d items, want %d", len(received), want)
	}
	seen := make(map[item]bool, len(received))
	nextBatch := make([]int, producers)
	for i := 0; i < len(received); {
		first := received[i]
		if seen[first] {
			t.Fatalf("item %+v received twice", first)
		}
		if first.seq != 0 {
			t.Fatalf("item %d: %+v starts a run but is not the first of its batch", i, first)
		}
		if first.batch != nextBatch[first.producer] {
			t.Fatalf("producer %d: batch %d arrived, want batch %d next", first.producer, first.batch, nextBatch[first.producer])
		}
		nextBatch[first.producer]++
		size := 1 + (first.producer+first.batch)%capacity
		for j := range size {
			got := received[i+j]
			want := item{producer: first.producer, batch: first.batch, seq: j}
			if got != want {
				t.Fatalf("item %d = %+v, want %+v (batches must arrive whole and in order)", i+j, got, want)
			}
			if seen[got] {
				t.Fatalf("item %+v received twice", got)
			}
			seen[got] = true
		}
		i += size
	}
	for p, n := range nextBatch {
		if n != batches {
			t.Errorf("producer %d: %d batches received, want %d", p, n, batches)
		}
	}
	t.Logf("%d pushes refused for lack of space and retried", refused)
}

// TestConcurrentClose closes the queue while producers are pushing: every
// push that reported success must be delivered exactly once, and none that
// reported failure. The queue is big enough for every push, so a refusal can
// only come from Close.
func TestConcurrentClose(t *testing.T) {
	const (
		producers   = 8
		perProducer = 1000
		closeAfter  = 500
	)
	q := queue.New[item](producers * perProducer)

	var received []item
	done := make(chan struct{})
	go func() {
		defer close(done)
		for it := range q.C() {
			received = append(received, it)
		}
	}()

	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		accepted = map[item]bool{}
		start    = make(chan struct{})
	)
	for p := range producers {
		wg.Go(func() {
			<-start
			for b := range perProducer {
				it := item{producer: p, batch: b}
				if err := q.TryPush(it); err != nil {
					if !errors.Is(err, queue.ErrClosed) {
						t.Errorf("producer %d: refused with %v, want ErrClosed (the queue never fills here)", p, err)
					}
					// Closed: refusals are final.
					if q.TryPush(item{producer: p, batch: -1}) == nil {
						t.Errorf("producer %d: TryPush succeeded after a refusal", p)
					}
					return
				}
				mu.Lock()
				accepted[it] = true
				n := len(accepted)
				mu.Unlock()
				if n == closeAfter {
					q.Close()
				}
			}
		})
	}
	close(start)
	wg.Wait()
	q.Close() // again, in case no producer did; also checks a second Close is safe
	<-done

	if len(accepted) < closeAfter {
		t.Fatalf("only %d pushes accepted", len(accepted))
	}
	if len(accepted) == producers*perProducer {
		t.Fatalf("all %d pushes accepted although the queue was closed after %d", len(accepted), closeAfter)
	}
	got := map[item]bool{}
	for _, it := range received {
		if got[it] {
			t.Errorf("item %+v received twice", it)
		}
		got[it] = true
		if !accepted[it] {
			t.Errorf("item %+v received but its push was not reported accepted", it)
		}
	}
	for it := range accepted {
		if !got[it] {
			t.Errorf("accepted item %+v lost", it)
		}
	}
}

// TestOffer takes the longest prefix that fits, in items and in bytes, and
// says why it stopped.
func TestOffer(t *testing.T) {
	size := func(s string) int64 { return int64(len(s)) }
	tests := []struct {
		name     string
		capacity int
		maxBytes int64
		prime    []string
		offer    []string
		want     int
		wantErr  error
	}{
		{"all fit", 4, 100, nil, []string{"a", "bb"}, 2, nil},
		{"count bound", 2, 100, []string{"x"}, []string{"a", "b"}, 1, queue.ErrFull},
		{"byte bound", 10, 5, []string{"xx"}, []string{"aa", "bb"}, 1, queue.ErrFull},
		{"byte bound exactly", 10, 6, []string{"xx"}, []string{"aa", "bb"}, 2, nil},
		{"an oversized item enters an empty queue", 10, 3, nil, []string{"aaaaaa", "b"}, 1, queue.ErrFull},
		{"an oversized item waits behind others", 10, 3, []string{"x"}, []string{"aaaaaa"}, 0, queue.ErrFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			q := queue.NewSized(tc.capacity, tc.maxBytes, size)
			if err := q.TryPush(tc.prime...); err != nil {
				t.Fatal(err)
			}
			n, err := q.Offer(tc.offer...)
			if n != tc.want || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Fatalf("Offer = %d, %v; want %d, %v", n, err, tc.want, tc.wantErr)
			}
			if q.Len() != len(tc.prime)+n {
				t.Errorf("Len = %d", q.Len())
			}
		})
	}
}

// TestSizedBytesFollowConsumers: bytes of consumed items are freed, so the
// byte bound never blocks a queue that consumers keep emptying.
func TestSizedBytesFollowConsumers(t *testing.T) {
	q := queue.NewSized(3, 10, func(s string) int64 { return int64(len(s)) })
	for round := range 50 {
		if n, err := q.Offer("aaaa", "bbbb", "cc"); n != 3 || err != nil {
			t.Fatalf("round %d: Offer = %d, %v (bytes %d)", round, n, err, q.Bytes())
		}
		if q.Bytes() != 10 {
			t.Fatalf("round %d: Bytes = %d, want 10", round, q.Bytes())
		}
		for range 3 {
			<-q.C()
		}
		if q.Bytes() != 0 {
			t.Fatalf("round %d: Bytes after draining = %d", round, q.Bytes())
		}
	}
	q.Close()
	if _, err := q.Offer("x"); !errors.Is(err, queue.ErrClosed) {
		t.Errorf("Offer after Close = %v", err)
	}
}
