package redis_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/redis"
)

func TestCacheReport(t *testing.T) {
	c := testClient(t)
	e := defaultExecutor(t)
	ctx := context.Background()
	cache := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0"}

	report := func() *redis.CacheReportEvidence {
		t.Helper()
		res, err := e.Execute(ctx, redis.CacheReport, cache, nil)
		if err != nil {
			t.Fatalf("Execute: %v", err)
		}
		ev, ok := res.Evidence.(*redis.CacheReportEvidence)
		if !ok {
			t.Fatalf("evidence is %T, want *redis.CacheReportEvidence", res.Evidence)
		}
		if len(res.Changes) != 0 || res.DryRun {
			t.Errorf("an investigation reported changes %q / dryRun %v", res.Changes, res.DryRun)
		}
		return ev
	}

	before := report()
	// Hits and misses on this test's own keys. The counters are server-wide
	// and other tests share the server, so only lower bounds on the deltas
	// can be asserted.
	const hits, misses = 300, 200
	prefix := keyPrefix(t, c)
	fill(t, c, prefix, map[string]int{"hit:": hits})
	for i := range hits {
		if err := c.Get(ctx, prefix+"hit:"+strconv.Itoa(i)).Err(); err != nil {
			t.Fatalf("GET: %v", err)
		}
	}
	for i := range misses {
		_ = c.Get(ctx, prefix+"miss:"+strconv.Itoa(i)).Err() // redis.Nil, a miss
	}
	ev := report()

	for _, tc := range []struct {
		name string
		ok   bool
		got  any
	}{
		{"hits counted", ev.KeyspaceHits-before.KeyspaceHits >= hits, ev.KeyspaceHits - before.KeyspaceHits},
		{"misses counted", ev.KeyspaceMisses-before.KeyspaceMisses >= misses, ev.KeyspaceMisses - before.KeyspaceMisses},
		{"hit rate in [0,1]", ev.HitRate != nil && *ev.HitRate >= 0 && *ev.HitRate <= 1, ev.HitRate},
		{"hit rate is hits/(hits+misses)", ev.HitRate != nil &&
			*ev.HitRate == float64(ev.KeyspaceHits)/float64(ev.KeyspaceHits+ev.KeyspaceMisses), ev.HitRate},
		{"used_memory > 0", ev.UsedMemoryBytes > 0, ev.UsedMemoryBytes},
		{"used_memory_rss > 0", ev.UsedMemoryRSSBytes > 0, ev.UsedMemoryRSSBytes},
		{"maxmemory >= 0", ev.MaxMemoryBytes >= 0, ev.MaxMemoryBytes},
		{"memory usage only with a limit", (ev.MaxMemoryBytes == 0) == (ev.MemoryUsage == nil), ev.MemoryUsage},
		{"fragmentation ratio > 0", ev.FragmentationRatio > 0, ev.FragmentationRatio},
		{"maxmemory_policy set", ev.MaxMemoryPolicy != "", ev.MaxMemoryPolicy},
		{"role master", ev.Role == "master", ev.Role},
		{"no master link on a master", ev.Master == nil, ev.Master},
		{"one entry per connected replica", int64(len(ev.Replicas)) == ev.ConnectedReplicas, ev.Replicas},
		{"lag only with replicas", (ev.ConnectedReplicas == 0) == (ev.ReplicationLagSeconds == nil), ev.ReplicationLagSeconds},
		{"nothing missing", len(ev.Missing) == 0, ev.Missing},
		{"connection", ev.Connection == "default", ev.Connection},
		{"addr without credentials", ev.Addr == redistest.Addr()+"/0", ev.Addr},
	} {
		if !tc.ok {
			t.Errorf("%s: got %v", tc.name, tc.got)
		}
	}

	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, field := range []string{`"hit_rate":`, `"used_memory_bytes":`, `"mem_fragmentation_ratio":`, `"role":"master"`, `"connected_replicas":`, `"replication_lag_seconds":`} {
		if !strings.Contains(string(b), field) {
			t.Errorf("evidence JSON lacks %s: %s", field, b)
		}
	}
}
