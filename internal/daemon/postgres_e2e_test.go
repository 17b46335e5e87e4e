package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/remediations/builtin"
	"github.com/remediator/remediator/remediations/postgres"
)

// e2ePassword is in the DSN the daemon gets (trust auth ignores it); it must
// show up nowhere.
const e2ePassword = "Pelican-Walrus-58qZ"

// syncBuffer is a log sink safe for the daemon's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// pgConfig is a config file replacing the shipped PostgresTooManyConnections
// runbook with one whose threshold fits a test (2s, not 10 minutes), and a
// policy directory lowering the default policy's min_idle_seconds floor to
// match.
const pgConfig = `
runbooks:
  - name: PostgresTooManyConnections
    match: ['alertname=~"PostgresTooManyConnections|PostgresConnectionTimeouts"']
    target:
      kind: PostgreSQL
      database: [database, datname]
      instance: [instance]
      connection: [remediator_connection, pg_cluster]
    investigate:
      - action: postgres.connection_report
    resolve:
      - action: postgres.terminate_idle
        params: {idle_seconds: 2, max_sessions: 50, exclude_applications: [keep-me]}
      - action: kubernetes.set_env
        params: {name: SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE, value: "20"}
        target: {kind: Deployment, namespace: [namespace], name: [deployment]}
policy:
  dir: POLICY_DIR
`

