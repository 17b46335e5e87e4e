package redis_test

import (
	"context"
	"encoding/json"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/redis"
)

func TestNewExecutorConfig(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent")
	for _, tc := range []struct {
		name    string
		cfg     redis.TargetConfig
		env     string // value of REMEDIATOR_TEST_REDIS_URL_CFG, when set
		wantErr string
	}{
		{name: "url_file", cfg: redis.TargetConfig{URLFile: urlFile(t, redistest.URL())}},
		{name: "url_env", cfg: redis.TargetConfig{URLEnv: "REMEDIATOR_TEST_REDIS_URL_CFG"}, env: redistest.URL()},
		{name: "pool and timeout", cfg: redis.TargetConfig{URLFile: urlFile(t, redistest.URL()), PoolSize: 2, CallTimeout: time.Second}},
		{name: "no url", cfg: redis.TargetConfig{},
			wantErr: `redis target "t": url_env or url_file is required (the URL holds the password, so it is not written in the config)`},
		{name: "both", cfg: redis.TargetConfig{URLEnv: "X", URLFile: "y"},
			wantErr: `redis target "t": set one of url_env and url_file, not both`},
		{name: "env unset", cfg: redis.TargetConfig{URLEnv: "REMEDIATOR_TEST_REDIS_URL_CFG"}, env: "",
			wantErr: `redis target "t": environment variable REMEDIATOR_TEST_REDIS_URL_CFG (url_env) is unset or empty`},
		{name: "file missing", cfg: redis.TargetConfig{URLFile: missing},
			wantErr: `redis target "t": reading url_file: open ` + missing + `: no such file or directory`},
		{name: "file empty", cfg: redis.TargetConfig{URLFile: urlFile(t, " ")},
			wantErr: `redis target "t": url_file ` + "%FILE%" + ` is empty`},
		{name: "bad scheme", cfg: redis.TargetConfig{URLFile: urlFile(t, "http://127.0.0.1:6379/0")},
			wantErr: `redis target "t": invalid URL scheme "http" (want redis://[user:password@]host:port/db, or rediss:// for TLS)`},
		{name: "bad db", cfg: redis.TargetConfig{URLFile: urlFile(t, "redis://127.0.0.1:6379/zero")},
			wantErr: `redis target "t": invalid URL: redis: invalid database number: "zero"`},
		{name: "negative pool", cfg: redis.TargetConfig{URLFile: urlFile(t, redistest.URL()), PoolSize: -1},
			wantErr: `redis target "t": pool_size -1 is negative`},
		{name: "negative timeout", cfg: redis.TargetConfig{URLFile: urlFile(t, redistest.URL()), CallTimeout: -time.Second},
			wantErr: `redis target "t": call_timeout -1s is negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.cfg.URLEnv != "" {
				t.Setenv(tc.cfg.URLEnv, tc.env)
			}
			e, err := redis.NewExecutor(context.Background(), map[string]redis.TargetConfig{"t": tc.cfg}, nil)
			want := strings.ReplaceAll(tc.wantErr, "%FILE%", tc.cfg.URLFile)
			if want == "" {
				if err != nil {
					t.Fatalf("NewExecutor: %v", err)
				}
				defer e.Close()
				if !e.Configured(remediations.Target{Kind: redis.KindRedis, Connection: "t"}) {
					t.Error("target t not configured")
				}
				return
			}
			if err == nil {
				e.Close()
				t.Fatalf("NewExecutor succeeded, want error %q", want)
			}
			if err.Error() != want {
				t.Errorf("error:\n  %s\nwant:\n  %s", err, want)
			}
		})
	}
}

func TestConfigured(t *testing.T) {
	url := urlFile(t, redistest.URL())
	both := newExecutor(t, map[string]redis.TargetConfig{"default": {URLFile: url}, "sessions": {URLFile: url}}, nil)
	namedOnly := newExecutor(t, map[string]redis.TargetConfig{"sessions": {URLFile: url}}, nil)
	none := newExecutor(t, nil, nil)
	for _, tc := range []struct {
		name       string
		e          *redis.Executor
		connection string
		want       bool
	}{
		{"empty connection is default", both, "", true},
		{"default by name", both, "default", true},
		{"named", both, "sessions", true},
		{"unknown name", both, "queue", false},
		{"no default configured", namedOnly, "", false},
		{"named without default", namedOnly, "sessions", true},
		{"nothing configured", none, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			target := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0", Connection: tc.connection}
			if got := tc.e.Configured(target); got != tc.want {
				t.Errorf("Configured(connection %q) = %v, want %v", tc.connection, got, tc.want)
			}
		})
	}
}

// other is an action the Redis executor does not own.
var other = remediations.Define(remediations.Spec{
	Name: "postgres.connection_report", Kind: remediations.Investigation,
	TargetKinds: []string{redis.KindRedis}, Example: remediations.Params{},
}, func(remediations.Target, *remediations.NoParams) ([]string, error) { return nil, nil })

func TestExecuteRefuses(t *testing.T) {
	e := defaultExecutor(t)
	cache := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0"}
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		target  remediations.Target
		params  remediations.Params
		wantErr string
	}{
		{"action of another backend", other, cache, nil,
			"the redis executor does not run postgres.connection_report (it runs redis.cache_report, redis.delete_keys)"},
		{"postgres target", redis.CacheReport, remediations.Target{Kind: "PostgreSQL", Database: "orders"}, nil,
			"planning redis.cache_report on PostgreSQL orders: redis.cache_report cannot act on a PostgreSQL target (accepts Redis)"},
		{"pattern matching everything", redis.DeleteKeys, cache, remediations.Params{"pattern": "**"},
			`planning redis.delete_keys on Redis cache-0: invalid params: pattern "**" would match every key; name a prefix`},
		{"unconfigured connection", redis.CacheReport, remediations.Target{Kind: redis.KindRedis, Instance: "q", Connection: "queue"}, nil,
			`redis.cache_report on Redis q (connection queue): no redis connection "queue" is configured (configured: default)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := e.Execute(context.Background(), tc.action, tc.target, tc.params)
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("error:\n  %v\nwant:\n  %s", err, tc.wantErr)
			}
			if len(res.Changes) != 0 || res.Evidence != nil {
				t.Errorf("refused run reported changes %q / evidence %v", res.Changes, res.Evidence)
			}
		})
	}
}

