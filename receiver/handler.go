package receiver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/queue"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBodyBytes = 1 << 20
	DefaultDedupeTTL    = 24 * time.Hour
)

// retryAfter is sent with 503s. Alertmanager applies its own backoff, but
// other senders (and curl-wielding humans) benefit from the hint.
const retryAfter = "5"

// Enqueuer is where accepted alerts go. *queue.Queue[alert.Alert] satisfies
// it. TryPush must be all-or-nothing and must not block; it refuses with
// queue.ErrFull or queue.ErrClosed.
type Enqueuer interface {
	TryPush(items ...alert.Alert) error
}

// Deduper remembers which notifications were accepted. state.Store satisfies
// it.
type Deduper interface {
	// Reserve atomically claims each key for ttl; fresh[i] is true where this
	// call claimed keys[i] (of concurrent callers, replicas included, only
	// one does).
	Reserve(ctx context.Context, keys []string, ttl time.Duration) (fresh []bool, err error)
	// Release drops claims this caller made, so a retry is processed.
	Release(ctx context.Context, keys []string) error
}

// Options configures a Handler. The zero value is usable.
type Options struct {
	// Auth authenticates requests; nil means no authentication (whether that
	// is acceptable is the daemon's decision, not the handler's).
	Auth Authenticator
	// MaxBodyBytes caps the request body; DefaultMaxBodyBytes when 0.
	MaxBodyBytes int64
	// DedupeTTL is how long an accepted notification is remembered;
	// DefaultDedupeTTL when 0. Alertmanager re-sends a group every
	// repeat_interval for as long as an alert fires, so this must exceed it;
	// keys include the status, so a resolution is never a duplicate.
	DedupeTTL time.Duration
	// FiringDedupeTTL, when set, is how long a firing notification is
	// remembered instead of DedupeTTL. The daemon keeps it short: a re-sent
	// firing notification is how the dispatcher learns that an incident
	// still fires (escalation), and the incident, not this key, keeps such a
	// re-send from acting again. The key still absorbs bursts: concurrent
	// and back-to-back deliveries of one notification queue it once.
	FiringDedupeTTL time.Duration
	// Logger receives debug logs of accepted alerts and warnings for rejected
	// requests; nothing is logged when nil.
	Logger *slog.Logger
	// Metrics records the handler's metrics; unregistered metrics when nil.
	Metrics *Metrics
	// Now is the clock for ReceivedAt; time.Now when nil.
	Now func() time.Time
}

// Handler serves Alertmanager's webhook: it authenticates, decodes and
// validates the notification, drops alerts already seen, and queues the rest.
// It does no other work, so that it answers Alertmanager quickly.
type Handler struct {
	queue   Enqueuer
	seen    Deduper
	auth    Authenticator
	maxBody int64
	ttl     time.Duration
	fireTTL time.Duration
	log     *slog.Logger
	metrics *Metrics
	now     func() time.Time

	// tooLarge is the 413 message, built once.
	tooLarge string

	// mu makes reserve → push → release-on-refusal one step across
	// concurrent requests of this replica, so that a delivery racing one that
	// the queue refuses is not dropped as a duplicate of it. Across replicas,
	// Reserve alone decides: each key goes to one caller.
	mu sync.Mutex
}

