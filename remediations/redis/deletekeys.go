package redis

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"time"
)

// defaultBatchSize is the SCAN COUNT and UNLINK size when the runbook gives
// none; it matches the plan DeleteKeys shows.
const defaultBatchSize = 500

// DeleteKeysEvidence is what redis.delete_keys did.
type DeleteKeysEvidence struct {
	Connection string `json:"connection"`
	// Addr is host:port/db; it never holds credentials.
	Addr      string `json:"addr"`
	Pattern   string `json:"pattern"`
	MaxKeys   int64  `json:"max_keys"` // 0: no cap
	BatchSize int64  `json:"batch_size"`
	PauseMS   int64  `json:"pause_ms"`

	// Matched counts the keys SCAN returned for the pattern. It is what the
	// run saw, not what exists: a capped run stops scanning, and SCAN may
	// return a key twice while Redis resizes its table.
	Matched int64 `json:"matched"`
	// Deleted counts the keys UNLINK removed; a key that expired or was
	// deleted by someone else in between is not counted. Deleted never
	// exceeds MaxKeys.
	Deleted int64 `json:"deleted"`
	// Batches counts UNLINK calls, Scans SCAN calls.
	Batches int64 `json:"batches"`
	Scans   int64 `json:"scans"`
	// Capped is true when the run stopped at max_keys with matching keys
	// possibly left: SCAN had not finished, or it had returned more keys
	// than the cap let through.
	Capped   bool   `json:"capped"`
	Duration string `json:"duration"`
}

// deleteKeys SCANs for p.Pattern and UNLINKs what it finds in batches. It
// never uses KEYS (which blocks Redis for the whole keyspace) and never
// FLUSH*; UNLINK frees memory in a background thread, so a batch of large
// keys does not stall the server the way DEL would.
//
// On error (including ctx being cancelled or expiring) the evidence of what
// was already deleted is returned with the error.
func (c *conn) deleteKeys(ctx context.Context, log *slog.Logger, p *DeleteKeysParams) (*DeleteKeysEvidence, error) {
	batch := cmp.Or(p.BatchSize, defaultBatchSize)
	pause := time.Duration(p.PauseMS) * time.Millisecond
	ev := &DeleteKeysEvidence{
		Connection: c.name, Addr: c.addr, Pattern: p.Pattern,
		MaxKeys: p.MaxKeys, BatchSize: batch, PauseMS: p.PauseMS,
	}
	start := time.Now()

	var (
		cursor   uint64
		scanDone bool
		pending  []string
		// dropped is set when SCAN returned keys the cap did not let in.
		dropped bool
	)
	// room is how many more keys may go to UNLINK. It counts keys actually
	// deleted plus those waiting, so the cap holds exactly whatever UNLINK
	// reports, and a key that vanished in between frees its slot again.
	room := func() int64 {
		if p.MaxKeys == 0 {
			return math.MaxInt64
		}
		return p.MaxKeys - ev.Deleted - int64(len(pending))
	}
	stop := func(err error) (*DeleteKeysEvidence, error) {
		ev.Duration = time.Since(start).Round(time.Microsecond).String()
		return ev, fmt.Errorf("stopped after unlinking %d keys in %d batches: %w", ev.Deleted, ev.Batches, err)
	}

	for {
		// Fill one batch. Sparse matches make SCAN pages small or empty,
		// so several pages may go into one UNLINK.
		for !scanDone && int64(len(pending)) < batch && room() > 0 {
			if err := ctx.Err(); err != nil {
				return stop(err)
			}
			keys, next, err := c.scan(ctx, cursor, p.Pattern, batch)
			if err != nil {
				return stop(err)
			}
			ev.Scans++
			ev.Matched += int64(len(keys))
			take := min(int64(len(keys)), room())
			if take < int64(len(keys)) {
				dropped = true
			}
			pending = append(pending, keys[:take]...)
			cursor, scanDone = next, next == 0
		}
		if len(pending) == 0 {
			break // SCAN finished, or the cap is reached
		}
		if ev.Batches > 0 && pause > 0 {
			if err := sleep(ctx, pause); err != nil {
				return stop(err)
			}
		}
		if err := ctx.Err(); err != nil {
			return stop(err)
		}
		n := min(int64(len(pending)), batch)
		deleted, err := c.unlink(ctx, pending[:n])
		if err != nil {
			return stop(err)
		}
		ev.Deleted += deleted
		ev.Batches++
		pending = pending[n:]
		log.Debug("redis keys unlinked", "connection", c.name, "pattern", p.Pattern,
			"batch", ev.Batches, "unlinked", deleted, "total", ev.Deleted)
	}

	ev.Capped = p.MaxKeys > 0 && (dropped || !scanDone)
	ev.Duration = time.Since(start).Round(time.Microsecond).String()
	log.Info("redis delete_keys finished", "connection", c.name, "addr", c.addr, "pattern", p.Pattern,
		"matched", ev.Matched, "deleted", ev.Deleted, "batches", ev.Batches, "capped", ev.Capped, "duration", ev.Duration)
	return ev, nil
}

func (c *conn) scan(ctx context.Context, cursor uint64, pattern string, count int64) ([]string, uint64, error) {
	callCtx, cancel := c.call(ctx)
	defer cancel()
	keys, next, err := c.client.Scan(callCtx, cursor, pattern, count).Result()
	if err != nil {
		return nil, 0, c.callErr(ctx, "SCAN", err)
	}
	return keys, next, nil
}

func (c *conn) unlink(ctx context.Context, keys []string) (int64, error) {
	callCtx, cancel := c.call(ctx)
	defer cancel()
	n, err := c.client.Unlink(callCtx, keys...).Result()
	if err != nil {
		return 0, c.callErr(ctx, fmt.Sprintf("UNLINK %d keys", len(keys)), err)
	}
	return n, nil
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
