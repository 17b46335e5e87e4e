package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/blackhole"
	"github.com/remediator/remediator/internal/dispatch"
)

// shutdownProcConfig: a Redis and a PostgreSQL target that accept
// connections and never answer, with call timeouts far beyond the shutdown
// timeout.
const shutdownProcConfig = `
server:
  shutdown_timeout: 1s
dispatcher:
  workers: 2
redis:
  targets:
    default: {url_file: REDIS_URL_FILE, call_timeout: 30s}
postgres:
  targets:
    default: {dsn_file: PG_DSN_FILE, call_timeout: 30s}
runbooks:
  - name: CacheFlush
    match: ['alertname="CacheFlush"']
    target:
      kind: Redis
      instance: [instance]
    resolve:
      - action: redis.delete_keys
        params: {pattern: "expired:*", max_keys: 10000, batch_size: 500, pause_ms: 10}
`

// TestShutdownExitsInTime (issue 12): with its backends not answering and
// alerts in its workers and queue, the process exits 0 within
// shutdown_timeout + 1s of SIGTERM (closing the backends included), and every
// accepted alert has a record in the audit history, none denied.
func TestShutdownExitsInTime(t *testing.T) {
	redisBH, pgBH := blackhole.Start(t), blackhole.Start(t)
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := strings.NewReplacer(
		"REDIS_URL_FILE", write("redis-url", "redis://"+redisBH.Addr()+"/0\n"),
		"PG_DSN_FILE", write("pg-dsn", "postgres://postgres@"+pgBH.Addr()+"/postgres?sslmode=disable\n"),
	).Replace(shutdownProcConfig)
	store := "sqlite://" + filepath.Join(dir, "audit.db")
	d := startDaemon(t, buildBinary(t), []string{"REMEDIATOR_AUTH_TOKEN=kill-token"},
		"--config="+write("remediator.yaml", cfg), "--audit="+store)

	post := func(i int) string {
		t.Helper()
		fp := fmt.Sprintf("e1e1%012x", i)
		b := sampleAlert(t, "redis-cache-maintenance.json")
		b = bytes.ReplaceAll(b, []byte("a1b2c3d4e5f60009"), []byte(fp))
		b = bytes.ReplaceAll(b, []byte("redis-cache-0:6379"), []byte(fmt.Sprintf("cache-%d:6379", i)))
		b = bytes.ReplaceAll(b, []byte("RedisCacheMaintenance"), []byte("CacheFlush"))
		if code, body := d.do(t, http.MethodPost, "/api/v1/alerts", b); code != http.StatusOK || !strings.Contains(string(body), `"accepted":1`) {
			t.Fatalf("post %s: %d %s", fp, code, body)
		}
		return fp
	}
	conns := redisBH.Accepted()
	var fps []string
	for i := range 2 {
		fps = append(fps, post(i))
	}
	waitUntil(t, "both workers' actions waiting on Redis", func() bool { return redisBH.Accepted() >= conns+2 })
	for i := 2; i < 10; i++ {
		fps = append(fps, post(i))
	}

	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	signalled := time.Now()
	const limit = 2 * time.Second // shutdown_timeout + 1s
	select {
	case err := <-exited:
		t.Logf("exited %v after SIGTERM", time.Since(signalled).Round(time.Millisecond))
		if err != nil {
			t.Errorf("exit: %v, want 0\n%s", err, d.log())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("still running 30s after SIGTERM:\n%s", d.log())
	}
	if took := time.Since(signalled); took > limit {
		t.Errorf("exited %v after SIGTERM, want within shutdown_timeout + 1s = %v", took, limit)
	}

	reader, err := audit.Open(context.Background(), store, audit.Options{Instance: "test-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	p, err := reader.List(context.Background(), audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	results := map[string][]string{}
	for _, r := range p.Items {
		results[r.Fingerprint] = append(results[r.Fingerprint], r.Result)
	}
	counts := map[string]int{}
	for _, fp := range fps {
		rs := results[fp]
		if len(rs) != 1 || (rs[0] != dispatch.StatusFailed && rs[0] != dispatch.StatusDropped) {
			t.Errorf("%s: records %v, want one, failed or dropped", fp, rs)
			continue
		}
		counts[rs[0]]++
	}
	t.Logf("%d accepted alerts: %v", len(fps), counts)
}
