package dispatch

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/remediator/remediator/internal/alert"
)

// Recorder keeps outcomes (the audit history).
type Recorder interface {
	Record(ctx context.Context, o Outcome) error
}

// BatchRecorder is a Recorder that can also keep many outcomes at once (one
// transaction). The dispatcher uses it for the alerts still queued at a
// shutdown, when there is little time for one write per alert.
type BatchRecorder interface {
	Recorder
	RecordAll(ctx context.Context, outs []Outcome) error
}

// DefaultStopGrace is Dispatcher.StopGrace when it is 0.
const DefaultStopGrace = 750 * time.Millisecond

// Dispatcher runs a pool of workers over the alert queue.
type Dispatcher struct {
	Processor *Processor
	Recorder  Recorder
	Workers   int
	Log       *slog.Logger
	// Dedupe is where the receiver reserved the notifications' dedupe keys;
	// a notification not handled because the state store failed, or dropped
	// at a shutdown, has its key released there (see retryLater). Nil:
	// nothing is released.
	Dedupe Releaser
	// StopGrace is how long the dispatcher may still take, once Run's ctx
	// has ended (or the queue is drained), to record what it did not
	// process and release dedupe keys (DefaultStopGrace when 0). It bounds
	// the bookkeeping, so a shutdown does not wait for a store that is
	// down; what is not done by then is logged.
	StopGrace time.Duration
}

func (d *Dispatcher) stopGrace() time.Duration {
	if d.StopGrace > 0 {
		return d.StopGrace
	}
	return DefaultStopGrace
}

// Run processes alerts from queue until it is closed and drained, or ctx ends.
// When ctx ends, in-flight processing is cancelled: an alert whose action
// had started is recorded as failed, one cut short before any action ran is
// recorded as dropped, and so is every alert still queued (read from queue,
// which the caller must have closed for it to be drained whole); dropped
// alerts have their dedupe keys released. context.Cause(ctx) is the reason
// their records give. Run returns when every worker is done and the
// bookkeeping is, at most StopGrace after ctx ends.
func (d *Dispatcher) Run(ctx context.Context, queue <-chan alert.Alert) {
	workers := max(d.Workers, 1)
	// Records and releases outlive ctx, by StopGrace only.
	book, stopBook := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBook()
	graceAfter := func() { time.AfterFunc(d.stopGrace(), stopBook) }
	stopAfter := context.AfterFunc(ctx, graceAfter)
	defer stopAfter()
	var releases sync.WaitGroup
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
					recCtx, cancel := context.WithTimeout(book, AuditWriteTimeout)
					if err := d.Recorder.Record(recCtx, out); err != nil {
						d.Log.Error("recording outcome failed", "fingerprint", a.Fingerprint, "runbook", out.Runbook, "status", out.Status, "err", err)
					}
					cancel()
					if (out.stateFailed || out.interrupted) && d.Dedupe != nil {
						releases.Go(func() { d.retryLater(book, a, out) })
					}
				}
			}
		})
	}
	wg.Wait()
	if ctx.Err() != nil {
		d.dropQueued(ctx, book, queue, &releases)
	} else if stopAfter() {
		// Drained: releases still waiting for a store that is down get
		// StopGrace more, not the whole shutdown.
		graceAfter()
	}
	releases.Wait()
}

// dropQueued records the alerts left in the queue when ctx ended as dropped,
// in one batch when the Recorder can, and releases their dedupe keys.
func (d *Dispatcher) dropQueued(ctx, book context.Context, queue <-chan alert.Alert, releases *sync.WaitGroup) {
	left := drain(queue)
	if len(left) == 0 {
		return
	}
	outs := make([]Outcome, len(left))
	keys := make([]string, len(left))
	for i, a := range left {
		outs[i] = d.Processor.Unprocessed(ctx, a)
		keys[i] = alert.Key(a.Alert)
	}
	d.Log.Warn("shutting down: alerts still queued are dropped, not processed; their dedupe keys are released so that re-sends are processed",
		"dropped_alerts", len(left), "cause", context.Cause(ctx))
	if d.Dedupe != nil {
		releases.Go(func() { d.releaseDropped(book, keys) })
	}
	recCtx, cancel := context.WithTimeout(book, AuditWriteTimeout)
	defer cancel()
	if br, ok := d.Recorder.(BatchRecorder); ok {
		if err := br.RecordAll(recCtx, outs); err != nil {
			for _, o := range outs {
				d.Log.Error("recording a dropped alert failed", "fingerprint", o.Alert.Fingerprint, "runbook", o.Runbook, "err", err)
			}
		}
		return
	}
	for _, o := range outs {
		if err := d.Recorder.Record(recCtx, o); err != nil {
			d.Log.Error("recording a dropped alert failed", "fingerprint", o.Alert.Fingerprint, "runbook", o.Runbook, "err", err)
		}
	}
}

// drain takes what queue holds now without waiting: nothing pushes any more
// (the queue is closed), so that is everything.
func drain(queue <-chan alert.Alert) []alert.Alert {
	var left []alert.Alert
	for {
		select {
		case a, ok := <-queue:
			if !ok {
				return left
			}
			left = append(left, a)
		default:
			return left
		}
	}
}
