package dispatch

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// Journal records every action's intent before it runs and its outcome
// after, so that an action interrupted by a crash is known afterwards (the
// audit store marks it interrupted at the next start). Processor fails closed
// on it: an action whose intent cannot be written does not run.
type Journal interface {
	// Intent records that the action is about to run and returns its id.
	Intent(ctx context.Context, in Intent) (id string, err error)
	// Outcome records how the action with that id ended.
	Outcome(ctx context.Context, id string, out ActionOutcome) error
}

// Intent is an allowed action about to run.
type Intent struct {
	Alert   AlertRef
	Runbook string
	// Option is the option's 1-based number in the runbook.
	Option int
	Action string
	Target remediations.Target
	// Params are the parameters it runs with (as policy allowed them).
	Params   remediations.Params
	Decision *policies.Decision
	// DryRun: the action will only be planned or previewed.
	DryRun bool
}

// AuditWriteTimeout bounds each audit write, so that an audit database that
// stops answering (a partition that drops packets) cannot hang a worker, with
// its target lock held, or the shutdown.
const AuditWriteTimeout = 10 * time.Second

// ActionOutcome is how one journaled action ended.
type ActionOutcome struct {
	Result   *remediations.Result
	Error    string
	Duration time.Duration
}

// writeIntent records the intent of the option about to run; with no
// Journal it records nothing and returns "".
func (p *Processor) writeIntent(ctx context.Context, rb *runbook.Runbook, a alert.Alert, opt OptionOutcome, params remediations.Params, dryRun bool) (string, error) {
	if p.Journal == nil {
		return "", nil
	}
	ctx, cancel := context.WithTimeout(ctx, AuditWriteTimeout)
	defer cancel()
	id, err := p.Journal.Intent(ctx, Intent{
		Alert:   AlertRef{Name: a.Name(), Status: a.Status, Fingerprint: a.Fingerprint, StartsAt: a.StartsAt, Labels: a.Labels},
		Runbook: rb.Name, Option: opt.Option, Action: opt.Action, Target: opt.Target,
		Params: params, Decision: opt.Decision, DryRun: dryRun,
	})
	if err != nil {
		return "", fmt.Errorf("recording the action's intent in the audit history: %w", err)
	}
	return id, nil
}

// writeOutcome records how a journaled action ended. The context is detached
// so that a shutdown or a timed-out action still records it.
func (p *Processor) writeOutcome(ctx context.Context, log *slog.Logger, id string, res *remediations.Result, runErr error, d time.Duration) {
	if p.Journal == nil || id == "" {
		return
	}
	out := ActionOutcome{Result: res, Duration: d}
	if runErr != nil {
		out.Error = runErr.Error()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), AuditWriteTimeout)
	defer cancel()
	if err := p.Journal.Outcome(ctx, id, out); err != nil {
		log.Error("recording the action's outcome in the audit history failed; it will be marked interrupted at the next start", "intent", id, "err", err)
	}
}
