package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
)

// Report is postgres.connection_report's evidence: the server's client
// connections (they are what max_connections limits) and, in InDatabase, the
// alert's database alone.
type Report struct {
	Database                     string `json:"database"`
	MaxConnections               int    `json:"max_connections"`
	SuperuserReservedConnections int    `json:"superuser_reserved_connections"`
	// Connections counts client backends on the whole server, the daemon's
	// own included.
	Connections int `json:"connections"`
	// Usage is Connections as a share of max_connections (0.95 = 95%).
	Usage          float64        `json:"usage"`
	ByState        map[string]int `json:"by_state"`
	ByDatabase     map[string]int `json:"by_database"`
	ByApplication  map[string]int `json:"by_application"`
	ByUser         map[string]int `json:"by_user"`
	OwnConnections int            `json:"own_connections"`
	// The oldest idle and idle-in-transaction sessions, in seconds since
	// their state last changed; 0 when there is none.
	OldestIdleSeconds              float64        `json:"oldest_idle_seconds"`
	OldestIdleInTransactionSeconds float64        `json:"oldest_idle_in_transaction_seconds"`
	InDatabase                     DatabaseReport `json:"in_database"`
	// NotVisible counts sessions whose state this role may not read; they
	// are counted under the state "(not visible)".
	NotVisible int    `json:"not_visible,omitempty"`
	Note       string `json:"note,omitempty"`
}

// DatabaseReport is the part of a Report about one database.
type DatabaseReport struct {
	Connections                    int            `json:"connections"`
	ByState                        map[string]int `json:"by_state"`
	OldestIdleSeconds              float64        `json:"oldest_idle_seconds"`
	OldestIdleInTransactionSeconds float64        `json:"oldest_idle_in_transaction_seconds"`
}

// Labels used in a Report for values PostgreSQL leaves empty.
const (
	stateNotVisible = "(not visible)"
	noApplication   = "(none)"
)

const notVisibleNote = "this role may not read the state of some sessions: grant it pg_monitor (or pg_read_all_stats)"

// activityQuery groups the server's client connections. Sessions whose
// backend_type is NULL are other roles' sessions this role may not inspect
// (PostgreSQL hides all but their database, user and application); those
// with a database are counted too, since they hold connection slots.
const activityQuery = `
SELECT a.backend_type IS NULL AS hidden,
       coalesce(a.state, ''), coalesce(a.datname, ''), coalesce(a.application_name, ''), coalesce(a.usename, ''),
       count(*)::int,
       coalesce(max(extract(epoch FROM now() - a.state_change)), 0)::float8,
       (count(*) FILTER (WHERE a.pid = ANY($1::int4[])))::int
FROM pg_stat_activity a
WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datname IS NOT NULL)
GROUP BY 1, 2, 3, 4, 5`

const settingsQuery = `SELECT name, setting::int FROM pg_settings WHERE name IN ('max_connections', 'superuser_reserved_connections')`

// settings reads max_connections and superuser_reserved_connections.
func (tg *target) settings(ctx context.Context) (maxConns, reserved int, err error) {
	rows, err := tg.pool.Query(ctx, settingsQuery)
	if err != nil {
		return 0, 0, fmt.Errorf("reading pg_settings: %w", err)
	}
	for rows.Next() {
		var name string
		var v int
		if err := rows.Scan(&name, &v); err != nil {
			return 0, 0, fmt.Errorf("reading pg_settings: %w", err)
		}
		switch name {
		case "max_connections":
			maxConns = v
		case "superuser_reserved_connections":
			reserved = v
		}
	}
	if err := rows.Err(); err != nil {
		return 0, 0, fmt.Errorf("reading pg_settings: %w", err)
	}
	if maxConns <= 0 {
		return 0, 0, fmt.Errorf("reading pg_settings: no max_connections")
	}
	return maxConns, reserved, nil
}

