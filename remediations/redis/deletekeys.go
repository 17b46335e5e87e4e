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

// DeleteKeysPreview is what redis.delete_keys would delete (dry-run): the
// same SCAN, MATCH, COUNT and cap as a real run, no UNLINK.
type DeleteKeysPreview struct {
	Connection string `json:"connection"`
	// Addr is host:port/db; it never holds credentials.
	Addr      string `json:"addr"`
	Pattern   string `json:"pattern"`
	MaxKeys   int64  `json:"max_keys"` // 0: no cap
	BatchSize int64  `json:"batch_size"`

	// Matched counts the keys SCAN returned for the pattern, as in
	// DeleteKeysEvidence.
	Matched int64 `json:"matched"`
	// WouldDelete counts the keys a real run would UNLINK now (never more
	// than MaxKeys); a key that expires in between would not be counted.
	WouldDelete int64 `json:"would_delete"`
	// Capped is true when a real run would stop at max_keys with matching
	// keys left.
	Capped   bool   `json:"capped"`
	Scans    int64  `json:"scans"`
	Duration string `json:"duration"`
}

// sweepStats is what the scan loop saw and did.
type sweepStats struct {
	matched, scans int64
	// taken counts the keys flush accepted (UNLINK's count in a run, every
	// key in a preview), batches its calls.
	taken, batches int64
	capped         bool
}

// sweep is delete_keys' scan loop, shared by the run and its preview: it
// SCANs for p.Pattern with COUNT batch and hands the matching keys to flush
// in batches of up to batch (sparse matches make SCAN pages small or empty,
// so several pages may go into one batch), pausing between batches, and
// stops once flush has taken max_keys. flush returns how many of its keys
// it took: a key UNLINK did not find frees its slot under the cap again.
//
// On error (including ctx being cancelled or expiring) the stats of what was
// already done are returned with the error.
func (c *conn) sweep(ctx context.Context, p *DeleteKeysParams, batch int64, pause time.Duration,
	flush func(ctx context.Context, keys []string) (int64, error)) (sweepStats, error) {
	var (
		st       sweepStats
		cursor   uint64
		scanDone bool
		pending  []string
		// dropped is set when SCAN returned keys the cap did not let in.
		dropped bool
	)
	// room is how many more keys may go to flush. It counts keys taken plus
	// those waiting, so the cap holds exactly whatever flush reports.
	room := func() int64 {
		if p.MaxKeys == 0 {
			return math.MaxInt64
		}
		return p.MaxKeys - st.taken - int64(len(pending))
	}
	for {
		for !scanDone && int64(len(pending)) < batch && room() > 0 {
			if err := ctx.Err(); err != nil {
				return st, err
			}
			keys, next, err := c.scan(ctx, cursor, p.Pattern, batch)
			if err != nil {
				return st, err
			}
			st.scans++
			st.matched += int64(len(keys))
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
		if st.batches > 0 && pause > 0 {
			if err := sleep(ctx, pause); err != nil {
				return st, err
			}
		}
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := min(int64(len(pending)), batch)
		took, err := flush(ctx, pending[:n])
		if err != nil {
			return st, err
		}
		st.taken += took
		st.batches++
		pending = pending[n:]
	}
	st.capped = p.MaxKeys > 0 && (dropped || !scanDone)
	return st, nil
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
	ev := &DeleteKeysEvidence{
		Connection: c.name, Addr: c.addr, Pattern: p.Pattern,
		MaxKeys: p.MaxKeys, BatchSize: batch, PauseMS: p.PauseMS,
	}
	start := time.Now()
	st, err := c.sweep(ctx, p, batch, time.Duration(p.PauseMS)*time.Millisecond, func(ctx context.Context, keys []string) (int64, error) {
		// A batch once sent is waited for (within call_timeout) even when the
		// run is stopped meanwhile: Redis executes an UNLINK it received
		// whether or not its reply is read, and the evidence must count
		// every key that went. The stop takes effect before the next batch.
		deleted, err := c.unlink(context.WithoutCancel(ctx), keys)
		if err != nil {
			return 0, err
		}
		ev.Deleted += deleted
		ev.Batches++
		log.Debug("redis keys unlinked", "connection", c.name, "pattern", p.Pattern,
			"batch", ev.Batches, "unlinked", deleted, "total", ev.Deleted)
		return deleted, nil
	})
	ev.Matched, ev.Scans, ev.Capped = st.matched, st.scans, st.capped
	ev.Duration = time.Since(start).Round(time.Microsecond).String()
	if err != nil {
		return ev, fmt.Errorf("stopped after unlinking %d keys in %d batches: %w", ev.Deleted, ev.Batches, err)
	}
	log.Info("redis delete_keys finished", "connection", c.name, "addr", c.addr, "pattern", p.Pattern,
		"matched", ev.Matched, "deleted", ev.Deleted, "batches", ev.Batches, "capped", ev.Capped, "duration", ev.Duration)
	return ev, nil
}

// previewDeleteKeys is deleteKeys without UNLINK: the same scan loop, every
// key counted as deleted. It does not pause between batches: the pause
// spaces out the UNLINKs, and a preview sends none.
func (c *conn) previewDeleteKeys(ctx context.Context, log *slog.Logger, p *DeleteKeysParams) (*DeleteKeysPreview, error) {
	batch := cmp.Or(p.BatchSize, defaultBatchSize)
	pv := &DeleteKeysPreview{Connection: c.name, Addr: c.addr, Pattern: p.Pattern, MaxKeys: p.MaxKeys, BatchSize: batch}
	start := time.Now()
	st, err := c.sweep(ctx, p, batch, 0, func(_ context.Context, keys []string) (int64, error) {
		return int64(len(keys)), nil
	})
	pv.Matched, pv.WouldDelete, pv.Capped, pv.Scans = st.matched, st.taken, st.capped, st.scans
	pv.Duration = time.Since(start).Round(time.Microsecond).String()
	if err != nil {
		return pv, fmt.Errorf("dry-run stopped after counting %d keys: %w", pv.WouldDelete, err)
	}
	log.Info("redis delete_keys dry-run finished", "connection", c.name, "addr", c.addr, "pattern", p.Pattern,
		"matched", pv.Matched, "would_delete", pv.WouldDelete, "capped", pv.Capped, "duration", pv.Duration)
	return pv, nil
}

func (c *conn) scan(ctx context.Context, cursor uint64, pattern string, count int64) ([]string, uint64, error) {
	type page struct {
		keys []string
		next uint64
	}
	pg, err := call(ctx, c, func(ctx context.Context) (page, error) {
		keys, next, err := c.client.Scan(ctx, cursor, pattern, count).Result()
		return page{keys, next}, err
	})
	if err != nil {
		return nil, 0, c.callErr(ctx, "SCAN", err)
	}
	return pg.keys, pg.next, nil
}

func (c *conn) unlink(ctx context.Context, keys []string) (int64, error) {
	n, err := call(ctx, c, func(ctx context.Context) (int64, error) { return c.client.Unlink(ctx, keys...).Result() })
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
