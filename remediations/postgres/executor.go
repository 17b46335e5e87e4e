package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/remediator/remediator/remediations"
)

// Defaults of a TargetConfig's zero fields.
const (
	DefaultMaxConns         = 4
	DefaultStatementTimeout = 5 * time.Second
	DefaultCallTimeout      = 10 * time.Second
)

// applicationName identifies the daemon's own sessions in pg_stat_activity
// (unless the DSN sets another).
const applicationName = "remediator"

// TargetConfig configures one PostgreSQL server the daemon may act on
// (postgres.targets.NAME in the config file). The DSN itself is a secret and
// never goes in the file: it is read from an environment variable or a file.
type TargetConfig struct {
	// DSNEnv names the environment variable holding the DSN
	// (postgres://user:password@host:5432/db?sslmode=verify-full, or
	// keyword/value form).
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile is a file holding the DSN (a mounted Kubernetes Secret).
	DSNFile string `yaml:"dsn_file"`
	// MaxConns caps the daemon's connections to the server (default 4).
	MaxConns int32 `yaml:"max_conns"`
	// StatementTimeout is set as statement_timeout on every connection
	// (default 5s), so the server itself stops a query that overruns.
	StatementTimeout time.Duration `yaml:"statement_timeout"`
	// CallTimeout bounds one action, connecting included (default 10s).
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// Validate checks the settings that need no I/O.
func (c TargetConfig) Validate() error {
	switch {
	case c.DSNEnv == "" && c.DSNFile == "":
		return errors.New("set dsn_env (an environment variable) or dsn_file (a file) holding the DSN; the DSN itself never goes in the config file")
	case c.DSNEnv != "" && c.DSNFile != "":
		return errors.New("set only one of dsn_env and dsn_file")
	case c.MaxConns < 0:
		return errors.New("max_conns must not be negative")
	case c.StatementTimeout < 0:
		return errors.New("statement_timeout must not be negative")
	case c.CallTimeout < 0:
		return errors.New("call_timeout must not be negative")
	}
	return nil
}

// dsn reads the DSN and says where it came from (for messages: never the DSN).
func (c TargetConfig) dsn() (dsn, source string, err error) {
	if c.DSNEnv != "" {
		source = "environment variable " + c.DSNEnv
		dsn = strings.TrimSpace(os.Getenv(c.DSNEnv))
	} else {
		source = "file " + c.DSNFile
		b, err := os.ReadFile(c.DSNFile)
		if err != nil {
			return "", source, fmt.Errorf("reading the DSN: %w", err)
		}
		dsn = strings.TrimSpace(string(b))
	}
	if dsn == "" {
		return "", source, fmt.Errorf("%s is empty", source)
	}
	return dsn, source, nil
}

// Executor runs the PostgreSQL actions through one pgx pool per configured
// target. It implements remediations.Executor.
type Executor struct {
	log     *slog.Logger
	targets map[string]*target
}

// target is one configured server.
type target struct {
	name        string
	source      string // where the DSN came from, for messages
	addr        string // user@host:port/database, for logs: never the password
	pool        *pgxpool.Pool
	callTimeout time.Duration
	secrets     []string
	// own holds the backend PIDs of the pool's connections: terminate_idle
	// never ends them, whatever the parameters say.
	own sync.Map
	// appName is the pool's application_name. Sessions of the daemon's role
	// with that name are its own too: a connection the pool is still setting
	// up (not yet in own), or another replica's.
	appName string
	// peak is the most client connections any action saw on this server
	// since the daemon started (PostgreSQL keeps no such history).
	peak atomic.Int64
	// connecting are the pool's connections still being set up, which
	// Close cuts rather than waits for.
	connecting connecting
}

// NewExecutor builds the pools. It fails on a DSN that is missing or does
// not parse; a server that does not answer is only logged, because it may
// come up later and every call has its own deadline.
func NewExecutor(ctx context.Context, targets map[string]TargetConfig, log *slog.Logger) (*Executor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Executor{log: log, targets: make(map[string]*target, len(targets))}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		tg, err := newTarget(ctx, name, targets[name])
		if err != nil {
			e.Close()
			return nil, fmt.Errorf("postgres target %q: %w", name, err)
		}
		e.targets[name] = tg
	}
	var wg sync.WaitGroup
	for _, tg := range e.targets {
		wg.Go(func() { e.check(ctx, tg) })
	}
	wg.Wait()
	return e, nil
}

