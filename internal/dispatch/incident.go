package dispatch

import (
	"context"
	"log/slog"
	"time"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/runbook"
)

// Incidents. An alert's firing notifications and its resolution are one
// incident, kept in the state store under IncidentKey, so that every replica
// sharing the store sees the same incident:
//
//   - the first firing notification opens it and walks the runbook's options
//     as always;
//   - a re-sent firing notification of an open incident acts on nothing,
//     unless the runbook has escalate_after and that long has passed since
//     the incident's last step: then the options after the last one taken
//     are walked, once per step (the store moves the step atomically, so of
//     several replicas handling re-sends at once one escalates);
//   - the resolution closes it and observes the time to resolve.
//
// Escalation is triggered by re-sent firing notifications, not by a timer:
// a re-send is Alertmanager saying the alert still fires, whereas a timer
// would act on an incident whose resolution was merely lost. The receiver
// therefore remembers firing notifications only briefly
// (receiver.firing_dedupe_ttl), so that Alertmanager's re-sends (every
// repeat_interval, or group_interval when the group changes) reach this
// code; set repeat_interval no longer than escalate_after for escalation to
// happen on time. Nothing here lives in the process, so a restart (with the
// Redis store) changes nothing.

// IncidentKey identifies the incident of an alert: its fingerprint and
// startsAt, which Alertmanager keeps for every notification of one firing,
// resolution included (alert.Key without the status).
func IncidentKey(a alert.Alert) string {
	return a.Fingerprint + "/" + a.StartsAt.UTC().Format(time.RFC3339Nano)
}

// Outcome statuses of notifications that belong to an existing incident.
const (
	// StatusIncidentOpen: a re-sent firing notification of an open incident,
	// with no escalation due: nothing done.
	StatusIncidentOpen = "incident_open"
	// StatusIncidentClosed: a firing notification of an incident already
	// resolved (delivered late): nothing done.
	StatusIncidentClosed = "incident_closed"
)

// incidentRun is what Process needs of the incident while walking options.
type incidentRun struct {
	key string
	// skip is the number of options not to consider: those up to the one
	// last taken, when escalating.
	skip int
}

// openIncident opens the alert's incident or, for a re-send, decides whether
// it escalates. act is false when the alert is done with (out says why).
func (p *Processor) openIncident(ctx context.Context, log *slog.Logger, rb *runbook.Runbook, a alert.Alert, out *Outcome) (run incidentRun, act bool) {
	run.key = IncidentKey(a)
	inc, opened, err := p.State.OpenIncident(ctx, run.key, rb.Name)
	if err != nil {
		p.failedOnState(ctx, log, out, "opening the incident", err)
		return run, false
	}
	if opened {
		p.Metrics.incidentsOpened.WithLabelValues(rb.Name).Inc()
		out.opened = run.key
		log.Info("incident opened")
		return run, true
	}
	age := inc.Now.Sub(inc.OpenedAt).Round(time.Second)
	if !inc.Open() {
		out.Status = StatusIncidentClosed
		log.Info("firing notification of a closed incident (its resolution came first), not acting", "incident_age", age)
		return run, false
	}
	if inc.Option == 0 {
		// Nothing was taken yet (every option denied, or one that could not
		// be decided): the alert still fires, so its options are
		// considered again, under the same policy, cooldowns and limits.
		log.Info("re-sent notification of an open incident on which no option was taken yet: considering its options again", "incident_age", age)
		return run, true
	}
	if rb.EscalateAfter <= 0 {
		out.Status = StatusIncidentOpen
		log.Info("re-sent notification of open incident, not acting", "incident_age", age, "escalate_after", "never")
		return run, false
	}
	if inc.Option >= len(rb.Resolve) {
		out.Status = StatusIncidentOpen
		log.Warn("re-sent notification of open incident, not acting: its last option was taken, nothing left to escalate to",
			"incident_age", age, "last_option", inc.Option)
		return run, false
	}
	from := inc.Step
	inc, ok, err := p.State.EscalateIncident(ctx, run.key, from, rb.EscalateAfter)
	if err != nil {
		p.failedOnState(ctx, log, out, "escalating the incident", err)
		return run, false
	}
	if !ok {
		out.Status = StatusIncidentOpen
		attrs := []any{"incident_age", age, "escalations", inc.Step}
		if inc.Step == from {
			attrs = append(attrs, "escalation_due_in", inc.SteppedAt.Add(rb.EscalateAfter).Sub(inc.Now).Round(time.Second))
		}
		log.Info("re-sent notification of open incident, not acting", attrs...)
		return run, false
	}
	p.Metrics.incidentsEscalated.WithLabelValues(rb.Name).Inc()
	out.Escalation = inc.Step
	run.skip = inc.Option
	log.Warn("alert still firing past escalate_after: escalating to the options after the last one taken",
		"incident_age", age, "escalate_after", rb.EscalateAfter, "escalation", inc.Step, "last_option", inc.Option)
	return run, true
}

// tookOption records in the incident the option taken, so that an escalation
// starts after it.
func (p *Processor) tookOption(ctx context.Context, log *slog.Logger, run incidentRun, out *Outcome) {
	if out.Chosen == 0 {
		if out.Status == StatusDenied && stateFailed(out.Options) {
			// Nothing was decided: the store failed under the options.
			out.stateFailed = true
		}
		return
	}
	// Detached: the action ran, its record must not be lost to a shutdown.
	if err := p.State.TookOption(context.WithoutCancel(ctx), run.key, out.Chosen); err != nil {
		log.Error("recording the option taken in the incident failed; an escalation would consider it again", "option", out.Chosen, "err", err)
	}
}

// closeIncident closes the alert's incident on its resolution.
func (p *Processor) closeIncident(ctx context.Context, log *slog.Logger, rb *runbook.Runbook, a alert.Alert, out *Outcome) {
	inc, closed, err := p.State.CloseIncident(ctx, IncidentKey(a))
	switch {
	case err != nil && ctx.Err() != nil:
		p.dropped(ctx, log, out, "closing the incident")
	case err != nil:
		p.failedOnState(ctx, log, out, "closing the incident", err)
		out.Status = StatusResolved
	case !closed && inc.ClosedAt.IsZero():
		log.Info("alert resolved; no incident of it is known (its firing was not seen, or is forgotten)")
	case !closed:
		log.Info("alert resolved; its incident was already closed (a re-sent resolution)")
	default:
		ttr := inc.ClosedAt.Sub(inc.OpenedAt)
		p.Metrics.incidentsClosed.WithLabelValues(rb.Name).Inc()
		p.Metrics.timeToResolve.WithLabelValues(rb.Name).Observe(ttr.Seconds())
		log.Info("alert resolved; incident closed", "time_to_resolve", ttr.Round(time.Second), "escalations", inc.Step, "last_option", inc.Option)
	}
}

// failedOnState marks out as not handled because the state store failed:
// fail closed (nothing acts), and let the dispatcher make the notification
// processable again. A call that failed because ctx ended (a shutdown) was
// not the store's failure: the alert is dropped, not denied.
func (p *Processor) failedOnState(ctx context.Context, log *slog.Logger, out *Outcome, what string, err error) {
	if ctx.Err() != nil {
		p.dropped(ctx, log, out, what)
		return
	}
	out.Status = StatusDenied
	out.Error = what + ": " + err.Error()
	out.stateFailed = true
	log.Error("state store failed: not acting on the alert", "step", what, "err", err)
}

func stateFailed(opts []OptionOutcome) bool {
	for _, o := range opts {
		if o.stateFailed {
			return true
		}
	}
	return false
}
