package receiver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/queue"
	"github.com/remediator/remediator/internal/state"
)

// env is a handler wired to the real queue and memory store.
type env struct {
	h     *Handler
	q     *queue.Queue[alert.Alert]
	store *state.Memory
	m     *Metrics
	reg   *prometheus.Registry
}

func newEnv(t testing.TB, capacity int, opts Options) *env {
	t.Helper()
	e := &env{q: queue.New[alert.Alert](capacity), reg: prometheus.NewRegistry()}
	e.store = state.NewMemory(opts.Now)
	e.m = NewMetrics(e.reg)
	opts.Metrics = e.m
	e.h = New(e.q, e.store, opts)
	return e
}

// post sends body to the handler as Alertmanager would.
func (e *env) post(t testing.TB, body []byte, set ...func(*http.Request)) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for _, f := range set {
		f(r)
	}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	return w
}

func (e *env) drain() []alert.Alert {
	var out []alert.Alert
	for e.q.Len() > 0 {
		out = append(out, <-e.q.C())
	}
	return out
}

type testResponse struct {
	Status        string     `json:"status"`
	Error         string     `json:"error"`
	Accepted      *int       `json:"accepted"`
	Duplicates    *int       `json:"duplicates"`
	Deferred      int        `json:"deferred"`
	Rejected      []Rejected `json:"rejected"`
	RejectedTotal int        `json:"rejected_total"`
}

// decodeResponse checks the properties every response has and returns its
// body.
func decodeResponse(t testing.TB, w *httptest.ResponseRecorder) testResponse {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var resp testResponse
	dec := json.NewDecoder(w.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&resp); err != nil {
		t.Fatalf("response body: %v", err)
	}
	if w.Code == http.StatusOK {
		if resp.Status != "success" || resp.Accepted == nil || resp.Duplicates == nil || resp.Error != "" {
			t.Errorf("200 body %+v", resp)
		}
	} else if resp.Status != "error" || resp.Error == "" || (resp.Accepted != nil && w.Code != http.StatusServiceUnavailable) {
		// Only a 503 for a notification taken in part says what was taken.
		t.Errorf("%d body %+v", w.Code, resp)
	}
	return resp
}

func bearerHeader(tok string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
}

func basicHeader(u, p string) func(*http.Request) {
	return func(r *http.Request) { r.SetBasicAuth(u, p) }
}

