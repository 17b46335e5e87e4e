package receiver

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/queue"
)

// Defaults for the zero values of Options.
const (
	DefaultMaxBodyBytes             = 1 << 20
	DefaultMaxInflightBytes         = 4 << 20
	DefaultMaxAlertsPerNotification = 1000
	DefaultDedupeTTL                = 10 * time.Minute
	DefaultRejectLogInterval        = 10 * time.Second
	// maxRejectedListed caps the rejected alerts a response lists one by
	// one; rejected_total still counts them all.
	maxRejectedListed = 100
)

// retryAfter is sent with 503s. Alertmanager applies its own backoff, but
// other senders (and curl-wielding humans) benefit from the hint.
const retryAfter = "5"

// Enqueuer is where accepted alerts go. *queue.Queue[alert.Alert] satisfies
// it. Offer queues the longest prefix of items that fits and returns its
// length, with queue.ErrFull or queue.ErrClosed when that is not all; it must
// not block.
type Enqueuer interface {
	Offer(items ...alert.Alert) (int, error)
	// Full reports whether not even one more alert would be taken now.
	Full() bool
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
	// MaxInflightBytes caps the bodies being read and decoded at once
	// (DefaultMaxInflightBytes when 0): a request that would pass it is
	// answered 503 before a byte of its body is read.
	MaxInflightBytes int64
	// MaxAlertsPerNotification is how many new alerts one request may queue
	// (DefaultMaxAlertsPerNotification when 0); the others are answered 503
	// and come back with the retry, as duplicates of the ones taken plus the
	// rest.
	MaxAlertsPerNotification int
	// Limits bound each alert's fields (zero fields: the defaults).
	Limits Limits
	// DedupeTTL is how long an accepted resolved notification is
	// remembered; DefaultDedupeTTL when 0. Keys include the status, so a
	// resolution is never a duplicate of the firing notification.
	DedupeTTL time.Duration
	// FiringDedupeTTL, when set, is how long a firing notification is
	// remembered instead of DedupeTTL. The daemon keeps it short: a re-sent
	// firing notification is how the dispatcher learns that an incident
	// still fires (escalation), and the incident, not this key, keeps such a
	// re-send from acting again. The key still absorbs bursts: concurrent
	// and back-to-back deliveries of one notification queue it once.
	FiringDedupeTTL time.Duration
	// Runbook names the runbook an alert's labels match ("" for none): the
	// label of the per-alert metrics, which must come from a bounded set.
	// Nil: every alert counts under "".
	Runbook func(labels map[string]string) string
	// Runbooks are the names Runbook can return, so that their series exist
	// at zero from the start.
	Runbooks []string
	// Logger receives debug logs of accepted alerts and of each rejected
	// request, and a warning per RejectLogInterval summing up the rejected
	// requests by reason; nothing is logged when nil.
	Logger *slog.Logger
	// RejectLogInterval is how often rejections are summed up in one warning
	// (DefaultRejectLogInterval when 0).
	RejectLogInterval time.Duration
	// Metrics records the handler's metrics; unregistered metrics when nil.
	Metrics *Metrics
	// Now is the clock for ReceivedAt; time.Now when nil.
	Now func() time.Time
}

// Handler serves Alertmanager's webhook: it authenticates, decodes and
// validates the notification, drops alerts already seen, and queues the rest.
// It does no other work, so that it answers Alertmanager quickly.
type Handler struct {
	queue     Enqueuer
	seen      Deduper
	auth      Authenticator
	maxBody   int64
	inflight  *semaphore.Weighted
	maxAlerts int
	limits    Limits
	ttl       time.Duration
	fireTTL   time.Duration
	runbook   func(map[string]string) string
	log       *slog.Logger
	rejects   *rejectLog
	metrics   *Metrics
	now       func() time.Time

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
		queue:     q,
		seen:      seen,
		auth:      opts.Auth,
		maxBody:   cmp.Or(opts.MaxBodyBytes, DefaultMaxBodyBytes),
		maxAlerts: cmp.Or(opts.MaxAlertsPerNotification, DefaultMaxAlertsPerNotification),
		limits:    opts.Limits.withDefaults(),
		ttl:       cmp.Or(opts.DedupeTTL, DefaultDedupeTTL),
		runbook:   opts.Runbook,
		log:       opts.Logger,
		metrics:   opts.Metrics,
		now:       opts.Now,
	}
	h.inflight = semaphore.NewWeighted(max(cmp.Or(opts.MaxInflightBytes, DefaultMaxInflightBytes), h.maxBody))
	h.fireTTL = cmp.Or(opts.FiringDedupeTTL, h.ttl)
	if h.runbook == nil {
		h.runbook = func(map[string]string) string { return "" }
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	h.rejects = newRejectLog(h.log, cmp.Or(opts.RejectLogInterval, DefaultRejectLogInterval))
	if h.metrics == nil {
		h.metrics = NewMetrics(nil)
	}
	h.metrics.init(opts.Runbooks)
	if h.now == nil {
		h.now = time.Now
	}
	h.tooLarge = fmt.Sprintf("request body exceeds %d bytes", h.maxBody)
	return h
}

