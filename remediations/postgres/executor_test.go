package postgres_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/postgres"
)

// These tests run against the real PostgreSQL of the machine (see
// internal/pgtest); each makes its own databases and roles.

// idleThreshold is the idle_seconds the tests use, and idleWait how long
// they let the "old" sessions age past it: the logic must not depend on the
// runbook's 600s.
const (
	idleThreshold = 1
	idleWait      = 1500 * time.Millisecond
)

// slots bounds the subtests that hold a dozen sessions each at once, so that
// the package stays well within max_connections (100 by default, shared
// with the other packages' tests) whatever -parallel is.
var slots = make(chan struct{}, 3)

// parallel runs the subtest in parallel with the others, within slots.
func parallel(t *testing.T) {
	t.Parallel()
	slots <- struct{}{}
	t.Cleanup(func() { <-slots })
}

// newExecutor builds an executor whose target "default" reads dsn from a
// file (no environment: tests run in parallel).
func newExecutor(t testing.TB, dsn string, mod func(*postgres.TargetConfig), log *slog.Logger) *postgres.Executor {
	t.Helper()
	e, err := postgres.NewExecutor(context.Background(), map[string]postgres.TargetConfig{remediations.DefaultConnection: targetConfig(t, dsn, mod)}, log)
	if err != nil {
		t.Fatalf("NewExecutor: %v", err)
	}
	t.Cleanup(e.Close)
	return e
}

func targetConfig(t testing.TB, dsn string, mod func(*postgres.TargetConfig)) postgres.TargetConfig {
	t.Helper()
	path := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(path, []byte(dsn+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := postgres.TargetConfig{DSNFile: path}
	if mod != nil {
		mod(&c)
	}
	return c
}

func pgTarget(db string) remediations.Target {
	return remediations.Target{Kind: postgres.KindPostgres, Database: db}
}

func execute(t *testing.T, e *postgres.Executor, a remediations.Action, db string, p remediations.Params) (remediations.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return e.Execute(ctx, a, pgTarget(db), p)
}

// session is one test session: an open connection and its backend PID.
type session struct {
	conn *pgx.Conn
	pid  uint32
}

// open connects as user to db with application_name app and runs a query,
// so that the session's idle time starts now.
func open(t testing.TB, db, user, app string) *session {
	t.Helper()
	c := pgtest.Connect(t, pgtest.DSN(t, db, user), app)
	if _, err := c.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}
	return &session{conn: c, pid: c.PgConn().PID()}
}

// openIdleInTransaction leaves a session idle in an open transaction.
func openIdleInTransaction(t testing.TB, db, user, app string) *session {
	t.Helper()
	s := open(t, db, user, app)
	if _, err := s.conn.Exec(context.Background(), "BEGIN; SELECT 1"); err != nil {
		t.Fatal(err)
	}
	return s
}

// openActive leaves a session running pg_sleep until the test ends.
func openActive(t testing.TB, admin *pgx.Conn, db, user, app string) *session {
	t.Helper()
	s := open(t, db, user, app)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = s.conn.Exec(ctx, "SELECT pg_sleep(60)")
	}()
	// Registered after Connect's cleanup, so it runs first: the query must
	// stop before the connection is closed.
	t.Cleanup(func() { cancel(); <-done })
	pgtest.WaitState(t, admin, s.pid, "active")
	return s
}

// fixture is a database with sessions in every situation terminate_idle
// must tell apart.
type fixture struct {
	db, victim, victim2 string
	admin               *pgx.Conn
	sessions            map[string]*session // by application_name
	otherDB             *session
	exec                *postgres.Executor
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{admin: pgtest.Admin(t), sessions: map[string]*session{}}
	f.db = pgtest.CreateDatabase(t)
	other := pgtest.CreateDatabase(t)
	f.victim, f.victim2 = pgtest.CreateRole(t), pgtest.CreateRole(t)
	add := func(app string, s *session) {
		f.sessions[app] = s
		time.Sleep(20 * time.Millisecond) // distinct state_change: "oldest first" is testable
	}
	add("old-a", open(t, f.db, f.victim, "old-a"))
	add("old-b", open(t, f.db, f.victim, "old-b"))
	add("old-c", open(t, f.db, f.victim2, "old-c"))
	add("batch-excluded", open(t, f.db, f.victim, "batch-excluded"))
	add("in-tx", openIdleInTransaction(t, f.db, f.victim, "in-tx"))
	add("active", openActive(t, f.admin, f.db, f.victim, "active"))
	add("super", open(t, f.db, "", "super")) // the admin: a superuser
	f.otherDB = open(t, other, f.victim, "other-db")
	time.Sleep(idleWait)
	f.sessions["young"] = open(t, f.db, f.victim, "young")
	// The executor connects to the same database, so its own sessions are
	// among the candidates it must skip.
	f.exec = newExecutor(t, pgtest.DSN(t, f.db, ""), nil, nil)
	return f
}

