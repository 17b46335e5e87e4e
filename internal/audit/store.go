// Package audit keeps the durable history of what the daemon decided and
// did: one record per processed alert (investigations with their evidence,
// every option with its policy decision and reasons, the result), and one row
// per action, written as an intent before the action runs and completed with
// its outcome after. It stores in PostgreSQL (several replicas) or in an
// embedded SQLite file (the default), through database/sql with one schema
// and one set of queries; see dialect for the few differences.
package audit

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
	_ "modernc.org/sqlite"             // database/sql driver "sqlite", pure Go
)

//go:embed migrations/*.sql
var migrations embed.FS

// Memory is the --audit value for an SQLite database in memory: a history
// that ends with the process (tests, or no disk).
const Memory = "memory"

// Options configure a Store.
type Options struct {
	// Instance names this process among replicas sharing a store (default:
	// the host name). Reap relies on it: see Store.Reap.
	Instance string
	// MaxConns caps the connection pool (default 4).
	MaxConns int
	Logger   *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Store is the audit history in PostgreSQL or SQLite. It implements
// dispatch.Recorder and dispatch.Journal.
type Store struct {
	db          *sql.DB
	d           dialect
	where       string // the database, without credentials, for messages
	instance    string
	incarnation string
	log         *slog.Logger
	now         func() time.Time
}

// dialect is where PostgreSQL and SQLite differ. Queries are shared: both
// drivers take $N placeholders.
type dialect struct {
	name string
	// lockMigrations serialises migrations between processes starting at
	// once; "" when BEGIN IMMEDIATE already does (SQLite).
	lockMigrations string
	// contains is a case-sensitive substring test of column %s for
	// parameter %s (SQLite's LIKE ignores ASCII case, PostgreSQL's does not).
	contains string
	// lockReap serialises Reap between replicas, so that two starting at
	// once do not both mark (and count) one orphan; "" when BEGIN IMMEDIATE
	// already does (SQLite).
	lockReap string
}

var (
	postgresDialect = dialect{
		name: "postgres", lockMigrations: "SELECT pg_advisory_xact_lock(7250214386501)", contains: "strpos(%s, %s) > 0",
		lockReap: "SELECT pg_advisory_xact_lock(7250214386502)",
	}
	sqliteDialect = dialect{name: "sqlite", contains: "instr(%s, %s) > 0"}
)

// DefaultPath is where the quick start keeps its history:
// $STATE_DIRECTORY/audit.db under systemd (StateDirectory=remediator), else
// $XDG_STATE_HOME/remediator/audit.db, else ~/.local/state/remediator/audit.db,
// else ./data/audit.db.
func DefaultPath(getenv func(string) string) string {
	if d := getenv("STATE_DIRECTORY"); d != "" {
		// systemd may list several, colon-separated; the first is ours.
		return filepath.Join(strings.Split(d, ":")[0], "audit.db")
	}
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "remediator", "audit.db")
	}
	if h := getenv("HOME"); h != "" && h != "/" {
		return filepath.Join(h, ".local", "state", "remediator", "audit.db")
	}
	return filepath.Join("data", "audit.db")
}

// Describe returns dsn without its password, for logs and errors.
func Describe(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			return u.Redacted()
		}
		return "postgres://(unparsable DSN)"
	}
	return dsn
}

// parseDSN splits an --audit value into a driver and its data source:
// postgres://... or postgresql://... (PostgreSQL), sqlite:///abs/path.db,
// sqlite://rel/path.db or sqlite:path.db (SQLite file), memory.
func parseDSN(dsn string) (driver, source string, d dialect, err error) {
	switch {
	case dsn == Memory:
		return "sqlite", ":memory:", sqliteDialect, nil
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "pgx", dsn, postgresDialect, nil
	case strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite:"), "//")
		if path == "" || strings.ContainsAny(path, "?#") {
			return "", "", dialect{}, fmt.Errorf("audit store %q: want sqlite:///absolute/path.db or sqlite://relative/path.db (no ? or #)", dsn)
		}
		return "sqlite", path, sqliteDialect, nil
	}
	return "", "", dialect{}, fmt.Errorf("audit store %q: want postgres://..., sqlite:///path/audit.db or memory", Describe(dsn))
}