// New returns a Handler that queues new alerts on q and dedupes them with
// seen.
func New(q Enqueuer, seen Deduper, opts Options) *Handler {
	h := &Handler{
		queue:   q,
		seen:    seen,
		auth:    opts.Auth,
		maxBody: opts.MaxBodyBytes,
		ttl:     opts.DedupeTTL,
		fireTTL: opts.FiringDedupeTTL,
		log:     opts.Logger,
		metrics: opts.Metrics,
		now:     opts.Now,
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.ttl <= 0 {
		h.ttl = DefaultDedupeTTL
	}
	if h.fireTTL <= 0 {
		h.fireTTL = h.ttl
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.metrics == nil {
		h.metrics = NewMetrics(nil)
	}
	if h.now == nil {
		h.now = time.Now
	}
	h.tooLarge = fmt.Sprintf("request body exceeds %d bytes", h.maxBody)
	return h
}

// successResponse is the body of a 200.
type successResponse struct {
	Status     string `json:"status"`
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
}

// errorResponse is the body of every other answer.
type errorResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

// ServeHTTP implements http.Handler. It is meant for POST /api/v1/alerts;
// the daemon chooses the path, the handler enforces the method.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	code := h.serve(w, r)
	h.metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	h.metrics.duration.Observe(time.Since(start).Seconds())
}

// serve answers the request and returns the status code it wrote.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	// Authentication comes first so that an unauthenticated caller learns
	// nothing, not even which methods exist, and no body is read for it.
	if h.auth != nil {
		if code, reason, ok := h.auth.Admit(w, r); !ok {
			return h.reject(w, r, code, reason)
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(w, r, http.StatusMethodNotAllowed, "method not allowed, use POST")
	}
	// A declared length over the limit is refused without reading a byte.
	if r.ContentLength > h.maxBody {
		return h.reject(w, r, http.StatusRequestEntityTooLarge, h.tooLarge)
	}
	body := http.MaxBytesReader(w, r.Body, h.maxBody)
	msg, err := Decode(body)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return h.reject(w, r, http.StatusRequestEntityTooLarge, h.tooLarge)
		}
		return h.reject(w, r, http.StatusBadRequest, err.Error())
	}

	alerts := msg.Queued(h.now())
	for i := range alerts {
		h.metrics.received.WithLabelValues(alerts[i].Name(), alerts[i].Status).Inc()
	}
	accepted, duplicates, err := h.enqueue(r.Context(), alerts)
	if err != nil {
		w.Header().Set("Retry-After", retryAfter)
		reason := "queue full, retry later"
		attrs := []any{slog.String("group_key", msg.GroupKey), slog.Int("alerts", len(alerts))}
		switch {
		case errors.Is(err, queue.ErrFull):
		case errors.Is(err, queue.ErrClosed):
			reason = "shutting down, retry later"
		default:
			// The store's error may name hosts or internals: log it, but
			// tell the client only what happened.
			reason = "dedupe store unavailable, retry later"
			attrs = append(attrs, slog.Any("error", err))
		}
		return h.reject(w, r, http.StatusServiceUnavailable, reason, attrs...)
	}
	// Checked once, so that a disabled debug level costs nothing per alert.
	if h.log.Enabled(r.Context(), slog.LevelDebug) {
		for _, a := range accepted {
			h.log.LogAttrs(r.Context(), slog.LevelDebug, "alert accepted",
				slog.String("fingerprint", a.Fingerprint),
				slog.String("alertname", a.Name()),
				slog.String("status", a.Status),
				slog.String("group_key", a.GroupKey))
		}
	}
	writeJSON(w, http.StatusOK, successResponse{Status: "success", Accepted: len(accepted), Duplicates: duplicates})
	return http.StatusOK
}