func TestTerminateIdle(t *testing.T) {
	// Reasons every case expects for the sessions that are never candidates.
	base := map[string]string{
		"young":  postgres.ReasonYounger,
		"active": postgres.ReasonNotIdle,
		"super":  postgres.ReasonSuperuser,
	}
	tests := []struct {
		name       string
		params     func(f *fixture) remediations.Params
		terminated []string          // in order: oldest first
		skipped    map[string]string // beyond base
	}{
		{
			name: "idle past the threshold, excluded application kept",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "exclude_applications": []string{"batch-excluded"}}
			},
			terminated: []string{"old-a", "old-b", "old-c"},
			skipped:    map[string]string{"batch-excluded": postgres.ReasonExcludedApp, "in-tx": postgres.ReasonIdleInTransaction},
		},
		{
			name: "include_idle_in_transaction",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "include_idle_in_transaction": true, "exclude_applications": []string{"batch-excluded"}}
			},
			terminated: []string{"old-a", "old-b", "old-c", "in-tx"},
			skipped:    map[string]string{"batch-excluded": postgres.ReasonExcludedApp},
		},
		{
			name: "max_sessions caps the run, oldest first",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "max_sessions": 2, "exclude_applications": []string{"batch-excluded"}}
			},
			terminated: []string{"old-a", "old-b"},
			skipped:    map[string]string{"old-c": postgres.ReasonCap, "batch-excluded": postgres.ReasonExcludedApp, "in-tx": postgres.ReasonIdleInTransaction},
		},
		{
			name: "only_applications",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "only_applications": []string{"old-b"}}
			},
			terminated: []string{"old-b"},
			skipped: map[string]string{"old-a": postgres.ReasonNotOnlyApp, "old-c": postgres.ReasonNotOnlyApp,
				"batch-excluded": postgres.ReasonNotOnlyApp, "in-tx": postgres.ReasonIdleInTransaction},
		},
		{
			name: "only_users",
			params: func(f *fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "only_users": []string{f.victim2}}
			},
			terminated: []string{"old-c"},
			skipped: map[string]string{"old-a": postgres.ReasonNotOnlyUser, "old-b": postgres.ReasonNotOnlyUser,
				"batch-excluded": postgres.ReasonNotOnlyUser, "in-tx": postgres.ReasonIdleInTransaction},
		},
		{
			name: "exclude_users",
			params: func(f *fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "exclude_users": []string{f.victim2}}
			},
			terminated: []string{"old-a", "old-b", "batch-excluded"},
			skipped:    map[string]string{"old-c": postgres.ReasonExcludedUser, "in-tx": postgres.ReasonIdleInTransaction},
		},
		{
			name: "threshold above every age",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": 3600, "include_idle_in_transaction": true}
			},
			terminated: nil,
			skipped: map[string]string{"old-a": postgres.ReasonYounger, "old-b": postgres.ReasonYounger, "old-c": postgres.ReasonYounger,
				"batch-excluded": postgres.ReasonYounger, "in-tx": postgres.ReasonYounger},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			f := newFixture(t)
			res, err := execute(t, f.exec, postgres.TerminateIdle, f.db, tc.params(f))
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			out, ok := res.Evidence.(*postgres.TerminateOutcome)
			if !ok {
				t.Fatalf("Evidence is %T, want *postgres.TerminateOutcome", res.Evidence)
			}
			if res.DryRun || res.Plan.Action != "postgres.terminate_idle" || len(res.Plan.Calls) == 0 {
				t.Errorf("result: dry-run %v, plan %+v", res.DryRun, res.Plan)
			}

			var gotTerminated []string
			for _, s := range out.Terminated {
				gotTerminated = append(gotTerminated, s.Application)
				if want := f.sessions[s.Application]; want == nil || uint32(s.PID) != want.pid {
					t.Errorf("terminated pid %d (%s) is not the test's session", s.PID, s.Application)
				}
			}
			if !slices.Equal(gotTerminated, tc.terminated) {
				t.Errorf("terminated %v, want %v (in this order)", gotTerminated, tc.terminated)
			}
			if len(res.Changes) != len(tc.terminated) {
				t.Errorf("changes %q, want one per terminated session", res.Changes)
			}
			for i, c := range res.Changes {
				if want := fmt.Sprintf("terminated pid %d ", out.Terminated[i].PID); !strings.HasPrefix(c, want) {
					t.Errorf("change %q does not start with %q", c, want)
				}
			}

			want := maps.Clone(base)
			maps.Copy(want, tc.skipped)
			got := map[string]string{}
			own := 0
			for _, s := range out.Skipped {
				switch {
				case s.Application == "remediator":
					own++
					if s.Reason != postgres.ReasonOwnSession {
						t.Errorf("the executor's own session %d skipped as %q", s.PID, s.Reason)
					}
				case s.Reason == postgres.ReasonNotClient:
					// autovacuum and the like may come and go
				default:
					got[s.Application] = s.Reason
				}
				if uint32(s.PID) == f.otherDB.pid {
					t.Errorf("a session of another database was considered: %+v", s)
				}
			}
			if own == 0 {
				t.Error("the executor's own session is not listed as skipped")
			}
			if !maps.Equal(got, want) {
				t.Errorf("skipped:\n got  %v\n want %v", got, want)
			}
			for reason, n := range out.SkippedByReason {
				if n <= 0 {
					t.Errorf("SkippedByReason[%q] = %d", reason, n)
				}
			}

			// What was terminated is gone; everything else is still there.
			for app, s := range f.sessions {
				if slices.Contains(tc.terminated, app) {
					pgtest.WaitState(t, f.admin, s.pid, "")
					if _, err := s.conn.Exec(context.Background(), "SELECT 1"); err == nil {
						t.Errorf("%s: its connection still works after being terminated", app)
					}
					continue
				}
				if st := pgtest.State(t, f.admin, s.pid); st == "" {
					t.Errorf("%s (pid %d) was ended, but should have been left alone", app, s.pid)
				} else if app != "active" {
					if _, err := s.conn.Exec(context.Background(), "SELECT 1"); err != nil {
						t.Errorf("%s: %v", app, err)
					}
				}
			}
			if st := pgtest.State(t, f.admin, f.otherDB.pid); st != "idle" {
				t.Errorf("the session in another database is %q, want idle", st)
			}
			// The executor's own session survived: it still answers.
			if _, err := execute(t, f.exec, postgres.ConnectionReport, f.db, nil); err != nil {
				t.Errorf("the executor fails after terminating: %v", err)
			}
		})
	}
}