func TestServeHTTPStatusCodes(t *testing.T) {
	firing := readTestdata(t, "firing_high_cpu.json")
	multi := readTestdata(t, "multi_alert_group.json")
	mut := func(f func(m map[string]any)) []byte { return mutateJSON(t, firing, f) }
	bearer := alertsAuth(t, "s3cr3t-token", "", "")
	basic := alertsAuth(t, "", "alertmanager", "pa55word")
	either := alertsAuth(t, "s3cr3t-token", "alertmanager", "pa55word")
	withRead := rolesAuth(t, "s3cr3t-token", "read-token")
	const maxBody = 4096
	padTo := func(n int) []byte { // firing payload padded with trailing whitespace to n bytes
		b := append([]byte(nil), firing...)
		return append(b, bytes.Repeat([]byte(" "), n-len(b))...)
	}
	unknownLength := func(r *http.Request) {
		r.Body = io.NopCloser(struct{ io.Reader }{r.Body})
		r.ContentLength = -1
	}

	tests := []struct {
		name       string
		auth       Authenticator
		method     string
		body       []byte
		set        []func(*http.Request)
		prime      [][]byte // posted (and expected to succeed) first
		wantCode   int
		wantError  string // substring of the JSON error
		wantHeader map[string][]string
		wantAccept int
		wantDups   int
		wantQueued int // in the queue afterwards, primes included
		// wantRejected is "field: reason substring" of the one alert
		// refused on its own.
		wantRejected string
	}{
		{name: "new alert", body: firing, wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "new group", body: multi, wantCode: 200, wantAccept: 3, wantQueued: 3},
		{name: "all duplicates", body: firing, prime: [][]byte{firing}, wantCode: 200, wantDups: 1, wantQueued: 1},
		{name: "partly duplicates", body: multi, prime: [][]byte{firing}, wantCode: 200, wantAccept: 2, wantDups: 1, wantQueued: 3},
		{name: "duplicate within payload", body: encodeMessage(t, testAlert("f000000000000001"), testAlert("f000000000000001"), testAlert("f000000000000002")),
			wantCode: 200, wantAccept: 2, wantDups: 1, wantQueued: 2},
		{name: "exactly MaxBodyBytes", body: padTo(maxBody), wantCode: 200, wantAccept: 1, wantQueued: 1},

		{name: "malformed JSON", body: []byte(`{"version":`), wantCode: 400, wantError: "malformed JSON"},
		{name: "empty body", body: nil, wantCode: 400, wantError: "empty body"},
		{name: "wrong version", body: mut(func(m map[string]any) { m["version"] = "5" }), wantCode: 400, wantError: "version"},
		{name: "empty alerts", body: mut(func(m map[string]any) { m["alerts"] = []any{} }), wantCode: 400, wantError: "alerts: no alerts"},
		// An invalid alert is refused on its own: Alertmanager never
		// retries a 4xx, and the others of its group must still be taken.
		{name: "missing fingerprint", body: mut(func(m map[string]any) { delete(firstAlert(m), "fingerprint") }), wantCode: 200, wantRejected: "fingerprint: missing fingerprint"},
		{name: "missing alertname", body: mut(func(m map[string]any) { delete(firstAlert(m)["labels"].(map[string]any), "alertname") }), wantCode: 200, wantRejected: "alertname: missing alertname"},
		{name: "missing startsAt", body: mut(func(m map[string]any) { delete(firstAlert(m), "startsAt") }), wantCode: 200, wantRejected: "startsAt: missing startsAt"},
		{name: "bad status", body: mut(func(m map[string]any) { firstAlert(m)["status"] = "active" }), wantCode: 200, wantRejected: "status: invalid status"},
		{name: "one bad alert of three", body: mutateJSON(t, multi, func(m map[string]any) { m["alerts"].([]any)[1].(map[string]any)["fingerprint"] = "x" }),
			wantCode: 200, wantAccept: 2, wantQueued: 2, wantRejected: "fingerprint: fingerprint is not 16 hex digits"},
		{name: "trailing garbage", body: append(append([]byte(nil), firing...), "garbage"...), wantCode: 400, wantError: "unexpected data"},

		{name: "no credentials", auth: either, body: firing, wantCode: 401, wantError: "authentication required",
			wantHeader: map[string][]string{"Www-Authenticate": {`Bearer realm="remediator"`, `Basic realm="remediator", charset="UTF-8"`}}},
		{name: "wrong token", auth: bearer, body: firing, set: []func(*http.Request){bearerHeader("s3cr3t-tokem")}, wantCode: 401,
			wantHeader: map[string][]string{"Www-Authenticate": {`Bearer realm="remediator"`}}},
		{name: "wrong basic password", auth: basic, body: firing, set: []func(*http.Request){basicHeader("alertmanager", "password")}, wantCode: 401,
			wantHeader: map[string][]string{"Www-Authenticate": {`Basic realm="remediator", charset="UTF-8"`}}},
		{name: "bearer ok", auth: bearer, body: firing, set: []func(*http.Request){bearerHeader("s3cr3t-token")}, wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "basic ok", auth: basic, body: firing, set: []func(*http.Request){basicHeader("alertmanager", "pa55word")}, wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "either, bearer", auth: either, body: firing, set: []func(*http.Request){bearerHeader("s3cr3t-token")}, wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "either, basic", auth: either, body: firing, set: []func(*http.Request){basicHeader("alertmanager", "pa55word")}, wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "auth before method", auth: bearer, method: http.MethodGet, wantCode: 401},
		{name: "read credential", auth: withRead, body: firing, set: []func(*http.Request){bearerHeader("read-token")}, wantCode: 403,
			wantError: "does not have the alerts role", wantHeader: map[string][]string{"Www-Authenticate": nil}},
		{name: "alerts credential beside a read one", auth: withRead, body: firing, set: []func(*http.Request){bearerHeader("s3cr3t-token")},
			wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "no credential beside a read one", auth: withRead, body: firing, wantCode: 401, wantError: "authentication required",
			wantHeader: map[string][]string{"Www-Authenticate": {`Bearer realm="remediator"`}}},

		{name: "GET", method: http.MethodGet, wantCode: 405, wantError: "method not allowed",
			wantHeader: map[string][]string{"Allow": {"POST"}}},
		{name: "PUT", method: http.MethodPut, body: firing, wantCode: 405, wantHeader: map[string][]string{"Allow": {"POST"}}},
		{name: "authenticated HEAD", auth: bearer, method: http.MethodHead, set: []func(*http.Request){bearerHeader("s3cr3t-token")},
			wantCode: 405, wantHeader: map[string][]string{"Allow": {"POST"}}},

		{name: "MaxBodyBytes+1", body: padTo(maxBody + 1), wantCode: 413, wantError: "exceeds 4096 bytes"},
		{name: "MaxBodyBytes+1, unknown length", body: padTo(maxBody + 1), set: []func(*http.Request){unknownLength},
			wantCode: 413, wantError: "exceeds 4096 bytes"},
		{name: "exactly MaxBodyBytes, unknown length", body: padTo(maxBody), set: []func(*http.Request){unknownLength},
			wantCode: 200, wantAccept: 1, wantQueued: 1},
		{name: "huge, unknown length", body: bytes.Repeat([]byte("["), 10*maxBody), set: []func(*http.Request){unknownLength},
			wantCode: 413},

		// The queue holds 4; the first prime fills 3 of it.
		{name: "queue full", body: encodeMessage(t, testAlert("e000000000000001"), testAlert("e000000000000002"), testAlert("e000000000000003")),
			prime: [][]byte{multi, encodeMessage(t, testAlert("d000000000000001"))}, wantCode: 503, wantError: "queue full", wantHeader: map[string][]string{"Retry-After": {"5"}}, wantQueued: 4},
		// A notification is taken in part: what fits now, and a 503 that
		// brings the rest back with the retry.
		{name: "queue full, taken in part", body: encodeMessage(t, testAlert("e000000000000001"), testAlert("e000000000000002")), prime: [][]byte{multi},
			wantCode: 503, wantError: "accepted 1 of 2 new alerts; queue full", wantHeader: map[string][]string{"Retry-After": {"5"}}, wantQueued: 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, 4, Options{Auth: tt.auth, MaxBodyBytes: maxBody})
			for _, p := range tt.prime {
				if w := e.post(t, p, tt.set...); w.Code != 200 {
					t.Fatalf("priming: %d %s", w.Code, w.Body)
				}
			}
			requestsBefore := testutil.ToFloat64(e.m.requests.WithLabelValues(strconv.Itoa(tt.wantCode)))
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/api/v1/alerts", bytes.NewReader(tt.body))
			for _, f := range tt.set {
				f(r)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)

			if w.Code != tt.wantCode {
				t.Fatalf("code %d, want %d; body %s", w.Code, tt.wantCode, w.Body)
			}
			resp := decodeResponse(t, w)
			if !strings.Contains(resp.Error, tt.wantError) {
				t.Errorf("error %q does not contain %q", resp.Error, tt.wantError)
			}
			if w.Code == 200 && (*resp.Accepted != tt.wantAccept || *resp.Duplicates != tt.wantDups) {
				t.Errorf("accepted %d duplicates %d, want %d %d", *resp.Accepted, *resp.Duplicates, tt.wantAccept, tt.wantDups)
			}
			if tt.wantRejected == "" && (len(resp.Rejected) != 0 || resp.RejectedTotal != 0) {
				t.Errorf("rejected %+v, want none", resp.Rejected)
			}
			if tt.wantRejected != "" {
				field, reason, _ := strings.Cut(tt.wantRejected, ": ")
				if len(resp.Rejected) != 1 || resp.RejectedTotal != 1 || resp.Rejected[0].Field != field || !strings.Contains(resp.Rejected[0].Reason, reason) {
					t.Errorf("rejected %+v (total %d), want one with field %q and reason containing %q", resp.Rejected, resp.RejectedTotal, field, reason)
				}
				if got := testutil.ToFloat64(e.m.rejected.WithLabelValues(field)); got != 1 {
					t.Errorf("alerts_rejected_total{field=%q} = %v, want 1", field, got)
				}
			}
			for k, v := range tt.wantHeader {
				if got := w.Header().Values(k); !slices.Equal(got, v) {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if e.q.Len() != tt.wantQueued {
				t.Errorf("queued %d, want %d", e.q.Len(), tt.wantQueued)
			}
			if got := testutil.ToFloat64(e.m.requests.WithLabelValues(strconv.Itoa(tt.wantCode))) - requestsBefore; got != 1 {
				t.Errorf("webhook_requests_total{code=%d} = %v, want 1", tt.wantCode, got)
			}
			if n := testutil.CollectAndCount(e.m.duration); n != 1 {
				t.Errorf("duration histogram has %d series", n)
			}
		})
	}
}

