package audit_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
)

func TestParseQuery(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		query   string
		want    audit.Filter
		wantErr string
	}{
		{"", audit.Filter{}, ""},
		{"alertname=HighCPUUsage&runbook=R&target=order-service&action=kubernetes.scale&result=executed&limit=10",
			audit.Filter{Alertname: "HighCPUUsage", Runbook: "R", Target: "order-service", Action: "kubernetes.scale", Result: "executed", Limit: 10}, ""},
		{"since=24h", audit.Filter{Since: now.Add(-24 * time.Hour)}, ""},
		{"since=2026-02-01T00:00:00Z&until=2026-02-02T00:00:00Z", audit.Filter{Since: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), Until: time.Date(2026, 2, 2, 0, 0, 0, 0, time.UTC)}, ""},
		{"result=interrupted", audit.Filter{Result: "interrupted"}, ""},
		{"result=dropped", audit.Filter{Result: "dropped"}, ""},
		{"limit=0", audit.Filter{}, "limit"},
		{"limit=1001", audit.Filter{}, "limit"},
		{"limit=ten", audit.Filter{}, "limit"},
		{"result=exploded", audit.Filter{}, "result"},
		{"since=yesterday", audit.Filter{}, "since"},
		{"since=-1h", audit.Filter{}, "since"},
		{"since=1h&until=2h", audit.Filter{}, "until must be after since"},
		{"cursor=%21%21", audit.Filter{}, "cursor"},
		{"alertname=a&alertname=b", audit.Filter{}, "2 times"},
		{"alert=X", audit.Filter{}, "unknown parameter"},
		{"target=" + strings.Repeat("x", 600), audit.Filter{}, "too long"},
	}
	for _, tc := range tests {
		t.Run(tc.query, func(t *testing.T) {
			q, err := url.ParseQuery(tc.query)
			if err != nil {
				t.Fatal(err)
			}
			got, err := audit.ParseQuery(q, now)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one mentioning %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Alertname != tc.want.Alertname || got.Runbook != tc.want.Runbook || got.Target != tc.want.Target ||
				got.Action != tc.want.Action || got.Result != tc.want.Result || got.Limit != tc.want.Limit ||
				!got.Since.Equal(tc.want.Since) || !got.Until.Equal(tc.want.Until) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

// FuzzParseQuery: any query string is either rejected or gives a filter
// that validates, with its limit in range; nothing panics.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5&cursor=MTIzL2Fi", "since=24h&until=1h", "result=failed&target=%00", "since=9999999999h",
		"since=0001-01-01T00:00:00Z", "cursor=LTEvYWI", "limit=-1", "a=1&a=2"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		got, err := audit.ParseQuery(q, now)
		if err != nil {
			return
		}
		if err := got.Validate(); err != nil {
			t.Fatalf("accepted %q into a filter that does not validate: %v", raw, err)
		}
		if got.Limit < 0 || got.Limit > audit.MaxLimit {
			t.Fatalf("limit %d accepted", got.Limit)
		}
	})
}
