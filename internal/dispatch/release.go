package dispatch

import (
	"context"
	"time"

	"github.com/remediator/remediator/internal/alert"
)

// Releaser drops dedupe reservations made by the receiver. state.Store
// satisfies it.
type Releaser interface {
	Release(ctx context.Context, keys []string) error
}

// Backoff between attempts to release the dedupe key of a notification the
// state store kept from being handled. The cap is short because the release
// races Alertmanager's next delivery once the store is back.
const (
	releaseRetryMin = 50 * time.Millisecond
	releaseRetryMax = time.Second
)

// retryLater makes a notification that was not handled processable again:
// one the state store kept from being handled (fail closed: nothing acted),
// or one a shutdown cut short before any action ran (dropped). It releases
// the notification's dedupe key, and drops the incident the notification
// opened if nothing else happened to it, so that Alertmanager's re-send is
// taken for a new notification instead of a duplicate. The store may have
// just failed, so this retries with backoff until it answers or ctx ends
// (shutdown); what is still reserved then expires with its TTL.
func (d *Dispatcher) retryLater(ctx context.Context, a alert.Alert, out Outcome) {
	key := alert.Key(a.Alert)
	log := d.Log.With("fingerprint", a.Fingerprint, "runbook", out.Runbook, "status", a.Status)
	if out.stateFailed {
		log.Warn("notification not handled because the state store failed; releasing its dedupe key once the store answers, so a re-send is processed")
	}
	release := func(ctx context.Context) error {
		err := d.Dedupe.Release(ctx, []string{key})
		if err == nil && out.opened != "" {
			err = d.Processor.State.AbandonIncident(ctx, out.opened)
		}
		return err
	}
	if err := retry(ctx, release); err != nil {
		if out.stateFailed {
			d.Processor.Metrics.releases.WithLabelValues("abandoned").Inc()
		}
		log.Error("shutting down before the state store answered: the notification's dedupe key stays reserved until it expires, and a re-send before then is dropped", "err", err)
		return
	}
	if out.stateFailed {
		d.Processor.Metrics.releases.WithLabelValues("released").Inc()
		log.Info("dedupe key released after the state store failure; Alertmanager's re-send will be processed")
		return
	}
	log.Info("dedupe key of the dropped notification released; Alertmanager's re-send will be processed")
}

// releaseDropped releases the dedupe keys of alerts dropped from the queue
// at a shutdown (they opened no incident), until the store answers or ctx
// ends.
func (d *Dispatcher) releaseDropped(ctx context.Context, keys []string) {
	if err := retry(ctx, func(ctx context.Context) error { return d.Dedupe.Release(ctx, keys) }); err != nil {
		d.Log.Error("shutting down before the state store answered: the dedupe keys of the dropped alerts stay reserved until they expire, and re-sends before then are dropped",
			"keys", len(keys), "err", err)
		return
	}
	d.Log.Info("dedupe keys of the dropped alerts released; Alertmanager's re-sends will be processed", "keys", len(keys))
}

// retry calls f with backoff until it succeeds (nil) or ctx ends (f's last
// error).
func retry(ctx context.Context, f func(context.Context) error) error {
	wait := releaseRetryMin
	for {
		err := f(ctx)
		if err == nil {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return err
		}
		wait = min(2*wait, releaseRetryMax)
	}
}
