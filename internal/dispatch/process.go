// Package dispatch turns queued alerts into remediations: it finds the
// runbook, builds the target, runs the investigations, and walks the
// resolution options in order, taking the first that policy allows.
package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// Decider is the policy engine as the processor uses it.
type Decider interface {
	Decide(ctx context.Context, in policies.Input) (policies.Decision, error)
}

// Processor decides and acts on one alert at a time. `serve` runs it in the
// dispatcher's workers; `eval` runs it directly with the dry-run executor, so
// both show the same decisions.
type Processor struct {
	Runbooks *runbook.Set
	Policy   Decider
	State    state.Store
	// Executor runs resolutions and investigations.
	Executor remediations.Executor
	// DryRun is passed to the policy as input.dry_run, unless Executor is a
	// Planner: then dry_run is true for the options it would only plan (and
	// DryRun still forces it true for all).
	DryRun bool
	// ActionTimeout bounds one action (default 2m).
	ActionTimeout time.Duration
	Log           *slog.Logger
	Metrics       *Metrics
	Now           func() time.Time
	// Journal, when set, records each action's intent before it runs and its
	// outcome after; an action whose intent cannot be recorded does not run.
	Journal Journal
}

// AdmissionKey is the state lock under which decisions are made one at a
// time (see consider). Target keys start with a kind and a slash, so it
// cannot be one.
const AdmissionKey = "*admission"

// Planner is an Executor that knows, per action and target, whether it would
// only plan: remediations.Router, where dry-run is per backend and target.
type Planner interface {
	Plans(remediations.Action, remediations.Target) bool
}

// dryRun is input.dry_run for one option.
func (p *Processor) dryRun(a remediations.Action, t remediations.Target) bool {
	if pl, ok := p.Executor.(Planner); ok {
		return p.DryRun || pl.Plans(a, t)
	}
	return p.DryRun
}

func (p *Processor) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

// Process handles one alert and reports what happened.
func (p *Processor) Process(ctx context.Context, a alert.Alert) Outcome {
	out := Outcome{
		Alert:          AlertRef{Name: a.Name(), Status: a.Status, Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, Labels: a.Labels},
		Investigations: []StepOutcome{},
		Options:        []OptionOutcome{},
	}
	log := p.Log.With("fingerprint", a.Fingerprint, "alertname", a.Name())
	rb, err := p.Runbooks.Match(a.Labels)
	if err != nil {
		out.Status = StatusNoRunbook
		log.Info("no runbook matches the alert; nothing to do", "runbook", "", "status", a.Status)
		p.Metrics.processed.WithLabelValues("", out.Status).Inc()
		return out
	}
	out.Runbook = rb.Name
	log = log.With("runbook", rb.Name)
	defer func() { p.Metrics.processed.WithLabelValues(rb.Name, out.Status).Inc() }()
	if ctx.Err() != nil {
		p.dropped(ctx, log, &out, "before processing")
		return out
	}

	if !a.Firing() {
		out.Status = StatusResolved
		log.Info("alert resolved; resolutions never act on it")
		p.closeIncident(ctx, log, rb, a, &out)
		return out
	}
	target, err := rb.Target.Resolve(a.Labels)
	if err != nil {
		out.Status = StatusInvalidTarget
		out.Error = err.Error()
		log.Warn("cannot build the runbook's target from the alert's labels", "err", err)
		return out
	}
	out.Target = &target
	log = log.With("target", target.String())
	inc, act := p.openIncident(ctx, log, rb, a, &out)
	if !act {
		return out
	}
	log.Info("processing alert", "options", len(rb.Resolve))

	for _, step := range rb.Investigate {
		if ctx.Err() != nil {
			break
		}
		out.Investigations = append(out.Investigations, p.investigate(ctx, log, rb, step, a))
	}
	if ctx.Err() != nil {
		// An investigation cut short says nothing about the alert: no
		// option is decided on what it did not read.
		p.dropped(ctx, log, &out, "in the investigations")
		return out
	}
	out.Status = StatusDenied
	for i, step := range rb.Resolve {
		if i < inc.skip {
			continue // escalating: taken before
		}
		if ctx.Err() != nil {
			p.dropped(ctx, log, &out, fmt.Sprintf("before option %d", i+1))
			break
		}
		opt, taken := p.consider(ctx, log, rb, step, i+1, a)
		out.Options = append(out.Options, opt)
		if opt.interrupted {
			// Not decided: a failed lock, history read or policy
			// evaluation here is the shutdown's doing, not a denial.
			p.dropped(ctx, log, &out, fmt.Sprintf("deciding option %d (%s)", i+1, opt.Error))
			break
		}
		if opt.aborted {
			// Neither decided against nor run: stop here rather than fall
			// through to a later (often harsher) option, and leave the
			// incident without an option taken, so that a re-send
			// considers the options again.
			out.Status, out.Error = StatusFailed, opt.Error
			break
		}
		if !taken {
			continue
		}
		out.Chosen = i + 1
		switch {
		case opt.Error != "":
			out.Status = StatusFailed
			out.Error = opt.Error
		case opt.Result != nil && opt.Result.DryRun:
			out.Status = StatusPlanned
		default:
			out.Status = StatusExecuted
		}
		break
	}
	if out.Status == StatusDenied {
		log.Warn("policy allowed no resolution option", "options", len(rb.Resolve))
	}
	p.tookOption(ctx, log, inc, &out)
	return out
}