func newTarget(ctx context.Context, name string, c TargetConfig) (*target, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	dsn, source, err := c.dsn()
	if err != nil {
		return nil, err
	}
	tg := &target{name: name, source: source, secrets: secretsOf(dsn), callTimeout: orDefault(c.CallTimeout, DefaultCallTimeout)}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, parseError(err, tg.secrets))
	}
	if pw := cfg.ConnConfig.Password; pw != "" && !slices.Contains(tg.secrets, pw) {
		tg.secrets = append(tg.secrets, pw) // e.g. from PGPASSWORD or a passfile
	}
	cfg.MaxConns = orDefault(c.MaxConns, DefaultMaxConns)
	// One connection is kept open: the alerts this backend answers are about
	// a server running out of connections, when opening one may fail.
	cfg.MinConns = 1
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > tg.callTimeout {
		cfg.ConnConfig.ConnectTimeout = tg.callTimeout
	}
	rp := cfg.ConnConfig.RuntimeParams
	rp["statement_timeout"] = strconv.FormatInt(orDefault(c.StatementTimeout, DefaultStatementTimeout).Milliseconds(), 10)
	if rp["application_name"] == "" {
		rp["application_name"] = applicationName
	}
	tg.appName = rp["application_name"]
	cfg.ConnConfig.DialFunc = tg.connecting.dial(cfg.ConnConfig.DialFunc)
	cfg.AfterConnect = func(_ context.Context, conn *pgx.Conn) error {
		tg.connecting.established(conn.PgConn().Conn())
		tg.own.Store(conn.PgConn().PID(), struct{}{})
		return nil
	}
	cfg.BeforeClose = func(conn *pgx.Conn) { tg.own.Delete(conn.PgConn().PID()) }
	host := cfg.ConnConfig.Host
	if strings.HasPrefix(host, "/") {
		host = "unix:" + host
	}
	tg.addr = fmt.Sprintf("%s@%s:%d/%s", cfg.ConnConfig.User, host, cfg.ConnConfig.Port, cfg.ConnConfig.Database)
	tg.pool, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, redactErr(fmt.Errorf("creating the connection pool: %w", err), tg.secrets)
	}
	return tg, nil
}

// orDefault returns v, or def when v is zero.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// check logs whether a target answers, so that a wrong DSN shows at start
// rather than with the first alert.
func (e *Executor) check(ctx context.Context, tg *target) {
	ctx, cancel := context.WithTimeout(ctx, min(tg.callTimeout, 5*time.Second))
	defer cancel()
	var version string
	err := tg.pool.QueryRow(ctx, "SELECT current_setting('server_version')").Scan(&version)
	if err != nil {
		e.log.Warn("postgres target does not answer yet; its actions will fail until it does",
			"target", tg.name, "server", tg.addr, "dsn_from", tg.source, "err", tg.describe(ctx, err))
		return
	}
	e.log.Info("postgres target reachable", "target", tg.name, "server", tg.addr, "version", version)
}

// Close closes every pool. Connections still being set up are cut, not
// waited for (see connecting): a process shutting down does not wait for a
// server that stopped answering.
func (e *Executor) Close() {
	for _, tg := range e.targets {
		tg.connecting.cut()
		tg.pool.Close()
	}
}