// startPostgres runs a daemon whose postgres target "default" is dsn, given
// as REMEDIATOR_POSTGRES_DSN the way a container would, built with the same
// daemon.Backends as `remediator serve`. mod, if any, changes the loaded
// config (as serve's flags do).
func startPostgres(t *testing.T, dsn string, logs *syncBuffer, mod ...func(*config.Config)) *harness {
	t.Helper()
	t.Setenv(config.EnvPostgresDSN, dsn)
	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	if err := os.Mkdir(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policyDir, "data.json"), []byte(`{"remediator": {"config": {"min_idle_seconds": 1}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "remediator.yaml")
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(pgConfig, "POLICY_DIR", policyDir, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(cfgFile, catalog)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy.OwnNamespace = "remediator"
	for _, m := range mod {
		m(cfg)
	}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	router, closeBackends, err := daemon.Backends(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeBackends)
	return serveDaemon(t, cfg, daemon.Options{Executor: router, Logger: log}, true)
}

// postgresAlert is the shipped sample PostgresTooManyConnections payload for
// database db, with its own fingerprint.
func postgresAlert(t *testing.T, db, fingerprint string) []byte {
	t.Helper()
	body := bytes.ReplaceAll(sample(t, "postgres-connections.json"), []byte(`"database": "orders"`), []byte(`"database": "`+db+`"`))
	return bytes.ReplaceAll(body, []byte("a1b2c3d4e5f60003"), []byte(fingerprint))
}

// TestPostgresEndToEnd posts a PostgresTooManyConnections alert to a running
// daemon configured with a real database, and checks that the idle sessions
// were terminated (and only they), that the evidence is in the recorded
// outcome, the metrics, and that the DSN's password appears nowhere.
func TestPostgresEndToEnd(t *testing.T) {
	admin := pgtest.Admin(t)
	db := pgtest.CreateDatabase(t)
	app := pgtest.CreateRole(t)
	var idle []uint32
	for range 3 {
		c := pgtest.Connect(t, pgtest.DSN(t, db, app), "order-service")
		idle = append(idle, c.PgConn().PID())
	}
	kept := pgtest.Connect(t, pgtest.DSN(t, db, app), "keep-me").PgConn().PID()
	time.Sleep(2500 * time.Millisecond)

	var logs syncBuffer
	h := startPostgres(t, pgtest.WithPassword(t, pgtest.DSN(t, db, ""), e2ePassword), &logs)
	// Opened once the daemon is up (which takes a while), so that it is
	// still younger than the threshold when the alert is handled.
	young := pgtest.Connect(t, pgtest.DSN(t, db, app), "order-service").PgConn().PID()
	const fp = "e2e0000000000001"
	if r := h.post(postgresAlert(t, db, fp), "Bearer "+token); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
		t.Fatalf("post: %d %v", r.code, r.body)
	}
	waitFor(t, "outcome", func() bool { return len(h.outcomesFor(fp, "firing")) == 1 })
	o := h.outcomesFor(fp, "firing")[0]
	if o.Status != dispatch.StatusExecuted || o.Chosen != 1 {
		t.Fatalf("outcome status %q, chosen %d, error %q; want executed, option 1\n%+v", o.Status, o.Chosen, o.Error, o)
	}

	// The sessions: the three idle ones ended, the young and the excluded one did not.
	for _, pid := range idle {
		pgtest.WaitState(t, admin, pid, "")
	}
	for name, pid := range map[string]uint32{"young": young, "excluded application": kept} {
		if st := pgtest.State(t, admin, pid); st != "idle" {
			t.Errorf("%s session is %q, want still idle", name, st)
		}
	}

	// The recorded outcome, read as JSON as the audit record and eval show it.
	rec, b := decodePostgresOutcome(t, o)
	checkConnectionReport(t, rec, b, db, 5)
	opt := rec.Options[0].Result
	if opt.DryRun || len(opt.Changes) != 3 || len(opt.Evidence.Terminated) != 3 {
		t.Fatalf("terminate_idle result: %s", b)
	}
	for i, s := range opt.Evidence.Terminated {
		if uint32(s.PID) != idle[i] || s.Application != "order-service" || s.User != app {
			t.Errorf("terminated[%d] = %+v, want pid %d of order-service (oldest first)", i, s, idle[i])
		}
	}
	if got := opt.Evidence.SkippedByReason; got[postgres.ReasonExcludedApp] != 1 || got[postgres.ReasonYounger] != 1 || got[postgres.ReasonOwnSession] < 1 {
		t.Errorf("skipped by reason: %v", got)
	}
	if p := rec.Options[0].Decision.Params; p["idle_seconds"] != float64(2) {
		t.Errorf("policy params %v: idle_seconds should stay 2 (min_idle_seconds 1)", p)
	}

	h.finishPostgres(t, &logs, b, `"target":"default","mode":"ACTING"`, []scraped{
		{"remediator_actions_total", map[string]string{"action": "postgres.terminate_idle", "result": "success"}, 1},
		{"remediator_actions_total", map[string]string{"action": "postgres.terminate_idle", "result": "dry_run"}, 0},
		{"remediator_investigations_total", map[string]string{"action": "postgres.connection_report", "result": "success"}, 1},
		{"remediator_decisions_total", map[string]string{"action": "postgres.terminate_idle", "allowed": "true"}, 1},
		{"remediator_alerts_processed_total", map[string]string{"runbook": "PostgresTooManyConnections", "outcome": "executed"}, 1},
	})
}

// scraped is a metric series and the value it must have.
type scraped struct {
	name   string
	labels map[string]string
	want   float64
}

// finishPostgres checks the daemon's metrics, stops it, and checks that the
// DSN's password shows in none of the metrics, the recorded outcome and the
// logs, and that the start-up log says how the postgres backend runs.
func (h *harness) finishPostgres(t *testing.T, logs *syncBuffer, record []byte, startup string, want []scraped) {
	t.Helper()
	m := h.metrics()
	for _, c := range want {
		if got := metricstest.Scraped(t, m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h.stop()
	for what, s := range map[string]string{"metrics": m, "recorded outcome": string(record), "logs": logs.String()} {
		if strings.Contains(s, e2ePassword) {
			t.Errorf("the DSN's password is in the %s", what)
		}
	}
	if !strings.Contains(logs.String(), startup) {
		t.Errorf("no start-up line saying %q:\n%s", startup, logs.String())
	}
}

// TestPostgresDryRunEndToEnd: a daemon in dry-run with a configured
// database reads it: the connection report is real evidence, and
// terminate_idle is previewed, listing the idle sessions it would end, while
// every session stays alive.
func TestPostgresDryRunEndToEnd(t *testing.T) {
	admin := pgtest.Admin(t)
	db := pgtest.CreateDatabase(t)
	app := pgtest.CreateRole(t)
	var idle []uint32
	for range 3 {
		c := pgtest.Connect(t, pgtest.DSN(t, db, app), "order-service")
		idle = append(idle, c.PgConn().PID())
	}
	kept := pgtest.Connect(t, pgtest.DSN(t, db, app), "keep-me").PgConn().PID()
	time.Sleep(2500 * time.Millisecond)

	var logs syncBuffer
	h := startPostgres(t, pgtest.WithPassword(t, pgtest.DSN(t, db, ""), e2ePassword), &logs, func(c *config.Config) { c.DryRun = true })
	const fp = "e2e0000000000003"
	if r := h.post(postgresAlert(t, db, fp), "Bearer "+token); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
		t.Fatalf("post: %d %v", r.code, r.body)
	}
	waitFor(t, "outcome", func() bool { return len(h.outcomesFor(fp, "firing")) == 1 })
	o := h.outcomesFor(fp, "firing")[0]
	if o.Status != dispatch.StatusPlanned || o.Chosen != 1 {
		t.Fatalf("outcome status %q, chosen %d, error %q; want planned, option 1\n%+v", o.Status, o.Chosen, o.Error, o)
	}

	// Nothing was terminated.
	for _, pid := range append(slices.Clone(idle), kept) {
		if st := pgtest.State(t, admin, pid); st != "idle" {
			t.Errorf("session %d is %q after a dry-run, want still idle", pid, st)
		}
	}

	rec, b := decodePostgresOutcome(t, o)
	checkConnectionReport(t, rec, b, db, 4)
	if len(rec.Options) == 0 {
		t.Fatalf("no options: %s", b)
	}
	opt := rec.Options[0].Result
	if !opt.DryRun || len(opt.Changes) != 0 || !opt.Evidence.Preview || len(opt.Evidence.Terminated) != 0 {
		t.Fatalf("terminate_idle result, want a preview: %s", b)
	}
	var would []uint32
	for _, s := range opt.Evidence.WouldTerminate {
		would = append(would, uint32(s.PID))
		if s.Application != "order-service" || s.User != app || s.Database != db || s.State != "idle" || s.IdleSeconds < 2 {
			t.Errorf("would terminate %+v, want an idle order-service session of %s in %s", s, app, db)
		}
	}
	if !slices.Equal(would, idle) {
		t.Errorf("would terminate pids %v, want the idle sessions %v (oldest first)", would, idle)
	}
	if got := opt.Evidence.SkippedByReason; got[postgres.ReasonExcludedApp] != 1 || got[postgres.ReasonOwnSession] < 1 {
		t.Errorf("skipped by reason: %v", got)
	}

	h.finishPostgres(t, &logs, b, `"target":"default","mode":"PLANNING","reason":"--dry-run`, []scraped{
		{"remediator_actions_total", map[string]string{"action": "postgres.terminate_idle", "result": "dry_run"}, 1},
		{"remediator_actions_total", map[string]string{"action": "postgres.terminate_idle", "result": "success"}, 0},
		{"remediator_investigations_total", map[string]string{"action": "postgres.connection_report", "result": "success"}, 1},
		{"remediator_alerts_processed_total", map[string]string{"runbook": "PostgresTooManyConnections", "outcome": "planned"}, 1},
	})
}