// response is the JSON body of every answer. A 200 or a 503 for a
// notification taken in part says what happened to its alerts; an error
// says why in Error.
type response struct {
	Status     string `json:"status"`
	Error      string `json:"error,omitempty"`
	Accepted   int    `json:"accepted"`
	Duplicates int    `json:"duplicates"`
	// Deferred alerts are valid and new but were not taken this time
	// (queue full, max_alerts_per_notification): the 503 brings them back.
	Deferred int `json:"deferred,omitempty"`
	// Rejected alerts were refused on their own (first maxRejectedListed).
	Rejected      []Rejected `json:"rejected,omitempty"`
	RejectedTotal int        `json:"rejected_total,omitempty"`
}

// errorResponse is the body of a request refused as a whole.
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

// Why requests are refused, as the summary log counts them: a fixed set.
const (
	refusedMethod   = "method not allowed"
	refusedTooLarge = "body too large"
	refusedInvalid  = "invalid notification"
	refusedInflight = "too many bodies being read"
	refusedFull     = "queue full"
	refusedClosed   = "shutting down"
	refusedCap      = "max_alerts_per_notification"
	refusedDedupe   = "dedupe store unavailable"
)

// serve answers the request and returns the status code it wrote.
func (h *Handler) serve(w http.ResponseWriter, r *http.Request) int {
	// Authentication comes first so that an unauthenticated caller learns
	// nothing, not even which methods exist, and no body is read for it.
	if h.auth != nil {
		if code, reason, ok := h.auth.Admit(w, r); !ok {
			// The reason is fixed text, one per refusal: fit for the
			// summary's bounded set of reasons.
			return h.reject(w, r, code, reason, reason)
		}
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		return h.reject(w, r, http.StatusMethodNotAllowed, refusedMethod, "method not allowed, use POST")
	}
	// A declared length over the limit is refused without reading a byte.
	if r.ContentLength > h.maxBody {
		return h.reject(w, r, http.StatusRequestEntityTooLarge, refusedTooLarge, h.tooLarge)
	}
	// Under overload the queue is full: shed before reading the body, so
	// that refusing costs no memory. (A notification of duplicates only is
	// refused too; its retry is answered once the workers catch up.)
	// Such a refusal counts in webhook_requests_total{code="503"} only:
	// queue_rejected_total counts alerts, and these were never read.
	if h.queue.Full() {
		w.Header().Set("Retry-After", retryAfter)
		return h.reject(w, r, http.StatusServiceUnavailable, refusedFull, "queue full, retry later")
	}
	// The body's share of the in-flight budget is taken before a byte of it
	// is read: its declared length (the server reads no more), or the
	// maximum when it is chunked.
	share := r.ContentLength
	if share < 0 {
		share = h.maxBody
	}
	if !h.inflight.TryAcquire(share) {
		w.Header().Set("Retry-After", retryAfter)
		return h.reject(w, r, http.StatusServiceUnavailable, refusedInflight, "too many notifications being read at once, retry later")
	}
	defer h.inflight.Release(share)

	body := http.MaxBytesReader(w, r.Body, h.maxBody)
	msg, rejected, err := Decode(body, h.limits)
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			return h.reject(w, r, http.StatusRequestEntityTooLarge, refusedTooLarge, h.tooLarge)
		}
		return h.reject(w, r, http.StatusBadRequest, refusedInvalid, err.Error())
	}
	for _, rj := range rejected {
		h.metrics.rejected.WithLabelValues(rj.Field).Inc()
		h.rejects.alert(r.Context(), rj)
	}
	resp := response{Status: "success", RejectedTotal: len(rejected), Rejected: rejected[:min(len(rejected), maxRejectedListed)]}

	alerts := msg.Queued(h.now())
	for i := range alerts {
		h.metrics.received.WithLabelValues(h.runbook(alerts[i].Labels), alerts[i].Status).Inc()
	}
	accepted, duplicates, deferred, err := h.enqueue(r.Context(), alerts)
	resp.Accepted, resp.Duplicates, resp.Deferred = len(accepted), duplicates, deferred
	h.logAccepted(r.Context(), accepted)
	if err != nil {
		w.Header().Set("Retry-After", retryAfter)
		why, text := refusedFull, "queue full, retry later"
		attrs := []any{slog.String("group_key", truncate(msg.GroupKey, 256)), slog.Int("alerts", len(alerts)), slog.Int("accepted", len(accepted))}
		switch {
		case errors.Is(err, queue.ErrFull):
		case errors.Is(err, queue.ErrClosed):
			why, text = refusedClosed, "shutting down, retry later"
		case errors.Is(err, errTooMany):
			why, text = refusedCap, fmt.Sprintf("more new alerts than max_alerts_per_notification (%d); retry for the rest", h.maxAlerts)
		default:
			// The store's error may name hosts or internals: log it, but
			// tell the client only what happened.
			why, text = refusedDedupe, "dedupe store unavailable, retry later"
			attrs = append(attrs, slog.Any("error", err))
			h.rejects.storeError(err)
		}
		if len(accepted) > 0 {
			text = fmt.Sprintf("accepted %d of %d new alerts; %s", len(accepted), len(accepted)+deferred, text)
		}
		resp.Status, resp.Error = "error", text
		h.rejects.request(r, http.StatusServiceUnavailable, why, text, attrs...)
		writeJSON(w, http.StatusServiceUnavailable, resp)
		return http.StatusServiceUnavailable
	}
	writeJSON(w, http.StatusOK, resp)
	return http.StatusOK
}

