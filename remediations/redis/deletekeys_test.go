package redis_test

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/redis"
)

// The keyspace each delete test writes: 100,000 keys, 50,000 of them
// matching <prefix>expired:*, and a few near misses that a sloppy pattern
// or a prefix match instead of a glob would catch.
var groups = map[string]int{
	"expired:":     50_000,
	"session:":     30_000,
	"cache:":       19_990,
	"expired":      1, // <prefix>expired0: no colon
	"expiredX:":    3,
	"not-expired:": 3,
	"Expired:":     3, // MATCH is case-sensitive
}

const matching = 50_000

// checkUntouched asserts every group but expired: still has all its keys.
func checkUntouched(t *testing.T, c *goredis.Client, prefix string) {
	t.Helper()
	for g, n := range groups {
		if g == "expired:" {
			continue
		}
		if got := count(t, c, prefix+g+"*") - nested(t, c, prefix, g); got != int64(n) {
			t.Errorf("%s%s*: %d keys left, want all %d untouched", prefix, g, got, n)
		}
	}
}

// nested counts keys of other groups that the group's own pattern also
// matches ("expired*" matches "expiredX:0"), so each group is counted alone.
func nested(t *testing.T, c *goredis.Client, prefix, g string) int64 {
	var n int64
	for other := range groups {
		if other != g && len(other) > len(g) && other[:len(g)] == g {
			n += count(t, c, prefix+other+"*")
		}
	}
	return n
}

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

func TestDeleteKeys(t *testing.T) {
	c := testClient(t)
	e := defaultExecutor(t)
	target := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0"}

	for _, tc := range []struct {
		name string
		// params without pattern; the test adds <prefix>expired:*.
		params      remediations.Params
		pattern     string // suffix after the prefix; default "expired:*"
		wantDeleted int64
		wantBatch   int64
		wantCapped  bool
		minDuration time.Duration
	}{
		{name: "cap below the matches", params: remediations.Params{"max_keys": 12_345, "batch_size": 1000},
			wantDeleted: 12_345, wantBatch: 1000, wantCapped: true},
		{name: "cap above the matches", params: remediations.Params{"max_keys": 60_000, "batch_size": 2000},
			wantDeleted: matching, wantBatch: 2000},
		{name: "cap smaller than a batch", params: remediations.Params{"max_keys": 7, "batch_size": 1000},
			wantDeleted: 7, wantBatch: 1000, wantCapped: true},
		{name: "no cap, default batch", params: remediations.Params{},
			wantDeleted: matching, wantBatch: 500},
		{name: "pause between batches", params: remediations.Params{"batch_size": 10_000, "pause_ms": 50},
			wantDeleted: matching, wantBatch: 10_000, minDuration: 4 * 50 * time.Millisecond},
		{name: "exact key, no glob", pattern: "expired0", params: remediations.Params{"max_keys": 10},
			wantDeleted: 1, wantBatch: 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := keyPrefix(t, c)
			fill(t, c, prefix, groups)
			pattern := prefix + cmp.Or(tc.pattern, "expired:*")
			params := remediations.Params{"pattern": pattern}
			for k, v := range tc.params {
				params[k] = v
			}

			start := time.Now()
			res, err := e.Execute(context.Background(), redis.DeleteKeys, target, params)
			elapsed := time.Since(start)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			ev, ok := res.Evidence.(*redis.DeleteKeysEvidence)
			if !ok {
				t.Fatalf("evidence is %T, want *redis.DeleteKeysEvidence", res.Evidence)
			}
			if ev.Deleted != tc.wantDeleted {
				t.Errorf("deleted %d keys, want %d", ev.Deleted, tc.wantDeleted)
			}
			if ev.Matched < ev.Deleted {
				t.Errorf("matched %d < deleted %d", ev.Matched, ev.Deleted)
			}
			if !tc.wantCapped && ev.Matched != tc.wantDeleted {
				t.Errorf("matched %d keys, want %d (all matching keys, once each)", ev.Matched, tc.wantDeleted)
			}
			if ev.Capped != tc.wantCapped {
				t.Errorf("capped = %v, want %v", ev.Capped, tc.wantCapped)
			}
			if ev.BatchSize != tc.wantBatch {
				t.Errorf("batch_size = %d, want %d", ev.BatchSize, tc.wantBatch)
			}
			// Batches are filled to batch_size before each UNLINK, so the
			// count is exact while nobody else deletes these keys.
			if want := ceilDiv(tc.wantDeleted, tc.wantBatch); ev.Batches != want {
				t.Errorf("batches = %d, want %d", ev.Batches, want)
			}
			if elapsed < tc.minDuration {
				t.Errorf("took %s, want at least %s of pauses between %d batches", elapsed, tc.minDuration, ev.Batches)
			}
			if d, err := time.ParseDuration(ev.Duration); err != nil || d <= 0 || d > elapsed {
				t.Errorf("duration %q is not a positive duration within the %s the call took (%v)", ev.Duration, elapsed, err)
			}
			wantChanges := []string{fmt.Sprintf("unlinked %d keys matching %q", tc.wantDeleted, pattern)}
			if !slices.Equal(res.Changes, wantChanges) {
				t.Errorf("changes = %q, want %q", res.Changes, wantChanges)
			}
			if res.DryRun || res.Plan.Action != "redis.delete_keys" {
				t.Errorf("result dryRun=%v plan.action=%q, want a real run of redis.delete_keys", res.DryRun, res.Plan.Action)
			}

			if tc.pattern == "" {
				if left := count(t, c, prefix+"expired:*"); left != matching-tc.wantDeleted {
					t.Errorf("%d matching keys left, want %d", left, matching-tc.wantDeleted)
				}
				checkUntouched(t, c, prefix)
			} else {
				if left := count(t, c, prefix+"expired:*"); left != matching {
					t.Errorf("%d expired:* keys left, want all %d", left, matching)
				}
			}
		})
	}
}

