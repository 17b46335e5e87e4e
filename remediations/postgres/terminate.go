package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Session is one backend of the database as terminate_idle saw it.
type Session struct {
	PID         int32  `json:"pid"`
	User        string `json:"user"`
	Application string `json:"application"`
	Database    string `json:"database,omitempty"`
	State       string `json:"state"`
	// IdleSeconds is the time since the session entered its state.
	IdleSeconds float64 `json:"idle_seconds"`
	ClientAddr  string  `json:"client_addr,omitempty"`
	BackendType string  `json:"backend_type,omitempty"`
}

// SkippedSession is a session terminate_idle left alone, and why.
type SkippedSession struct {
	Session
	Reason string `json:"reason"`
}

// TerminateOutcome is postgres.terminate_idle's evidence: what it ended and
// what it left, with the reason, so the audit record answers "why not that one".
// A preview (dry-run) fills WouldTerminate instead of Terminated.
type TerminateOutcome struct {
	// Preview is true for a dry-run: nothing was terminated.
	Preview                  bool   `json:"preview,omitempty"`
	Database                 string `json:"database"`
	Role                     string `json:"role"`
	IdleSeconds              int64  `json:"idle_seconds"`
	IncludeIdleInTransaction bool   `json:"include_idle_in_transaction"`
	// MaxSessions is the cap applied; 0 means none.
	MaxSessions int64     `json:"max_sessions"`
	Terminated  []Session `json:"terminated"`
	// WouldTerminate is, in a preview, the sessions a real run would end
	// now, in the order it would end them (oldest idle first), the cap
	// applied. A real run may end fewer: a session that runs a query in
	// between, or ends, is left alone.
	WouldTerminate []Session        `json:"would_terminate,omitempty"`
	Skipped        []SkippedSession `json:"skipped"`
	// SkippedByReason counts every skipped session, listed or not.
	SkippedByReason map[string]int `json:"skipped_by_reason"`
	// SkippedOmitted counts skipped sessions left out of Skipped to keep the
	// record small.
	SkippedOmitted int `json:"skipped_omitted,omitempty"`
}

// Why terminate_idle leaves a session alone. Fixed strings, so that they can
// be counted and matched; the session's details say the rest.
const (
	ReasonOwnSession        = "remediator's own session"
	ReasonNotVisible        = "state not visible to this role (needs pg_read_all_stats)"
	ReasonNotClient         = "not a client backend"
	ReasonSuperuser         = "superuser session"
	ReasonNotIdle           = "not idle"
	ReasonIdleInTransaction = "idle in transaction (include_idle_in_transaction is false)"
	ReasonYounger           = "younger than threshold"
	ReasonNotOnlyApp        = "application not in only_applications"
	ReasonExcludedApp       = "excluded application"
	ReasonNotOnlyUser       = "user not in only_users"
	ReasonExcludedUser      = "excluded user"
	ReasonCap               = "cap reached"
	ReasonChanged           = "no longer idle when terminating"
	ReasonGone              = "already ended"
	ReasonDenied            = "permission denied (needs pg_signal_backend)"
)

// maxListedSkipped bounds TerminateOutcome.Skipped.
const maxListedSkipped = 200

// sessionsQuery lists every backend of one database, oldest state first.
// Filtering happens in Go so that each session left alone gets its reason.
// The last column says whether the daemon's role has the privileges of the
// session's role, which lets it terminate the session without
// pg_signal_backend (what PostgreSQL checks; a preview predicts with it).
const sessionsQuery = `
SELECT a.pid, a.backend_type IS NULL, coalesce(a.backend_type, ''), coalesce(a.state, ''), a.state_change,
       coalesce(extract(epoch FROM now() - a.state_change), 0)::float8,
       coalesce(a.usename, ''), coalesce(a.application_name, ''), coalesce(host(a.client_addr), ''),
       coalesce(r.rolsuper, false), coalesce(pg_has_role(a.usesysid, 'USAGE'), false)
FROM pg_stat_activity a LEFT JOIN pg_roles r ON r.oid = a.usesysid
WHERE a.datname = $1
ORDER BY a.state_change NULLS LAST, a.pid`