// logAccepted logs each accepted alert at debug level. The level is checked
// once, so that a disabled debug level costs nothing per alert.
func (h *Handler) logAccepted(ctx context.Context, accepted []alert.Alert) {
	if !h.log.Enabled(ctx, slog.LevelDebug) {
		return
	}
	for _, a := range accepted {
		h.log.LogAttrs(ctx, slog.LevelDebug, "alert accepted",
			slog.String("fingerprint", a.Fingerprint),
			slog.String("alertname", a.Name()),
			slog.String("status", a.Status),
			slog.String("group_key", a.GroupKey))
	}
}

// errTooMany is why new alerts past max_alerts_per_notification are deferred.
var errTooMany = errors.New("more new alerts than max_alerts_per_notification")

// enqueue reserves the alerts' dedupe keys, drops the alerts whose key was
// already reserved, and queues as many of the others as the queue and the
// per-notification cap take. The rest are deferred: their keys are released
// (as far as the store can be reached), so Alertmanager's retry, prompted by
// the error, brings them back, and the alerts taken now are duplicates then.
// The error is the queue's refusal (queue.ErrFull, queue.ErrClosed),
// errTooMany, or a dedupe store error (then nothing is queued).
func (h *Handler) enqueue(ctx context.Context, alerts []alert.Alert) (accepted []alert.Alert, duplicates, deferred int, err error) {
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
	if len(keys) == 0 {
		h.metrics.duplicates.Add(float64(duplicates))
		return nil, duplicates, 0, nil
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	reserved, err := h.reserve(ctx, keys, candidates)
	if err != nil {
		// Fail closed: without the dedupe store a retried notification
		// would be acted on twice.
		return nil, 0, 0, fmt.Errorf("reserving %d dedupe keys: %w", len(keys), err)
	}
	if len(reserved) != len(keys) {
		return nil, 0, 0, fmt.Errorf("reserving %d dedupe keys: the store answered for %d", len(keys), len(reserved))
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
		return nil, duplicates, 0, nil
	}
	take := min(len(fresh), h.maxAlerts)
	n, refused := h.queue.Offer(fresh[:take]...)
	if refused == nil && take < len(fresh) {
		refused = errTooMany
	}
	if refused != nil {
		if !errors.Is(refused, errTooMany) {
			h.metrics.queueRejected.Add(float64(take - n))
		}
		deferred = len(fresh) - n
		h.metrics.deferred.Add(float64(deferred))
		// The 503 makes Alertmanager retry; the retry must find the keys
		// of what was not taken free. A cancelled request must not stop
		// the release.
		if err := h.seen.Release(context.WithoutCancel(ctx), freshKeys[n:]); err != nil {
			h.log.Error("releasing dedupe keys of deferred alerts failed; their retry will be taken for a duplicate until the keys expire",
				slog.Int("alerts", deferred), slog.Duration("ttl", h.ttl), slog.Any("error", err))
		}
		return fresh[:n], duplicates, deferred, refused
	}
	return fresh, duplicates, 0, nil
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

// reject writes a JSON error and notes why for the summary log (and at
// debug level). The text never contains credentials: it is built from the
// decoded payload or fixed text.
func (h *Handler) reject(w http.ResponseWriter, r *http.Request, code int, why, text string) int {
	h.rejects.request(r, code, why, text)
	writeJSON(w, code, errorResponse{Status: "error", Error: text})
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