// TestTerminateIdlePreview: the dry-run of terminate_idle lists exactly the
// sessions a real run then ends, in the same order, with the same skip
// reasons, and ends none itself.
func TestTerminateIdlePreview(t *testing.T) {
	tests := []struct {
		name   string
		params func(f *fixture) remediations.Params
		want   []string // the sessions both must pick, oldest first
	}{
		{
			name: "max_sessions caps the preview like the run",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "max_sessions": 2, "exclude_applications": []string{"batch-excluded"}}
			},
			want: []string{"old-a", "old-b"},
		},
		{
			name: "excluded application",
			params: func(*fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "exclude_applications": []string{"batch-excluded"}}
			},
			want: []string{"old-a", "old-b", "old-c"},
		},
		{
			name: "excluded user, idle in transaction included",
			params: func(f *fixture) remediations.Params {
				return remediations.Params{"idle_seconds": idleThreshold, "exclude_users": []string{f.victim2}, "include_idle_in_transaction": true}
			},
			want: []string{"old-a", "old-b", "batch-excluded", "in-tx"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			f := newFixture(t)
			params := tc.params(f)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			res, err := f.exec.Preview(ctx, postgres.TerminateIdle, pgTarget(f.db), params)
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			pv, ok := res.Evidence.(*postgres.TerminateOutcome)
			if !ok {
				t.Fatalf("Evidence is %T, want *postgres.TerminateOutcome", res.Evidence)
			}
			if !res.DryRun || len(res.Changes) != 0 || res.Plan.Action != "postgres.terminate_idle" {
				t.Errorf("preview result: dry-run %v, changes %q, plan %+v", res.DryRun, res.Changes, res.Plan)
			}
			if !pv.Preview || len(pv.Terminated) != 0 {
				t.Errorf("preview: preview=%v, terminated %+v", pv.Preview, pv.Terminated)
			}
			var apps []string
			for _, s := range pv.WouldTerminate {
				apps = append(apps, s.Application)
				want := f.sessions[s.Application]
				if want == nil || uint32(s.PID) != want.pid || s.Database != f.db || s.State == "" || s.IdleSeconds < idleThreshold || s.User == "" {
					t.Errorf("would terminate %+v: not the test's session %s in %s", s, s.Application, f.db)
				}
			}
			if !slices.Equal(apps, tc.want) {
				t.Errorf("would terminate %v, want %v (in this order)", apps, tc.want)
			}

			// Nothing ended: every session is still there, in its state
			// (read from pg_stat_activity: a query on the session itself
			// would restart its idle time).
			for app, s := range f.sessions {
				if st := pgtest.State(t, f.admin, s.pid); st == "" {
					t.Errorf("%s (pid %d) ended during a preview", app, s.pid)
				}
			}

			// The real run ends exactly what the preview listed.
			res, err = execute(t, f.exec, postgres.TerminateIdle, f.db, params)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			out := res.Evidence.(*postgres.TerminateOutcome)
			pids := func(ss []postgres.Session) []int32 {
				var p []int32
				for _, s := range ss {
					p = append(p, s.PID)
				}
				return p
			}
			if got, want := pids(out.Terminated), pids(pv.WouldTerminate); !slices.Equal(got, want) {
				t.Errorf("the run terminated %v, the preview listed %v", got, want)
			}
			skipped := func(o *postgres.TerminateOutcome) map[int32]string {
				m := map[int32]string{}
				for _, s := range o.Skipped {
					// Autovacuum and the like come and go, and so do the
					// executor's own pooled connections (the pool may hold a
					// second one by the time of the run).
					if s.Reason != postgres.ReasonNotClient && s.Reason != postgres.ReasonOwnSession {
						m[s.PID] = s.Reason
					}
				}
				return m
			}
			if got, want := skipped(out), skipped(pv); !maps.Equal(got, want) {
				t.Errorf("the run skipped %v, the preview %v", got, want)
			}
		})
	}
}