// terminateQuery ends one session only if it is still in the idle period
// the selection saw (same state, same state_change): a session that ran a
// query in between is left alone. It returns no row then, false when the
// backend is already gone, and fails with 42501 without the privilege.
const terminateQuery = `
SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a
WHERE a.pid = $1 AND a.datname = $2 AND a.state = $3 AND a.state_change = $4
  AND a.backend_type = 'client backend'
  AND NOT coalesce((SELECT rolsuper FROM pg_roles WHERE oid = a.usesysid), false)`

type candidate struct {
	Session
	stateChange time.Time
	// asRole: the daemon's role has the privileges of the session's role.
	asRole bool
}

// skip records a session left alone.
func (out *TerminateOutcome) skip(s Session, reason string) {
	out.SkippedByReason[reason]++
	if len(out.Skipped) < maxListedSkipped {
		out.Skipped = append(out.Skipped, SkippedSession{Session: s, Reason: reason})
	} else {
		out.SkippedOmitted++
	}
}

// selection is what terminate_idle chose to end, before the cap, oldest
// idle first: the run and its preview share it.
type selection struct {
	out        *TerminateOutcome
	candidates []candidate
	// canSignal: the role has pg_signal_backend (or is a superuser).
	canSignal bool
}

// selectIdle reads the database's sessions on conn and sorts them into
// candidates and skipped ones (with the reason), p's filters applied.
func (tg *target) selectIdle(ctx context.Context, conn *pgxpool.Conn, database string, p *TerminateIdleParams) (*selection, error) {
	sel := &selection{out: &TerminateOutcome{
		Database: database, IdleSeconds: p.IdleSeconds, IncludeIdleInTransaction: p.IncludeIdleInTransaction,
		MaxSessions: p.MaxSessions, Terminated: []Session{}, Skipped: []SkippedSession{}, SkippedByReason: map[string]int{},
	}}
	out := sel.out
	var myPID int32
	err := conn.QueryRow(ctx, `SELECT current_user, pg_backend_pid(), pg_has_role('pg_signal_backend', 'USAGE')`).
		Scan(&out.Role, &myPID, &sel.canSignal)
	if err != nil {
		return nil, fmt.Errorf("reading the session's role: %w", err)
	}
	own := map[int32]bool{myPID: true}
	for _, pid := range tg.ownPIDs() {
		own[pid] = true
	}

	rows, err := conn.Query(ctx, sessionsQuery, database)
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	var (
		c       candidate
		hidden  bool
		super   bool
		changed *time.Time
	)
	c.Database = database
	_, err = pgx.ForEachRow(rows, []any{&c.PID, &hidden, &c.BackendType, &c.State, &changed, &c.IdleSeconds,
		&c.User, &c.Application, &c.ClientAddr, &super, &c.asRole}, func() error {
		c.IdleSeconds = max(0, round(c.IdleSeconds, 1)) // never -0 for an active session
		mine := own[c.PID] || (c.Application == tg.appName && c.User == out.Role)
		if reason := p.reason(c.Session, mine, hidden, super); reason != "" {
			out.skip(c.Session, reason)
			return nil
		}
		if changed == nil { // never for an idle client backend; be safe
			out.skip(c.Session, ReasonNotIdle)
			return nil
		}
		c.stateChange = *changed
		sel.candidates = append(sel.candidates, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	return sel, nil
}

// terminateIdle ends the selected sessions, at most p.MaxSessions of them,
// oldest idle first. With preview it ends none: it lists in WouldTerminate
// the ones it would end, and skips those the role may not signal (a real
// run is refused those by PostgreSQL) for the same reason, so the cap, the
// skip reasons and the privilege error are the real run's.
func (tg *target) terminateIdle(ctx context.Context, database string, p *TerminateIdleParams, preview bool) (*TerminateOutcome, error) {
	// One connection for the whole call: pg_backend_pid() must stay the same.
	conn, err := tg.pool.Acquire(ctx)
	if err != nil {
		return nil, fmt.Errorf("connecting: %w", err)
	}
	defer conn.Release()

	sel, err := tg.selectIdle(ctx, conn, database, p)
	if err != nil {
		return nil, err
	}
	out := sel.out
	out.Preview = preview
	if preview {
		out.WouldTerminate = []Session{}
	}

	var denied []string // users whose sessions the role may not signal
	deny := func(c candidate) {
		out.skip(c.Session, ReasonDenied)
		if !slices.Contains(denied, c.User) {
			denied = append(denied, c.User)
		}
	}
	for _, c := range sel.candidates {
		if p.MaxSessions > 0 && int64(len(out.Terminated)+len(out.WouldTerminate)) >= p.MaxSessions {
			out.skip(c.Session, ReasonCap)
			continue
		}
		if preview {
			if !sel.canSignal && !c.asRole {
				deny(c)
			} else {
				out.WouldTerminate = append(out.WouldTerminate, c.Session)
			}
			continue
		}
		var ok bool
		err := conn.QueryRow(ctx, terminateQuery, c.PID, database, c.State, c.stateChange).Scan(&ok)
		var pgErr *pgconn.PgError
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			out.skip(c.Session, ReasonChanged)
		case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
			deny(c)
		case err != nil:
			return out, fmt.Errorf("terminating pid %d: %w (terminated %d before this)", c.PID, err, len(out.Terminated))
		case !ok:
			out.skip(c.Session, ReasonGone) // PostgreSQL warned: not a backend any more
		default:
			out.Terminated = append(out.Terminated, c.Session)
		}
	}
	return out, privilegeError(out, denied, sel.canSignal)
}

// reason says why a session must be left alone, "" when it may be ended.
func (p *TerminateIdleParams) reason(s Session, own, hidden, super bool) string {
	switch {
	case own:
		return ReasonOwnSession
	case hidden:
		return ReasonNotVisible
	case s.BackendType != "client backend":
		return ReasonNotClient
	case super:
		return ReasonSuperuser
	case s.State == "idle":
	case s.State == "idle in transaction" || s.State == "idle in transaction (aborted)":
		if !p.IncludeIdleInTransaction {
			return ReasonIdleInTransaction
		}
	default:
		return ReasonNotIdle
	}
	switch {
	case s.IdleSeconds < float64(p.IdleSeconds):
		return ReasonYounger
	case len(p.OnlyApplications) > 0 && !slices.Contains(p.OnlyApplications, s.Application):
		return ReasonNotOnlyApp
	case slices.Contains(p.ExcludeApplications, s.Application):
		return ReasonExcludedApp
	case len(p.OnlyUsers) > 0 && !slices.Contains(p.OnlyUsers, s.User):
		return ReasonNotOnlyUser
	case slices.Contains(p.ExcludeUsers, s.User):
		return ReasonExcludedUser
	}
	return ""
}

// privilegeError names the grants the daemon's role lacks, when it had to
// leave sessions alone for want of them. The action still did what it could
// (out says what); the error makes the alert's record say "failed" so that
// the missing grant is fixed rather than silently working around it.
func privilegeError(out *TerminateOutcome, denied []string, canSignal bool) error {
	role := pgx.Identifier{out.Role}.Sanitize()
	var problems []string
	if n := out.SkippedByReason[ReasonDenied]; n > 0 {
		problems = append(problems, fmt.Sprintf("may not terminate %d session(s) of role(s) %s: it needs pg_signal_backend (GRANT pg_signal_backend TO %s)",
			n, strings.Join(denied, ", "), role))
	}
	if n := out.SkippedByReason[ReasonNotVisible]; n > 0 {
		msg := fmt.Sprintf("cannot see the state of %d session(s) of database %q: it needs pg_read_all_stats (GRANT pg_monitor TO %s)", n, out.Database, role)
		if !canSignal {
			msg += fmt.Sprintf(" and, to end other roles' sessions, pg_signal_backend (GRANT pg_signal_backend TO %s)", role)
		}
		problems = append(problems, msg)
	}
	if len(problems) == 0 {
		return nil
	}
	if out.Preview {
		return fmt.Errorf("role %q %s (dry-run: would terminate %d)", out.Role, strings.Join(problems, "; "), len(out.WouldTerminate))
	}
	return fmt.Errorf("role %q %s (terminated %d)", out.Role, strings.Join(problems, "; "), len(out.Terminated))
}
