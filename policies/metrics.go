package policies

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	evaluations  *prometheus.CounterVec
	duration     prometheus.Histogram
	reloads      *prometheus.CounterVec
	lastReloadOK prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		evaluations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_policy_evaluations_total",
			Help: "Policy evaluations by result: allow, deny, error or undefined (errors and undefined deny).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "remediator_policy_evaluation_duration_seconds",
			Help:    "Time to evaluate one policy decision.",
			Buckets: []float64{10e-6, 25e-6, 50e-6, 100e-6, 250e-6, 500e-6, 1e-3, 5e-3, 25e-3},
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "remediator_policy_reloads_total",
			Help: "Policy loads by result: success, or failure (the previous policy stays in force).",
		}, []string{"result"}),
		lastReloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "remediator_policy_last_reload_successful",
			Help: "1 if the last policy (re)load succeeded, 0 if it was refused.",
		}),
	}
	for _, r := range []string{"allow", "deny", "error", "undefined"} {
		m.evaluations.WithLabelValues(r)
	}
	for _, r := range []string{"success", "failure"} {
		m.reloads.WithLabelValues(r)
	}
	if reg != nil {
		reg.MustRegister(m.evaluations, m.duration, m.reloads, m.lastReloadOK)
	}
	return m
}