// Addr says where target name connects, user@host:port/database (never the
// password), and where its DSN came from; ok is false for a target not
// configured. For the start-up log.
func (e *Executor) Addr(name string) (addr, dsnFrom string, ok bool) {
	tg, ok := e.targets[name]
	if !ok {
		return "", "", false
	}
	return tg.addr, tg.source, true
}

// Targets lists the configured target names, sorted.
func (e *Executor) Targets() []string { return slices.Sorted(maps.Keys(e.targets)) }

// Configured reports whether the target t runs through (t.Connection, or
// "default" when empty) is configured.
func (e *Executor) Configured(t remediations.Target) bool {
	_, ok := e.targets[t.ConnectionName()]
	return ok
}

// Execute implements remediations.Executor: it plans the action (which
// validates its parameters and target), then runs it within the target's
// call timeout.
func (e *Executor) Execute(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	return e.run(ctx, a, t, p, false)
}

// Preview implements remediations.Previewer: a read-only run. terminate_idle
// makes the same selection as a real run (filters, order, cap, skip
// reasons) and lists the sessions it would end in
// TerminateOutcome.WouldTerminate, calling no pg_terminate_backend; the
// other actions only read anyway, so their preview is their run.
func (e *Executor) Preview(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	return e.run(ctx, a, t, p, true)
}

// run runs a, or previews it: then nothing is changed and the result is a
// dry-run.
func (e *Executor) run(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params, preview bool) (remediations.Result, error) {
	name := a.Spec().Name
	plan, err := a.Plan(t, p)
	if err != nil {
		return remediations.Result{DryRun: preview}, err
	}
	res := remediations.Result{DryRun: preview, Plan: plan}
	tg, ok := e.targets[t.ConnectionName()]
	if !ok {
		return res, fmt.Errorf("%s: postgres target %q is not configured (configured: %s)", name, t.ConnectionName(), strings.Join(e.Targets(), ", "))
	}
	ctx, cancel := context.WithTimeout(ctx, tg.callTimeout)
	defer cancel()
	switch name {
	case ConnectionReport.Spec().Name:
		var rep *Report
		rep, err = tg.connectionReport(ctx, t.Database)
		if rep != nil {
			res.Evidence = rep
		}
	case TerminateIdle.Spec().Name:
		var params *TerminateIdleParams
		if params, err = remediations.Decode[TerminateIdleParams](p); err != nil {
			return res, err
		}
		var out *TerminateOutcome
		out, err = tg.terminateIdle(ctx, t.Database, params, preview)
		if out != nil {
			res.Evidence = out
			for _, s := range out.Terminated {
				res.Changes = append(res.Changes, fmt.Sprintf("terminated pid %d (user %s, application %q, %s for %.0fs)", s.PID, s.User, s.Application, s.State, s.IdleSeconds))
			}
		}
	case RecommendMaxConnections.Spec().Name:
		var rec *Recommendation
		rec, err = tg.recommendMaxConnections(ctx)
		if rec != nil {
			res.Evidence = rec
		}
	default:
		return res, fmt.Errorf("the postgres executor cannot run %s", name)
	}
	if err != nil {
		return res, fmt.Errorf("%s on postgres target %q (%s): %w", name, tg.name, tg.addr, tg.describe(ctx, err))
	}
	e.log.Debug("postgres action done", "action", name, "target", tg.name, "database", t.Database, "preview", preview)
	return res, nil
}

// describe makes err safe and plain: secrets removed, a deadline named for
// the setting that set it, and on one line (pgx lists each connection
// attempt on its own line, which log lines and tables do not take well).
func (tg *target) describe(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("no answer before the deadline (call_timeout %s): %w", tg.callTimeout, err)
	}
	err = redactErr(err, tg.secrets)
	if msg := err.Error(); strings.Contains(msg, "\n") {
		lines := strings.Split(msg, "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		err = &redactedError{msg: strings.Join(slices.Compact(lines), " "), cause: err}
	}
	return err
}
