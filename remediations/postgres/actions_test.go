package postgres_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/postgres"
)

type P = remediations.Params

var orders = remediations.Target{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432"}

const terminate = "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity JOIN pg_roles ON usesysid = pg_roles.oid WHERE "

func TestActionsList(t *testing.T) {
	var names []string
	for _, a := range postgres.Actions() {
		names = append(names, a.Spec().Name)
	}
	want := []string{"postgres.connection_report", "postgres.terminate_idle", "postgres.recommend_max_connections"}
	if !slices.Equal(names, want) {
		t.Errorf("Actions() = %v, want %v", names, want)
	}
}

func TestValidate(t *testing.T) {
	const ip = "invalid params: "
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		params  P
		wantErr string
	}{
		{"connection_report", postgres.ConnectionReport, P{}, ""},
		{"connection_report takes no params", postgres.ConnectionReport, P{"database": "x"}, ip + `unknown parameter "database" (the action takes none)`},
		{"terminate_idle", postgres.TerminateIdle, P{"idle_seconds": 600, "max_sessions": 50, "exclude_applications": []any{"pgbouncer"}}, ""},
		{"terminate_idle all filters", postgres.TerminateIdle, P{"idle_seconds": 60, "include_idle_in_transaction": true,
			"only_applications": []string{"a"}, "exclude_applications": []string{"b"}, "only_users": []string{"c"}, "exclude_users": []string{"d"}}, ""},
		{"terminate_idle no idle_seconds", postgres.TerminateIdle, P{"max_sessions": 50}, ip + "idle_seconds must be positive"},
		{"terminate_idle zero idle_seconds", postgres.TerminateIdle, P{"idle_seconds": 0}, ip + "idle_seconds must be positive"},
		{"terminate_idle negative idle_seconds", postgres.TerminateIdle, P{"idle_seconds": -600}, ip + "idle_seconds must be positive"},
		{"terminate_idle negative max_sessions", postgres.TerminateIdle, P{"idle_seconds": 600, "max_sessions": -1}, ip + "max_sessions must not be negative"},
		{"terminate_idle idle_seconds as duration", postgres.TerminateIdle, P{"idle_seconds": "10m"},
			ip + "json: cannot unmarshal string into Go struct field TerminateIdleParams.idle_seconds of type int64"},
		{"terminate_idle scalar application list", postgres.TerminateIdle, P{"idle_seconds": 600, "exclude_applications": "pgbouncer"},
			ip + "json: cannot unmarshal string into Go struct field TerminateIdleParams.exclude_applications of type []string"},
		{"terminate_idle unknown param", postgres.TerminateIdle, P{"idle_seconds": 600, "exclude_apps": []string{"x"}},
			ip + `unknown parameter "exclude_apps" (known: idle_seconds, include_idle_in_transaction, max_sessions, only_applications, exclude_applications, only_users, exclude_users)`},
		{"terminate_idle floor dodged by case", postgres.TerminateIdle, P{"Idle_Seconds": 1}, ip + `unknown parameter "Idle_Seconds" …`},
		{"recommend_max_connections", postgres.RecommendMaxConnections, nil, ""},
		{"recommend_max_connections takes no params", postgres.RecommendMaxConnections, P{"value": 200}, ip + `unknown parameter "value" (the action takes none)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.action.Validate(tc.params), tc.wantErr)
		})
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		target  remediations.Target
		params  P
		want    []string
		wantErr string
	}{
		{
			name: "connection_report", action: postgres.ConnectionReport, target: orders,
			want: []string{
				"SELECT state, datname, application_name, usename, count(*), max(now()-state_change) FROM pg_stat_activity GROUP BY ...",
				"SELECT setting FROM pg_settings WHERE name = 'max_connections'",
			},
		},
		{
			name: "terminate_idle with exclude_applications", action: postgres.TerminateIdle, target: orders,
			params: P{"idle_seconds": 600, "max_sessions": 50, "exclude_applications": []any{"pgbouncer", "o'brien-app"}},
			want: []string{terminate +
				"datname = 'orders' AND state IN ('idle') AND state_change < now() - interval '600 seconds' AND pid <> pg_backend_pid() AND NOT rolsuper AND backend_type = 'client backend'" +
				" AND application_name NOT IN ('pgbouncer', 'o''brien-app')" +
				" ORDER BY state_change LIMIT 50"},
		},
		{
			name: "terminate_idle with every filter, no cap", action: postgres.TerminateIdle,
			target: remediations.Target{Kind: "PostgreSQL", Database: "it's"},
			params: P{"idle_seconds": 60, "include_idle_in_transaction": true, "only_applications": []string{"web", "api"},
				"exclude_applications": []string{"psql"}, "only_users": []string{"app"}, "exclude_users": []string{"admin", "backup"}},
			want: []string{terminate +
				"datname = 'it''s' AND state IN ('idle', 'idle in transaction') AND state_change < now() - interval '60 seconds' AND pid <> pg_backend_pid() AND NOT rolsuper AND backend_type = 'client backend'" +
				" AND application_name IN ('web', 'api') AND application_name NOT IN ('psql') AND usename IN ('app') AND usename NOT IN ('admin', 'backup')"},
		},
		{
			name: "recommend_max_connections", action: postgres.RecommendMaxConnections, target: orders,
			want: []string{
				"SELECT setting FROM pg_settings WHERE name = 'max_connections'",
				"SELECT count(*) FROM pg_stat_activity",
				"record the recommendation (no change: max_connections needs a restart)",
			},
		},
		{name: "connection_report without database", action: postgres.ConnectionReport, target: remediations.Target{Kind: "PostgreSQL", Instance: "pg-0:5432"},
			wantErr: "postgres.connection_report: target needs a database (the alert's database/datname label)"},
		{name: "terminate_idle without database", action: postgres.TerminateIdle, target: remediations.Target{Kind: "PostgreSQL"}, params: P{"idle_seconds": 600},
			wantErr: "postgres.terminate_idle: target needs a database (the alert's database/datname label)"},
		{name: "recommend_max_connections without database", action: postgres.RecommendMaxConnections, target: remediations.Target{Kind: "PostgreSQL"},
			wantErr: "postgres.recommend_max_connections: target needs a database (the alert's database/datname label)"},
		{name: "terminate_idle on a deployment", action: postgres.TerminateIdle, target: remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "orders", Database: "orders"},
			params: P{"idle_seconds": 600}, wantErr: "postgres.terminate_idle cannot act on a Deployment target (accepts PostgreSQL)"},
		{name: "terminate_idle invalid params", action: postgres.TerminateIdle, target: orders, params: P{"max_sessions": 5},
			wantErr: "invalid params: idle_seconds must be positive"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.action.Plan(tc.target, tc.params)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			if !slices.Equal(plan.Calls, tc.want) {
				t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(plan.Calls, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// checkErr compares err with want: "" means no error, a trailing "…" a prefix.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch prefix, isPrefix := strings.CutSuffix(want, "…"); {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want %q", want)
	case want == "":
	case isPrefix && !strings.HasPrefix(err.Error(), prefix):
		t.Errorf("error %q, want prefix %q", err, prefix)
	case !isPrefix && err.Error() != want:
		t.Errorf("error %q, want %q", err, want)
	}
}
