// Package postgres declares the PostgreSQL investigations and resolutions:
// their parameters, validation and plans. The pgx executor that runs them
// lives beside these declarations.
package postgres

import (
	"errors"
	"fmt"
	"strings"

	"github.com/remediator/remediator/remediations"
)

// KindPostgres is the target kind of a PostgreSQL database.
const KindPostgres = "PostgreSQL"

// Actions returns every PostgreSQL action.
func Actions() []remediations.Action {
	return []remediations.Action{ConnectionReport, TerminateIdle, RecommendMaxConnections}
}

func database(t remediations.Target) (string, error) {
	if t.Database == "" {
		return "", errors.New("target needs a database (the alert's database/datname label)")
	}
	return t.Database, nil
}

// ConnectionReport summarises pg_stat_activity.
var ConnectionReport = remediations.Define(remediations.Spec{
	Name:        "postgres.connection_report",
	Description: "Connections by state, database, application and user, oldest idle ages, and usage of max_connections.",
	Kind:        remediations.Investigation,
	TargetKinds: []string{KindPostgres},
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	if _, err := database(t); err != nil {
		return nil, err
	}
	return []string{
		"SELECT state, datname, application_name, usename, count(*), max(now()-state_change) FROM pg_stat_activity GROUP BY ...",
		"SELECT setting FROM pg_settings WHERE name = 'max_connections'",
	}, nil
})

// TerminateIdleParams are the parameters of postgres.terminate_idle.
type TerminateIdleParams struct {
	IdleSeconds              int64    `json:"idle_seconds" doc:"terminate sessions idle longer than this (runbook: 600)"`
	IncludeIdleInTransaction bool     `json:"include_idle_in_transaction,omitempty" doc:"also terminate sessions idle in transaction"`
	MaxSessions              int64    `json:"max_sessions,omitempty" doc:"terminate at most this many per run (policy caps it)"`
	OnlyApplications         []string `json:"only_applications,omitempty" doc:"only sessions of these application_names"`
	ExcludeApplications      []string `json:"exclude_applications,omitempty" doc:"never sessions of these application_names"`
	OnlyUsers                []string `json:"only_users,omitempty" doc:"only sessions of these users"`
	ExcludeUsers             []string `json:"exclude_users,omitempty" doc:"never sessions of these users"`
}

// Validate implements remediations.Validator.
func (p *TerminateIdleParams) Validate() error {
	if p.IdleSeconds <= 0 {
		return errors.New("idle_seconds must be positive")
	}
	if p.MaxSessions < 0 {
		return errors.New("max_sessions must not be negative")
	}
	return nil
}

// TerminateIdle ends sessions idle past a threshold.
var TerminateIdle = remediations.Define(remediations.Spec{
	Name:        "postgres.terminate_idle",
	Description: "pg_terminate_backend on sessions of one database idle longer than idle_seconds; never its own, superuser or replication sessions.",
	Kind:        remediations.Resolution,
	TargetKinds: []string{KindPostgres},
	Example:     remediations.Params{"idle_seconds": 600, "max_sessions": 50},
}, func(t remediations.Target, p *TerminateIdleParams) ([]string, error) {
	db, err := database(t)
	if err != nil {
		return nil, err
	}
	states := "'idle'"
	if p.IncludeIdleInTransaction {
		states = "'idle', 'idle in transaction'"
	}
	filters := []string{
		fmt.Sprintf("datname = %s", quote(db)),
		"state IN (" + states + ")",
		fmt.Sprintf("state_change < now() - interval '%d seconds'", p.IdleSeconds),
		"pid <> pg_backend_pid()", "NOT rolsuper", "backend_type = 'client backend'",
	}
	for _, f := range []struct {
		col, op string
		vals    []string
	}{
		{"application_name", "IN", p.OnlyApplications},
		{"application_name", "NOT IN", p.ExcludeApplications},
		{"usename", "IN", p.OnlyUsers},
		{"usename", "NOT IN", p.ExcludeUsers},
	} {
		if len(f.vals) > 0 {
			q := make([]string, len(f.vals))
			for i, v := range f.vals {
				q[i] = quote(v)
			}
			filters = append(filters, fmt.Sprintf("%s %s (%s)", f.col, f.op, strings.Join(q, ", ")))
		}
	}
	limit := ""
	if p.MaxSessions > 0 {
		limit = fmt.Sprintf(" ORDER BY state_change LIMIT %d", p.MaxSessions)
	}
	return []string{"SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity JOIN pg_roles ON usesysid = pg_roles.oid WHERE " +
		strings.Join(filters, " AND ") + limit}, nil
})

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// RecommendMaxConnections records a max_connections recommendation; changing
// it needs a restart, so the daemon never does.
var RecommendMaxConnections = remediations.Define(remediations.Spec{
	Name:        "postgres.recommend_max_connections",
	Description: "Record a max_connections recommendation (current value, peak usage, suggested value); never changes it.",
	Kind:        remediations.Resolution,
	TargetKinds: []string{KindPostgres},
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	if _, err := database(t); err != nil {
		return nil, err
	}
	return []string{
		"SELECT setting FROM pg_settings WHERE name = 'max_connections'",
		"SELECT count(*) FROM pg_stat_activity",
		"record the recommendation (no change: max_connections needs a restart)",
	}, nil
})
