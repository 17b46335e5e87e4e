package config_test

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/receiver"
	"github.com/remediator/remediator/remediations/builtin"
	"github.com/remediator/remediator/remediations/postgres"
	"github.com/remediator/remediator/remediations/redis"
)

func load(t *testing.T, yml string) (*config.Config, error) {
	t.Helper()
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	if yml == "" {
		return config.Load("", catalog)
	}
	path := filepath.Join(t.TempDir(), "remediator.yaml")
	if err := os.WriteFile(path, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}
	return config.Load(path, catalog)
}

func TestDefaults(t *testing.T) {
	cfg, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != "127.0.0.1:9095" || cfg.Receiver.MaxBodyBytes != 1<<20 || cfg.DryRun || !cfg.BundledPolicy() ||
		cfg.Receiver.ResolvedDedupeTTL != 10*time.Minute || cfg.Receiver.DedupeTTL != 0 || cfg.Receiver.FiringDedupeTTL != time.Minute ||
		cfg.Receiver.QueueMaxBytes != 32<<20 || cfg.Receiver.MaxInflightBytes != 4<<20 || cfg.Receiver.MaxLabels != 64 {
		t.Fatalf("defaults: %+v", cfg)
	}
	if n := len(cfg.RunbookSet.Runbooks); n != 7 {
		t.Fatalf("default runbooks = %d, want 7", n)
	}
}