func TestUnreachable(t *testing.T) {
	cache := remediations.Target{Kind: redis.KindRedis}
	for _, tc := range []struct {
		name    string
		addr    func(t *testing.T) string
		timeout time.Duration
	}{
		// Nothing listens on port 1: the dial is refused at once.
		{"refused", func(*testing.T) string { return "127.0.0.1:1" }, 500 * time.Millisecond},
		// A server that accepts and never answers, like a Redis stuck in a
		// long command or a half-dead proxy: only the timeouts end the wait.
		{"stalled", stalledServer, 300 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := tc.addr(t)
			wantIn := `redis connection "default" (` + addr + `/0)`
			url := "redis://" + addr + "/0"
			var logs logBuffer
			start := time.Now()
			e := newExecutor(t, map[string]redis.TargetConfig{"default": {URLFile: urlFile(t, url), CallTimeout: tc.timeout}}, debugLogger(&logs))
			if d := time.Since(start); d > tc.timeout+time.Second {
				t.Errorf("NewExecutor took %s with an unreachable target; its start-up check must be bounded by call_timeout %s", d, tc.timeout)
			}
			if !strings.Contains(logs.String(), "unreachable at start") {
				t.Errorf("no start-up warning logged:\n%s", logs.String())
			}
			for _, run := range []struct {
				action remediations.Action
				params remediations.Params
			}{
				{redis.CacheReport, nil},
				{redis.DeleteKeys, remediations.Params{"pattern": "expired:*"}},
			} {
				start := time.Now()
				_, err := e.Execute(context.Background(), run.action, cache, run.params)
				d := time.Since(start)
				if err == nil {
					t.Fatalf("%s on an unreachable Redis succeeded", run.action.Spec().Name)
				}
				if d > tc.timeout+time.Second {
					t.Errorf("%s took %s to fail, want within call_timeout %s (+1s)", run.action.Spec().Name, d, tc.timeout)
				}
				t.Logf("%s: %v", run.action.Spec().Name, err)
				if !strings.Contains(err.Error(), wantIn) {
					t.Errorf("error %q does not name %s", err, wantIn)
				}
			}
		})
	}
}

