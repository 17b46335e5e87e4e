package redis_test

import (
	"context"
	"strings"
	"testing"

	"github.com/remediator/remediator/remediations/redis"
)

func TestGoRedisLogger(t *testing.T) {
	var logs logBuffer
	redis.GoRedisLogger{Log: debugLogger(&logs)}.Printf(context.Background(),
		"redis: connection pool: failed to dial after %d attempts: %v\n", 1, "dial tcp 127.0.0.1:1: connect: connection refused")
	want := `level=WARN msg="connection pool: failed to dial after 1 attempts: dial tcp 127.0.0.1:1: connect: connection refused" component=go-redis`
	if !strings.Contains(logs.String(), want) {
		t.Errorf("log:\n  %s\nwant it to contain:\n  %s", logs.String(), want)
	}
}