func (p *Processor) investigate(ctx context.Context, log *slog.Logger, rb *runbook.Runbook, step *runbook.Step, a alert.Alert) StepOutcome {
	so := StepOutcome{Action: step.Action}
	res, err := p.run(ctx, rb, step, a)
	result := resultLabel(res, err)
	p.Metrics.investigations.WithLabelValues(step.Action, result).Inc()
	if err != nil {
		so.Error = err.Error()
		log.Warn("investigation failed", "action", step.Action, "err", err)
		return so
	}
	so.Result = res
	log.Debug("investigation done", "action", step.Action, "dry_run", res.DryRun)
	return so
}

// run renders the step's params and target and executes it (no policy: for
// investigations, which only read).
func (p *Processor) run(ctx context.Context, rb *runbook.Runbook, step *runbook.Step, a alert.Alert) (*remediations.Result, error) {
	params, err := step.Render(a)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, p.actionTimeout())
	defer cancel()
	t, err := p.target(ctx, rb, step, a)
	if err != nil {
		return nil, err
	}
	res, err := p.Executor.Execute(ctx, step.ActionImpl(), t, params)
	if err != nil {
		return nil, err
	}
	return &res, nil
}

// target builds a step's target from the alert's labels and, when the
// executor can look targets up (remediations.TargetResolver), resolves it
// against the backend: a pod to the workload that owns it, and the facts
// policy reads (replicas, labels, annotations, HPA). A target that cannot be
// looked up is an error: deciding on facts not read would not fail closed.
func (p *Processor) target(ctx context.Context, rb *runbook.Runbook, step *runbook.Step, a alert.Alert) (remediations.Target, error) {
	t, err := rb.TargetFor(step).Resolve(a.Labels)
	if err != nil {
		return t, err
	}
	r, ok := p.Executor.(remediations.TargetResolver)
	if !ok {
		return t, nil
	}
	resolved, err := r.ResolveTarget(ctx, step.ActionImpl(), t)
	if err != nil {
		return t, &lookupError{fmt.Errorf("looking up %s: %w", t, err)}
	}
	return resolved, nil
}

