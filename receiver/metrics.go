package receiver

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the receiver's Prometheus metrics. Create them with NewMetrics;
// one Metrics may serve several Handlers.
type Metrics struct {
	received      *prometheus.CounterVec
	duplicates    prometheus.Counter
	requests      *prometheus.CounterVec
	queueRejected prometheus.Counter
	duration      prometheus.Histogram
}

// NewMetrics creates the receiver's metrics and registers them with reg. A nil
// reg leaves them unregistered (for tests, or when metrics are not exported).
// It panics if registration fails, as prometheus.MustRegister does: that is a
// programming error such as registering twice.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_alerts_received_total",
			Help: "Alerts received in valid webhook notifications, duplicates included.",
		}, []string{"alertname", "status"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_alerts_duplicates_total",
			Help: "Alerts dropped because the same notification of the same alert was already accepted.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_webhook_requests_total",
			Help: "Webhook requests by HTTP response code.",
		}, []string{"code"}),
		queueRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_queue_rejected_total",
			Help: "New alerts refused because the queue was full, or closed at shutdown (Alertmanager retries them).",
		}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "remediator_webhook_request_duration_seconds",
			Help: "Time to answer a webhook request.",
			// The handler only decodes and enqueues, so most requests take well
			// under a millisecond; the upper buckets are for a slow shared
			// dedupe store or a slow client body.
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9), // 100µs .. ~6.5s
		}),
	}
	if reg != nil {
		reg.MustRegister(m.received, m.duplicates, m.requests, m.queueRejected, m.duration)
	}
	return m
}