func TestDeleteKeysStopsWithContext(t *testing.T) {
	c := testClient(t)
	e := defaultExecutor(t)
	target := remediations.Target{Kind: redis.KindRedis}

	// How many keys a stopped run must have deleted.
	const (
		some   = iota // at least one, not all: it was stopped mid-run
		none          // it never started
		notAll        // fewer than all: it was stopped before finishing
	)
	for _, tc := range []struct {
		name    string
		ctx     func(c *goredis.Client, prefix string) (context.Context, context.CancelFunc)
		want    error
		deleted int
	}{
		// Cancelled once deletion is seen under way (not on a timer, which a
		// loaded machine can beat before the first batch).
		{name: "cancelled mid-run", want: context.Canceled, deleted: some, ctx: func(c *goredis.Client, prefix string) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for ctx.Err() == nil {
					if n, err := countKeys(c, prefix+"expired:*"); err == nil && n < matching {
						cancel()
						return
					}
					time.Sleep(5 * time.Millisecond)
				}
			}()
			return ctx, cancel
		}},
		{name: "dispatcher deadline", want: context.DeadlineExceeded, deleted: notAll, ctx: func(*goredis.Client, string) (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 150*time.Millisecond)
		}},
		{name: "cancelled before the start", want: context.Canceled, deleted: none, ctx: func(*goredis.Client, string) (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := keyPrefix(t, c)
			fill(t, c, prefix, groups)
			ctx, cancel := tc.ctx(c, prefix)
			defer cancel()
			// 100 batches with 20ms pauses take at least two seconds, so a
			// run that deleted fewer than all keys was stopped, whatever the
			// machine's speed.
			params := remediations.Params{"pattern": prefix + "expired:*", "batch_size": 500, "pause_ms": 20}
			res, err := e.Execute(ctx, redis.DeleteKeys, target, params)
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want one that is %v", err, tc.want)
			}
			ev, ok := res.Evidence.(*redis.DeleteKeysEvidence)
			if !ok {
				t.Fatalf("a stopped run must still return its evidence; got %T", res.Evidence)
			}
			switch {
			case tc.deleted == some && (ev.Deleted == 0 || ev.Deleted >= matching):
				t.Errorf("deleted %d, want some but not all of %d before the stop", ev.Deleted, matching)
			case tc.deleted == none && ev.Deleted != 0:
				t.Errorf("deleted %d, want none", ev.Deleted)
			case tc.deleted == notAll && ev.Deleted >= matching:
				t.Errorf("deleted %d, want fewer than all %d before the stop", ev.Deleted, matching)
			}
			if wantErr := fmt.Sprintf("stopped after unlinking %d keys", ev.Deleted); !strings.Contains(err.Error(), wantErr) {
				t.Errorf("error %q does not say %q", err, wantErr)
			}
			// The evidence is exact: what it says went is what went.
			if left := count(t, c, prefix+"expired:*"); left != matching-ev.Deleted {
				t.Errorf("%d matching keys left, want %d - %d deleted", left, matching, ev.Deleted)
			}
			if ev.Deleted > 0 && len(res.Changes) != 1 {
				t.Errorf("changes = %q, want the partial deletion recorded", res.Changes)
			}
			checkUntouched(t, c, prefix)
		})
	}
}