// TestTerminateIdlePrivileges: a role that may not terminate or see other
// roles' sessions gets an error naming the grant it lacks, and ends nothing
// it may not.
func TestTerminateIdlePrivileges(t *testing.T) {
	tests := []struct {
		name       string
		grants     []string
		wantErr    []string // substrings; none means success
		wantReason string   // the victim's skip reason
	}{
		{
			name: "without pg_signal_backend", grants: []string{"pg_read_all_stats"},
			wantErr:    []string{"may not terminate 1 session(s)", "needs pg_signal_backend", "GRANT pg_signal_backend TO"},
			wantReason: postgres.ReasonDenied,
		},
		{
			name: "without pg_read_all_stats", grants: nil,
			wantErr:    []string{"cannot see the state of 1 session(s)", "pg_read_all_stats", "GRANT pg_monitor TO", "GRANT pg_signal_backend TO"},
			wantReason: postgres.ReasonNotVisible,
		},
		{
			name: "with pg_read_all_stats and pg_signal_backend", grants: []string{"pg_read_all_stats", "pg_signal_backend"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			admin := pgtest.Admin(t)
			db := pgtest.CreateDatabase(t)
			victim := pgtest.CreateRole(t)
			ops := pgtest.CreateRole(t, tc.grants...)
			s := open(t, db, victim, "victim")
			time.Sleep(idleWait)
			e := newExecutor(t, pgtest.DSN(t, db, ops), nil, nil)

			// The preview predicts the run: the same error and skip reason,
			// or the victim listed; and it ends nothing.
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			pres, perr := e.Preview(ctx, postgres.TerminateIdle, pgTarget(db), remediations.Params{"idle_seconds": idleThreshold})
			pv, _ := pres.Evidence.(*postgres.TerminateOutcome)
			if pv == nil {
				t.Fatalf("no preview evidence (err %v)", perr)
			}
			if (perr == nil) != (len(tc.wantErr) == 0) {
				t.Errorf("preview error %v, want one naming %v", perr, tc.wantErr)
			}
			for _, w := range tc.wantErr {
				if perr != nil && !strings.Contains(perr.Error(), w) {
					t.Errorf("preview error %q does not contain %q", perr, w)
				}
			}
			if len(tc.wantErr) == 0 && (len(pv.WouldTerminate) != 1 || uint32(pv.WouldTerminate[0].PID) != s.pid) {
				t.Errorf("preview would terminate %+v, want the victim's pid %d", pv.WouldTerminate, s.pid)
			}
			for _, sk := range pv.Skipped {
				if uint32(sk.PID) == s.pid && sk.Reason != tc.wantReason {
					t.Errorf("preview skipped the victim as %q, want %q", sk.Reason, tc.wantReason)
				}
			}
			if st := pgtest.State(t, admin, s.pid); st != "idle" {
				t.Fatalf("victim is %q after the preview, want still idle", st)
			}

			res, err := execute(t, e, postgres.TerminateIdle, db, remediations.Params{"idle_seconds": idleThreshold})
			out, _ := res.Evidence.(*postgres.TerminateOutcome)
			if out == nil {
				t.Fatalf("no evidence (err %v)", err)
			}
			if len(tc.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Execute: %v", err)
				}
				if len(out.Terminated) != 1 || uint32(out.Terminated[0].PID) != s.pid {
					t.Fatalf("terminated %+v, want the victim's pid %d", out.Terminated, s.pid)
				}
				pgtest.WaitState(t, admin, s.pid, "")
				return
			}
			if err == nil {
				t.Fatalf("Execute succeeded; want an error naming %v (evidence %+v)", tc.wantErr, out)
			}
			for _, w := range tc.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if len(out.Terminated) != 0 {
				t.Errorf("terminated %+v without the privilege", out.Terminated)
			}
			var reason string
			for _, sk := range out.Skipped {
				if uint32(sk.PID) == s.pid {
					reason = sk.Reason
				}
			}
			if reason != tc.wantReason {
				t.Errorf("victim skipped as %q, want %q", reason, tc.wantReason)
			}
			if st := pgtest.State(t, admin, s.pid); st != "idle" {
				t.Errorf("victim is %q, want still idle", st)
			}
		})
	}
}

