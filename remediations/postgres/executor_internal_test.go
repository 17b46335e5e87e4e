package postgres

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/pgtest"
)

func TestSuggest(t *testing.T) {
	for _, tc := range []struct{ peak, want int }{
		{0, 10}, {1, 10}, {8, 10}, {9, 20}, {80, 100}, {81, 110}, {96, 120}, {100, 130}, {400, 500},
	} {
		if got := suggest(tc.peak); got != tc.want {
			t.Errorf("suggest(%d) = %d, want %d", tc.peak, got, tc.want)
		}
	}
}

func TestSecretsOf(t *testing.T) {
	for _, tc := range []struct {
		dsn  string
		want []string // each must be found
	}{
		{"postgres://u:s3cr3t@h/db", []string{"s3cr3t"}},
		{"postgresql://u:p%40ss@h:5432/db?sslmode=disable", []string{"p%40ss", "p@ss"}},
		{"postgres://u:p@ss@h/db", []string{"p@ss"}},                       // malformed: unescaped '@'
		{"postgres://u:pa/ss#x@h/db?sslmode=disable", []string{"pa/ss#x"}}, // malformed: unescaped '/' and '#'
		{"postgres://u:pa?ss@h/db", []string{"pa?ss"}},                     // malformed: unescaped '?'
		{"host=h password=z9 dbname=db", []string{"z9"}},
		{"postgres://u:bad%zz@h/db", []string{"bad%zz"}},
		{"postgres://u@h/db?password=qwerty&sslmode=disable", []string{"qwerty"}},
		{"host=h user=u password=hunter22 dbname=db", []string{"hunter22"}},
		{"host=h password='with space' dbname=db", []string{"with space"}},
		{"host=h password = spaced dbname=db", []string{"spaced"}},
	} {
		got := secretsOf(tc.dsn)
		for _, w := range tc.want {
			if !slices.Contains(got, w) {
				t.Errorf("secretsOf(%q) = %q, missing %q", tc.dsn, got, w)
			}
		}
		if s := scrub("error about "+tc.dsn, got); strings.Contains(s, tc.want[0]) {
			t.Errorf("scrub left %q in %q", tc.want[0], s)
		}
	}
	for _, dsn := range []string{"postgres://u@h/db", "postgres://u@h/db?options=-c%20a:b@c", "postgres://u:@h/db"} {
		if got := secretsOf(dsn); len(got) != 0 {
			t.Errorf("secretsOf(%q) = %q, want none", dsn, got)
		}
	}
}

// TestSessionSettings: the pool's sessions carry statement_timeout and
// identify themselves as remediator.
func TestSessionSettings(t *testing.T) {
	for _, tc := range []struct {
		cfg         TargetConfig
		wantTimeout string
	}{
		{TargetConfig{}, "5s"},
		{TargetConfig{StatementTimeout: 1234 * time.Millisecond}, "1234ms"},
	} {
		t.Setenv("PGTEST_DSN", pgtest.AdminDSN())
		tg, err := newTarget(context.Background(), "t", TargetConfig{DSNEnv: "PGTEST_DSN", StatementTimeout: tc.cfg.StatementTimeout})
		if err != nil {
			t.Fatal(err)
		}
		var timeout, app string
		err = tg.pool.QueryRow(context.Background(), "SELECT current_setting('statement_timeout'), current_setting('application_name')").Scan(&timeout, &app)
		tg.pool.Close()
		if err != nil {
			t.Fatal(err)
		}
		if timeout != tc.wantTimeout || app != "remediator" {
			t.Errorf("statement_timeout %q, application_name %q; want %q, remediator", timeout, app, tc.wantTimeout)
		}
		if tg.callTimeout != DefaultCallTimeout {
			t.Errorf("call timeout %v, want the default %v", tg.callTimeout, DefaultCallTimeout)
		}
	}
}
