package redis

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
)

// GoRedisLogger sends go-redis's own log lines (failed dials, pool trouble)
// to slog, so they land in the daemon's structured log instead of bare lines
// on stderr. go-redis keeps one logger per process, so this package does not
// install it; the daemon does, once, at start:
//
//	goredis.SetLogger(redis.GoRedisLogger{Log: log})
//
// go-redis does not put passwords in these lines (they name host:port only).
type GoRedisLogger struct {
	Log *slog.Logger
}

// Printf implements go-redis's internal.Logging.
func (l GoRedisLogger) Printf(ctx context.Context, format string, v ...any) {
	// go-redis logs only what went wrong, so Warn, not Info.
	l.Log.WarnContext(ctx, strings.TrimSpace(strings.TrimPrefix(fmt.Sprintf(format, v...), "redis: ")), "component", "go-redis")
}
