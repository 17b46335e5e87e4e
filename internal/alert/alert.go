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
