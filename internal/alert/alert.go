// Package alert holds the unit of work that flows from the receiver to the
// dispatcher: one Alertmanager alert plus the notification it arrived in.
package alert

import (
	"time"

	"github.com/prometheus/alertmanager/template"
)

// Alert statuses as Alertmanager sends them.
const (
	StatusFiring   = "firing"
	StatusResolved = "resolved"
)

// Alert is one alert of a webhook notification, queued for processing.
type Alert struct {
	template.Alert

	// Receiver and GroupKey identify the notification the alert came in.
	Receiver string `json:"receiver"`
	GroupKey string `json:"groupKey"`
	// ReceivedAt is when the receiver accepted the notification.
	ReceivedAt time.Time `json:"receivedAt"`
}

// Name is the alert's alertname label.
func (a Alert) Name() string { return a.Labels["alertname"] }

// Firing reports whether the alert is firing (as opposed to resolved).
func (a Alert) Firing() bool { return a.Status == StatusFiring }

// Key identifies one notification of one alert. Alertmanager re-sends whole
// groups every group_interval; a key seen before is a duplicate. The status is
// part of the key so that the resolution of an alert is never mistaken for a
// duplicate of its firing notification.
func Key(a template.Alert) string {
	// RFC 3339 rather than UnixNano, which overflows outside 1678-2262 and
	// would give two start times one key.
	return a.Fingerprint + "/" + a.StartsAt.UTC().Format(time.RFC3339Nano) + "/" + a.Status
}

// Per-item overheads of Size: an Alert struct with its times and string
// headers, and a map entry (bucket slot, two string headers, hash bits).
// Approximations of the runtime's layout, rounded up.
const (
	alertOverhead    = 512
	mapEntryOverhead = 64
)

// Size estimates the memory a queued alert holds, in bytes: what the queue's
// byte bound counts. It errs on the large side; the strings shared by the
// alerts of one notification (receiver, group key) are counted for each.
func Size(a Alert) int64 {
	n := alertOverhead + len(a.Fingerprint) + len(a.Status) + len(a.GeneratorURL) + len(a.Receiver) + len(a.GroupKey)
	for k, v := range a.Labels {
		n += mapEntryOverhead + len(k) + len(v)
	}
	for k, v := range a.Annotations {
		n += mapEntryOverhead + len(k) + len(v)
	}
	return int64(n)
}