// The receiver's limits load from the file, and settings that would make a
// valid notification impossible to take are refused with the setting's name.
func TestReceiverLimits(t *testing.T) {
	cfg, err := load(t, `
receiver: {max_inflight_bytes: 2097152, queue_max_bytes: 4194304, max_alerts_per_notification: 50, max_labels: 10,
           max_annotations: 5, max_label_name_bytes: 64, max_label_value_bytes: 100, max_annotation_bytes: 1000, resolved_dedupe_ttl: 5m}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := receiver.Limits{MaxLabels: 10, MaxAnnotations: 5, MaxNameBytes: 64, MaxLabelValueBytes: 100, MaxAnnotationBytes: 1000}
	r := cfg.Receiver
	if r.Limits() != want || r.MaxInflightBytes != 2<<20 || r.QueueMaxBytes != 4<<20 || r.MaxAlertsPerNotification != 50 || r.ResolvedDedupeTTL != 5*time.Minute {
		t.Fatalf("receiver %+v", r)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"receiver: {max_inflight_bytes: 1000}", "receiver.max_inflight_bytes (1000) must be at least receiver.max_body_bytes"},
		{"receiver: {queue_max_bytes: 1000}", "receiver.queue_max_bytes (1000) must be at least receiver.max_body_bytes"},
		{"receiver: {max_alerts_per_notification: -1}", "receiver.max_alerts_per_notification must be positive"},
		{"receiver: {max_labels: -1}", "max_labels"},
		{"receiver: {resolved_dedupe_ttl: -1s}", "receiver.resolved_dedupe_ttl must be positive"},
	} {
		if _, err := load(t, tc.yaml); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err %v, want it to say %q", tc.yaml, err, tc.want)
		}
	}
}

func TestFileOverridesDefaults(t *testing.T) {
	cfg, err := load(t, `
listen_address: 0.0.0.0:9999
dry_run: true
receiver: {queue_size: 50, dedupe_ttl: 2h, firing_dedupe_ttl: 30s}
dispatcher: {workers: 2}
policy: {bundled: false, dir: /etc/p}
runbooks:
  - name: HighCPUUsage
    match: ['alertname="HighCPUUsage"', 'team="checkout"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve:
      - action: kubernetes.rollout_restart
`)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddress != "0.0.0.0:9999" || !cfg.DryRun || cfg.Receiver.QueueSize != 50 ||
		cfg.Receiver.ResolvedDedupeTTL != 2*time.Hour || cfg.Receiver.FiringDedupeTTL != 30*time.Second || cfg.Dispatcher.Workers != 2 || cfg.BundledPolicy() || cfg.Policy.Dir != "/etc/p" {
		t.Fatalf("config: %+v", cfg)
	}
	// The retired dedupe_ttl still loads, as resolved_dedupe_ttl, and says so.
	if len(cfg.Warnings) != 1 || !strings.Contains(cfg.Warnings[0], "receiver.dedupe_ttl is renamed receiver.resolved_dedupe_ttl") {
		t.Errorf("warnings %q", cfg.Warnings)
	}
	// Settings the file leaves out keep their defaults.
	if cfg.Receiver.MaxBodyBytes != 1<<20 || cfg.Server.ShutdownTimeout != 30*time.Second || cfg.Server.MetricsAuth != config.MetricsAuthRole {
		t.Fatalf("defaults lost: %+v", cfg)
	}
	// The user's HighCPUUsage replaces the shipped one and comes first.
	rbs := cfg.RunbookSet.Runbooks
	if len(rbs) != 7 || rbs[0].Name != "HighCPUUsage" || rbs[0].Resolve[0].Action != "kubernetes.rollout_restart" {
		t.Fatalf("runbooks: first %q of %d", rbs[0].Name, len(rbs))
	}
}

// A setting that no longer does anything still loads, with a warning that
// names the file; a file without it gets none.
func TestRetiredSettingWarns(t *testing.T) {
	for _, tc := range []struct {
		name, yml string
		want      []string
	}{
		{"history_size set", "dispatcher: {workers: 2, history_size: 500}\n", []string{"dispatcher.history_size is no longer used"}},
		{"not set", "dispatcher: {workers: 2}\n", nil},
		{"no file", "", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := load(t, tc.yml)
			if err != nil {
				t.Fatal(err)
			}
			if len(cfg.Warnings) != len(tc.want) {
				t.Fatalf("warnings %q, want %d", cfg.Warnings, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(cfg.Warnings[i], w) || !strings.Contains(cfg.Warnings[i], "remediator.yaml") {
					t.Errorf("warning %q, want it to say %q and name the file", cfg.Warnings[i], w)
				}
			}
		})
	}
}

// The audit instance id: the configured one, else host name and listen
// port, so co-located processes differ and a restart keeps its id.
func TestAuditInstance(t *testing.T) {
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		listen, id, want string
	}{
		{"127.0.0.1:9095", "web-1", "web-1"},
		{"127.0.0.1:9095", "", host + ":9095"},
		{":9096", "", host + ":9096"},
		{"[::1]:9097", "", host + ":9097"},
		{"not-an-address", "", host},
	} {
		cfg := config.Default()
		cfg.ListenAddress, cfg.Audit.InstanceID = tc.listen, tc.id
		if got := cfg.AuditInstance(); got != tc.want {
			t.Errorf("listen %q, instance_id %q: AuditInstance() = %q, want %q", tc.listen, tc.id, got, tc.want)
		}
	}
}

func TestInvalidConfig(t *testing.T) {
	tests := []struct {
		name, yml, want string
	}{
		{"typo in a setting", "recevier: {queue_size: 1}\n", "remediator.yaml:1: field recevier not found"},
		{"zero queue", "receiver: {queue_size: 0}\n", "receiver.queue_size must be positive"},
		{"negative workers", "dispatcher: {workers: -1}\n", "dispatcher.workers must be positive"},
		{"bad duration", "receiver: {dedupe_ttl: soon}\n", "remediator.yaml:1:"},
		{"firing dedupe window under a millisecond", "receiver: {firing_dedupe_ttl: 0s}\n", "receiver.firing_dedupe_ttl must be at least 1ms"},
		{"tls cert without key", "server: {tls_cert_file: /x.pem}\n", "go together"},
		{"unknown metrics_auth", "server: {metrics_auth: open}\n", `server.metrics_auth "open": want role (the read credential) or none (open)`},
		{"empty metrics_auth", "server: {metrics_auth: \"\"}\n", `server.metrics_auth ""`},
		{"no runbooks at all", "include_default_runbooks: false\n", "no runbooks"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// server.metrics_auth takes both its values; role is the default.
func TestMetricsAuth(t *testing.T) {
	for yml, want := range map[string]string{
		"":                               config.MetricsAuthRole,
		"server: {metrics_auth: role}\n": config.MetricsAuthRole,
		"server: {metrics_auth: none}\n": config.MetricsAuthNone,
	} {
		cfg, err := load(t, yml)
		if err != nil {
			t.Fatalf("%q: %v", yml, err)
		}
		if cfg.Server.MetricsAuth != want {
			t.Errorf("%q: metrics_auth = %q, want %q", yml, cfg.Server.MetricsAuth, want)
		}
	}
}

func TestBackendTargets(t *testing.T) {
	t.Setenv(config.EnvPostgresDSN, "")
	t.Setenv(config.EnvRedisURL, "")
	cfg, err := load(t, `
postgres:
  targets:
    orders-primary: {dsn_env: ORDERS_PG_DSN, max_conns: 2, statement_timeout: 3s, call_timeout: 8s}
    billing: {dsn_file: /run/secrets/billing-dsn}
redis:
  targets:
    cache: {url_file: /run/secrets/cache-url, pool_size: 2, call_timeout: 2s}
`)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]postgres.TargetConfig{
		"orders-primary": {DSNEnv: "ORDERS_PG_DSN", MaxConns: 2, StatementTimeout: 3 * time.Second, CallTimeout: 8 * time.Second},
		"billing":        {DSNFile: "/run/secrets/billing-dsn"},
	}
	if !maps.Equal(cfg.Postgres.Targets, want) {
		t.Errorf("postgres targets = %+v, want %+v", cfg.Postgres.Targets, want)
	}
	wantRedis := map[string]redis.TargetConfig{"cache": {URLFile: "/run/secrets/cache-url", PoolSize: 2, CallTimeout: 2 * time.Second}}
	if !maps.Equal(cfg.Redis.Targets, wantRedis) {
		t.Errorf("redis targets = %+v, want %+v", cfg.Redis.Targets, wantRedis)
	}
}

func TestBackendTargetErrors(t *testing.T) {
	t.Setenv(config.EnvPostgresDSN, "")
	t.Setenv(config.EnvRedisURL, "")
	tests := []struct {
		name, yml, want string
	}{
		{"no DSN source", "postgres:\n  targets:\n    orders: {max_conns: 2}\n",
			"remediator.yaml:3: postgres.targets.orders: set dsn_env (an environment variable) or dsn_file (a file) holding the DSN; the DSN itself never goes in the config file"},
		{"DSN in the file", "postgres:\n  targets:\n    orders: {dsn: 'postgres://u:pw@h/db'}\n",
			"remediator.yaml:3: field dsn not found in type postgres.TargetConfig"},
		{"both sources", "postgres:\n  targets:\n    orders:\n      dsn_env: A\n      dsn_file: /b\n",
			"remediator.yaml:3: postgres.targets.orders: set only one of dsn_env and dsn_file"},
		{"negative max_conns", "postgres: {targets: {orders: {dsn_env: A, max_conns: -1}}}\n",
			"remediator.yaml:1: postgres.targets.orders: max_conns must not be negative"},
		{"bad timeout", "postgres: {targets: {orders: {dsn_env: A, call_timeout: soon}}}\n", "remediator.yaml:1:"},
		{"no URL source", "redis:\n  targets:\n\n    cache: {pool_size: 2}\n",
			"remediator.yaml:4: redis.targets.cache: url_env or url_file is required (the URL holds the password, so it is not written in the config)"},
		{"redis both sources", "redis: {targets: {cache: {url_env: A, url_file: /b}}}\n", "redis.targets.cache: set one of url_env and url_file, not both"},
		{"redis negative pool", "redis: {targets: {cache: {url_env: A, pool_size: -1}}}\n", "redis.targets.cache: pool_size -1 is negative"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.yml)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestEnvTargets: REMEDIATOR_POSTGRES_DSN and REMEDIATOR_REDIS_URL define
// the "default" targets, with or without a file; a file that defines
// "default" too is refused rather than one silently winning.
func TestEnvTargets(t *testing.T) {
	t.Setenv(config.EnvPostgresDSN, "postgres://remediator@db:5432/postgres")
	t.Setenv(config.EnvRedisURL, "redis://cache:6379/0")
	for _, yml := range []string{"", "postgres: {targets: {orders: {dsn_env: ORDERS_DSN}}}\n"} {
		cfg, err := load(t, yml)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Postgres.Targets["default"]; got != (postgres.TargetConfig{DSNEnv: config.EnvPostgresDSN}) {
			t.Errorf("postgres default target = %+v", got)
		}
		if got := cfg.Redis.Targets["default"]; got != (redis.TargetConfig{URLEnv: config.EnvRedisURL}) {
			t.Errorf("redis default target = %+v", got)
		}
		if yml != "" && cfg.Postgres.Targets["orders"].DSNEnv != "ORDERS_DSN" {
			t.Errorf("file targets lost: %+v", cfg.Postgres.Targets)
		}
	}
	_, err := load(t, "\npostgres: {targets: {default: {dsn_env: OTHER}}}\n")
	if err == nil || !strings.Contains(err.Error(), "remediator.yaml:2: postgres.targets.default: defined here and by REMEDIATOR_POSTGRES_DSN; remove one") {
		t.Errorf("conflict: %v", err)
	}
	_, err = load(t, "redis: {targets: {default: {url_env: OTHER}}}\n")
	if err == nil || !strings.Contains(err.Error(), "redis.targets.default: defined here and by REMEDIATOR_REDIS_URL") {
		t.Errorf("conflict: %v", err)
	}

	t.Setenv(config.EnvPostgresDSN, "")
	t.Setenv(config.EnvRedisURL, "")
	cfg, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Postgres.Targets) != 0 || len(cfg.Redis.Targets) != 0 {
		t.Errorf("targets without env or file: %+v %+v", cfg.Postgres.Targets, cfg.Redis.Targets)
	}
}

func TestStateConfig(t *testing.T) {
	t.Setenv(config.EnvStateRedisURL, "")
	cfg, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.State.Redis() {
		t.Fatalf("default state is not memory: %+v", cfg.State)
	}

	urlFile := filepath.Join(t.TempDir(), "state-url")
	if err := os.WriteFile(urlFile, []byte("redis://:pw@redis:6379/1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = load(t, "state: {redis_url_file: "+urlFile+", prefix: 'shop:', lock_ttl: 10s, call_timeout: 2s}\n")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.State.Redis() || cfg.State.Prefix != "shop:" || cfg.State.LockTTL != 10*time.Second || cfg.State.CallTimeout != 2*time.Second {
		t.Fatalf("state: %+v", cfg.State)
	}
	if u, err := cfg.State.URL(os.Getenv); err != nil || u != "redis://:pw@redis:6379/1" {
		t.Fatalf("URL() = %q, %v", u, err)
	}

	for _, tc := range []struct{ name, yml, want string }{
		{"both url_env and url_file", "state: {redis_url_env: X, redis_url_file: /y}\n", "only one of redis_url_env and redis_url_file"},
		{"negative lock ttl", "state: {redis_url_env: X, lock_ttl: -1s}\n", "state.lock_ttl must not be negative"},
		{"tiny lock ttl", "state: {redis_url_env: X, lock_ttl: 1ms}\n", "at least 30ms"},
		{"negative call timeout", "state: {redis_url_env: X, call_timeout: -1s}\n", "state.call_timeout"},
		{"the URL itself", "state: {redis_url: 'redis://:pw@h'}\n", "field redis_url not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(t, tc.yml); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}

	t.Run("env", func(t *testing.T) {
		t.Setenv(config.EnvStateRedisURL, "redis://:pw@redis:6379/0")
		cfg, err := load(t, "")
		if err != nil {
			t.Fatal(err)
		}
		if cfg.State.RedisURLEnv != config.EnvStateRedisURL {
			t.Fatalf("state from the environment: %+v", cfg.State)
		}
		if u, _ := cfg.State.URL(os.Getenv); u != "redis://:pw@redis:6379/0" {
			t.Errorf("URL() = %q", u)
		}
		if _, err := load(t, "state: {redis_url_file: /x}\n"); err == nil || !strings.Contains(err.Error(), "remove one") {
			t.Errorf("file and environment both naming the URL: %v", err)
		}
	})

	t.Run("unset env", func(t *testing.T) {
		s := config.State{RedisURLEnv: "REMEDIATOR_TEST_UNSET_STATE_URL"}
		if _, err := s.URL(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), "unset or empty") {
			t.Errorf("URL() of an unset variable: %v", err)
		}
	})
}

func TestAuditConfig(t *testing.T) {
	t.Setenv(config.EnvAuditPostgresDSN, "")
	cfg, err := load(t, "")
	if err != nil {
		t.Fatal(err)
	}
	if src, err := cfg.Audit.Source(os.Getenv); err != nil || src != "" || cfg.Audit.Retention != 90*24*time.Hour || cfg.Audit.CleanupInterval != time.Hour {
		t.Fatalf("default audit: %+v %q %v", cfg.Audit, src, err)
	}
	dsnFile := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(dsnFile, []byte("postgres://u:pw@db/audit\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = load(t, "audit: {dsn_file: "+dsnFile+", retention: 720h, instance_id: web-1}\n")
	if err != nil {
		t.Fatal(err)
	}
	if src, err := cfg.Audit.Source(os.Getenv); err != nil || src != "postgres://u:pw@db/audit" || cfg.Audit.Retention != 720*time.Hour || cfg.Audit.InstanceID != "web-1" {
		t.Fatalf("audit: %+v %q %v", cfg.Audit, src, err)
	}
	for _, tc := range []struct{ name, yml, want string }{
		{"password in the file", "audit: {dsn: 'postgres://u:pw@db/audit'}\n", "has a password"},
		{"two sources", "audit: {dsn: memory, dsn_env: X}\n", "only one of dsn, dsn_env and dsn_file"},
		{"zero retention", "audit: {retention: 0s}\n", "audit.retention must be positive"},
		{"negative interval", "audit: {cleanup_interval: -1s}\n", "audit.cleanup_interval"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := load(t, tc.yml); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv(config.EnvAuditPostgresDSN, "postgres://u:pw@db/audit")
		cfg, err := load(t, "")
		if err != nil {
			t.Fatal(err)
		}
		if src, err := cfg.Audit.Source(os.Getenv); err != nil || src != "postgres://u:pw@db/audit" {
			t.Fatalf("Source() = %q, %v", src, err)
		}
		if _, err := load(t, "audit: {dsn: memory}\n"); err == nil || !strings.Contains(err.Error(), config.EnvAuditPostgresDSN) {
			t.Fatalf("file and env both: %v", err)
		}
	})
}

// The Redis URL and the audit DSN come from an environment variable or a
// file, trimmed; each way to get it wrong names the setting.
func TestSecretSources(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	empty := filepath.Join(dir, "empty")
	missing := filepath.Join(dir, "missing")
	if err := os.WriteFile(good, []byte(" redis://:pw@db:6379/0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, []byte(" \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	getenv := func(k string) string {
		if k == "SET" {
			return " redis://:pw@db:6379/0 "
		}
		return ""
	}
	for _, tc := range []struct {
		name      string
		env, file string
		want      string // the value, or the error's text
		wantErr   bool
	}{
		{"env", "SET", "", "redis://:pw@db:6379/0", false},
		{"env unset", "UNSET", "", "_env: environment variable UNSET is unset or empty", true},
		{"file", "", good, "redis://:pw@db:6379/0", false},
		{"file empty", "", empty, "_file " + empty + " is empty", true},
		{"file missing", "", missing, "_file: open " + missing, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state, serr := config.State{RedisURLEnv: tc.env, RedisURLFile: tc.file}.URL(getenv)
			audit, aerr := config.Audit{DSNEnv: tc.env, DSNFile: tc.file}.Source(getenv)
			for _, r := range []struct {
				prefix string
				got    string
				err    error
			}{{"state.redis_url", state, serr}, {"audit.dsn", audit, aerr}} {
				switch {
				case tc.wantErr && (r.err == nil || !strings.HasPrefix(r.err.Error(), r.prefix+tc.want)):
					t.Errorf("%s: err %v, want it to start %q", r.prefix, r.err, r.prefix+tc.want)
				case !tc.wantErr && (r.err != nil || r.got != tc.want):
					t.Errorf("%s: %q, %v; want %q", r.prefix, r.got, r.err, tc.want)
				}
			}
		})
	}
}
