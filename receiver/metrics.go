package receiver

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the receiver's Prometheus metrics. Create them with NewMetrics;
// one Metrics may serve several Handlers. Every label comes from a bounded
// set (runbook names from the config, status, a fixed list of fields, HTTP
// codes), never from what a sender puts in an alert: /metrics stays small
// whatever senders do.
type Metrics struct {
	received      *prometheus.CounterVec
	rejected      *prometheus.CounterVec
	duplicates    prometheus.Counter
	deferred      prometheus.Counter
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
			Help: "Valid alerts received, duplicates included, by the runbook they match (\"\" for none) and status.",
		}, []string{"runbook", "status"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_alerts_rejected_total",
			Help: "Alerts of valid notifications refused on their own (listed under rejected in the response), by the field at fault.",
		}, []string{"field"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_alerts_duplicates_total",
			Help: "Alerts dropped because the same notification of the same alert was already accepted.",
		}),
		deferred: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_alerts_deferred_total",
			Help: "New alerts not taken (queue full or closed, max_alerts_per_notification) and answered 503, so that Alertmanager's retry brings them back.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_webhook_requests_total",
			Help: "Webhook requests by HTTP response code.",
		}, []string{"code"}),
		queueRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_queue_rejected_total",
			Help: "New alerts refused because the queue was full (in alerts or bytes), or closed at shutdown (Alertmanager retries them).",
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
		reg.MustRegister(m.received, m.rejected, m.duplicates, m.deferred, m.requests, m.queueRejected, m.duration)
	}
	return m
}

// init creates the series of the known label sets at zero, so that rates
// and dashboards see them before the first alert.
func (m *Metrics) init(runbooks []string) {
	for _, rb := range append([]string{""}, runbooks...) {
		for _, st := range []string{"firing", "resolved"} {
			m.received.WithLabelValues(rb, st)
		}
	}
	for _, f := range RejectFields {
		m.rejected.WithLabelValues(f)
	}
}
