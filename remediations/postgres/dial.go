package postgres

import (
	"context"
	"errors"
	"net"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// connecting keeps the pool's connections from their dial until they are set
// up (AfterConnect) or closed, so that Close can cut them. pgxpool's Close
// waits for connections being opened (the one it keeps open in the
// background, or one whose Acquire was cancelled), and against a server
// that accepted the connection and never answers only connect_timeout
// (call_timeout) would end that wait: the process would outlive its
// shutdown by that much.
type connecting struct {
	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool // cut: a dial from now on is refused
}

// trackedConn is a dialled connection that leaves the set when closed.
type trackedConn struct {
	net.Conn
	set *connecting
}

func (c *trackedConn) Close() error {
	c.set.remove(c)
	return c.Conn.Close()
}

func (s *connecting) remove(c *trackedConn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// dial wraps a pgconn dial function so that its connections are kept until
// set up.
func (s *connecting) dial(dial pgconn.DialFunc) pgconn.DialFunc {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		nc, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		c := &trackedConn{Conn: nc, set: s}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.closed {
			_ = nc.Close()
			return nil, errors.New("the backend is closing")
		}
		if s.conns == nil {
			s.conns = map[*trackedConn]struct{}{}
		}
		s.conns[c] = struct{}{}
		return c, nil
	}
}

// established drops a set-up connection from the set: the pool closes it
// itself. nc is the connection pgconn uses, a TLS one over the dialled one
// with sslmode require.
func (s *connecting) established(nc net.Conn) {
	if tc, ok := nc.(interface{ NetConn() net.Conn }); ok {
		nc = tc.NetConn()
	}
	if c, ok := nc.(*trackedConn); ok {
		s.remove(c)
	}
}

// cut closes the connections still being set up, which ends their connect
// at once, and refuses dials from then on.
func (s *connecting) cut() {
	s.mu.Lock()
	s.closed = true
	conns := make([]*trackedConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}
