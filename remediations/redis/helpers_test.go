package redis_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/remediations/redis"
)

// testClient is a plain client for setting up and checking keys behind the
// executor's back. It fails the test, never skips it, when Redis is down: a
// skipped backend test would let CI pass without testing the backend.
func testClient(tb testing.TB) *goredis.Client {
	tb.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: redistest.Addr(), DB: 0, DialTimeout: 3 * time.Second})
	tb.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		tb.Fatalf("cannot reach the test Redis at %s (start it as ../shared/SERVICES.md says, or set REMEDIATOR_TEST_REDIS_ADDR): %v", redistest.Addr(), err)
	}
	return c
}

// keyPrefix returns a prefix no other test or run uses, and deletes its
// keys when the test ends, so tests can share DB 0.
func keyPrefix(tb testing.TB, c *goredis.Client) string {
	tb.Helper()
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	prefix := "remediator-test:" + hex.EncodeToString(b) + ":"
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		var cursor uint64
		for {
			keys, next, err := c.Scan(ctx, cursor, prefix+"*", 5000).Result()
			if err != nil {
				tb.Errorf("cleaning up %s*: SCAN: %v", prefix, err)
				return
			}
			if len(keys) > 0 {
				if err := c.Unlink(ctx, keys...).Err(); err != nil {
					tb.Errorf("cleaning up %s*: UNLINK: %v", prefix, err)
					return
				}
			}
			if cursor = next; cursor == 0 {
				return
			}
		}
	})
	return prefix
}

// fill writes n keys named prefix+group+N for each group, pipelined.
func fill(tb testing.TB, c *goredis.Client, prefix string, groups map[string]int) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const chunk = 10_000
	for group, n := range groups {
		for lo := 0; lo < n; lo += chunk {
			_, err := c.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for i := lo; i < min(lo+chunk, n); i++ {
					p.Set(ctx, fmt.Sprintf("%s%s%d", prefix, group, i), "v", 0)
				}
				return nil
			})
			if err != nil {
				tb.Fatalf("writing %s%s*: %v", prefix, group, err)
			}
		}
	}
}

// count counts the keys matching pattern with SCAN.
func count(tb testing.TB, c *goredis.Client, pattern string) int64 {
	tb.Helper()
	n, err := countKeys(c, pattern)
	if err != nil {
		tb.Fatalf("counting %s: %v", pattern, err)
	}
	return n
}

// countKeys is count for goroutines, which must not call Fatalf.
func countKeys(c *goredis.Client, pattern string) (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	seen := map[string]struct{}{}
	var cursor uint64
	for {
		keys, next, err := c.Scan(ctx, cursor, pattern, 10_000).Result()
		if err != nil {
			return 0, err
		}
		for _, k := range keys {
			seen[k] = struct{}{}
		}
		if cursor = next; cursor == 0 {
			return int64(len(seen)), nil
		}
	}
}

// urlFile writes url to a file for TargetConfig.URLFile (files rather than
// env vars, so tests need not touch the process environment).
func urlFile(tb testing.TB, url string) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), "redis-url")
	if err := os.WriteFile(p, []byte(url+"\n"), 0o600); err != nil {
		tb.Fatal(err)
	}
	return p
}

// newExecutor builds an executor and closes it when the test ends.
func newExecutor(tb testing.TB, targets map[string]redis.TargetConfig, log *slog.Logger) *redis.Executor {
	tb.Helper()
	e, err := redis.NewExecutor(context.Background(), targets, log)
	if err != nil {
		tb.Fatalf("NewExecutor: %v", err)
	}
	tb.Cleanup(func() {
		if err := e.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return e
}

// defaultExecutor is an executor whose "default" connection is the test Redis.
func defaultExecutor(tb testing.TB) *redis.Executor {
	tb.Helper()
	return newExecutor(tb, map[string]redis.TargetConfig{
		"default": {URLFile: urlFile(tb, redistest.URL())},
	}, nil)
}

// logBuffer is a goroutine-safe sink for a test's logs.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

func debugLogger(w *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