// dropped marks out as not processed because ctx ended (a shutdown) before
// any action ran; where says how far it got. The dispatcher releases its
// dedupe key (and the incident it opened), so that a re-send is processed.
// The incident is left without an option taken, so that re-send considers
// the options again.
func (p *Processor) dropped(ctx context.Context, log *slog.Logger, out *Outcome, where string) {
	out.Status = StatusDropped
	out.Error = fmt.Sprintf("not processed: %v (stopped %s; no action ran)", context.Cause(ctx), where)
	out.interrupted = true
	log.Warn("alert dropped: processing stopped before any action ran; its dedupe key is released so that a re-send is processed",
		"stopped", where, "cause", context.Cause(ctx))
}

// Unprocessed is the outcome of an alert that was accepted but never
// processed (still queued when ctx ended, a shutdown): dropped, with the
// runbook it would have run. Nothing reads the backends or the state store.
func (p *Processor) Unprocessed(ctx context.Context, a alert.Alert) Outcome {
	out := Outcome{
		Alert:          AlertRef{Name: a.Name(), Status: a.Status, Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, Labels: a.Labels},
		Investigations: []StepOutcome{},
		Options:        []OptionOutcome{},
		Status:         StatusDropped,
		Error:          fmt.Sprintf("not processed: %v (still queued; no action ran)", context.Cause(ctx)),
		interrupted:    true,
	}
	if rb, err := p.Runbooks.Match(a.Labels); err == nil {
		out.Runbook = rb.Name
	}
	p.Metrics.processed.WithLabelValues(out.Runbook, out.Status).Inc()
	return out
}

// lookupError is a target that could not be looked up in its backend (the
// API server did not answer, the alert's pod is gone): unlike a policy
// denial, it says nothing about whether the option may run.
type lookupError struct{ err error }

func (e *lookupError) Error() string { return e.err.Error() }
func (e *lookupError) Unwrap() error { return e.err }

func (p *Processor) actionTimeout() time.Duration {
	if p.ActionTimeout > 0 {
		return p.ActionTimeout
	}
	return 2 * time.Minute
}

