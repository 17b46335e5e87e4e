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

	incidentsOpened    *prometheus.CounterVec
	incidentsClosed    *prometheus.CounterVec
	incidentsEscalated *prometheus.CounterVec
	timeToResolve      *prometheus.HistogramVec
	releases           *prometheus.CounterVec
}

// NewMetrics creates the metrics and registers them with reg (if not nil).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		processed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_alerts_processed_total",
			Help: "Alerts processed, by runbook and outcome (planned, executed, failed, denied, dropped, resolved, no_runbook, invalid_target, incident_open, incident_closed).",
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
		incidentsOpened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_incidents_opened_total",
			Help: "Incidents opened: first firing notifications of an alert (fingerprint and startsAt).",
		}, []string{"runbook"}),
		incidentsClosed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_incidents_closed_total",
			Help: "Incidents closed by their alert's resolution.",
		}, []string{"runbook"}),
		incidentsEscalated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_incidents_escalated_total",
			Help: "Escalations: an alert still firing past its runbook's escalate_after moved on to the next option.",
		}, []string{"runbook"}),
		timeToResolve: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "remediator_incident_time_to_resolve_seconds",
			Help: "Time from an incident's first firing notification to its resolution, on the state store's clock.",
			// 30 s to about 17 h.
			Buckets: prometheus.ExponentialBuckets(30, 2, 12),
		}, []string{"runbook"}),
		releases: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_state_failure_releases_total",
			Help: "Notifications not handled because the state store failed, whose dedupe key (and incident) was released so a re-send is processed, by result (released, abandoned: shut down first).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(m.processed, m.decisions, m.actions, m.actionDuration, m.rateLimited, m.cooledDown, m.circuitOpen, m.investigations,
			m.incidentsOpened, m.incidentsClosed, m.incidentsEscalated, m.timeToResolve, m.releases)
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
