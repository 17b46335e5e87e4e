package daemon_test

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/httpauth"
	"github.com/remediator/remediator/internal/metricstest"
)

// TestRemediationsAPI: the history API behind the webhook's authentication,
// with filters, pagination, 404 and 400.
func TestRemediationsAPI(t *testing.T) {
	h := start(t, nil)
	for _, name := range []string{"high-cpu.json", "kube-system.json", "unknown-alert.json", "high-memory.json"} {
		if r := h.postFile(name); r.code != http.StatusOK {
			t.Fatalf("post %s: %d %v", name, r.code, r.body)
		}
	}
	waitFor(t, "4 records", func() bool {
		p, err := h.d.History().List(t.Context(), audit.Filter{})
		return err == nil && len(p.Items) == 4
	})
	getJSON := func(path string, auth bool, wantCode int, v any) {
		t.Helper()
		resp := h.get(path, auth)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantCode {
			t.Fatalf("GET %s: %d, want %d: %s", path, resp.StatusCode, wantCode, b)
		}
		if v != nil {
			if err := json.Unmarshal(b, v); err != nil {
				t.Fatalf("GET %s: not JSON: %v: %s", path, err, b)
			}
		}
	}
	t.Run("authentication required", func(t *testing.T) {
		for _, p := range []string{"/api/v1/remediations", "/api/v1/remediations/abc"} {
			resp := h.get(p, false)
			if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
				t.Errorf("GET %s without credentials: %d", p, resp.StatusCode)
			}
		}
	})
	t.Run("filters", func(t *testing.T) {
		for _, tc := range []struct {
			query string
			want  int
		}{
			{"", 4},
			{"?alertname=HighCPUUsage", 2},
			{"?runbook=HighCPUUsage&result=denied", 1},
			{"?result=no_runbook", 1},
			{"?action=kubernetes.scale", 1},
			{"?target=kube-system", 1},
			{"?since=1h", 4},
			{"?until=1h", 0},
		} {
			var page audit.Page
			getJSON("/api/v1/remediations"+tc.query, true, http.StatusOK, &page)
			if len(page.Items) != tc.want {
				t.Errorf("%s: %d records, want %d: %+v", tc.query, len(page.Items), tc.want, page.Items)
			}
		}
	})
	t.Run("pagination", func(t *testing.T) {
		seen := map[string]bool{}
		path := "/api/v1/remediations?limit=3"
		for pages := 0; ; pages++ {
			var page audit.Page
			getJSON(path, true, http.StatusOK, &page)
			for _, r := range page.Items {
				if seen[r.ID] {
					t.Fatalf("record %s twice", r.ID)
				}
				seen[r.ID] = true
			}
			if page.NextCursor == "" {
				break
			}
			path = "/api/v1/remediations?limit=3&cursor=" + page.NextCursor
		}
		if len(seen) != 4 {
			t.Fatalf("%d records over the pages, want 4", len(seen))
		}
	})
	t.Run("one record with evidence", func(t *testing.T) {
		var page audit.Page
		getJSON("/api/v1/remediations?alertname=HighCPUUsage&result=planned", true, http.StatusOK, &page)
		if len(page.Items) != 1 {
			t.Fatalf("%+v", page)
		}
		var d struct {
			audit.Record
			Outcome dispatch.Outcome `json:"outcome"`
			Actions []audit.Action   `json:"actions"`
		}
		getJSON("/api/v1/remediations/"+page.Items[0].ID, true, http.StatusOK, &d)
		if d.Outcome.Status != dispatch.StatusPlanned || len(d.Outcome.Options) == 0 || d.Outcome.Options[0].Decision == nil ||
			len(d.Actions) != 1 || d.Actions[0].State != audit.StateDryRun || d.Actions[0].ID != d.Outcome.Options[0].IntentID {
			t.Fatalf("record: %+v", d)
		}
	})
	t.Run("errors", func(t *testing.T) {
		var e map[string]string
		getJSON("/api/v1/remediations/0123456789abcdef", true, http.StatusNotFound, &e)
		getJSON("/api/v1/remediations/not-an-id", true, http.StatusNotFound, &e)
		for _, q := range []string{"limit=0", "result=boom", "since=soon", "cursor=xyz", "nope=1"} {
			e = nil
			getJSON("/api/v1/remediations?"+q, true, http.StatusBadRequest, &e)
			if e["status"] != "error" || e["error"] == "" {
				t.Errorf("%s: body %v", q, e)
			}
		}
		if resp := h.get("/api/v1/remediations", true); !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("content type %q", resp.Header.Get("Content-Type"))
		}
	})
}

