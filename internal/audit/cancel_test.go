package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/blackhole"
)

// TestPostgresOpenReturnsOnCancel: opening an audit store on a PostgreSQL
// that accepted the connection and never answers returns as soon as the
// context is cancelled: pgx (through database/sql) interrupts a blocked read
// on cancellation, so a shutdown does not wait for a stalled audit database
// beyond the deadlines the daemon sets.
func TestPostgresOpenReturnsOnCancel(t *testing.T) {
	const bound = 2 * time.Second
	bh := blackhole.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		s, err := audit.Open(ctx, "postgres://postgres@"+bh.Addr()+"/postgres?sslmode=disable&connect_timeout=30", audit.Options{})
		if err == nil {
			_ = s.Close()
		}
		done <- err
	}()
	bh.WaitReceived(t, 0)
	blackhole.CancelReturns(t, cancel, done, bound)
}