// consider evaluates one resolution option and, if policy allows it, runs it.
// taken reports whether the option was allowed (whatever the run's result).
func (p *Processor) consider(ctx context.Context, log *slog.Logger, rb *runbook.Runbook, step *runbook.Step, n int, a alert.Alert) (opt OptionOutcome, taken bool) {
	opt = OptionOutcome{Option: n, Action: step.Action}
	log = log.With("option", n, "action", step.Action)
	params, err := step.Render(a)
	if err != nil {
		opt.Error = err.Error()
		log.Warn("option skipped: cannot render its parameters", "err", err)
		return opt, false
	}
	opt.Params = params
	lookupCtx, cancelLookup := context.WithTimeout(ctx, p.actionTimeout())
	t, err := p.target(lookupCtx, rb, step, a)
	cancelLookup()
	if err != nil {
		opt.Error = err.Error()
		if interrupted(ctx, &opt) {
			return opt, false
		}
		if _, ok := errors.AsType[*lookupError](err); ok {
			// Not decided, so not skipped: a later option is no substitute
			// for one that could not be looked up.
			opt.aborted = true
			log.Error("option not decided: its target could not be looked up; no later option is considered", "err", err)
			return opt, false
		}
		log.Warn("option skipped: cannot build its target", "err", err)
		return opt, false
	}
	opt.Target = t

	// The lock makes the history read, the decision, the action and its
	// record one step, so two alerts for one target cannot both pass a
	// cooldown that only the first should have started.
	lease, err := p.State.Lock(ctx, t.Key())
	if err != nil {
		opt.Error = err.Error()
		if interrupted(ctx, &opt) {
			return opt, false
		}
		opt.stateFailed = true
		log.Error("option skipped: cannot lock the target", "err", err)
		return opt, false
	}
	defer func() {
		if err := lease.Unlock(); err != nil {
			log.Error("releasing the target lock failed", "err", err)
		}
	}()

	// The admission lock makes reading the counts, deciding and counting
	// the run one step across all targets and replicas, so that the global
	// hourly limit holds exactly: without it, two targets decided at the
	// same moment could each take its last slot. It is held for the
	// decision only, not while the action runs.
	admission, err := p.State.Lock(ctx, AdmissionKey)
	if err != nil {
		opt.Error = err.Error()
		if interrupted(ctx, &opt) {
			return opt, false
		}
		opt.stateFailed = true
		log.Error("option skipped: cannot take the admission lock", "err", err)
		return opt, false
	}
	admitted := sync.OnceFunc(func() {
		if err := admission.Unlock(); err != nil {
			log.Error("releasing the admission lock failed", "err", err)
		}
	})
	defer admitted()

	hist, err := p.State.History(ctx, t.Key(), step.Action)
	if err != nil {
		// Without history the rate limits cannot be checked: fail closed.
		opt.Error = fmt.Sprintf("reading action history: %v", err)
		if interrupted(ctx, &opt) {
			return opt, false
		}
		opt.stateFailed = true
		log.Error("option denied: no action history", "err", err)
		p.Metrics.decisions.WithLabelValues(step.Action, "false").Inc()
		return opt, false
	}
	d, err := p.Policy.Decide(ctx, p.input(a, t, step.Action, params, hist, p.dryRun(step.ActionImpl(), t)))
	if err != nil {
		if interrupted(ctx, &opt) {
			opt.Error = fmt.Sprintf("evaluating policy: %v", err)
			return opt, false
		}
		log.Error("option denied: policy evaluation failed", "err", err)
	}
	opt.Decision = &d
	if d.Allow {
		// Policy may have lowered parameters; what it returns must still be
		// valid for the action, or nothing runs.
		if d.Params != nil {
			params = d.Params
		}
		if err := step.ActionImpl().Validate(params); err != nil {
			d.Allow = false
			d.Reasons = append(d.Reasons, "denied: policy returned invalid params: "+err.Error())
			d.Codes = append(d.Codes, "invalid_policy_params")
			opt.Decision = &d
		}
	}
	p.Metrics.decisions.WithLabelValues(step.Action, fmt.Sprint(d.Allow)).Inc()
	if !d.Allow {
		p.Metrics.observeDenialCodes(step.Action, d.Codes)
		log.Info("option denied by policy", "reasons", d.Reasons)
		return opt, false
	}
	// Counted as it starts, before the admission lock is released, so the
	// next decision sees it. If the run is then stopped (its intent cannot
	// be written), the count errs on the side of fewer actions.
	if err := p.State.RecordRun(ctx, t.Key(), step.Action); err != nil {
		opt.Error = fmt.Sprintf("counting the action run: %v", err)
		if interrupted(ctx, &opt) {
			return opt, false
		}
		opt.stateFailed = true
		log.Error("option not run: the action run could not be counted", "err", err)
		return opt, false
	}
	admitted()
	log.Info("option allowed by policy", "reasons", d.Reasons, "params", params)

	opt.IntentID, err = p.writeIntent(ctx, rb, a, opt, params, p.dryRun(step.ActionImpl(), t))
	if err != nil {
		opt.Error = err.Error()
		if interrupted(ctx, &opt) {
			return opt, false
		}
		opt.aborted = true
		log.Error("action not run: its intent could not be recorded", "err", err)
		return opt, true
	}
	start := time.Now()
	work := ctx
	ctx, cancel := context.WithTimeout(ctx, p.actionTimeout())
	defer cancel()
	ctx = remediations.WithCause(ctx, fmt.Sprintf("alert %s (fingerprint %s), runbook %s option %d", a.Name(), a.Fingerprint, rb.Name, n))
	runCtx, stopRun := stopOnLostLease(ctx, lease)
	res, runErr := p.Executor.Execute(runCtx, step.ActionImpl(), t, params)
	stopRun()
	if lost := lease.Err(); lost != nil && runErr != nil {
		runErr = fmt.Errorf("stopped because the target lock was lost (%w): %w", lost, runErr)
	}
	if work.Err() != nil && runErr != nil {
		// It had started, so it is failed, not dropped: it may have
		// changed something, and is never run again for this alert.
		runErr = fmt.Errorf("interrupted: %v: %w", context.Cause(work), runErr)
	}
	p.Metrics.actionDuration.WithLabelValues(step.Action).Observe(time.Since(start).Seconds())
	p.Metrics.actions.WithLabelValues(step.Action, resultLabel(&res, runErr)).Inc()
	opt.Result = &res
	p.writeOutcome(ctx, log, opt.IntentID, &res, runErr, time.Since(start))
	// The run was counted before it started; its result feeds the
	// consecutive-failure count that policy uses as a circuit breaker. The
	// context is detached so a shutdown mid-action still records it.
	if err := p.State.RecordResult(context.WithoutCancel(ctx), t.Key(), step.Action, runErr == nil); err != nil {
		log.Error("recording the action's result in state failed; the circuit breaker may miss it", "err", err)
	}
	if err := lease.Err(); err != nil {
		// The store logged and counted it when it noticed; this says which
		// action ran without the lock.
		log.Error("the target lock was lost while the action ran; the action was stopped, and another replica may act on the target", "err", err)
	}
	if runErr != nil {
		opt.Error = runErr.Error()
		log.Error("action failed", "err", runErr, "duration", time.Since(start))
		return opt, true
	}
	if res.DryRun {
		log.Info("action planned (dry-run)", "calls", res.Plan.Calls)
	} else {
		log.Info("action executed", "changes", res.Changes, "duration", time.Since(start))
	}
	return opt, true
}