func TestConnectionReport(t *testing.T) {
	admin := pgtest.Admin(t)
	db := pgtest.CreateDatabase(t)
	user := pgtest.CreateRole(t)
	for range 3 {
		open(t, db, user, "report-idle")
	}
	for range 2 {
		openIdleInTransaction(t, db, user, "report-tx")
	}
	openActive(t, admin, db, user, "report-active")
	time.Sleep(idleWait)
	// The executor connects to the admin's database, so db holds only the
	// sessions above.
	e := newExecutor(t, pgtest.AdminDSN(), nil, nil)

	res, err := execute(t, e, postgres.ConnectionReport, db, nil)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	r, ok := res.Evidence.(*postgres.Report)
	if !ok {
		t.Fatalf("Evidence is %T, want *postgres.Report", res.Evidence)
	}
	var maxConns int
	if err := admin.QueryRow(context.Background(), "SELECT current_setting('max_connections')::int").Scan(&maxConns); err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"database", r.Database, db},
		{"max_connections", r.MaxConnections, maxConns},
		{"in_database.connections", r.InDatabase.Connections, 6},
		{"in_database idle", r.InDatabase.ByState["idle"], 3},
		{"in_database idle in transaction", r.InDatabase.ByState["idle in transaction"], 2},
		{"in_database active", r.InDatabase.ByState["active"], 1},
		{"by_database", r.ByDatabase[db], 6},
		{"by_user", r.ByUser[user], 6},
		{"by_application report-idle", r.ByApplication["report-idle"], 3},
		{"by_application report-tx", r.ByApplication["report-tx"], 2},
		{"by_application report-active", r.ByApplication["report-active"], 1},
		{"usage", r.Usage, float64(int(float64(r.Connections)/float64(maxConns)*10000+0.5)) / 10000},
		{"not_visible", r.NotVisible, 0},
		{"dry_run", res.DryRun, false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if r.Connections < 7 || r.OwnConnections < 1 || r.ByApplication["remediator"] < 1 {
		t.Errorf("connections %d, own %d, by_application[remediator] %d: want the test's 6 plus the executor's own",
			r.Connections, r.OwnConnections, r.ByApplication["remediator"])
	}
	sum := 0
	for _, n := range r.ByState {
		sum += n
	}
	if sum != r.Connections {
		t.Errorf("by_state sums to %d, connections = %d", sum, r.Connections)
	}
	for name, v := range map[string]float64{
		"in_database.oldest_idle_seconds": r.InDatabase.OldestIdleSeconds, "in_database.oldest_idle_in_transaction_seconds": r.InDatabase.OldestIdleInTransactionSeconds,
		"oldest_idle_seconds": r.OldestIdleSeconds, "oldest_idle_in_transaction_seconds": r.OldestIdleInTransactionSeconds,
	} {
		if v < idleWait.Seconds()-0.2 || v > 3600 {
			t.Errorf("%s = %v, want at least about %v", name, v, idleWait.Seconds())
		}
	}
	// The evidence is recorded as JSON: check the names dashboards and
	// humans read.
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"max_connections"`, `"usage"`, `"by_state"`, `"by_database"`, `"by_application"`, `"by_user"`,
		`"oldest_idle_seconds"`, `"oldest_idle_in_transaction_seconds"`, `"in_database"`} {
		if !bytes.Contains(b, []byte(key)) {
			t.Errorf("evidence JSON has no %s: %s", key, b)
		}
	}
}

// TestConnectionReportNotVisible: a role without pg_read_all_stats still
// counts every session (they hold slots) and says what it cannot see.
func TestConnectionReportNotVisible(t *testing.T) {
	db := pgtest.CreateDatabase(t)
	victim := pgtest.CreateRole(t)
	open(t, db, victim, "hidden-idle")
	e := newExecutor(t, pgtest.DSN(t, db, pgtest.CreateRole(t)), nil, nil)
	res, err := execute(t, e, postgres.ConnectionReport, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	r := res.Evidence.(*postgres.Report)
	if r.NotVisible < 1 || r.ByApplication["hidden-idle"] != 1 || r.InDatabase.ByState["(not visible)"] != 1 || !strings.Contains(r.Note, "pg_read_all_stats") {
		t.Errorf("report: not_visible %d, by_application %v, in_database %+v, note %q", r.NotVisible, r.ByApplication, r.InDatabase, r.Note)
	}
}

func TestRecommendMaxConnections(t *testing.T) {
	admin := pgtest.Admin(t)
	db := pgtest.CreateDatabase(t)
	user := pgtest.CreateRole(t)
	e := newExecutor(t, pgtest.AdminDSN(), nil, nil)

	// A burst the report sees, gone by the time of the recommendation: the
	// peak must remember it.
	var burst []*session
	for range 8 {
		burst = append(burst, open(t, db, user, "burst"))
	}
	res, err := execute(t, e, postgres.ConnectionReport, db, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := res.Evidence.(*postgres.Report).Connections
	for _, s := range burst {
		if err := s.conn.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		pgtest.WaitState(t, admin, s.pid, "")
	}

	res, err = execute(t, e, postgres.RecommendMaxConnections, db, nil)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	rec, ok := res.Evidence.(*postgres.Recommendation)
	if !ok {
		t.Fatalf("Evidence is %T, want *postgres.Recommendation", res.Evidence)
	}
	var maxConns int
	if err := admin.QueryRow(context.Background(), "SELECT current_setting('max_connections')::int").Scan(&maxConns); err != nil {
		t.Fatal(err)
	}
	if rec.MaxConnections != maxConns || rec.Changed || len(res.Changes) != 0 {
		t.Errorf("max_connections %d (server %d), changed %v, changes %v", rec.MaxConnections, maxConns, rec.Changed, res.Changes)
	}
	if rec.CurrentConnections < 1 || rec.CurrentConnections >= seen {
		t.Errorf("current %d, want below the burst's %d", rec.CurrentConnections, seen)
	}
	if rec.PeakConnections < seen {
		t.Errorf("peak %d, want at least the %d the earlier report saw", rec.PeakConnections, seen)
	}
	want := (int(float64(rec.PeakConnections)*1.25+0.999999) + 9) / 10 * 10
	if rec.SuggestedMaxConnections != max(want, 10) || rec.SuggestedMaxConnections%10 != 0 {
		t.Errorf("suggested %d, want %d (peak %d + 25%%, rounded up to 10)", rec.SuggestedMaxConnections, want, rec.PeakConnections)
	}
	if !strings.Contains(rec.PeakBasis, "observed") || !strings.Contains(rec.Recommendation, "max_connections") {
		t.Errorf("peak basis %q, recommendation %q", rec.PeakBasis, rec.Recommendation)
	}
}

// hangingServer accepts TCP connections and never answers: a server that
// is up but stuck, the case a missing deadline turns into a hang.
func hangingServer(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestUnreachable: a server that refuses or never answers gives a clear
// error within the call timeout, never a hang, at start and per action.
func TestUnreachable(t *testing.T) {
	tests := []struct {
		name    string
		addr    string
		wantErr []string
	}{
		{"connection refused", "127.0.0.1:1", []string{"postgres.connection_report", `target "default"`, "connect"}},
		{"server never answers", hangingServer(t), []string{"postgres.connection_report", `target "default"`, "call_timeout 500ms"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const timeout = 500 * time.Millisecond
			dsn := "postgres://postgres@" + tc.addr + "/postgres?sslmode=disable"
			start := time.Now()
			e := newExecutor(t, dsn, func(c *postgres.TargetConfig) { c.CallTimeout = timeout }, nil)
			if d := time.Since(start); d > timeout+2*time.Second {
				t.Errorf("NewExecutor took %v on an unreachable server", d)
			}
			for _, a := range postgres.Actions() {
				start := time.Now()
				p := a.Spec().Example
				_, err := execute(t, e, a, "orders", p)
				if d := time.Since(start); d > timeout+2*time.Second {
					t.Errorf("%s took %v, want about the call timeout %v", a.Spec().Name, d, timeout)
				}
				if err == nil {
					t.Fatalf("%s succeeded on an unreachable server", a.Spec().Name)
				}
				if a == postgres.ConnectionReport {
					for _, w := range tc.wantErr {
						if !strings.Contains(err.Error(), w) {
							t.Errorf("error %q does not contain %q", err, w)
						}
					}
				}
			}
		})
	}
}

func TestConfigured(t *testing.T) {
	e, err := postgres.NewExecutor(context.Background(), map[string]postgres.TargetConfig{
		"default": targetConfig(t, pgtest.AdminDSN(), nil),
		"orders":  targetConfig(t, pgtest.AdminDSN(), nil),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	for conn, want := range map[string]bool{"": true, "default": true, "orders": true, "billing": false} {
		if got := e.Configured(remediations.Target{Kind: postgres.KindPostgres, Database: "x", Connection: conn}); got != want {
			t.Errorf("Configured(connection %q) = %v, want %v", conn, got, want)
		}
	}
	_, err = e.Execute(context.Background(), postgres.ConnectionReport, remediations.Target{Kind: postgres.KindPostgres, Database: "x", Connection: "billing"}, nil)
	if err == nil || !strings.Contains(err.Error(), `postgres target "billing" is not configured (configured: default, orders)`) {
		t.Errorf("unconfigured target: %v", err)
	}
	if got := e.Targets(); !slices.Equal(got, []string{"default", "orders"}) {
		t.Errorf("Targets() = %v", got)
	}
}

func TestNewExecutorErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		cfg     postgres.TargetConfig
		wantErr string
	}{
		{"nothing", postgres.TargetConfig{}, `postgres target "t": set dsn_env (an environment variable) or dsn_file`},
		{"both", postgres.TargetConfig{DSNEnv: "X", DSNFile: "y"}, "set only one of dsn_env and dsn_file"},
		{"unset env", postgres.TargetConfig{DSNEnv: "REMEDIATOR_TEST_SURELY_UNSET_DSN"}, "environment variable REMEDIATOR_TEST_SURELY_UNSET_DSN is empty"},
		{"missing file", postgres.TargetConfig{DSNFile: filepath.Join(dir, "nope")}, "reading the DSN: open "},
		{"empty file", postgres.TargetConfig{DSNFile: empty}, "file " + empty + " is empty"},
		{"negative max_conns", postgres.TargetConfig{DSNFile: empty, MaxConns: -1}, "max_conns must not be negative"},
		{"negative call_timeout", postgres.TargetConfig{DSNFile: empty, CallTimeout: -time.Second}, "call_timeout must not be negative"},
		{"bad DSN", targetConfig(t, "postgres://u@127.0.0.1:notaport/db", nil), "invalid DSN: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e, err := postgres.NewExecutor(context.Background(), map[string]postgres.TargetConfig{"t": tc.cfg}, nil)
			if err == nil {
				e.Close()
				t.Fatalf("NewExecutor succeeded, want %q", tc.wantErr)
			}
			if !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error %q does not contain %q", err, tc.wantErr)
			}
		})
	}
}

// TestDSNFromEnv: dsn_env reads the DSN from the environment.
func TestDSNFromEnv(t *testing.T) {
	t.Setenv("REMEDIATOR_TEST_PG_DSN", pgtest.AdminDSN())
	e, err := postgres.NewExecutor(context.Background(), map[string]postgres.TargetConfig{"default": {DSNEnv: "REMEDIATOR_TEST_PG_DSN"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	if _, err := execute(t, e, postgres.RecommendMaxConnections, "postgres", nil); err != nil {
		t.Fatal(err)
	}
}

// TestPasswordNeverShown runs every action, and every failure the executor
// can report, with a DSN carrying a distinctive password, and checks that
// the password appears in no error, no result and no log line.
func TestPasswordNeverShown(t *testing.T) {
	const pw = "Zebra-Quokka-93xK"
	db := pgtest.CreateDatabase(t)
	user := pgtest.CreateRole(t)
	open(t, db, user, "idle-victim")
	time.Sleep(idleWait)

	var logs bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var shown []string // every error message and result JSON
	record := func(res remediations.Result, err error) {
		if err != nil {
			shown = append(shown, err.Error(), fmt.Sprintf("%+v", err))
		}
		b, jerr := json.Marshal(res)
		if jerr != nil {
			t.Fatal(jerr)
		}
		shown = append(shown, string(b))
	}

	// Working server (trust auth ignores the password).
	e := newExecutor(t, pgtest.WithPassword(t, pgtest.DSN(t, db, ""), pw), nil, log)
	for _, tc := range []struct {
		a remediations.Action
		p remediations.Params
	}{
		{postgres.ConnectionReport, nil},
		{postgres.TerminateIdle, remediations.Params{"idle_seconds": idleThreshold}},
		{postgres.RecommendMaxConnections, nil},
		{postgres.TerminateIdle, remediations.Params{"idle_seconds": 0}}, // invalid params
	} {
		res, err := execute(t, e, tc.a, db, tc.p)
		record(res, err)
	}
	// Unreachable and hanging servers.
	for _, addr := range []string{"127.0.0.1:1", hangingServer(t)} {
		e := newExecutor(t, "postgres://postgres:"+pw+"@"+addr+"/postgres?sslmode=disable",
			func(c *postgres.TargetConfig) { c.CallTimeout = 300 * time.Millisecond }, log)
		for _, a := range postgres.Actions() {
			res, err := execute(t, e, a, db, a.Spec().Example)
			if err == nil {
				t.Errorf("%s on %s succeeded", a.Spec().Name, addr)
			}
			record(res, err)
		}
	}
	// DSNs that do not parse: pgx's and net/url's errors quote them.
	for _, dsn := range []string{
		"postgres://postgres:" + pw + "@127.0.0.1:notaport/postgres",
		"postgres://postgres:" + pw + "%zz@127.0.0.1/postgres",
		"postgres://postgres:" + pw + "/x@127.0.0.1/postgres",
		"postgres://postgres:" + pw + "@127.0.0.1:5432/postgres?sslmode=bogus",
		"host=127.0.0.1 port=notaport password=" + pw,
		"host=127.0.0.1 password='" + pw + " x' sslmode=bogus",
		"postgres://postgres@127.0.0.1/postgres?password=" + pw + "&sslmode=bogus",
	} {
		_, err := postgres.NewExecutor(context.Background(), map[string]postgres.TargetConfig{"bad": targetConfig(t, dsn, nil)}, log)
		if err == nil {
			t.Errorf("NewExecutor accepted %q", dsn)
			continue
		}
		if !strings.Contains(err.Error(), "invalid DSN") {
			t.Errorf("error %q does not say the DSN is invalid", err)
		}
		shown = append(shown, err.Error())
	}

	shown = append(shown, logs.String())
	for _, s := range shown {
		if strings.Contains(s, pw) || strings.Contains(s, "Quokka") {
			t.Errorf("the password leaked:\n%s", s)
		}
	}
	if !strings.Contains(logs.String(), "postgres target does not answer yet") {
		t.Errorf("no start-up warning for the unreachable server in the logs:\n%s", logs.String())
	}
}

// BenchmarkConnectionReport measures postgres.connection_report on a server
// with 20 idle sessions in the target database.
func BenchmarkConnectionReport(b *testing.B) {
	db := pgtest.CreateDatabase(b)
	user := pgtest.CreateRole(b)
	for range 20 {
		open(b, db, user, "bench-idle")
	}
	e := newExecutor(b, pgtest.AdminDSN(), nil, nil)
	ctx := context.Background()
	target := pgTarget(db)
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Execute(ctx, postgres.ConnectionReport, target, nil)
		if err != nil {
			b.Fatal(err)
		}
		if r := res.Evidence.(*postgres.Report); r.InDatabase.Connections != 20 {
			b.Fatalf("in_database.connections = %d, want 20", r.InDatabase.Connections)
		}
	}
}