// enqueue reserves the alerts' dedupe keys, drops the alerts whose key was
// already reserved, and queues the others. It fails with the queue's refusal
// (queue.ErrFull, queue.ErrClosed) or a dedupe store error; nothing is then
// queued and no key stays reserved (as far as the store can be reached), so
// Alertmanager's retry is processed afresh.
func (h *Handler) enqueue(ctx context.Context, alerts []alert.Alert) (accepted []alert.Alert, duplicates int, err error) {
	keys := make([]string, 0, len(alerts))
	candidates := make([]alert.Alert, 0, len(alerts))
	inPayload := make(map[string]struct{}, len(alerts))
	for _, a := range alerts {
		k := alert.Key(a.Alert)
		// Alertmanager never repeats an alert within a group, but a
		// hand-crafted payload might; the repeat is a duplicate.
		if _, dup := inPayload[k]; dup {
			duplicates++
			continue
		}
		inPayload[k] = struct{}{}
		keys = append(keys, k)
		candidates = append(candidates, a)
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	reserved, err := h.reserve(ctx, keys, candidates)
	if err != nil {
		// Fail closed: without the dedupe store a retried notification
		// would be acted on twice.
		return nil, 0, fmt.Errorf("reserving %d dedupe keys: %w", len(keys), err)
	}
	if len(reserved) != len(keys) {
		return nil, 0, fmt.Errorf("reserving %d dedupe keys: the store answered for %d", len(keys), len(reserved))
	}
	freshKeys := make([]string, 0, len(keys))
	fresh := make([]alert.Alert, 0, len(keys))
	for i, ok := range reserved {
		if !ok {
			duplicates++
			continue
		}
		freshKeys = append(freshKeys, keys[i])
		fresh = append(fresh, candidates[i])
	}
	h.metrics.duplicates.Add(float64(duplicates))
	if len(fresh) == 0 {
		return nil, duplicates, nil
	}
	if refused := h.queue.TryPush(fresh...); refused != nil {
		h.metrics.queueRejected.Add(float64(len(fresh)))
		// The 503 makes Alertmanager retry; the retry must find the keys
		// free. A cancelled request must not stop the release.
		if err := h.seen.Release(context.WithoutCancel(ctx), freshKeys); err != nil {
			h.log.Error("releasing dedupe keys of refused alerts failed; their retry will be taken for a duplicate until the keys expire",
				slog.Int("alerts", len(freshKeys)), slog.Duration("ttl", h.ttl), slog.Any("error", err))
		}
		return nil, 0, refused
	}
	return fresh, duplicates, nil
}

// reserve claims each key, a firing notification's for fireTTL and the
// others' for ttl: one store call per TTL. If a later call fails, what an
// earlier one claimed is released, so that nothing stays reserved.
func (h *Handler) reserve(ctx context.Context, keys []string, alerts []alert.Alert) ([]bool, error) {
	if h.fireTTL == h.ttl {
		return h.seen.Reserve(ctx, keys, h.ttl)
	}
	fresh := make([]bool, len(keys))
	var claimed []string
	for _, firing := range []bool{true, false} {
		ttl := h.ttl
		if firing {
			ttl = h.fireTTL
		}
		var idx []int
		var group []string
		for i, a := range alerts {
			if a.Firing() == firing {
				idx = append(idx, i)
				group = append(group, keys[i])
			}
		}
		if len(group) == 0 {
			continue
		}
		got, err := h.seen.Reserve(ctx, group, ttl)
		if err == nil && len(got) != len(group) {
			err = fmt.Errorf("the store answered for %d", len(got))
		}
		if err != nil {
			if len(claimed) > 0 {
				if rerr := h.seen.Release(context.WithoutCancel(ctx), claimed); rerr != nil {
					h.log.Error("releasing dedupe keys after a failed reservation failed; their retry will be taken for a duplicate until the keys expire",
						slog.Int("alerts", len(claimed)), slog.Duration("ttl", h.fireTTL), slog.Any("error", rerr))
				}
			}
			return nil, err
		}
		for j, ok := range got {
			fresh[idx[j]] = ok
			if ok {
				claimed = append(claimed, group[j])
			}
		}
	}
	return fresh, nil
}

// reject writes a JSON error and logs why at warn level. The reason never
// contains credentials: it is built from the decoded payload or fixed text.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, code int, reason string, attrs ...any) int {
	h.log.Warn("webhook request rejected", append([]any{
		slog.Int("code", code),
		slog.String("reason", reason),
		slog.String("remote_addr", r.RemoteAddr),
	}, attrs...)...)
	writeJSON(w, code, errorResponse{Status: "error", Error: reason})
	return code
}

// writeJSON writes v as the JSON body of a response with the given code.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	// The status line is sent; an encoding error can only be a broken
	// connection, which there is nobody left to report to.
	_ = json.NewEncoder(w).Encode(v)
}