// want503 checks a refusal that asks the sender to retry: 503, Retry-After,
// and an error that says why.
func want503(t *testing.T, w *httptest.ResponseRecorder, why string) {
	t.Helper()
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" {
		t.Fatalf("code %d Retry-After %q, want 503 with Retry-After", w.Code, w.Header().Get("Retry-After"))
	}
	if resp := decodeResponse(t, w); !strings.Contains(resp.Error, why) {
		t.Errorf("error %q, want it to say %q", resp.Error, why)
	}
}

// A notification that arrives while the daemon shuts down (the queue is
// closed) gets a 503 that says so, and its keys are released for the retry
// that the next replica or the restarted daemon takes.
func TestQueueClosedRefusesAndReleases(t *testing.T) {
	e := newEnv(t, 3, Options{})
	e.q.Close()
	want503(t, e.post(t, readTestdata(t, "firing_high_cpu.json")), "shutting down")
	if e.store.Len() != 0 {
		t.Errorf("%d dedupe keys held after the refused alert", e.store.Len())
	}
}

// Finding 5 of issue 12: a notification with more new alerts than the queue
// has room for was refused whole, on every retry, forever. Now what fits is
// taken and the rest is answered 503; each retry takes more (the alerts taken
// before are duplicates then), until all of them are in.
func TestQueueFullThenRetry(t *testing.T) {
	e := newEnv(t, 3, Options{})
	multi := readTestdata(t, "multi_alert_group.json") // 3 alerts

	// Two alerts occupy the queue: one slot is free, the group needs three.
	if w := e.post(t, encodeMessage(t, testAlert("a0000000000000aa"), testAlert("b0000000000000bb"))); w.Code != 200 {
		t.Fatalf("filling the queue: code %d", w.Code)
	}
	w := e.post(t, multi)
	want503(t, w, "accepted 1 of 3 new alerts; queue full")
	if e.q.Len() != 3 {
		t.Fatalf("%d queued, want the 2 from before and 1 of the group", e.q.Len())
	}
	if got := testutil.ToFloat64(e.m.queueRejected); got != 2 {
		t.Errorf("queue_rejected_total = %v, want 2", got)
	}
	if got := testutil.ToFloat64(e.m.deferred); got != 2 {
		t.Errorf("alerts_deferred_total = %v, want 2", got)
	}
	if e.store.Len() != 3 {
		t.Errorf("%d keys marked seen, want only the 3 accepted ones", e.store.Len())
	}
	// Still full: Alertmanager's retry is refused again (the alert taken is
	// a duplicate now), and the others are not taken for duplicates.
	want503(t, e.post(t, multi), "queue full")

	// Once the dispatcher drains the queue, Alertmanager's retry brings the
	// rest in as new alerts, because they were not marked seen.
	e.drain()
	w = e.post(t, multi)
	if resp := decodeResponse(t, w); w.Code != 200 || *resp.Accepted != 2 || *resp.Duplicates != 1 {
		t.Fatalf("retry: code %d %+v", w.Code, resp)
	}
	if e.q.Len() != 2 {
		t.Errorf("queued %d, want 2", e.q.Len())
	}
	if got := testutil.ToFloat64(e.m.requests.WithLabelValues("503")); got != 2 {
		t.Errorf("webhook_requests_total{code=503} = %v, want 2", got)
	}
}