// stalledServer listens on a free local port, accepts connections and never
// answers; it stops when the test ends.
func stalledServer(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

const password = "s3cr3t-pw-xyz"

// TestPasswordRedacted runs every path a URL with a password can take (bad
// URLs, unreachable Redis, a reachable one that needs no password) and
// checks neither errors, nor results, nor logs show it.
func TestPasswordRedacted(t *testing.T) {
	c := testClient(t)
	for _, tc := range []struct {
		name, url string
		// wantErr is part of the NewExecutor error, when the URL is refused.
		wantErr string
	}{
		{name: "unreachable", url: "redis://:" + password + "@127.0.0.1:1/0"},
		{name: "unreachable with user", url: "redis://admin:" + password + "@127.0.0.1:1/0"},
		{name: "server without password", url: "redis://:" + password + "@" + redistest.Addr() + "/0"},
		{name: "default user on server without password", url: "redis://default:" + password + "@" + redistest.Addr() + "/0"},
		{name: "unparsable port", url: "redis://:" + password + "@127.0.0.1:port/0", wantErr: "invalid URL (not shown, it may contain a password"},
		{name: "bad escape in password", url: "redis://:" + password + "%zz@127.0.0.1:6379/0", wantErr: "invalid URL (not shown, it may contain a password"},
		{name: "control character", url: "redis://:" + password + "\x7f@127.0.0.1:6379/0", wantErr: "invalid URL (not shown, it may contain a password"},
		{name: "bad database", url: "redis://:" + password + "@127.0.0.1:6379/x", wantErr: "invalid database number"},
		{name: "bad option", url: "redis://:" + password + "@127.0.0.1:6379/0?dial_timeout=soon", wantErr: "invalid dial_timeout duration"},
		{name: "bad scheme", url: "http://:" + password + "@127.0.0.1:6379/0", wantErr: `invalid URL scheme "http"`},
		{name: "unescaped slash in password", url: "redis://:" + password + "/x@127.0.0.1:1/0", wantErr: "invalid URL (not shown, it may contain a password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs logBuffer
			var shown []string
			e, err := redis.NewExecutor(context.Background(),
				map[string]redis.TargetConfig{"default": {URLFile: urlFile(t, tc.url), CallTimeout: 500 * time.Millisecond}},
				debugLogger(&logs))
			shown = append(shown, errorChain(err)...)
			switch {
			case tc.wantErr != "" && err == nil:
				e.Close()
				t.Fatalf("NewExecutor accepted %s", tc.name)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q, want it to contain %q", err, tc.wantErr)
			case tc.wantErr == "" && err != nil:
				t.Fatalf("NewExecutor: %v", err)
			}
			if err == nil {
				prefix := keyPrefix(t, c)
				cache := remediations.Target{Kind: redis.KindRedis}
				for _, run := range []struct {
					action remediations.Action
					params remediations.Params
				}{
					{redis.CacheReport, nil},
					{redis.DeleteKeys, remediations.Params{"pattern": prefix + "*", "max_keys": 1}},
				} {
					res, err := e.Execute(context.Background(), run.action, cache, run.params)
					shown = append(shown, errorChain(err)...)
					b, jerr := json.Marshal(res)
					if jerr != nil {
						t.Fatalf("marshalling result: %v", jerr)
					}
					shown = append(shown, string(b))
				}
				if cerr := e.Close(); cerr != nil {
					shown = append(shown, cerr.Error())
				}
			}
			shown = append(shown, logs.String())
			for _, s := range shown {
				// "s3cr3t" also catches a partial leak, such as a quoted
				// fragment of the password in a parse error.
				if strings.Contains(s, "s3cr3t") {
					t.Errorf("password shown:\n%s", s)
				}
			}
		})
	}
}

// errorChain is the message of err and of every error it wraps: a caller
// that unwraps must not find the password either.
func errorChain(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, errorChain(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorChain(e)...)
		}
	}
	return out
}

// TestTargetConfigYAML checks the config file spelling, durations included.
func TestTargetConfigYAML(t *testing.T) {
	var got map[string]redis.TargetConfig
	src := "default: {url_env: REDIS_URL, pool_size: 2, call_timeout: 1500ms}\nsessions: {url_file: /run/secrets/redis-url}\n"
	if err := yaml.Unmarshal([]byte(src), &got); err != nil {
		t.Fatal(err)
	}
	want := map[string]redis.TargetConfig{
		"default":  {URLEnv: "REDIS_URL", PoolSize: 2, CallTimeout: 1500 * time.Millisecond},
		"sessions": {URLFile: "/run/secrets/redis-url"},
	}
	if !maps.Equal(got, want) {
		t.Errorf("decoded %+v, want %+v", got, want)
	}
}
