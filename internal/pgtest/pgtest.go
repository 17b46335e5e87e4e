// Package pgtest gives tests their own PostgreSQL databases, roles and
// sessions on the server the machine runs (127.0.0.1:5432, trust auth, or
// REMEDIATOR_TEST_POSTGRES_DSN). A test that cannot reach it fails with a
// message saying how to start it; it never skips, so CI cannot pass without
// having run it.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN overrides DefaultDSN. It must be a URL DSN of a superuser (the
// tests create databases and roles).
const EnvDSN = "REMEDIATOR_TEST_POSTGRES_DSN"

// DefaultDSN is the server of the development and CI machines.
const DefaultDSN = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// AdminDSN is the superuser DSN the tests use.
func AdminDSN() string {
	if v := os.Getenv(EnvDSN); v != "" {
		return v
	}
	return DefaultDSN
}

// Admin is a superuser connection, closed when the test ends.
func Admin(t testing.TB) *pgx.Conn {
	t.Helper()
	return Connect(t, AdminDSN(), "remediator-test-admin")
}

// Connect opens a session with the application_name app, closed when the
// test ends. Failing to connect fails the test with a clear message.
func Connect(t testing.TB, dsn, app string) *pgx.Conn {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatalf("pgtest: bad DSN %s: %v", redact(dsn), err)
	}
	cfg.RuntimeParams["application_name"] = app
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatalf("pgtest: cannot connect to PostgreSQL at %s: %v\n"+
			"These tests need a PostgreSQL server: start it (sh hack/services.sh) or point %s at one (a superuser URL DSN).",
			redact(dsn), err, EnvDSN)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = conn.Close(ctx)
	})
	return conn
}

// Exec runs statements as the admin, failing the test on error.
func Exec(t testing.TB, admin *pgx.Conn, sql string, args ...any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.Exec(ctx, sql, args...); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

// adminExec runs statements on a connection of its own, closed at once:
// tests hold few connections (max_connections is shared by every package
// testing in parallel).
func adminExec(t testing.TB, stmts ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, AdminDSN())
	if err != nil {
		t.Fatalf("pgtest: cannot connect to PostgreSQL at %s: %v\n"+
			"These tests need a PostgreSQL server: start it (sh hack/services.sh) or point %s at one (a superuser URL DSN).",
			redact(AdminDSN()), err, EnvDSN)
	}
	defer conn.Close(ctx)
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("pgtest: %s: %v", s, err)
		}
	}
}

// Name is a fresh name for a database or role: prefix_<random>.
func Name(prefix string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	return prefix + "_" + hex.EncodeToString(b)
}

// CreateDatabase creates a database of its own for the test, dropped (with
// every session still in it) when the test ends. It returns its name.
func CreateDatabase(t testing.TB) string {
	t.Helper()
	name := Name("remediator_test")
	adminExec(t, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	t.Cleanup(func() {
		// A fresh connection: the test may have closed or broken its own.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminDSN())
		if err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	return name
}

// CreateRole creates a login role (no superuser), granted the given roles
// (e.g. pg_read_all_stats), dropped when the test ends after its sessions are
// ended. It returns its name.
func CreateRole(t testing.TB, grants ...string) string {
	t.Helper()
	name := Name("remediator_role")
	id := pgx.Identifier{name}.Sanitize()
	stmts := []string{"CREATE ROLE " + id + " LOGIN NOSUPERUSER"}
	for _, g := range grants {
		stmts = append(stmts, "GRANT "+pgx.Identifier{g}.Sanitize()+" TO "+id)
	}
	adminExec(t, stmts...)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, AdminDSN())
		if err != nil {
			t.Errorf("pgtest: dropping role %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", name)
		if _, err := conn.Exec(ctx, "DROP ROLE IF EXISTS "+id); err != nil {
			t.Errorf("pgtest: dropping role %s: %v", name, err)
		}
	})
	return name
}

// DSN is the admin DSN with another database and, when user is not empty,
// another user (trust auth: no password).
func DSN(t testing.TB, database, user string) string {
	t.Helper()
	u, err := url.Parse(AdminDSN())
	if err != nil {
		t.Fatalf("pgtest: %s must be a URL DSN: %v", EnvDSN, err)
	}
	u.Path = "/" + database
	if user != "" {
		u.User = url.User(user)
	}
	return u.String()
}

// WithPassword is dsn with its password set to pw (trust auth ignores it):
// for tests that check a password never leaks.
func WithPassword(t testing.TB, dsn, pw string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	u.User = url.UserPassword(u.User.Username(), pw)
	return u.String()
}

func redact(dsn string) string {
	if u, err := url.Parse(dsn); err == nil {
		return u.Redacted()
	}
	return "(unparsable DSN)"
}

// State is the state of backend pid in pg_stat_activity, "" when it is not
// listed (ended).
func State(t testing.TB, admin *pgx.Conn, pid uint32) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var state *string
	err := admin.QueryRow(ctx, "SELECT coalesce(state, '?') FROM pg_stat_activity WHERE pid = $1", int32(pid)).Scan(&state)
	if err == pgx.ErrNoRows {
		return ""
	}
	if err != nil {
		t.Fatalf("pgtest: reading pg_stat_activity: %v", err)
	}
	return *state
}

// WaitState waits up to 10s for backend pid to reach state ("" = ended),
// failing the test otherwise.
func WaitState(t testing.TB, admin *pgx.Conn, pid uint32, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := State(t, admin, pid)
		if got == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pgtest: backend %d is in state %q after 10s, want %q", pid, got, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
