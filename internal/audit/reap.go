package audit

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

// Interrupted is an action found with an intent and no outcome.
type Interrupted struct {
	ID          string
	Instance    string
	Incarnation string
	IntentAt    time.Time
	Alertname   string
	Fingerprint string
	Runbook     string
	Action      string
	Target      remediations.Target
	// RecordID is the record made for it (result interrupted).
	RecordID string
}

// Reap finds the actions whose process is known to be gone, marks those
// still running as interrupted (they are never re-run), and writes a record
// (result interrupted, or the action's own result) for each whose alert's
// record was never written, so that nothing a crash cut short is missing
// from the history. An action's process is gone when either:
//
//   - it was written by this instance id under another incarnation: an
//     instance id names one process at a time (a host name, a StatefulSet
//     pod name), so its previous incarnation is dead;
//   - or its intent is older than staleBefore: the caller passes now minus
//     the action timeout plus a grace period, after which no live process
//     can still be running it (the dispatcher cancels an action at its
//     timeout and writes the outcome right after).
//
// So a replica starting beside live ones never marks their running actions:
// they carry other instance ids and are younger than the timeout. Replicas
// must have distinct instance ids, and clocks in step within the grace.
func (s *Store) Reap(ctx context.Context, staleBefore time.Time) ([]Interrupted, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if s.d.lockReap != "" {
		// Held to the commit: a second reaper waits, then finds the orphans
		// this one linked to their records and leaves them alone.
		if _, err := tx.ExecContext(ctx, s.d.lockReap); err != nil {
			return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
		}
	}
	rows, err := tx.QueryContext(ctx, `SELECT id, instance, incarnation, intent_us, alertname, fingerprint, alert_status, alert_starts_us,
    alert_labels, runbook, option_no, action, target_json, params, decision, dry_run, state, error, result
FROM audit_actions
WHERE remediation_id IS NULL AND ((instance = $1 AND incarnation <> $2) OR intent_us < $3)
ORDER BY intent_us, id`, s.instance, s.incarnation, staleBefore.UnixMicro())
	if err != nil {
		return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
	}
	type orphan struct {
		in     Interrupted
		state  string
		o      dispatch.Outcome
		errMsg string
		dryRun bool
	}
	var found []orphan
	for rows.Next() {
		var (
			r                                    orphan
			intentUs, startsUs                   int64
			labels, targetJSON, params, decision string
			alertStatus, errMsg                  string
			option, dryRun                       int
			result                               sql.NullString
		)
		if err := rows.Scan(&r.in.ID, &r.in.Instance, &r.in.Incarnation, &intentUs, &r.in.Alertname, &r.in.Fingerprint,
			&alertStatus, &startsUs, &labels, &r.in.Runbook, &option, &r.in.Action, &targetJSON, &params, &decision,
			&dryRun, &r.state, &errMsg, &result); err != nil {
			rows.Close()
			return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
		}
		r.in.IntentAt = time.UnixMicro(intentUs)
		opt := dispatch.OptionOutcome{Option: option, Action: r.in.Action, IntentID: r.in.ID, Error: errMsg}
		r.o = dispatch.Outcome{
			Alert:   dispatch.AlertRef{Name: r.in.Alertname, Status: alertStatus, Fingerprint: r.in.Fingerprint, StartsAt: time.UnixMicro(startsUs).UTC()},
			Runbook: r.in.Runbook, Investigations: []dispatch.StepOutcome{}, Chosen: option,
		}
		// These were written by json.Marshal; a row that does not decode
		// still gets its record, with what did.
		_ = json.Unmarshal([]byte(labels), &r.o.Alert.Labels)
		_ = json.Unmarshal([]byte(targetJSON), &opt.Target)
		_ = json.Unmarshal([]byte(params), &opt.Params)
		var d *policies.Decision
		if json.Unmarshal([]byte(decision), &d) == nil {
			opt.Decision = d
		}
		if result.Valid {
			var res remediations.Result
			if json.Unmarshal([]byte(result.String), &res) == nil {
				opt.Result = &res
			}
		}
		r.in.Target = opt.Target
		r.errMsg = errMsg
		// Only the option that ran is known; the record keeps its number.
		r.o.Options = []dispatch.OptionOutcome{opt}
		r.o.Target = &opt.Target
		r.dryRun = dryRun == 1
		found = append(found, r)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
	}
	var interrupted []Interrupted
	now := s.now()
	for _, r := range found {
		switch r.state {
		case StateRunning:
			msg := fmt.Sprintf("interrupted: the process (instance %s, incarnation %s) ended between the action's intent and its outcome; "+
				"found by instance %s at %s; not re-run", r.in.Instance, r.in.Incarnation, s.instance, now.UTC().Format(time.RFC3339))
			if _, err := tx.ExecContext(ctx, `UPDATE audit_actions SET state = $1, outcome_us = $2, error = $3 WHERE id = $4 AND state = $5`,
				StateInterrupted, now.UnixMicro(), msg, r.in.ID, StateRunning); err != nil {
				return nil, fmt.Errorf("audit store %s: marking %s interrupted: %w", s.where, r.in.ID, err)
			}
			r.o.Status, r.o.Error = ResultInterrupted, msg
			r.o.Options[0].Error = msg
		case StateFailure:
			r.o.Status, r.o.Error = dispatch.StatusFailed, r.errMsg
		case StateDryRun:
			r.o.Status = dispatch.StatusPlanned
		case StateInterrupted:
			r.o.Status, r.o.Error = ResultInterrupted, r.errMsg
		default:
			r.o.Status = dispatch.StatusExecuted
		}
		id, err := s.insertRecordTx(ctx, tx, r.o, "")
		if err != nil {
			return nil, err
		}
		if r.state == StateRunning {
			r.in.RecordID = id
			interrupted = append(interrupted, r.in)
		}
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("audit store %s: reaping: %w", s.where, err)
	}
	return interrupted, nil
}

// DeleteBefore deletes records and actions older than cutoff, batch rows per
// statement so that no statement holds locks for long, and returns how many
// records and actions it deleted. Running actions are kept.
func (s *Store) DeleteBefore(ctx context.Context, cutoff time.Time, batch int) (records, actions int64, err error) {
	if batch <= 0 {
		batch = 1000
	}
	for _, q := range []struct {
		n   *int64
		sql string
	}{
		{&records, `DELETE FROM audit_remediations WHERE id IN (SELECT id FROM audit_remediations WHERE recorded_us < $1 LIMIT $2)`},
		{&actions, `DELETE FROM audit_actions WHERE id IN (SELECT id FROM audit_actions WHERE intent_us < $1 AND state <> 'running' LIMIT $2)`},
	} {
		for {
			if err := ctx.Err(); err != nil {
				return records, actions, err
			}
			res, err := s.db.ExecContext(ctx, q.sql, cutoff.UnixMicro(), batch)
			if err != nil {
				return records, actions, fmt.Errorf("audit store %s: deleting old records: %w", s.where, err)
			}
			n, err := res.RowsAffected()
			if err != nil {
				return records, actions, fmt.Errorf("audit store %s: deleting old records: %w", s.where, err)
			}
			*q.n += n
			if n < int64(batch) {
				break
			}
		}
	}
	return records, actions, nil
}
