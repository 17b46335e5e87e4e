package dispatch

import (
	"context"
	"log/slog"
	"sync"

	"github.com/remediator/remediator/internal/alert"
)

// Recorder keeps outcomes (the audit history).
type Recorder interface {
	Record(ctx context.Context, o Outcome) error
}

// Dispatcher runs a pool of workers over the alert queue.
type Dispatcher struct {
	Processor *Processor
	Recorder  Recorder
	Workers   int
	Log       *slog.Logger
	// Dedupe is where the receiver reserved the notifications' dedupe keys;
	// a notification not handled because the state store failed has its key
	// released there (see retryLater). Nil: nothing is released.
	Dedupe Releaser
}

// Run processes alerts from queue until it is closed and drained, or ctx ends
// (then in-flight actions are cancelled). It returns when every worker is done.
func (d *Dispatcher) Run(ctx context.Context, queue <-chan alert.Alert) {
	workers := max(d.Workers, 1)
	// Releases outlive the workers' ctx only until the workers are done: a
	// shutdown does not wait for a store that is down.
	relCtx, stopReleases := context.WithCancel(context.WithoutCancel(ctx))
	var releases sync.WaitGroup
	defer func() {
		stopReleases()
		releases.Wait()
	}()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case a, ok := <-queue:
					if !ok {
						return
					}
					out := d.Processor.Process(ctx, a)
					recCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), AuditWriteTimeout)
					if err := d.Recorder.Record(recCtx, out); err != nil {
						d.Log.Error("recording outcome failed", "fingerprint", a.Fingerprint, "runbook", out.Runbook, "err", err)
					}
					cancel()
					if out.stateFailed && d.Dedupe != nil {
						releases.Go(func() { d.retryLater(relCtx, a, out) })
					}
				}
			}
		})
	}
	wg.Wait()
}
