package receiver

import (
	"context"
	"log/slog"
	"maps"
	"net/http"
	"sync"
	"time"
)

// rejectLog keeps refusals from flooding the log under overload: each is
// logged at debug level, and one warning per interval sums them up by
// reason. An alert refused for a field limit is also logged once at warn
// level per field, naming the limit, so that a misconfigured exporter is
// visible without debug logging.
type rejectLog struct {
	log   *slog.Logger
	every time.Duration

	mu      sync.Mutex
	counts  map[string]int // by "<status text>: <why>" or "alert rejected: <field>", a bounded set
	pending bool           // a summary is scheduled
	warned  map[string]bool
	// lastStoreError is when a dedupe store error was last logged.
	lastStoreError time.Time
}

func newRejectLog(log *slog.Logger, every time.Duration) *rejectLog {
	return &rejectLog{log: log, every: every, counts: make(map[string]int), warned: make(map[string]bool)}
}

// request notes a refused request; why is from a fixed set, text is what
// the client was told.
func (l *rejectLog) request(r *http.Request, code int, why, text string, attrs ...any) {
	l.log.Debug("webhook request rejected", append([]any{
		slog.Int("code", code),
		slog.String("reason", text),
		slog.String("remote_addr", r.RemoteAddr),
	}, attrs...)...)
	l.count(http.StatusText(code) + ": " + why)
}

// alert notes an alert refused on its own.
func (l *rejectLog) alert(ctx context.Context, rj Rejected) {
	l.mu.Lock()
	first := !l.warned[rj.Field]
	l.warned[rj.Field] = true
	l.mu.Unlock()
	level := slog.LevelDebug
	msg := "alert rejected"
	if first {
		level = slog.LevelWarn
		msg = "alert rejected (logged once per field; later ones at debug level and in the periodic summary)"
	}
	l.log.Log(ctx, level, msg, slog.String("field", rj.Field), slog.String("reason", rj.Reason), slog.String("fingerprint", rj.Fingerprint))
	l.count("alert rejected: " + rj.Field)
}

// storeError logs a dedupe store failure at error level, once per interval:
// it is the daemon's problem, not the sender's, but under an outage every
// request would repeat it.
func (l *rejectLog) storeError(err error) {
	l.mu.Lock()
	now := time.Now()
	due := now.Sub(l.lastStoreError) >= l.every
	if due {
		l.lastStoreError = now
	}
	l.mu.Unlock()
	if due {
		l.log.Error("dedupe store unavailable: webhook requests are answered 503 (logged once per interval)",
			slog.Duration("interval", l.every), slog.Any("error", err))
	}
}

func (l *rejectLog) count(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counts[key]++
	if !l.pending {
		l.pending = true
		time.AfterFunc(l.every, l.flush)
	}
}

// flush logs the interval's counts in one line.
func (l *rejectLog) flush() {
	l.mu.Lock()
	counts := maps.Clone(l.counts)
	clear(l.counts)
	l.pending = false
	l.mu.Unlock()
	total := 0
	attrs := make([]slog.Attr, 0, len(counts))
	for k, n := range counts {
		total += n
		attrs = append(attrs, slog.Int(k, n))
	}
	l.log.LogAttrs(context.Background(), slog.LevelWarn, "webhook refusals in the last interval",
		slog.Duration("interval", l.every), slog.Int("total", total), slog.Any("by_reason", slog.GroupValue(attrs...)))
}