// Open opens the store dsn names (see parseDSN), creating an SQLite file and
// its directory if needed, and applies the schema migrations. A store that
// cannot be reached or migrated is an error: the daemon does not start
// without its audit history.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	driver, source, d, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	where := Describe(dsn)
	maxConns := opts.MaxConns
	if maxConns <= 0 {
		maxConns = 4
	}
	if d.name == "sqlite" {
		if source != ":memory:" {
			if err := os.MkdirAll(filepath.Dir(source), 0o700); err != nil {
				return nil, fmt.Errorf("audit store %s: %w", where, err)
			}
		} else {
			// Every connection to :memory: is a database of its own.
			maxConns = 1
		}
		// WAL: readers (the API, `remediator history`) do not block the
		// writer. busy_timeout: writers wait for each other instead of
		// failing. synchronous FULL: an intent is on disk before its action
		// runs. _txlock=immediate: a transaction takes the write lock at
		// BEGIN, so two writers never deadlock upgrading their locks.
		source += "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)&_txlock=immediate"
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("audit store %s: %w", where, err)
	}
	db.SetMaxOpenConns(maxConns)
	db.SetMaxIdleConns(maxConns)
	if d.name == "sqlite" {
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	}
	instance := opts.Instance
	if instance == "" {
		instance, _ = os.Hostname()
	}
	if instance == "" {
		instance = "remediator"
	}
	s := &Store{
		db: db, d: d, where: where, instance: instance, incarnation: newID(8),
		log: opts.Logger, now: opts.Now,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	pctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("audit store %s unreachable: %w", where, err)
	}
	if err := s.Migrate(pctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the pool.
func (s *Store) Close() error { return s.db.Close() }

// Where is the store, without credentials (for logs).
func (s *Store) Where() string { return s.where }

// Dialect is "postgres" or "sqlite".
func (s *Store) Dialect() string { return s.d.name }

// Instance is the instance id this process records with its intents.
func (s *Store) Instance() string { return s.instance }

// Ping checks the store answers.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

// Migrate applies the embedded migrations not applied yet, in order, each
// in a transaction; applying them again changes nothing.
func (s *Store) Migrate(ctx context.Context) error {
	files, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	slices.Sort(files)
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("audit store %s: migrating: %w", s.where, err)
	}
	defer tx.Rollback() //nolint:errcheck // after Commit it is a no-op
	if s.d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
			return fmt.Errorf("audit store %s: locking for migrations: %w", s.where, err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS audit_schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_us BIGINT NOT NULL)`); err != nil {
		return fmt.Errorf("audit store %s: migrating: %w", s.where, err)
	}
	for _, f := range files {
		name := filepath.Base(f)
		version, err := strconv.Atoi(strings.SplitN(name, "_", 2)[0])
		if err != nil {
			return fmt.Errorf("audit migration %s: name must start with its version number", name)
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM audit_schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return fmt.Errorf("audit store %s: migrating: %w", s.where, err)
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(f)
		if err != nil {
			return err
		}
		for _, stmt := range statements(string(body)) {
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return fmt.Errorf("audit store %s: migration %s: %w", s.where, name, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO audit_schema_migrations (version, name, applied_us) VALUES ($1, $2, $3)`,
			version, name, s.now().UnixMicro()); err != nil {
			return fmt.Errorf("audit store %s: migration %s: %w", s.where, name, err)
		}
		s.log.Info("audit schema migrated", "store", s.where, "migration", name)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("audit store %s: migrating: %w", s.where, err)
	}
	return nil
}

// statements splits a migration on semicolons ending a line, dropping
// comment lines.
func statements(body string) []string {
	var out []string
	var b strings.Builder
	for line := range strings.Lines(body) {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if s := strings.TrimSpace(b.String()); s != ";" {
				out = append(out, strings.TrimSuffix(s, ";"))
			}
			b.Reset()
		}
	}
	if s := strings.TrimSpace(b.String()); s != "" {
		out = append(out, s)
	}
	return out
}

// newID is n random bytes in hex.
func newID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// ErrNotFound is returned by Get for an unknown id.
var ErrNotFound = errors.New("audit record not found")
