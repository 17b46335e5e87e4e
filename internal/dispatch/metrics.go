package dispatch

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the dispatcher's Prometheus metrics.
type Metrics struct {
	processed      *prometheus.CounterVec
	decisions      *prometheus.CounterVec
	actions        *prometheus.CounterVec
	actionDuration *prometheus.HistogramVec
	rateLimited    *prometheus.CounterVec
	cooledDown     *prometheus.CounterVec
	circuitOpen    *prometheus.CounterVec
	investigations *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_alerts_processed_total",
			Help: "Alerts processed, by runbook and outcome (planned, executed, failed, denied, resolved, no_runbook, invalid_target).",
		}, []string{"runbook", "outcome"}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_decisions_total",
			Help: "Policy decisions on candidate actions, by action and whether it was allowed.",
		}, []string{"action", "allowed"}),
		actions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_actions_total",
			Help: "Resolutions run, by action and result (success, failure, dry_run).",
		}, []string{"action", "result"}),
		actionDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "remediator_action_duration_seconds",
			Help:    "Time a resolution took, planning included.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}, []string{"action"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_rate_limited_total",
			Help: "Candidate actions denied by a per-target or global rate limit.",
		}, []string{"action"}),
		cooledDown: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_cooled_down_total",
			Help: "Candidate actions denied because the target is in its cooldown.",
		}, []string{"action"}),
		circuitOpen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_circuit_open_total",
			Help: "Candidate actions denied because their circuit is open: too many consecutive failures on the target, not yet retried.",
		}, []string{"action"}),
		investigations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_investigations_total",
			Help: "Investigations run, by action and result (success, failure, dry_run).",
		}, []string{"action", "result"}),
	}
	if reg != nil {
		reg.MustRegister(m.processed, m.decisions, m.actions, m.actionDuration, m.rateLimited, m.cooledDown, m.circuitOpen, m.investigations)
	}
	return m
}

func (m *Metrics) observeDenialCodes(action string, codes []string) {
	if slices.Contains(codes, "rate_limit_target") || slices.Contains(codes, "rate_limit_global") {
		m.rateLimited.WithLabelValues(action).Inc()
	}
	if slices.Contains(codes, "cooldown") {
		m.cooledDown.WithLabelValues(action).Inc()
	}
	if slices.Contains(codes, "circuit_open") {
		m.circuitOpen.WithLabelValues(action).Inc()
	}
}
