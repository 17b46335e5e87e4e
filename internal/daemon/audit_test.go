package daemon_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/dispatch"
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