// Finding 5 of issue 12, at the size of the finding: 1,001 fresh alerts in
// one notification, a queue of 1,000, empty. The first delivery takes 1,000
// and the retry, once a worker has taken some, the last one: nothing is
// refused forever.
func TestNotificationLargerThanQueueIsTakenInParts(t *testing.T) {
	e := newEnv(t, 1000, Options{MaxAlertsPerNotification: 2000, MaxBodyBytes: 8 << 20, MaxInflightBytes: 8 << 20})
	alerts := make([]template.Alert, 1001)
	for i := range alerts {
		alerts[i] = testAlert(fmt.Sprintf("%016x", i+1))
	}
	body := encodeMessage(t, alerts...)
	resp := decodeResponse(t, e.post(t, body))
	if *resp.Accepted != 1000 || resp.Deferred != 1 {
		t.Fatalf("first delivery: %+v, want 1000 accepted and 1 deferred", resp)
	}
	<-e.q.C() // a worker takes one
	w := e.post(t, body)
	if resp := decodeResponse(t, w); w.Code != 200 || *resp.Accepted != 1 || *resp.Duplicates != 1000 {
		t.Fatalf("retry: %d %+v, want the last alert accepted", w.Code, resp)
	}
	// Every alert of the notification went into the queue exactly once.
	seen := map[string]bool{alerts[0].Fingerprint: true}
	for _, a := range e.drain() {
		if seen[a.Fingerprint] {
			t.Fatalf("alert %s queued twice", a.Fingerprint)
		}
		seen[a.Fingerprint] = true
	}
	if len(seen) != 1001 {
		t.Fatalf("%d distinct alerts queued, want 1001", len(seen))
	}
}

// max_alerts_per_notification defers the new alerts past it with a 503 and
// takes them on the retry: the cap counts new alerts, not duplicates, so
// every retry makes progress.
func TestMaxAlertsPerNotification(t *testing.T) {
	e := newEnv(t, 100, Options{MaxAlertsPerNotification: 2})
	alerts := make([]template.Alert, 5)
	for i := range alerts {
		alerts[i] = testAlert(fmt.Sprintf("c%015x", i))
	}
	body := encodeMessage(t, alerts...)
	var accepted []int
	for range 3 {
		w := e.post(t, body)
		resp := decodeResponse(t, w)
		accepted = append(accepted, *resp.Accepted)
		if w.Code == 200 {
			break
		}
		if !strings.Contains(resp.Error, "max_alerts_per_notification") {
			t.Fatalf("503 error %q does not name the setting", resp.Error)
		}
	}
	if !slices.Equal(accepted, []int{2, 2, 1}) || e.q.Len() != 5 {
		t.Fatalf("accepted per delivery %v, queued %d; want [2 2 1] and 5", accepted, e.q.Len())
	}
}

func TestStorm(t *testing.T) {
	// The daemon's short firing window (receiver.firing_dedupe_ttl) must
	// still absorb a storm of one notification.
	for _, opts := range []Options{{}, {FiringDedupeTTL: time.Minute}} {
		t.Run("firing_ttl="+opts.FiringDedupeTTL.String(), func(t *testing.T) { testStorm(t, opts) })
	}
}

func testStorm(t *testing.T, opts Options) {
	const n = 1000
	e := newEnv(t, 100, opts)
	body := readTestdata(t, "firing_high_cpu.json")

	var (
		wg    sync.WaitGroup
		start = make(chan struct{})
		codes = make([]int, n)
		accs  = make([]int, n)
	)
	for i := range n {
		wg.Go(func() {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body))
			w := httptest.NewRecorder()
			<-start
			e.h.ServeHTTP(w, r)
			codes[i] = w.Code
			var resp testResponse
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err == nil && resp.Accepted != nil {
				accs[i] = *resp.Accepted
			}
		})
	}
	close(start)
	wg.Wait()

	accepted := 0
	for i := range n {
		if codes[i] != 200 {
			t.Fatalf("request %d: code %d", i, codes[i])
		}
		accepted += accs[i]
	}
	if accepted != 1 || e.q.Len() != 1 {
		t.Errorf("accepted %d, queued %d; want exactly 1", accepted, e.q.Len())
	}
	if got := testutil.ToFloat64(e.m.duplicates); got != n-1 {
		t.Errorf("alerts_duplicates_total = %v, want %d", got, n-1)
	}
	if got := testutil.ToFloat64(e.m.received.WithLabelValues("", "firing")); got != n {
		t.Errorf("alerts_received_total = %v, want %d", got, n)
	}
	if got := testutil.ToFloat64(e.m.requests.WithLabelValues("200")); got != n {
		t.Errorf("webhook_requests_total{code=200} = %v, want %d", got, n)
	}
}

func TestResolvedIsNotDuplicate(t *testing.T) {
	e := newEnv(t, 10, Options{})
	firing := readTestdata(t, "firing_high_cpu.json")
	resolved := readTestdata(t, "resolved_high_cpu.json")

	steps := []struct {
		name       string
		body       []byte
		accepted   int
		duplicates int
	}{
		{"firing", firing, 1, 0},
		{"firing re-sent", firing, 0, 1},
		{"resolved", resolved, 1, 0},
		{"resolved re-sent", resolved, 0, 1},
		{"firing again, late retry", firing, 0, 1},
	}
	for _, s := range steps {
		w := e.post(t, s.body)
		resp := decodeResponse(t, w)
		if w.Code != 200 || *resp.Accepted != s.accepted || *resp.Duplicates != s.duplicates {
			t.Fatalf("%s: code %d accepted %v duplicates %v, want %d %d", s.name, w.Code, *resp.Accepted, *resp.Duplicates, s.accepted, s.duplicates)
		}
	}
	got := e.drain()
	if len(got) != 2 || got[0].Status != "firing" || got[1].Status != "resolved" {
		t.Fatalf("queued %+v", got)
	}
	if got := testutil.ToFloat64(e.m.received.WithLabelValues("", "resolved")); got != 2 {
		t.Errorf("alerts_received_total{status=resolved} = %v", got)
	}

	// A new firing episode of the same alert has a new startsAt and so is
	// new too.
	refired := mutateJSON(t, firing, func(m map[string]any) { firstAlert(m)["startsAt"] = "2025-06-12T11:00:00Z" })
	if resp := decodeResponse(t, e.post(t, refired)); *resp.Accepted != 1 {
		t.Errorf("re-fired alert: %+v", resp)
	}
}