// interrupted reports whether ctx has ended, and then marks opt as not
// decided because of it (a shutdown), rather than failed or denied.
func interrupted(ctx context.Context, opt *OptionOutcome) bool {
	if ctx.Err() == nil {
		return false
	}
	opt.interrupted = true
	return true
}

// stopOnLostLease returns a context that also ends when the target lock is
// lost while the action runs: from then on another replica may take the
// lock and act on the same target, so the action stops rather than race it
// (as client-go's leader election stops a controller that stops leading).
// stop must be called once the action returns.
func stopOnLostLease(ctx context.Context, l *state.Lease) (_ context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-l.Lost():
			cancel(l.Err())
		case <-ctx.Done():
		}
	}()
	return ctx, func() { cancel(nil) }
}

func (p *Processor) input(a alert.Alert, t remediations.Target, action string, params remediations.Params, h state.History, dryRun bool) policies.Input {
	in := policies.Input{
		Alert: policies.AlertInput{
			Name: a.Name(), Status: a.Status, Labels: a.Labels, Annotations: a.Annotations,
			StartsAt: a.StartsAt, Fingerprint: a.Fingerprint,
		},
		Target: t,
		Action: policies.ActionInput{Name: action, Params: params},
		History: policies.HistoryInput{
			TargetActionsLastHour: h.TargetActionsLastHour,
			GlobalActionsLastHour: h.GlobalActionsLastHour,
			ConsecutiveFailures:   h.ConsecutiveFailures,
			ActionRunsLastHour:    h.ActionRunsLastHour,
		},
		DryRun: dryRun,
	}
	if !h.LastRun.IsZero() {
		// Measured on the store's clock when it gives one, so that replicas
		// sharing a store agree on cooldowns whatever their own clocks say.
		now := h.Now
		if now.IsZero() {
			now = p.now()
		}
		ago := now.Sub(h.LastRun).Seconds()
		in.History.ActionLastRunSecondsAgo = &ago
	}
	return in
}

func resultLabel(res *remediations.Result, err error) string {
	switch {
	case err != nil:
		return "failure"
	case res != nil && res.DryRun:
		return "dry_run"
	default:
		return "success"
	}
}
