package redis_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/redis"
)

// BenchmarkDeleteKeys measures redis.delete_keys on 50,000 matching keys
// among 100,000, per batch size, against the real Redis. Writing the keys is
// excluded from the timing; keys/s is the number the README quotes.
func BenchmarkDeleteKeys(b *testing.B) {
	const matching, others = 50_000, 50_000
	c := testClient(b)
	e := defaultExecutor(b)
	target := remediations.Target{Kind: redis.KindRedis}
	for _, batch := range []int{100, 500, 2000} {
		b.Run("batch="+strconv.Itoa(batch), func(b *testing.B) {
			var deleted int64
			for b.Loop() {
				b.StopTimer()
				prefix := keyPrefix(b, c)
				fill(b, c, prefix, map[string]int{"expired:": matching, "session:": others})
				params := remediations.Params{"pattern": prefix + "expired:*", "batch_size": batch}
				b.StartTimer()

				res, err := e.Execute(context.Background(), redis.DeleteKeys, target, params)
				if err != nil {
					b.Fatalf("Execute: %v", err)
				}
				ev := res.Evidence.(*redis.DeleteKeysEvidence)
				if ev.Deleted != matching {
					b.Fatalf("deleted %d, want %d", ev.Deleted, matching)
				}
				deleted += ev.Deleted
			}
			b.ReportMetric(float64(deleted)/b.Elapsed().Seconds(), "keys/s")
		})
	}
}

// BenchmarkCacheReport measures one redis.cache_report: three INFO sections
// in one pipelined round trip, parsed.
func BenchmarkCacheReport(b *testing.B) {
	testClient(b)
	e := defaultExecutor(b)
	target := remediations.Target{Kind: redis.KindRedis}
	for b.Loop() {
		if _, err := e.Execute(context.Background(), redis.CacheReport, target, nil); err != nil {
			b.Fatalf("Execute: %v", err)
		}
	}
}