// clock is a settable clock shared by the store and the handler.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestDedupeKeysExpire(t *testing.T) {
	clk := &clock{now: time.Date(2025, 6, 12, 10, 0, 0, 0, time.UTC)}
	const ttl = 4 * time.Hour
	e := newEnv(t, 10, Options{DedupeTTL: ttl, Now: clk.Now})
	body := readTestdata(t, "firing_high_cpu.json")

	steps := []struct {
		advance  time.Duration
		accepted int
	}{
		{0, 1},
		{time.Minute, 0},
		{ttl - time.Minute - time.Nanosecond, 0}, // one nanosecond before expiry
		{time.Nanosecond, 1},                     // expired: accepted and marked again
		{ttl - time.Second, 0},
		{time.Second, 1},
	}
	for i, s := range steps {
		clk.Advance(s.advance)
		w := e.post(t, body)
		resp := decodeResponse(t, w)
		if w.Code != 200 || *resp.Accepted != s.accepted {
			t.Fatalf("step %d: code %d accepted %d, want %d", i, w.Code, *resp.Accepted, s.accepted)
		}
	}
	got := e.drain()
	if len(got) != 3 {
		t.Fatalf("queued %d, want 3", len(got))
	}
	// ReceivedAt comes from Options.Now.
	if want := clk.Now(); !got[2].ReceivedAt.Equal(want) {
		t.Errorf("ReceivedAt %v, want %v", got[2].ReceivedAt, want)
	}
}

func TestDefaultDedupeTTL(t *testing.T) {
	clk := &clock{now: time.Date(2025, 6, 12, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, 10, Options{Now: clk.Now})
	body := readTestdata(t, "firing_high_cpu.json")
	for i, want := range []int{1, 0, 1} {
		if i == 2 {
			clk.Advance(DefaultDedupeTTL)
		} else {
			clk.Advance(time.Minute)
		}
		if resp := decodeResponse(t, e.post(t, body)); *resp.Accepted != want {
			t.Fatalf("post %d: accepted %d, want %d", i, *resp.Accepted, want)
		}
	}
}

// faultyStore is a Deduper whose methods fail on demand.
type faultyStore struct {
	*state.Memory
	reserveErr, releaseErr error
}

func (f *faultyStore) Reserve(ctx context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	if f.reserveErr != nil {
		return nil, f.reserveErr
	}
	return f.Memory.Reserve(ctx, keys, ttl)
}

func (f *faultyStore) Release(ctx context.Context, keys []string) error {
	if f.releaseErr != nil {
		return f.releaseErr
	}
	return f.Memory.Release(ctx, keys)
}

func TestDeduperErrors(t *testing.T) {
	body := readTestdata(t, "firing_high_cpu.json")

	t.Run("Reserve fails closed", func(t *testing.T) {
		q := queue.New[alert.Alert](10)
		store := &faultyStore{Memory: state.NewMemory(nil), reserveErr: errors.New("redis://10.0.0.7: connection refused")}
		var logs bytes.Buffer
		h := New(q, store, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body)))
		if w.Code != 503 || w.Header().Get("Retry-After") == "" {
			t.Fatalf("code %d, want 503 with Retry-After", w.Code)
		}
		resp := decodeResponse(t, w)
		if strings.Contains(resp.Error, "10.0.0.7") {
			t.Errorf("store internals leaked to the client: %q", resp.Error)
		}
		if !strings.Contains(logs.String(), "connection refused") {
			t.Errorf("store error not logged: %s", logs.String())
		}
		if q.Len() != 0 {
			t.Error("alert queued although the dedupe store failed")
		}

		// Once the store recovers, the retry is accepted.
		store.reserveErr = nil
		w = httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body)))
		if resp := decodeResponse(t, w); w.Code != 200 || *resp.Accepted != 1 {
			t.Fatalf("retry: %d %+v", w.Code, resp)
		}
	})

	t.Run("a store answering for the wrong number of keys fails closed", func(t *testing.T) {
		q := queue.New[alert.Alert](10)
		h := New(q, shortStore{state.NewMemory(nil)}, Options{})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(body)))
		if w.Code != 503 || q.Len() != 0 {
			t.Fatalf("code %d queued %d, want 503 and nothing queued", w.Code, q.Len())
		}
	})

	t.Run("Release failure after a refused push is logged", func(t *testing.T) {
		q := queue.New[alert.Alert](2)
		q.TryPush(alert.Alert{}) // one slot left for a group of three
		store := &faultyStore{Memory: state.NewMemory(nil), releaseErr: errors.New("timeout")}
		var logs bytes.Buffer
		h := New(q, store, Options{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(readTestdata(t, "multi_alert_group.json"))))
		if w.Code != 503 || q.Len() != 2 {
			t.Fatalf("code %d queued %d; want 503 and the filler and one alert queued", w.Code, q.Len())
		}
		if !strings.Contains(logs.String(), "level=ERROR") || !strings.Contains(logs.String(), "releasing dedupe keys") {
			t.Errorf("Release failure not logged: %s", logs.String())
		}
	})
}

// shortStore answers Reserve for one key fewer than asked.
type shortStore struct{ *state.Memory }

func (s shortStore) Reserve(ctx context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	fresh, err := s.Memory.Reserve(ctx, keys, ttl)
	return fresh[:len(fresh)-1], err
}

