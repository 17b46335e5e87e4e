package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/blackhole"
	"github.com/remediator/remediator/remediations/postgres"
)

// TestExecuteReturnsOnCancel: an action waiting on a PostgreSQL that accepted
// the connection and never answers returns as soon as its context is
// cancelled (a shutdown), not when call_timeout ends it. pgx interrupts a
// blocked read on cancellation by itself (it sets a deadline on the
// connection); this pins that for the backend's use of it.
func TestExecuteReturnsOnCancel(t *testing.T) {
	// Long enough that only the cancellation ends the call within the
	// bound.
	const callTimeout = 10 * time.Second
	const bound = 2 * time.Second
	e, bh := stalledExecutor(t, callTimeout)
	t.Cleanup(e.Close)
	sent := bh.Received()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := e.Execute(ctx, postgres.ConnectionReport, pgTarget("orders"), nil)
		done <- err
	}()
	bh.WaitReceived(t, sent)
	blackhole.CancelReturns(t, cancel, done, bound)
}

// stalledExecutor is a backend whose "default" target is a PostgreSQL that
// accepts connections and never answers (its start-up ping gives up after
// 100ms), with the given call_timeout.
func stalledExecutor(t *testing.T, callTimeout time.Duration) (*postgres.Executor, *blackhole.Server) {
	t.Helper()
	bh := blackhole.Start(t)
	startCtx, cancelStart := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancelStart()
	e, err := postgres.NewExecutor(startCtx, map[string]postgres.TargetConfig{
		"default": targetConfig(t, "postgres://postgres@"+bh.Addr()+"/postgres?sslmode=disable", func(c *postgres.TargetConfig) { c.CallTimeout = callTimeout }),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return e, bh
}
