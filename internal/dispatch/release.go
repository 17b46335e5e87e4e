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

// retryLater makes a notification that the state store kept from being
// handled (fail closed: nothing acted) processable again: it releases the
// notification's dedupe key, and drops the incident the notification opened
// if nothing else happened to it, so that Alertmanager's re-send is taken
// for a new notification instead of a duplicate. The store has just failed,
// so this retries with backoff until it answers or ctx ends (shutdown); what
// is still reserved then expires with its TTL.
func (d *Dispatcher) retryLater(ctx context.Context, a alert.Alert, out Outcome) {
	key := alert.Key(a.Alert)
	log := d.Log.With("fingerprint", a.Fingerprint, "runbook", out.Runbook, "status", a.Status)
	log.Warn("notification not handled because the state store failed; releasing its dedupe key once the store answers, so a re-send is processed")
	wait := releaseRetryMin
	for {
		err := d.Dedupe.Release(ctx, []string{key})
		if err == nil && out.opened != "" {
			err = d.Processor.State.AbandonIncident(ctx, out.opened)
		}
		if err == nil {
			d.Processor.Metrics.releases.WithLabelValues("released").Inc()
			log.Info("dedupe key released after the state store failure; Alertmanager's re-send will be processed")
			return
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			d.Processor.Metrics.releases.WithLabelValues("abandoned").Inc()
			log.Error("shutting down before the state store answered: the notification's dedupe key stays reserved until it expires, and a re-send before then is dropped", "err", err)
			return
		}
		wait = min(2*wait, releaseRetryMax)
	}
}
