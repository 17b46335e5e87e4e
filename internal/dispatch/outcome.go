package dispatch

import (
	"time"

	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// Outcome statuses. They are part of `remediator eval -o json`'s stable output.
const (
	StatusNoRunbook     = "no_runbook"     // no runbook selects the alert
	StatusResolved      = "resolved"       // a resolved notification: never acts
	StatusInvalidTarget = "invalid_target" // the alert's labels do not name a target
	StatusPlanned       = "planned"        // an option was allowed and dry-run planned
	StatusExecuted      = "executed"       // an option was allowed and ran
	StatusFailed        = "failed"         // an option was allowed and failed
	StatusDenied        = "denied"         // policy allowed no option
	// StatusDropped: not processed, or cut short before any action ran, by
	// a shutdown; Error says why and where. Its dedupe key is released, so
	// a re-send is processed (by this replica after a restart, or another).
	StatusDropped = "dropped"
)

// AlertRef identifies the alert an outcome is about.
type AlertRef struct {
	Name        string            `json:"name"`
	Status      string            `json:"status"`
	Fingerprint string            `json:"fingerprint"`
	StartsAt    time.Time         `json:"startsAt"`
	Labels      map[string]string `json:"labels"`
}

// Outcome is everything the daemon did and decided for one alert.
type Outcome struct {
	Alert   AlertRef `json:"alert"`
	Runbook string   `json:"runbook,omitempty"`
	Status  string   `json:"status"`
	// Target is the runbook's target; options may act on their own.
	Target         *remediations.Target `json:"target,omitempty"`
	Investigations []StepOutcome        `json:"investigations"`
	Options        []OptionOutcome      `json:"options"`
	// Chosen is the 1-based number of the option taken, 0 if none.
	Chosen int `json:"chosen"`
	// Escalation is the incident's escalation step this notification took
	// (1 for the first), 0 when it did not escalate.
	Escalation int    `json:"escalation,omitempty"`
	Error      string `json:"error,omitempty"`

	// stateFailed: the state store failed before anything was decided, so
	// the notification was not handled (see Dispatcher.retryLater).
	stateFailed bool
	// interrupted: ctx ended (a shutdown) before any action ran, so the
	// notification was dropped (StatusDropped) and its dedupe key is to be
	// released.
	interrupted bool
	// opened is the key of the incident this notification opened.
	opened string
}

// StepOutcome is one investigation.
type StepOutcome struct {
	Action string               `json:"action"`
	Result *remediations.Result `json:"result,omitempty"`
	Error  string               `json:"error,omitempty"`
}

// OptionOutcome is one resolution option considered, in runbook order.
type OptionOutcome struct {
	// Option is the option's 1-based number in the runbook.
	Option int                 `json:"option"`
	Action string              `json:"action"`
	Target remediations.Target `json:"target"`
	// Params are the runbook's parameters rendered for this alert.
	Params remediations.Params `json:"params"`
	// Decision is nil when the option could not be evaluated (see Error).
	Decision *policies.Decision   `json:"decision,omitempty"`
	Result   *remediations.Result `json:"result,omitempty"`
	Error    string               `json:"error,omitempty"`
	// IntentID is the audit journal's id of the action run for this option
	// (absent without a journal, as in eval).
	IntentID string `json:"intentId,omitempty"`

	// stateFailed: the option was skipped because the state store failed
	// (lock or history), not by policy.
	stateFailed bool
	// interrupted: ctx ended while the option was being decided, before it
	// ran: it was not decided at all.
	interrupted bool
	// aborted: the option was neither decided against nor run (its target
	// could not be looked up, or its intent could not be recorded).
	aborted bool
}
