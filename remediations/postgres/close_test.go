package postgres_test

import (
	"testing"
	"time"
)

// TestCloseDoesNotWaitForAStalledServer: closing the backend (the process
// exiting after a shutdown) does not wait for connections still being opened
// to a PostgreSQL that accepted them and never answers: the pool keeps one
// connection open in the background, and pgxpool's Close waits for its
// connect, which only call_timeout would end.
func TestCloseDoesNotWaitForAStalledServer(t *testing.T) {
	const callTimeout = 10 * time.Second
	const bound = 2 * time.Second
	e, bh := stalledExecutor(t, callTimeout)
	bh.WaitReceived(t, 0)
	start := time.Now()
	closed := make(chan struct{})
	go func() { defer close(closed); e.Close() }()
	select {
	case <-closed:
		t.Logf("Close returned after %v", time.Since(start).Round(time.Millisecond))
	case <-time.After(bound):
		t.Errorf("Close still waiting after %v (call_timeout %v)", bound, callTimeout)
		<-closed
	}
}
