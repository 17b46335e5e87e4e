package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/remediator/remediator/internal/dispatch"
)

// Action states in audit_actions.state.
const (
	StateRunning     = "running"     // intent written, no outcome yet
	StateSuccess     = "success"     // ran and succeeded
	StateFailure     = "failure"     // ran and failed
	StateDryRun      = "dry_run"     // planned or previewed only
	StateInterrupted = "interrupted" // the process died between intent and outcome
)

// ResultInterrupted is the result of a record made for an action whose
// process died between its intent and its outcome.
const ResultInterrupted = "interrupted"

var (
	_ dispatch.BatchRecorder = (*Store)(nil)
	_ dispatch.Journal       = (*Store)(nil)
)

func jsonText(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// Intent implements dispatch.Journal: it records, before the action runs,
// what is about to run, where, why, and on behalf of which process.
func (s *Store) Intent(ctx context.Context, in dispatch.Intent) (string, error) {
	labels, err := jsonText(in.Alert.Labels)
	if err != nil {
		return "", fmt.Errorf("encoding alert labels: %w", err)
	}
	target, err := jsonText(in.Target)
	if err != nil {
		return "", fmt.Errorf("encoding target: %w", err)
	}
	params, err := jsonText(in.Params)
	if err != nil {
		return "", fmt.Errorf("encoding params: %w", err)
	}
	decision, err := jsonText(in.Decision)
	if err != nil {
		return "", fmt.Errorf("encoding decision: %w", err)
	}
	id := newID(12)
	_, err = s.db.ExecContext(ctx, `INSERT INTO audit_actions (id, instance, incarnation, intent_us, alertname, fingerprint,
    alert_status, alert_starts_us, alert_labels, runbook, option_no, action, target, target_json, params, decision, dry_run, state, error)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, '')`,
		id, s.instance, s.incarnation, s.now().UnixMicro(), in.Alert.Name, in.Alert.Fingerprint,
		in.Alert.Status, in.Alert.StartsAt.UnixMicro(), labels, in.Runbook, in.Option, in.Action, in.Target.String(), target,
		params, decision, boolInt(in.DryRun), StateRunning)
	if err != nil {
		return "", fmt.Errorf("audit store %s: writing intent: %w", s.where, err)
	}
	return id, nil
}

// Outcome implements dispatch.Journal: it completes the intent id with how
// the action ended. An outcome arriving after another replica marked the
// intent interrupted (see Reap) still overwrites it: the truth wins.
func (s *Store) Outcome(ctx context.Context, id string, out dispatch.ActionOutcome) error {
	state := StateSuccess
	switch {
	case out.Error != "":
		state = StateFailure
	case out.Result != nil && out.Result.DryRun:
		state = StateDryRun
	}
	var result sql.NullString
	if out.Result != nil {
		b, err := json.Marshal(out.Result)
		if err != nil {
			return fmt.Errorf("encoding result: %w", err)
		}
		result = sql.NullString{String: string(b), Valid: true}
	}
	res, err := s.db.ExecContext(ctx, `UPDATE audit_actions SET state = $1, outcome_us = $2, duration_us = $3, error = $4, result = $5
WHERE id = $6`, state, s.now().UnixMicro(), out.Duration.Microseconds(), out.Error, result, id)
	if err != nil {
		return fmt.Errorf("audit store %s: writing outcome of %s: %w", s.where, id, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("audit store %s: writing outcome: no intent %s", s.where, id)
	}
	return nil
}

// Record implements dispatch.Recorder: one record per processed alert, linked
// to the intents of the actions it ran.
func (s *Store) Record(ctx context.Context, o dispatch.Outcome) error {
	_, err := s.insertRecord(ctx, s.db, o, "")
	return err
}

// RecordAll implements dispatch.BatchRecorder: the outcomes in one
// transaction, all or none. The dispatcher records the alerts it drops at a
// shutdown this way: one commit (one fsync with SQLite) instead of one per
// alert, in the little time a shutdown leaves.
func (s *Store) RecordAll(ctx context.Context, outs []dispatch.Outcome) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit store %s: recording %d outcomes: %w", s.where, len(outs), err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	for _, o := range outs {
		if _, err := s.insertRecordTx(ctx, tx, o, ""); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit store %s: recording %d outcomes: %w", s.where, len(outs), err)
	}
	return nil
}

type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// insertRecord writes o and links its intents; with id "" it makes one.
func (s *Store) insertRecord(ctx context.Context, db *sql.DB, o dispatch.Outcome, id string) (string, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("audit store %s: recording outcome: %w", s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	id, err = s.insertRecordTx(ctx, tx, o, id)
	if err != nil {
		return "", err
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("audit store %s: recording outcome: %w", s.where, err)
	}
	return id, nil
}

func (s *Store) insertRecordTx(ctx context.Context, tx execer, o dispatch.Outcome, id string) (string, error) {
	if id == "" {
		id = newID(12)
	}
	doc, err := json.Marshal(o)
	if err != nil {
		return "", fmt.Errorf("encoding outcome: %w", err)
	}
	target, action := recordTarget(o)
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_remediations (id, recorded_us, instance, alertname, fingerprint, alert_status,
    runbook, target, action, result, error, outcome)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		id, s.now().UnixMicro(), s.instance, o.Alert.Name, o.Alert.Fingerprint, o.Alert.Status,
		o.Runbook, target, action, o.Status, o.Error, string(doc)); err != nil {
		return "", fmt.Errorf("audit store %s: recording outcome: %w", s.where, err)
	}
	for _, opt := range o.Options {
		if opt.IntentID == "" {
			continue
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_actions SET remediation_id = $1 WHERE id = $2`, id, opt.IntentID); err != nil {
			return "", fmt.Errorf("audit store %s: linking intent %s: %w", s.where, opt.IntentID, err)
		}
	}
	return id, nil
}

// recordTarget is what a record is filtered by: the chosen option's target
// and action, else the runbook's target and no action.
func recordTarget(o dispatch.Outcome) (target, action string) {
	for _, opt := range o.Options {
		if o.Chosen > 0 && opt.Option == o.Chosen {
			return opt.Target.String(), opt.Action
		}
	}
	if o.Target != nil {
		return o.Target.String(), ""
	}
	return "", ""
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