func TestReleaseSurvivesCancelledRequest(t *testing.T) {
	e := newEnv(t, 2, Options{})
	e.q.TryPush(alert.Alert{}) // one slot: two alerts of the group are refused and their keys released
	body := readTestdata(t, "multi_alert_group.json")
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/api/v1/alerts", bytes.NewReader(body))
	// The memory store ignores ctx; this checks the handler passes one the
	// store could not see cancelled.
	d := &ctxCheckingStore{Memory: e.store, cancel: cancel}
	h := New(e.q, d, Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != 503 || !d.released || d.releaseCtxErr != nil {
		t.Fatalf("code %d, released %v, Release ctx error %v", w.Code, d.released, d.releaseCtxErr)
	}
	if e.store.Len() != 1 {
		t.Errorf("%d dedupe keys held after the refused alerts were released, want the accepted one's", e.store.Len())
	}
}

// ctxCheckingStore cancels the request after Reserve and records whether the
// context Release got was cancelled.
type ctxCheckingStore struct {
	*state.Memory
	cancel        context.CancelFunc
	released      bool
	releaseCtxErr error
}

func (c *ctxCheckingStore) Reserve(ctx context.Context, keys []string, ttl time.Duration) ([]bool, error) {
	defer c.cancel()
	return c.Memory.Reserve(ctx, keys, ttl)
}

func (c *ctxCheckingStore) Release(ctx context.Context, keys []string) error {
	c.released = true
	c.releaseCtxErr = ctx.Err()
	return c.Memory.Release(ctx, keys)
}

func TestQueuedAlertContents(t *testing.T) {
	at := time.Date(2025, 6, 12, 9, 42, 0, 0, time.UTC)
	e := newEnv(t, 10, Options{Now: func() time.Time { return at }})
	if w := e.post(t, readTestdata(t, "truncated_alerts.json")); w.Code != 200 {
		t.Fatalf("code %d", w.Code)
	}
	got := e.drain()
	if len(got) != 2 {
		t.Fatalf("queued %d", len(got))
	}
	for _, a := range got {
		if a.Receiver != "remediator-critical" || a.GroupKey != `{}/{severity="critical"}:{alertname="PodCrashLooping"}` ||
			!a.ReceivedAt.Equal(at) || a.Name() != "PodCrashLooping" || a.Labels["namespace"] != "shop" {
			t.Errorf("queued alert %+v", a)
		}
	}
}

// logRecords parses JSON log lines by level.
func logRecords(t *testing.T, logs string) map[string][]map[string]any {
	t.Helper()
	out := map[string][]map[string]any{}
	for line := range strings.Lines(logs) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		lvl := rec["level"].(string)
		out[lvl] = append(out[lvl], rec)
	}
	return out
}

// syncBuffer is a bytes.Buffer safe for the summary's timer goroutine.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// waitForLog polls logs until cond holds of its records (the summary is
// written by a timer), failing after a generous deadline.
func waitForLog(t *testing.T, logs *syncBuffer, cond func(map[string][]map[string]any) bool) map[string][]map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		recs := logRecords(t, logs.String())
		if cond(recs) {
			return recs
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never got there:\n%s", logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestLogging(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, 10, Options{
		Auth:              alertsAuth(t, "do-not-log-me", "", ""),
		Logger:            slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		RejectLogInterval: 50 * time.Millisecond,
	})
	body := readTestdata(t, "firing_high_cpu.json")
	e.post(t, body, bearerHeader("do-not-log-me"))
	e.post(t, body, bearerHeader("do-not-log-me-either"))
	e.post(t, []byte("{"), bearerHeader("do-not-log-me"))

	recs := waitForLog(t, &logs, func(r map[string][]map[string]any) bool { return len(r["WARN"]) > 0 })
	debug, warn := recs["DEBUG"], recs["WARN"]
	if len(debug) != 3 || debug[0]["fingerprint"] != "a3f1c92be04d7715" || debug[0]["alertname"] != "HighCPUUsage" || debug[0]["status"] != "firing" {
		t.Errorf("debug logs %v", debug)
	}
	if len(debug) == 3 && (debug[1]["reason"] != "authentication required" || !strings.Contains(debug[2]["reason"].(string), "malformed JSON")) {
		t.Errorf("per-request detail at debug level: %v", debug[1:])
	}
	want := map[string]any{"Unauthorized: authentication required": 1.0, "Bad Request: invalid notification": 1.0}
	if len(warn) != 1 || warn[0]["total"] != 2.0 || !reflectDeepEqual(warn[0]["by_reason"], want) {
		t.Errorf("warn logs %v, want one summary of %v", warn, want)
	}
	if strings.Contains(logs.String(), "do-not-log-me") {
		t.Error("a credential was logged")
	}
}

// Finding 6 of issue 12: 5 s of overload wrote 27,270 WARN lines, one per
// rejected request. Now 1,000 refusals of three kinds make one warning that
// counts them by reason; the detail is at debug level.
func TestOverloadLogIsSummarised(t *testing.T) {
	var logs syncBuffer
	e := newEnv(t, 10, Options{
		Logger:            slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo})),
		RejectLogInterval: 200 * time.Millisecond,
	})
	for i := range 1000 {
		switch i % 3 {
		case 0:
			e.post(t, nil, func(r *http.Request) { r.Method = http.MethodPut })
		case 1:
			e.post(t, []byte("{"))
		default:
			e.post(t, mutateJSON(t, readTestdata(t, "firing_high_cpu.json"), func(m map[string]any) { firstAlert(m)["fingerprint"] = "x" }))
		}
	}
	recs := waitForLog(t, &logs, func(r map[string][]map[string]any) bool {
		total := 0.0
		for _, w := range r["WARN"] {
			if n, ok := w["total"].(float64); ok {
				total += n
			}
		}
		return total >= 1000
	})
	// One summary per interval (the loop may straddle a few intervals), and
	// one warning the first time an alert was refused for its fingerprint.
	if n := len(recs["WARN"]); n > 12 {
		t.Errorf("%d warnings for 1,000 refusals, want a few summaries", n)
	}
	firstReject := 0
	for _, w := range recs["WARN"] {
		if w["field"] == FieldFingerprint {
			firstReject++
		}
	}
	if firstReject != 1 {
		t.Errorf("%d warnings naming the fingerprint field, want exactly 1 (the first)", firstReject)
	}
}