// TestPostgresUnreachableEndToEnd: with the database down, the alert's
// record says the investigation and the action failed, with a clear error,
// promptly; nothing hangs and the password is not shown.
func TestPostgresUnreachableEndToEnd(t *testing.T) {
	var logs syncBuffer
	h := startPostgres(t, "postgres://postgres:"+e2ePassword+"@127.0.0.1:1/postgres?sslmode=disable", &logs)
	const fp = "e2e0000000000002"
	start := time.Now()
	if r := h.post(postgresAlert(t, "orders", fp), "Bearer "+token); r.code != http.StatusOK {
		t.Fatalf("post: %d %v", r.code, r.body)
	}
	waitFor(t, "outcome", func() bool { return len(h.outcomesFor(fp, "firing")) == 1 })
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("the outcome took %v", d)
	}
	o := h.outcomesFor(fp, "firing")[0]
	if o.Status != dispatch.StatusFailed || o.Chosen != 1 || !strings.Contains(o.Error, "postgres.terminate_idle") || !strings.Contains(o.Error, "connect") {
		t.Fatalf("outcome status %q, chosen %d, error %q; want failed on option 1 with a connection error", o.Status, o.Chosen, o.Error)
	}
	if len(o.Investigations) != 1 || !strings.Contains(o.Investigations[0].Error, "postgres.connection_report") {
		t.Errorf("investigation: %+v", o.Investigations)
	}
	m := h.metrics()
	if got := metricstest.Scraped(t, m, "remediator_actions_total", map[string]string{"action": "postgres.terminate_idle", "result": "failure"}); got != 1 {
		t.Errorf("actions_total failure = %v, want 1", got)
	}
	b, _ := json.Marshal(o)
	h.stop()
	for what, s := range map[string]string{"metrics": m, "recorded outcome": string(b), "logs": logs.String()} {
		if strings.Contains(s, e2ePassword) {
			t.Errorf("the DSN's password is in the %s", what)
		}
	}
}

// postgresRecord is a PostgresTooManyConnections outcome as its JSON (the
// audit record and eval output) shows it.
type postgresRecord struct {
	Investigations []struct {
		Action string `json:"action"`
		Result struct {
			DryRun   bool            `json:"dryRun"`
			Evidence postgres.Report `json:"evidence"`
		} `json:"result"`
		Error string `json:"error"`
	} `json:"investigations"`
	Options []struct {
		Decision struct {
			Params map[string]any `json:"params"`
		} `json:"decision"`
		Result struct {
			DryRun   bool                      `json:"dryRun"`
			Changes  []string                  `json:"changes"`
			Evidence postgres.TerminateOutcome `json:"evidence"`
		} `json:"result"`
	} `json:"options"`
}

// decodePostgresOutcome reads o through its JSON; b is that JSON, for messages.
func decodePostgresOutcome(t *testing.T, o dispatch.Outcome) (postgresRecord, []byte) {
	t.Helper()
	b, err := json.Marshal(o)
	if err != nil {
		t.Fatal(err)
	}
	var rec postgresRecord
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	return rec, b
}

// checkConnectionReport: the one investigation is a real connection report of
// database db with at least minIdle idle sessions in it. (Server-wide
// breakdowns also count other test packages' sessions, so only db's own
// numbers are asserted.)
func checkConnectionReport(t *testing.T, rec postgresRecord, b []byte, db string, minIdle int) {
	t.Helper()
	if len(rec.Investigations) != 1 || rec.Investigations[0].Action != "postgres.connection_report" || rec.Investigations[0].Error != "" {
		t.Fatalf("investigations: %s", b)
	}
	report := rec.Investigations[0].Result.Evidence
	if rec.Investigations[0].Result.DryRun || report.Database != db || report.InDatabase.ByState["idle"] < minIdle ||
		report.ByDatabase[db] != report.InDatabase.Connections || report.MaxConnections == 0 {
		t.Errorf("connection report evidence: %+v", report)
	}
}
