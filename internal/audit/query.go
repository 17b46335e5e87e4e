package audit

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limits of one page of records.
const (
	DefaultLimit = 50
	MaxLimit     = 1000
)

// Filter selects records, newest first. Empty fields select everything.
type Filter struct {
	Alertname string
	Runbook   string
	// Target matches records whose target contains it (case-sensitive), e.g.
	// "order-service" or "Deployment order-context/order-service".
	Target string
	// Action is the action taken (the chosen option's).
	Action string
	// Result is the outcome status (executed, planned, failed, denied,
	// dropped, resolved, no_runbook, invalid_target) or interrupted.
	Result string
	// Since (inclusive) and Until (exclusive) bound the time the record was
	// written.
	Since, Until time.Time
	// Limit is the page size (DefaultLimit when 0, at most MaxLimit).
	Limit int
	// Cursor continues a previous page (Page.NextCursor).
	Cursor string
}

// Record is one processed alert, as lists show it.
type Record struct {
	ID          string    `json:"id"`
	Time        time.Time `json:"time"`
	Instance    string    `json:"instance"`
	Alertname   string    `json:"alertname"`
	Fingerprint string    `json:"fingerprint"`
	AlertStatus string    `json:"alertStatus"`
	Runbook     string    `json:"runbook"`
	Target      string    `json:"target"`
	Action      string    `json:"action"`
	Result      string    `json:"result"`
	Error       string    `json:"error,omitempty"`
}

// Page is one page of records and the cursor of the next ("" at the end).
type Page struct {
	Items      []Record `json:"items"`
	NextCursor string   `json:"nextCursor,omitempty"`
}

// Detail is one record with everything: the outcome (investigations and
// their evidence, options with decisions and reasons) and the actions run,
// intent and outcome.
type Detail struct {
	Record
	Outcome json.RawMessage `json:"outcome"`
	Actions []Action        `json:"actions"`
}

// Action is one action's intent and outcome.
type Action struct {
	ID          string          `json:"id"`
	Instance    string          `json:"instance"`
	Incarnation string          `json:"incarnation"`
	Option      int             `json:"option"`
	Action      string          `json:"action"`
	Target      string          `json:"target"`
	DryRun      bool            `json:"dryRun"`
	State       string          `json:"state"`
	IntentAt    time.Time       `json:"intentAt"`
	OutcomeAt   *time.Time      `json:"outcomeAt,omitempty"`
	Duration    *float64        `json:"durationSeconds,omitempty"`
	Params      json.RawMessage `json:"params"`
	Decision    json.RawMessage `json:"decision"`
	Result      json.RawMessage `json:"result,omitempty"`
	Error       string          `json:"error,omitempty"`
}

// Results are the values Filter.Result accepts.
var Results = []string{"executed", "planned", "failed", "denied", "dropped", "resolved", "no_runbook", "invalid_target", ResultInterrupted}

// ErrBadCursor is returned for a cursor that this store did not issue.
var ErrBadCursor = errors.New("invalid cursor")

// cursor is the position after the last record of a page.
type cursor struct {
	us int64
	id string
}

func (c cursor) encode() string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(c.us, 10) + "/" + c.id))
}

func decodeCursor(s string) (cursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, ErrBadCursor
	}
	us, id, ok := strings.Cut(string(b), "/")
	if !ok || id == "" || len(id) > 64 {
		return cursor{}, ErrBadCursor
	}
	for _, r := range id {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return cursor{}, ErrBadCursor
		}
	}
	n, err := strconv.ParseInt(us, 10, 64)
	if err != nil || n < 0 {
		return cursor{}, ErrBadCursor
	}
	return cursor{us: n, id: id}, nil
}