// Finding 1 of issue 12: remediator_alerts_received_total was labelled by
// alertname and counted before validation: 200 notifications of 2,000
// unique alertnames made /metrics 32 MB. Now it is labelled by the runbook
// the alert matches, a set the config bounds.
func TestReceivedMetricIsLabelledByRunbook(t *testing.T) {
	e := newEnv(t, 10_000, Options{
		Runbook: func(ls map[string]string) string {
			if ls["alertname"] == "HighCPUUsage" {
				return "HighCPUUsage"
			}
			return ""
		},
		Runbooks:     []string{"HighCPUUsage", "HighMemoryUsage"},
		MaxBodyBytes: 8 << 20, MaxInflightBytes: 8 << 20, MaxAlertsPerNotification: 10_000,
	})
	// Series exist at zero from the start, for every runbook.
	if n := testutil.CollectAndCount(e.m.received); n != 6 {
		t.Errorf("%d received series before any alert, want 6 (3 runbooks incl. \"\" x 2 statuses)", n)
	}
	for n := range 5 {
		alerts := make([]template.Alert, 1000)
		for i := range alerts {
			alerts[i] = testAlert(fmt.Sprintf("%08x%08x", n, i))
			alerts[i].Labels = template.KV{"alertname": fmt.Sprintf("Unique%d_%d", n, i)}
		}
		if w := e.post(t, encodeMessage(t, alerts...)); w.Code != 200 {
			t.Fatalf("code %d: %s", w.Code, w.Body)
		}
	}
	e.post(t, readTestdata(t, "firing_high_cpu.json"))
	// Positive control: the matching alert is counted under its runbook.
	if got := testutil.ToFloat64(e.m.received.WithLabelValues("HighCPUUsage", "firing")); got != 1 {
		t.Errorf("received{runbook=HighCPUUsage} = %v, want 1", got)
	}
	if got := testutil.ToFloat64(e.m.received.WithLabelValues("", "firing")); got != 5000 {
		t.Errorf("received{runbook=\"\"} = %v, want 5000", got)
	}
	if n := testutil.CollectAndCount(e.m.received); n != 6 {
		t.Errorf("%d received series after 5,000 unique alertnames, want still 6", n)
	}
	// An invalid alert is counted as rejected, by field, not as received.
	e.post(t, mutateJSON(t, readTestdata(t, "firing_high_cpu.json"), func(m map[string]any) { firstAlert(m)["fingerprint"] = strings.Repeat("f", 900) }))
	if got := testutil.ToFloat64(e.m.received.WithLabelValues("HighCPUUsage", "firing")); got != 1 {
		t.Errorf("received{runbook=HighCPUUsage} = %v after an invalid alert, want still 1", got)
	}
	if got := testutil.ToFloat64(e.m.rejected.WithLabelValues(FieldFingerprint)); got != 1 {
		t.Errorf("rejected{field=fingerprint} = %v, want 1", got)
	}
}

// Finding 3 of issue 12: nothing bounded the bodies being decoded at once
// (100 concurrent 0.9 MB notifications: 721 MiB). Now a request that would
// pass max_inflight_bytes is answered 503 before its body is read.
func TestInflightBytesBound(t *testing.T) {
	e := newEnv(t, 10, Options{MaxBodyBytes: 4096, MaxInflightBytes: 8192})
	body := readTestdata(t, "firing_high_cpu.json")
	// Two slow senders hold the whole budget: their bodies are not sent yet.
	// Each is started once the one before has begun reading its body,
	// which the handler does only after taking its share.
	type slow struct {
		pw   *io.PipeWriter
		done chan int
	}
	var senders []slow
	for range 2 {
		pr, pw := io.Pipe()
		started := make(chan struct{})
		r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", &startedReader{r: pr, started: started})
		r.ContentLength = 4096
		s := slow{pw: pw, done: make(chan int, 1)}
		go func() {
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			s.done <- w.Code
		}()
		select {
		case <-started:
		case code := <-s.done:
			t.Fatalf("slow sender answered %d before reading its body", code)
		}
		senders = append(senders, s)
	}
	// A third request is refused without its body being read.
	wr := &watchedReader{r: bytes.NewReader(body)}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", wr)
	r.ContentLength = int64(len(body))
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, r)
	want503(t, w, "too many notifications being read at once")
	if wr.read {
		t.Error("the body of a refused request was read")
	}
	// Positive control: once the slow bodies arrive, the budget is free again.
	for _, s := range senders {
		padded := append(append([]byte(nil), body...), bytes.Repeat([]byte(" "), 4096-len(body))...)
		go func() { _, _ = s.pw.Write(padded); _ = s.pw.Close() }()
		if code := <-s.done; code != 200 {
			t.Fatalf("slow sender: %d", code)
		}
	}
	if w := e.post(t, body); w.Code != 200 {
		t.Fatalf("after the slow senders: %d %s", w.Code, w.Body)
	}
}

// startedReader closes started on its first Read.
type startedReader struct {
	r       io.Reader
	started chan struct{}
	once    sync.Once
}

func (s *startedReader) Read(p []byte) (int, error) {
	s.once.Do(func() { close(s.started) })
	return s.r.Read(p)
}

// watchedReader records whether it was read.
type watchedReader struct {
	r    io.Reader
	read bool
}

func (w *watchedReader) Read(p []byte) (int, error) {
	w.read = true
	return w.r.Read(p)
}

