package alert_test

import (
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/remediator/remediator/internal/alert"
)

func TestKey(t *testing.T) {
	base := template.Alert{Fingerprint: "f", Status: "firing", StartsAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	same := base
	same.StartsAt = base.StartsAt.In(time.FixedZone("CET", 3600)) // the same instant in another zone
	tests := []struct {
		name  string
		other func() template.Alert
		equal bool
	}{
		{"same instant in another zone", func() template.Alert { return same }, true},
		{"resolution of the same alert", func() template.Alert { a := base; a.Status = "resolved"; return a }, false},
		{"another start", func() template.Alert { a := base; a.StartsAt = a.StartsAt.Add(time.Nanosecond); return a }, false},
		{"another fingerprint", func() template.Alert { a := base; a.Fingerprint = "g"; return a }, false},
		// UnixNano overflows outside 1678-2262; these must still differ.
		{"far past vs far future", func() template.Alert { a := base; a.StartsAt = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC); return a }, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := alert.Key(base) == alert.Key(tc.other()); got != tc.equal {
				t.Fatalf("Key(%v) == Key(%v) is %v, want %v", base, tc.other(), got, tc.equal)
			}
		})
	}
	a := template.Alert{Fingerprint: "f", Status: "firing", StartsAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := a
	b.StartsAt = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)
	if alert.Key(a) == alert.Key(b) {
		t.Fatal("years 1 and 9999 share a key")
	}
}