// TestDeleteKeysPreview: the dry-run of delete_keys counts exactly what a
// real run then deletes, with the same cap, and deletes nothing itself.
func TestDeleteKeysPreview(t *testing.T) {
	c := testClient(t)
	e := defaultExecutor(t)
	target := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0"}

	for _, tc := range []struct {
		name       string
		params     remediations.Params
		want       int64
		wantCapped bool
	}{
		{name: "cap below the matches", params: remediations.Params{"max_keys": 12_345, "batch_size": 1000}, want: 12_345, wantCapped: true},
		{name: "no cap", params: remediations.Params{"batch_size": 2000, "pause_ms": 1000}, want: matching},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prefix := keyPrefix(t, c)
			fill(t, c, prefix, groups)
			params := remediations.Params{"pattern": prefix + "expired:*"}
			for k, v := range tc.params {
				params[k] = v
			}

			start := time.Now()
			res, err := e.Preview(context.Background(), redis.DeleteKeys, target, params)
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			// No pause in a preview: 25 batches at pause_ms 1000 would take 24s.
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("the preview took %s", d)
			}
			pv, ok := res.Evidence.(*redis.DeleteKeysPreview)
			if !ok {
				t.Fatalf("evidence is %T, want *redis.DeleteKeysPreview", res.Evidence)
			}
			if !res.DryRun || len(res.Changes) != 0 || res.Plan.Action != "redis.delete_keys" {
				t.Errorf("preview result: dryRun=%v changes=%q plan=%+v", res.DryRun, res.Changes, res.Plan)
			}
			if pv.WouldDelete != tc.want || pv.Capped != tc.wantCapped || pv.Scans == 0 || pv.Matched < pv.WouldDelete {
				t.Errorf("preview %+v, want would_delete %d, capped %v", pv, tc.want, tc.wantCapped)
			}
			if !tc.wantCapped && pv.Matched != matching {
				t.Errorf("preview matched %d, want all %d", pv.Matched, matching)
			}
			// Nothing went.
			if left := count(t, c, prefix+"expired:*"); left != matching {
				t.Errorf("%d matching keys after the preview, want all %d", left, matching)
			}
			checkUntouched(t, c, prefix)

			// The real run deletes exactly what the preview counted.
			params["pause_ms"] = 0
			res, err = e.Execute(context.Background(), redis.DeleteKeys, target, params)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			ev := res.Evidence.(*redis.DeleteKeysEvidence)
			if ev.Deleted != pv.WouldDelete || ev.Capped != pv.Capped {
				t.Errorf("the run deleted %d (capped %v), the preview said %d (capped %v)", ev.Deleted, ev.Capped, pv.WouldDelete, pv.Capped)
			}
			if left := count(t, c, prefix+"expired:*"); left != matching-pv.WouldDelete {
				t.Errorf("%d matching keys left, want %d", left, matching-pv.WouldDelete)
			}
			checkUntouched(t, c, prefix)
		})
	}
}