// Validate checks f as the API and `remediator history` take it.
func (f Filter) Validate() error {
	if f.Limit < 0 || f.Limit > MaxLimit {
		return fmt.Errorf("limit must be between 1 and %d", MaxLimit)
	}
	if f.Result != "" && !contains(Results, f.Result) {
		return fmt.Errorf("result %q: want one of %s", f.Result, strings.Join(Results, ", "))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return errors.New("until must be after since")
	}
	if f.Cursor != "" {
		if _, err := decodeCursor(f.Cursor); err != nil {
			return err
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// List returns one page of the records f selects, newest first.
func (s *Store) List(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = DefaultLimit
	}
	var (
		where []string
		args  []any
	)
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	for _, eq := range []struct{ col, v string }{
		{"alertname", f.Alertname}, {"runbook", f.Runbook}, {"action", f.Action}, {"result", f.Result},
	} {
		if eq.v != "" {
			where = append(where, eq.col+" = "+arg(eq.v))
		}
	}
	if f.Target != "" {
		where = append(where, fmt.Sprintf(s.d.contains, "target", arg(f.Target)))
	}
	if !f.Since.IsZero() {
		where = append(where, "recorded_us >= "+arg(f.Since.UnixMicro()))
	}
	if !f.Until.IsZero() {
		where = append(where, "recorded_us < "+arg(f.Until.UnixMicro()))
	}
	if f.Cursor != "" {
		c, _ := decodeCursor(f.Cursor) // validated above
		us := arg(c.us)
		where = append(where, "(recorded_us < "+us+" OR (recorded_us = "+us+" AND id < "+arg(c.id)+"))")
	}
	q := `SELECT id, recorded_us, instance, alertname, fingerprint, alert_status, runbook, target, action, result, error
FROM audit_remediations`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	q += " ORDER BY recorded_us DESC, id DESC LIMIT " + arg(limit+1)
	rows, err := s.db.QueryContext(ctx, q, args...)
	if err != nil {
		return Page{}, fmt.Errorf("audit store %s: listing: %w", s.where, err)
	}
	defer rows.Close()
	page := Page{Items: []Record{}}
	var last int64
	for rows.Next() {
		var r Record
		if err := rows.Scan(&r.ID, &last, &r.Instance, &r.Alertname, &r.Fingerprint, &r.AlertStatus, &r.Runbook,
			&r.Target, &r.Action, &r.Result, &r.Error); err != nil {
			return Page{}, fmt.Errorf("audit store %s: listing: %w", s.where, err)
		}
		r.Time = time.UnixMicro(last).UTC()
		page.Items = append(page.Items, r)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("audit store %s: listing: %w", s.where, err)
	}
	if len(page.Items) > limit {
		page.Items = page.Items[:limit]
		l := page.Items[limit-1]
		page.NextCursor = cursor{us: l.Time.UnixMicro(), id: l.ID}.encode()
	}
	return page, nil
}

// Get returns one record with its outcome and actions; ErrNotFound when
// there is none.
func (s *Store) Get(ctx context.Context, id string) (Detail, error) {
	var (
		d       Detail
		us      int64
		outcome string
	)
	err := s.db.QueryRowContext(ctx, `SELECT id, recorded_us, instance, alertname, fingerprint, alert_status, runbook, target, action,
    result, error, outcome FROM audit_remediations WHERE id = $1`, id).Scan(&d.ID, &us, &d.Instance, &d.Alertname, &d.Fingerprint,
		&d.AlertStatus, &d.Runbook, &d.Target, &d.Action, &d.Result, &d.Error, &outcome)
	if errors.Is(err, sql.ErrNoRows) {
		return Detail{}, ErrNotFound
	}
	if err != nil {
		return Detail{}, fmt.Errorf("audit store %s: reading %s: %w", s.where, id, err)
	}
	d.Time = time.UnixMicro(us).UTC()
	d.Outcome = json.RawMessage(outcome)
	d.Actions, err = s.actions(ctx, `remediation_id = $1`, id)
	if err != nil {
		return Detail{}, err
	}
	return d, nil
}

// Actions returns the actions in the given state ("" for all), oldest first.
func (s *Store) Actions(ctx context.Context, state string) ([]Action, error) {
	if state == "" {
		return s.actions(ctx, `1 = 1`)
	}
	return s.actions(ctx, `state = $1`, state)
}

func (s *Store) actions(ctx context.Context, where string, args ...any) ([]Action, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, instance, incarnation, option_no, action, target, dry_run, state, intent_us,
    outcome_us, duration_us, params, decision, result, error FROM audit_actions WHERE `+where+` ORDER BY intent_us, id`, args...)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: reading actions: %w", s.where, err)
	}
	defer rows.Close()
	out := []Action{}
	for rows.Next() {
		var (
			a                Action
			dryRun           int
			intentUs         int64
			outcomeUs, durUs sql.NullInt64
			params, decision string
			result           sql.NullString
		)
		if err := rows.Scan(&a.ID, &a.Instance, &a.Incarnation, &a.Option, &a.Action, &a.Target, &dryRun, &a.State, &intentUs,
			&outcomeUs, &durUs, &params, &decision, &result, &a.Error); err != nil {
			return nil, fmt.Errorf("audit store %s: reading actions: %w", s.where, err)
		}
		a.DryRun = dryRun == 1
		a.IntentAt = time.UnixMicro(intentUs).UTC()
		if outcomeUs.Valid {
			t := time.UnixMicro(outcomeUs.Int64).UTC()
			a.OutcomeAt = &t
		}
		if durUs.Valid {
			d := time.Duration(durUs.Int64 * int64(time.Microsecond)).Seconds()
			a.Duration = &d
		}
		a.Params, a.Decision = json.RawMessage(params), json.RawMessage(decision)
		if result.Valid {
			a.Result = json.RawMessage(result.String)
		}
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit store %s: reading actions: %w", s.where, err)
	}
	return out, nil
}