// Finding 2 of issue 12: the queue was bounded by count only (720 alerts of
// 40,000 labels each: 5.3 GB). Now it also holds at most queue_max_bytes:
// large alerts fill it long before queue_size.
func TestQueueBytesBound(t *testing.T) {
	const maxBytes = 256 << 10
	q := queue.NewSized(1000, maxBytes, alert.Size)
	h := New(q, state.NewMemory(nil), Options{})
	big := func(i int) []byte {
		a := testAlert(fmt.Sprintf("%016x", i+1))
		for j := range 60 {
			a.Labels[fmt.Sprintf("l%02d", j)] = strings.Repeat("v", 2000)
		}
		return encodeMessage(t, a)
	}
	accepted := 0
	for i := range 1000 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(big(i))))
		if w.Code == 503 {
			break
		}
		accepted++
	}
	if q.Bytes() > maxBytes || accepted >= 1000 || accepted == 0 {
		t.Fatalf("queue holds %d bytes in %d alerts; want at most %d bytes", q.Bytes(), accepted, maxBytes)
	}
	// What is queued is counted for at least its labels' size.
	if per := q.Bytes() / int64(accepted); per < 120_000 {
		t.Errorf("an alert with 120 kB of labels counted as %d bytes", per)
	}
	// Positive control: a worker frees room, and the next alert is taken.
	<-q.C()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", bytes.NewReader(big(5000))))
	if w.Code != 200 {
		t.Fatalf("after a worker took one: %d %s", w.Code, w.Body)
	}
}

func TestMetricsRegistration(t *testing.T) {
	e := newEnv(t, 10, Options{})
	e.post(t, readTestdata(t, "multi_alert_group.json"))
	e.post(t, readTestdata(t, "firing_high_cpu.json"))
	e.post(t, []byte("nope"))

	want := `
# HELP remediator_alerts_duplicates_total Alerts dropped because the same notification of the same alert was already accepted.
# TYPE remediator_alerts_duplicates_total counter
remediator_alerts_duplicates_total 1
# HELP remediator_alerts_received_total Valid alerts received, duplicates included, by the runbook they match ("" for none) and status.
# TYPE remediator_alerts_received_total counter
remediator_alerts_received_total{runbook="",status="firing"} 3
remediator_alerts_received_total{runbook="",status="resolved"} 1
# HELP remediator_queue_rejected_total New alerts refused because the queue was full (in alerts or bytes), or closed at shutdown (Alertmanager retries them).
# TYPE remediator_queue_rejected_total counter
remediator_queue_rejected_total 0
# HELP remediator_webhook_requests_total Webhook requests by HTTP response code.
# TYPE remediator_webhook_requests_total counter
remediator_webhook_requests_total{code="200"} 2
remediator_webhook_requests_total{code="400"} 1
`
	if err := testutil.GatherAndCompare(e.reg, strings.NewReader(want),
		"remediator_alerts_duplicates_total", "remediator_alerts_received_total",
		"remediator_queue_rejected_total", "remediator_webhook_requests_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(e.reg, "remediator_webhook_request_duration_seconds"); err != nil || n != 1 {
		t.Errorf("duration histogram: %d series, %v", n, err)
	}

	// Unregistered metrics (nil Registerer, nil Options.Metrics) still work.
	h := New(queue.New[alert.Alert](1), state.NewMemory(nil), Options{})
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", bytes.NewReader(readTestdata(t, "firing_high_cpu.json"))))
	if w.Code != 200 {
		t.Errorf("code %d", w.Code)
	}
}

// discardWriter is a minimal http.ResponseWriter so that the benchmark
// measures the handler rather than httptest.ResponseRecorder.
type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(code int)        { d.code = code }

func BenchmarkServeHTTP(b *testing.B) {
	auth := alertsAuth(b, "s3cr3t-token", "alertmanager", "pa55word")
	for _, n := range []int{1, 10} {
		b.Run("alerts="+strconv.Itoa(n), func(b *testing.B) {
			e := newEnv(b, 1024, Options{Auth: auth})
			body, offsets := benchPayload(b, n)
			rd := bytes.NewReader(body)
			r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", rd)
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer s3cr3t-token")
			w := &discardWriter{h: make(http.Header)}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			var i uint32
			for b.Loop() {
				i++
				stampFingerprints(body, offsets, i)
				rd.Reset(body)
				r.Body = io.NopCloser(rd)
				clear(w.h)
				e.h.ServeHTTP(w, r)
				if w.code != http.StatusOK {
					b.Fatalf("code %d", w.code)
				}
				for range n {
					<-e.q.C()
				}
			}
			if got := testutil.ToFloat64(e.m.duplicates); got != 0 {
				b.Fatalf("%v duplicates: dedupe keys were not unique", got)
			}
		})
	}
}

// Past capacity the receiver sheds without reading the body, so that an
// overload costs no memory per refused request (issue 12, finding 3's
// storm was all 503s that were decoded first).
func TestFullQueueShedsBeforeReading(t *testing.T) {
	e := newEnv(t, 1, Options{})
	body := readTestdata(t, "firing_high_cpu.json")
	if w := e.post(t, encodeMessage(t, testAlert("d000000000000001"))); w.Code != 200 {
		t.Fatalf("filling the queue: %d", w.Code)
	}
	wr := &watchedReader{r: bytes.NewReader(body)}
	w := httptest.NewRecorder()
	e.h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/api/v1/alerts", wr))
	want503(t, w, "queue full")
	if wr.read {
		t.Error("the body was read although the queue was full")
	}
	// queue_rejected_total counts alerts; an unread request has none to
	// count, and shows as a 503 only.
	if got := testutil.ToFloat64(e.m.queueRejected); got != 0 {
		t.Errorf("queue_rejected_total = %v after a request shed unread, want 0", got)
	}
	if got := testutil.ToFloat64(e.m.requests.WithLabelValues("503")); got != 1 {
		t.Errorf("webhook_requests_total{code=503} = %v, want 1", got)
	}
	// Positive control: with room again, the same notification is taken.
	e.drain()
	if w := e.post(t, body); w.Code != 200 {
		t.Fatalf("after draining: %d %s", w.Code, w.Body)
	}
}
