// Package blackhole is a test helper: a TCP server that accepts connections,
// reads whatever it is sent and never answers. To a client it looks like a
// backend stuck in a long command or a partition that drops replies: only a
// deadline or an interrupted read ends the wait, which is what the tests that
// use it check.
package blackhole

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Server is a black hole on a free loopback port, closed when the test ends.
type Server struct {
	ln       net.Listener
	accepted atomic.Int64
	received atomic.Int64
	mu       sync.Mutex
	conns    []net.Conn
	closed   bool
	wg       sync.WaitGroup
}

// Start listens on 127.0.0.1:0 until the test ends.
func Start(tb testing.TB) *Server {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	s := &Server{ln: ln}
	s.wg.Go(s.accept)
	tb.Cleanup(s.close)
	return s
}

// Addr is host:port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Accepted is how many connections it has accepted.
func (s *Server) Accepted() int { return int(s.accepted.Load()) }

// Received is how many bytes clients have sent it: once a request is on the
// wire, its client is waiting for an answer that never comes.
func (s *Server) Received() int64 { return s.received.Load() }

// WaitReceived waits (up to 10s, else the test fails) until clients have sent
// more than n bytes in all: a request past n is on the wire and its client
// waits for the answer. Pass Received() from before the request.
func (s *Server) WaitReceived(tb testing.TB, n int64) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.Received() <= n {
		if time.Now().After(deadline) {
			tb.Fatalf("no request reached the black hole at %s", s.Addr())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.accepted.Add(1)
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			_ = c.Close()
			return
		}
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		// Reading keeps the client's writes from blocking on a full
		// buffer: it is the answer that never comes, not the request
		// that cannot be sent.
		s.wg.Go(func() { _, _ = io.Copy(countWriter{&s.received}, c) })
	}
}

func (s *Server) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for _, c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

type countWriter struct{ n *atomic.Int64 }

func (w countWriter) Write(p []byte) (int, error) {
	w.n.Add(int64(len(p)))
	return len(p), nil
}

// CancelReturns cancels a call that is waiting on the black hole (its request
// is on the wire: see WaitReceived) and checks that the call returns within
// bound, with an error wrapping context.Canceled, rather than when a timeout
// ends it. done receives the call's error.
func CancelReturns(tb testing.TB, cancel context.CancelFunc, done <-chan error, bound time.Duration) {
	tb.Helper()
	time.Sleep(50 * time.Millisecond) // into the read
	cancel()
	cancelled := time.Now()
	select {
	case err := <-done:
		tb.Logf("returned %v after the cancellation: %v", time.Since(cancelled).Round(time.Millisecond), err)
		if !errors.Is(err, context.Canceled) {
			tb.Errorf("error %v, want one wrapping context.Canceled", err)
		}
	case <-time.After(bound):
		tb.Fatalf("still blocked %v after the cancellation", bound)
	}
}