// TestCredentialsByRole (finding 7): with an alerts and a read token, the
// alerts token (Alertmanager's) cannot read the history (pod logs, session
// users, client addresses) or /metrics, and the read token (Prometheus's,
// a person's) cannot post alerts; refusals of the webhook are counted.
// Positive controls: each token works for its role; server.metrics_auth:
// none opens /metrics and nothing else; with only the alerts token it reads
// (TestRemediationsAPI, TestEndToEnd).
func TestCredentialsByRole(t *testing.T) {
	const alertsTok, readTok = "alerts-token", "read-token"
	for _, metricsAuth := range []string{config.MetricsAuthRole, config.MetricsAuthNone} {
		t.Run("metrics_auth="+metricsAuth, func(t *testing.T) {
			logs := &syncBuffer{}
			opts := daemon.Options{
				Auth:   authWith(t, map[httpauth.Role]string{httpauth.Alerts: alertsTok, httpauth.Read: readTok}),
				Logger: slog.New(slog.NewJSONHandler(logs, nil)),
			}
			h := startWith(t, func(c *config.Config) { c.Server.MetricsAuth = metricsAuth }, opts, true)
			do := func(method, path, tok string) int {
				t.Helper()
				var body io.Reader
				if method == http.MethodPost {
					body = bytes.NewReader(sample(t, "high-cpu.json"))
				}
				req, _ := http.NewRequest(method, h.url+path, body)
				if tok != "" {
					req.Header.Set("Authorization", "Bearer "+tok)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				defer resp.Body.Close()
				_, _ = io.Copy(io.Discard, resp.Body)
				if resp.StatusCode == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
					t.Errorf("%s %s: 401 without a challenge", method, path)
				}
				return resp.StatusCode
			}
			metricsOpen := metricsAuth == config.MetricsAuthNone
			tests := []struct {
				method, path, tok string
				want              int
			}{
				{"POST", "/api/v1/alerts", alertsTok, 200},
				{"POST", "/api/v1/alerts", readTok, 403},
				{"POST", "/api/v1/alerts", "", 401},
				{"GET", "/api/v1/remediations", alertsTok, 403},
				{"GET", "/api/v1/remediations/0123456789abcdef01234567", alertsTok, 403},
				{"GET", "/api/v1/remediations", readTok, 200},
				{"GET", "/api/v1/remediations", "", 401},
				{"GET", "/metrics", alertsTok, map[bool]int{false: 403, true: 200}[metricsOpen]},
				{"GET", "/metrics", readTok, 200},
				{"GET", "/metrics", "", map[bool]int{false: 401, true: 200}[metricsOpen]},
				{"GET", "/healthz", "", 200},
			}
			for _, tc := range tests {
				if got := do(tc.method, tc.path, tc.tok); got != tc.want {
					t.Errorf("%s %s with %q: %d, want %d", tc.method, tc.path, tc.tok, got, tc.want)
				}
			}
			for code, want := range map[string]float64{"200": 1, "401": 1, "403": 1} {
				if got := metricstest.Gathered(t, h.d.Registry(), "remediator_webhook_requests_total", map[string]string{"code": code}); got != want {
					t.Errorf("remediator_webhook_requests_total{code=%q} = %v, want %v", code, got, want)
				}
			}
			if strings.Contains(logs.String(), "also reads") {
				t.Errorf("the daemon says the alerts credential reads although a read one is set:\n%s", logs.String())
			}
		})
	}
}

// TestAlertsOnlyCredentialSaysItReads: with only the alerts credential (the
// quick start's way) the daemon says once, at start, that it also reads.
func TestAlertsOnlyCredentialSaysItReads(t *testing.T) {
	logs := &syncBuffer{}
	h := startWith(t, nil, daemon.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil))}, true)
	if c := h.get("/api/v1/remediations", true).StatusCode; c != http.StatusOK {
		t.Fatalf("alerts token reading the history: %d", c)
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(logs.String(), "also reads"); n != 1 {
		t.Errorf("%d lines saying the alerts credential also reads, want 1:\n%s", n, logs.String())
	}
}