func (tg *target) connectionReport(ctx context.Context, database string) (*Report, error) {
	maxConns, reserved, err := tg.settings(ctx)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Database: database, MaxConnections: maxConns, SuperuserReservedConnections: reserved,
		ByState: map[string]int{}, ByDatabase: map[string]int{}, ByApplication: map[string]int{}, ByUser: map[string]int{},
		InDatabase: DatabaseReport{ByState: map[string]int{}},
	}
	rows, err := tg.pool.Query(ctx, activityQuery, tg.ownPIDs())
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	var (
		hidden              bool
		state, db, app, usr string
		n, own              int
		oldest              float64
	)
	_, err = pgx.ForEachRow(rows, []any{&hidden, &state, &db, &app, &usr, &n, &oldest, &own}, func() error {
		if hidden {
			state = stateNotVisible
			r.NotVisible += n
		}
		if app == "" {
			app = noApplication
		}
		r.Connections += n
		r.OwnConnections += own
		r.ByState[state] += n
		r.ByDatabase[db] += n
		r.ByApplication[app] += n
		r.ByUser[usr] += n
		switch state {
		case "idle":
			r.OldestIdleSeconds = max(r.OldestIdleSeconds, oldest)
		case "idle in transaction", "idle in transaction (aborted)":
			r.OldestIdleInTransactionSeconds = max(r.OldestIdleInTransactionSeconds, oldest)
		}
		if db == database {
			d := &r.InDatabase
			d.Connections += n
			d.ByState[state] += n
			switch state {
			case "idle":
				d.OldestIdleSeconds = max(d.OldestIdleSeconds, oldest)
			case "idle in transaction", "idle in transaction (aborted)":
				d.OldestIdleInTransactionSeconds = max(d.OldestIdleInTransactionSeconds, oldest)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading pg_stat_activity: %w", err)
	}
	r.Usage = round(float64(r.Connections)/float64(maxConns), 4)
	r.OldestIdleSeconds = round(r.OldestIdleSeconds, 1)
	r.OldestIdleInTransactionSeconds = round(r.OldestIdleInTransactionSeconds, 1)
	r.InDatabase.OldestIdleSeconds = round(r.InDatabase.OldestIdleSeconds, 1)
	r.InDatabase.OldestIdleInTransactionSeconds = round(r.InDatabase.OldestIdleInTransactionSeconds, 1)
	if r.NotVisible > 0 {
		r.Note = notVisibleNote
	}
	tg.observe(r.Connections)
	return r, nil
}

// ownPIDs lists the backend PIDs of the pool's connections.
func (tg *target) ownPIDs() []int32 {
	var pids []int32
	tg.own.Range(func(k, _ any) bool {
		pids = append(pids, int32(k.(uint32)))
		return true
	})
	return pids
}

// observe records a connection count for the peak a recommendation reports.
func (tg *target) observe(n int) int {
	for {
		p := tg.peak.Load()
		if int64(n) <= p {
			return int(p)
		}
		if tg.peak.CompareAndSwap(p, int64(n)) {
			return n
		}
	}
}

func round(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// Recommendation is postgres.recommend_max_connections's evidence. The
// daemon never changes max_connections: that needs a restart.
type Recommendation struct {
	MaxConnections               int `json:"max_connections"`
	SuperuserReservedConnections int `json:"superuser_reserved_connections"`
	// CurrentConnections counts client connections now.
	CurrentConnections int `json:"current_connections"`
	// PeakConnections is the most this daemon has seen; PeakBasis says
	// what that covers.
	PeakConnections int    `json:"peak_connections"`
	PeakBasis       string `json:"peak_basis"`
	// SuggestedMaxConnections is the peak plus 25% headroom, rounded up to
	// a multiple of 10.
	SuggestedMaxConnections int    `json:"suggested_max_connections"`
	Recommendation          string `json:"recommendation"`
	// Changed is always false: recorded so that the audit record says so.
	Changed bool `json:"changed"`
}

const peakBasis = "the highest client connection count this remediator process has observed on this server " +
	"(this call and earlier connection reports since it started); PostgreSQL keeps no history of connection counts, " +
	"so check your metrics (e.g. postgres_exporter's pg_stat_activity_count) for the real peak"

func (tg *target) recommendMaxConnections(ctx context.Context) (*Recommendation, error) {
	maxConns, reserved, err := tg.settings(ctx)
	if err != nil {
		return nil, err
	}
	var current int
	err = tg.pool.QueryRow(ctx, `SELECT count(*)::int FROM pg_stat_activity a
		WHERE a.backend_type = 'client backend' OR (a.backend_type IS NULL AND a.datname IS NOT NULL)`).Scan(&current)
	if err != nil {
		return nil, fmt.Errorf("counting connections in pg_stat_activity: %w", err)
	}
	peak := tg.observe(current)
	rec := &Recommendation{
		MaxConnections: maxConns, SuperuserReservedConnections: reserved,
		CurrentConnections: current, PeakConnections: peak, PeakBasis: peakBasis,
		SuggestedMaxConnections: suggest(peak),
	}
	if rec.SuggestedMaxConnections > maxConns {
		rec.Recommendation = fmt.Sprintf("raise max_connections from %d to %d (peak %d + 25%% headroom); it needs a restart, "+
			"and each connection costs memory: a pooler (PgBouncer) or smaller application pools may be the better fix",
			maxConns, rec.SuggestedMaxConnections, peak)
	} else {
		rec.Recommendation = fmt.Sprintf("keep max_connections at %d: the peak seen (%d) leaves 25%% headroom", maxConns, peak)
	}
	return rec, nil
}

// suggest is peak + 25%, rounded up to a multiple of 10 (at least 10).
func suggest(peak int) int {
	v := int(math.Ceil(float64(peak) * 1.25))
	return max(10, (v+9)/10*10)
}
