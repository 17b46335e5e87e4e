package daemon

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/state"
)

// reapGrace is added to the action timeout before another process's
// unfinished action is presumed dead (see audit.Store.Reap): room for the
// outcome write after a timed-out action and for clocks slightly apart.
const reapGrace = time.Minute

// AuditDSN is the audit store cfg selects: its DSN, or the default SQLite
// file (audit.DefaultPath).
func AuditDSN(cfg *config.Config) (string, error) {
	dsn, err := cfg.Audit.Source(os.Getenv)
	if err != nil {
		return "", err
	}
	if dsn == "" {
		dsn = "sqlite://" + audit.DefaultPath(os.Getenv)
	}
	return dsn, nil
}

// OpenAudit opens the audit store cfg selects and applies its migrations.
// Unlike the state store, it must be reachable at start: the daemon does not
// act without a history to write intents to. The returned func closes it.
func OpenAudit(ctx context.Context, cfg *config.Config, log *slog.Logger) (*audit.Store, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dsn, err := AuditDSN(cfg)
	if err != nil {
		return nil, nil, err
	}
	s, err := audit.Open(ctx, dsn, audit.Options{Instance: cfg.AuditInstance(), Logger: log.With("component", "audit")})
	if err != nil {
		return nil, nil, err
	}
	log.Info("audit history", "store", s.Where(), "instance", s.Instance(), "retention", cfg.Audit.Retention)
	return s, func() {
		if err := s.Close(); err != nil {
			log.Warn("closing the audit store", "err", err)
		}
	}, nil
}

type auditMetrics struct {
	interrupted prometheus.Counter
	deleted     prometheus.Counter
}

func newAuditMetrics(reg prometheus.Registerer) auditMetrics {
	m := auditMetrics{
		interrupted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_audit_interrupted_intents_total",
			Help: "Actions found with an intent and no outcome (their process died mid-action) and marked interrupted; never re-run.",
		}),
		deleted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "remediator_audit_records_deleted_total",
			Help: "Audit records deleted for being older than audit.retention.",
		}),
	}
	reg.MustRegister(m.interrupted, m.deleted)
	return m
}

// reap marks interrupted the actions of dead processes (audit.Store.Reap),
// logs and counts them, and records each in state as a failed run, so that
// cooldowns and the circuit breaker see it.
func (d *Daemon) reap(ctx context.Context) {
	stale := time.Now().Add(-(d.cfg.Dispatcher.ActionTimeout + reapGrace))
	found, err := d.audit.Reap(ctx, stale)
	if err != nil {
		d.log.Error("finding interrupted actions in the audit history failed", "err", err)
		return
	}
	for _, in := range found {
		d.auditMetrics.interrupted.Inc()
		d.log.Warn("action interrupted: its process ended between intent and outcome; marked interrupted, not re-run; check the target",
			"intent", in.ID, "record", in.RecordID, "instance", in.Instance, "intent_at", in.IntentAt,
			"alertname", in.Alertname, "fingerprint", in.Fingerprint, "runbook", in.Runbook,
			"action", in.Action, "target", in.Target.String())
		// A shared store counted its run when it started; the memory store
		// died with the process, so the run is counted again here, and the
		// target's cooldown starts now rather than never.
		if _, shared := d.state.(*state.Redis); !shared {
			if err := d.state.RecordRun(ctx, in.Target.Key(), in.Action); err != nil {
				d.log.Error("recording the interrupted action's run in state failed", "intent", in.ID, "err", err)
			}
		}
		// That it never finished counts as a failure for the circuit breaker.
		if err := d.state.RecordResult(ctx, in.Target.Key(), in.Action, false); err != nil {
			d.log.Error("recording the interrupted action in state failed", "intent", in.ID, "err", err)
		}
	}
}

// cleanup deletes records older than the retention.
func (d *Daemon) cleanup(ctx context.Context) {
	recs, acts, err := d.audit.DeleteBefore(ctx, time.Now().Add(-d.cfg.Audit.Retention), 1000)
	d.auditMetrics.deleted.Add(float64(recs))
	if err != nil {
		d.log.Error("deleting old audit records failed", "err", err, "deleted_records", recs)
		return
	}
	if recs > 0 || acts > 0 {
		d.log.Info("old audit records deleted", "records", recs, "actions", acts, "retention", d.cfg.Audit.Retention)
	}
}

// maintainAudit reaps and cleans up every audit.cleanup_interval until ctx
// ends.
func (d *Daemon) maintainAudit(ctx context.Context) {
	d.cleanup(ctx)
	t := time.NewTicker(d.cfg.Audit.CleanupInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.reap(ctx)
			d.cleanup(ctx)
		}
	}
}
