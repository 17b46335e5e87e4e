// Package config reads remediator's YAML configuration file: daemon settings
// and the user's runbooks. Every setting has a default, so the daemon runs
// with no file at all; flags override the file.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/receiver"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/kubernetes"
	"github.com/remediator/remediator/remediations/postgres"
	"github.com/remediator/remediator/remediations/redis"
)

// Environment variables that define a backend's "default" target without a
// config file (quick start, containers), as if the file said
// `postgres: {targets: {default: {dsn_env: REMEDIATOR_POSTGRES_DSN}}}`.
const (
	EnvPostgresDSN = "REMEDIATOR_POSTGRES_DSN"
	EnvRedisURL    = "REMEDIATOR_REDIS_URL"
	// EnvStateRedisURL selects the Redis state store, as if the file said
	// `state: {redis_url_env: REMEDIATOR_STATE_REDIS_URL}`.
	EnvStateRedisURL = "REMEDIATOR_STATE_REDIS_URL"
	// EnvAuditPostgresDSN selects a PostgreSQL audit store, as if the file
	// said `audit: {dsn_env: REMEDIATOR_AUDIT_POSTGRES_DSN}`.
	EnvAuditPostgresDSN = "REMEDIATOR_AUDIT_POSTGRES_DSN"
)

// Config is the daemon's configuration.
type Config struct {
	// ListenAddress is where the HTTP server listens.
	ListenAddress string `yaml:"listen_address"`
	// DryRun makes every backend plan only.
	DryRun bool `yaml:"dry_run"`

	Receiver   Receiver   `yaml:"receiver"`
	Dispatcher Dispatcher `yaml:"dispatcher"`
	Policy     Policy     `yaml:"policy"`
	Server     Server     `yaml:"server"`
	State      State      `yaml:"state"`
	Audit      Audit      `yaml:"audit"`

	// Postgres and Redis name the servers actions may act on. A backend
	// target that is not configured here only plans.
	Postgres Postgres `yaml:"postgres"`
	Redis    Redis    `yaml:"redis"`
	// Kubernetes names the cluster Kubernetes actions act on; with none
	// (no kubeconfig, no $KUBECONFIG, not in a pod) they only plan.
	Kubernetes kubernetes.ClusterConfig `yaml:"kubernetes"`

	// IncludeDefaultRunbooks appends the shipped runbooks after the user's
	// (nil means true).
	IncludeDefaultRunbooks *bool `yaml:"include_default_runbooks"`
	// Runbooks are the user's runbooks; they are matched before the shipped ones.
	Runbooks []*runbook.Runbook `yaml:"runbooks"`

	// RunbookSet is the compiled set (user + defaults), filled by Load.
	RunbookSet *runbook.Set `yaml:"-"`
	// Warnings are what Load found harmless but worth telling (settings
	// that are accepted and no longer do anything); serve logs them.
	Warnings []string `yaml:"-"`
}

// Receiver configures the webhook receiver. Its limits keep memory bounded
// in bytes whatever senders do: a body is capped, the bodies being read at
// once are capped, each alert's fields are capped, and the queue holds at
// most queue_size alerts and queue_max_bytes of them.
type Receiver struct {
	// MaxBodyBytes caps one request body (413 over it).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// MaxInflightBytes caps the bodies being read and decoded at once; a
	// request that would pass it is answered 503 with Retry-After before
	// its body is read.
	MaxInflightBytes int64 `yaml:"max_inflight_bytes"`
	// QueueSize and QueueMaxBytes bound the queue in alerts and in bytes.
	QueueSize     int   `yaml:"queue_size"`
	QueueMaxBytes int64 `yaml:"queue_max_bytes"`
	// MaxAlertsPerNotification is how many new alerts one request may
	// queue; the rest are answered 503 and come back with Alertmanager's
	// retry, so a notification of any size is processed in parts.
	MaxAlertsPerNotification int `yaml:"max_alerts_per_notification"`
	// Per-alert limits: an alert over one is refused on its own and listed
	// under "rejected" in the response; the others are processed.
	MaxLabels          int `yaml:"max_labels"`
	MaxAnnotations     int `yaml:"max_annotations"`
	MaxLabelNameBytes  int `yaml:"max_label_name_bytes"`
	MaxLabelValueBytes int `yaml:"max_label_value_bytes"`
	MaxAnnotationBytes int `yaml:"max_annotation_bytes"`
	// ResolvedDedupeTTL is how long a resolved notification is remembered.
	// Alertmanager sends a resolution once (again only when the delivery
	// failed, or from an HA peer), so minutes suffice.
	ResolvedDedupeTTL time.Duration `yaml:"resolved_dedupe_ttl"`
	// DedupeTTL is the retired name of ResolvedDedupeTTL (it was the TTL of
	// every notification but firing ones, which are all resolved ones);
	// still read, with a warning.
	DedupeTTL time.Duration `yaml:"dedupe_ttl"`
	// FiringDedupeTTL is how long a firing notification is remembered. It is
	// short so that Alertmanager's re-sends of a still-firing alert reach
	// the incident logic (escalation); the open incident keeps them from
	// acting again.
	FiringDedupeTTL time.Duration `yaml:"firing_dedupe_ttl"`
}

// Limits are the per-alert limits as the receiver takes them.
func (r Receiver) Limits() receiver.Limits {
	return receiver.Limits{
		MaxLabels: r.MaxLabels, MaxAnnotations: r.MaxAnnotations, MaxNameBytes: r.MaxLabelNameBytes,
		MaxLabelValueBytes: r.MaxLabelValueBytes, MaxAnnotationBytes: r.MaxAnnotationBytes,
	}
}

// Dispatcher configures the worker pool.
type Dispatcher struct {
	Workers int `yaml:"workers"`
	// ActionTimeout bounds one action.
	ActionTimeout time.Duration `yaml:"action_timeout"`
	// HistorySize is no longer used: the audit history is durable and
	// bounded by audit.retention. Accepted so that older files still load.
	HistorySize int `yaml:"history_size"`
}

// Policy configures the policy engine.
type Policy struct {
	// Dir holds user Rego modules and data files, loaded beside the bundled policy.
	Dir string `yaml:"dir"`
	// Bundled includes the shipped policy (nil means true).
	Bundled *bool `yaml:"bundled"`
	// OwnNamespace is the daemon's namespace, which the default policy never
	// touches (default: $POD_NAMESPACE).
	OwnNamespace string `yaml:"own_namespace"`
}

// Postgres configures the PostgreSQL backend.
type Postgres struct {
	// Targets by name; a runbook's target picks one by its connection labels,
	// "default" when the alert has none.
	Targets map[string]postgres.TargetConfig `yaml:"targets"`
}

// Redis configures the Redis backend.
type Redis struct {
	// Targets by name, chosen like Postgres.Targets.
	Targets map[string]redis.TargetConfig `yaml:"targets"`
}

// State selects where the daemon keeps its state: in memory (the default,
// one replica) or in Redis (several replicas acting as one). The Redis URL
// holds the password, so it comes from an environment variable or a file.
type State struct {
	// RedisURLEnv names the environment variable holding the Redis URL.
	RedisURLEnv string `yaml:"redis_url_env"`
	// RedisURLFile is a file holding the Redis URL.
	RedisURLFile string `yaml:"redis_url_file"`
	// RedisURL is a URL without credentials given by the --state flag;
	// never read from the file.
	RedisURL string `yaml:"-"`
	// Prefix starts every key (default "remediator:"), so several
	// deployments can share one Redis.
	Prefix string `yaml:"prefix"`
	// LockTTL is how long a crashed replica's target lock outlives it; a
	// live holder renews it every lock_ttl/3 (default 30s).
	LockTTL time.Duration `yaml:"lock_ttl"`
	// CallTimeout bounds each Redis command (default 5s).
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// Redis reports whether the Redis state store is configured.
func (s State) Redis() bool { return s.RedisURLEnv != "" || s.RedisURLFile != "" || s.RedisURL != "" }

// URL reads the Redis URL from where the configuration says it is.
func (s State) URL(getenv func(string) string) (string, error) {
	switch {
	case s.RedisURL != "":
		return s.RedisURL, nil
	case s.RedisURLEnv != "" || s.RedisURLFile != "":
		return secretFrom(getenv, "state.redis_url_env", s.RedisURLEnv, "state.redis_url_file", s.RedisURLFile)
	}
	return "", errors.New("no Redis URL configured for the state store")
}

// secretFrom reads a secret (a URL or DSN with a password) from the
// environment variable env or, when env is "", from file, trimmed; an unset
// variable or an empty file is an error. envKey and fileKey name the
// settings in errors.
func secretFrom(getenv func(string) string, envKey, env, fileKey, file string) (string, error) {
	if env != "" {
		v := strings.TrimSpace(getenv(env))
		if v == "" {
			return "", fmt.Errorf("%s: environment variable %s is unset or empty", envKey, env)
		}
		return v, nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return "", fmt.Errorf("%s: %w", fileKey, err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("%s %s is empty", fileKey, file)
	}
	return v, nil
}

func (s State) validate() error {
	switch {
	case s.RedisURLEnv != "" && s.RedisURLFile != "":
		return errors.New("state: set only one of redis_url_env and redis_url_file")
	case s.LockTTL < 0:
		return errors.New("state.lock_ttl must not be negative")
	case s.LockTTL > 0 && s.LockTTL < 30*time.Millisecond:
		return errors.New("state.lock_ttl must be at least 30ms (it is renewed every lock_ttl/3)")
	case s.CallTimeout < 0:
		return errors.New("state.call_timeout must not be negative")
	}
	return nil
}

// Audit selects where the audit history lives: an SQLite file (the default,
// under the state directory), memory, or PostgreSQL (replicas share it). A
// DSN with a password comes from an environment variable or a file.
type Audit struct {
	// DSN is sqlite:///path/audit.db, memory, or postgres://... without a
	// password ("" means the default SQLite file).
	DSN string `yaml:"dsn"`
	// DSNEnv names the environment variable holding the DSN.
	DSNEnv string `yaml:"dsn_env"`
	// DSNFile is a file holding the DSN.
	DSNFile string `yaml:"dsn_file"`
	// Retention is how long records are kept (default 2160h, 90 days).
	Retention time.Duration `yaml:"retention"`
	// CleanupInterval is how often old records are deleted and stale
	// intents of vanished replicas are marked interrupted (default 1h).
	CleanupInterval time.Duration `yaml:"cleanup_interval"`
	// InstanceID names this replica in the history (default: the host
	// name and the listen port, see AuditInstance). Give each replica its
	// own, stable across restarts where possible (a StatefulSet pod name):
	// a restart then marks its previous incarnation's unfinished actions
	// interrupted at once.
	InstanceID string `yaml:"instance_id"`
}

// AuditInstance is this process's instance id in the audit history:
// audit.instance_id, else host:port, the host name and the port it listens
// on. The port keeps two processes on one host apart (they cannot share
// it), so that one does not take the other's running actions for its own
// dead incarnation's; both parts stay the same across a restart.
func (c *Config) AuditInstance() string {
	if c.Audit.InstanceID != "" {
		return c.Audit.InstanceID
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "remediator"
	}
	if _, port, err := net.SplitHostPort(c.ListenAddress); err == nil && port != "" {
		return net.JoinHostPort(host, port)
	}
	return host
}

// Source returns the configured DSN ("" for the default SQLite file).
func (a Audit) Source(getenv func(string) string) (string, error) {
	if a.DSNEnv != "" || a.DSNFile != "" {
		return secretFrom(getenv, "audit.dsn_env", a.DSNEnv, "audit.dsn_file", a.DSNFile)
	}
	return a.DSN, nil
}

func (a Audit) validate() error {
	n := 0
	for _, v := range []string{a.DSN, a.DSNEnv, a.DSNFile} {
		if v != "" {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("audit: set only one of dsn, dsn_env and dsn_file")
	case HasPassword(a.DSN):
		return errors.New("audit.dsn has a password; put the DSN in an environment variable (dsn_env, " + EnvAuditPostgresDSN + ") or a file (dsn_file)")
	case a.Retention <= 0:
		return errors.New("audit.retention must be positive")
	case a.CleanupInterval <= 0:
		return errors.New("audit.cleanup_interval must be positive")
	}
	return nil
}

// HasPassword reports whether a URL DSN carries a password.
func HasPassword(dsn string) bool {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return false
	}
	_, ok := u.User.Password()
	return ok
}

// Server configures the HTTP server.
type Server struct {
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	TLSCertFile     string        `yaml:"tls_cert_file"`
	TLSKeyFile      string        `yaml:"tls_key_file"`
	// MetricsAuth is MetricsAuthRole or MetricsAuthNone.
	MetricsAuth string `yaml:"metrics_auth"`
}

// Values of Server.MetricsAuth.
const (
	// MetricsAuthRole: /metrics needs the read credential (the alerts one
	// when no read credential is configured), like the history API.
	MetricsAuthRole = "role"
	// MetricsAuthNone: /metrics is open, as Prometheus exporters usually
	// are, so that Prometheus needs no secret to scrape it.
	MetricsAuthNone = "none"
)

// Default is the configuration used with no file: loopback only, bundled
// policy and runbooks, in-memory state.
func Default() Config {
	return Config{
		ListenAddress: "127.0.0.1:9095",
		Receiver: Receiver{
			MaxBodyBytes: receiver.DefaultMaxBodyBytes,
			// Four bodies of the maximum size, or hundreds of the usual few
			// kB, decoding at once: decoded, a body of small alerts takes
			// five to ten times its size, which this keeps to tens of MiB
			// in a 256 MiB pod.
			MaxInflightBytes: receiver.DefaultMaxInflightBytes,
			QueueSize:        1000,
			QueueMaxBytes:    32 << 20,
			// Alertmanager's group of a fleet-wide alert can be larger; the
			// rest is taken from its retries.
			MaxAlertsPerNotification: receiver.DefaultMaxAlertsPerNotification,
			MaxLabels:                receiver.DefaultMaxLabels,
			MaxAnnotations:           receiver.DefaultMaxAnnotations,
			MaxLabelNameBytes:        receiver.DefaultMaxNameBytes,
			MaxLabelValueBytes:       receiver.DefaultMaxLabelValueBytes,
			MaxAnnotationBytes:       receiver.DefaultMaxAnnotationBytes,
			ResolvedDedupeTTL:        receiver.DefaultDedupeTTL,
			// Long enough to absorb a burst of one notification (HA
			// Alertmanager peers, retries), short enough that re-sends
			// every repeat_interval reach the incidents.
			FiringDedupeTTL: time.Minute,
		},
		Dispatcher: Dispatcher{Workers: 4, ActionTimeout: 2 * time.Minute},
		Policy:     Policy{OwnNamespace: os.Getenv("POD_NAMESPACE")},
		Audit:      Audit{Retention: 90 * 24 * time.Hour, CleanupInterval: time.Hour},
		Server: Server{
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    10 * time.Second,
			IdleTimeout:     2 * time.Minute,
			ShutdownTimeout: 30 * time.Second,
			MetricsAuth:     MetricsAuthRole,
		},
	}
}

// Load reads the file at path over the defaults (path "" means no file) and
// compiles the runbooks. Errors read FILE:LINE: reason.
func Load(path string, catalog *remediations.Catalog) (*Config, error) {
	cfg := Default()
	var data []byte
	if path != "" {
		var err error
		data, err = os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if err := runbook.DecodeStrict(data, &cfg); err != nil {
			return nil, runbook.FileError(path, err)
		}
	}
	if cfg.Receiver.DedupeTTL != 0 {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: receiver.dedupe_ttl is renamed receiver.resolved_dedupe_ttl (it only ever applied to resolved notifications); its value %s is used", nameOr(path), cfg.Receiver.DedupeTTL))
		cfg.Receiver.ResolvedDedupeTTL = cfg.Receiver.DedupeTTL
	}
	if cfg.Dispatcher.HistorySize != 0 {
		cfg.Warnings = append(cfg.Warnings, fmt.Sprintf("%s: dispatcher.history_size is no longer used and can be removed: the audit history is durable and kept for audit.retention", nameOr(path)))
	}
	if err := cfg.applyEnvAudit(os.Getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(path), err)
	}
	if err := cfg.applyEnvState(os.Getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(path), err)
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(path), err)
	}
	if err := cfg.validateTargets(nameOr(path), data); err != nil {
		return nil, err
	}
	if err := cfg.applyEnvTargets(nameOr(path), data, os.Getenv); err != nil {
		return nil, err
	}
	user, err := runbook.Compile(cfg.Runbooks, catalog, nameOr(path))
	if err != nil {
		return nil, err
	}
	cfg.RunbookSet = user
	if cfg.IncludeDefaultRunbooks == nil || *cfg.IncludeDefaultRunbooks {
		defaults, err := runbook.Defaults(catalog)
		if err != nil {
			return nil, err
		}
		cfg.RunbookSet = runbook.Merge(user, defaults)
	}
	if len(cfg.RunbookSet.Runbooks) == 0 {
		return nil, fmt.Errorf("%s: no runbooks (include_default_runbooks is false and runbooks is empty)", nameOr(path))
	}
	return &cfg, nil
}

// BundledPolicy reports whether the shipped policy is loaded.
func (c *Config) BundledPolicy() bool { return c.Policy.Bundled == nil || *c.Policy.Bundled }

func (c *Config) validate() error {
	switch {
	case c.Receiver.MaxBodyBytes <= 0:
		return fmt.Errorf("receiver.max_body_bytes must be positive")
	case c.Receiver.QueueSize <= 0:
		return fmt.Errorf("receiver.queue_size must be positive")
	case c.Receiver.MaxInflightBytes < c.Receiver.MaxBodyBytes:
		return fmt.Errorf("receiver.max_inflight_bytes (%d) must be at least receiver.max_body_bytes (%d), or no body of the maximum size could ever be read", c.Receiver.MaxInflightBytes, c.Receiver.MaxBodyBytes)
	case c.Receiver.QueueMaxBytes < c.Receiver.MaxBodyBytes:
		return fmt.Errorf("receiver.queue_max_bytes (%d) must be at least receiver.max_body_bytes (%d)", c.Receiver.QueueMaxBytes, c.Receiver.MaxBodyBytes)
	case c.Receiver.MaxAlertsPerNotification <= 0:
		return fmt.Errorf("receiver.max_alerts_per_notification must be positive")
	case c.Receiver.MaxLabels <= 0, c.Receiver.MaxAnnotations <= 0, c.Receiver.MaxLabelNameBytes <= 0,
		c.Receiver.MaxLabelValueBytes <= 0, c.Receiver.MaxAnnotationBytes <= 0:
		return fmt.Errorf("receiver: max_labels, max_annotations, max_label_name_bytes, max_label_value_bytes and max_annotation_bytes must be positive")
	case c.Receiver.ResolvedDedupeTTL <= 0:
		return fmt.Errorf("receiver.resolved_dedupe_ttl must be positive")
	case c.Receiver.FiringDedupeTTL < time.Millisecond:
		return fmt.Errorf("receiver.firing_dedupe_ttl must be at least 1ms")
	case c.Dispatcher.Workers <= 0:
		return fmt.Errorf("dispatcher.workers must be positive")
	case c.Dispatcher.ActionTimeout <= 0:
		return fmt.Errorf("dispatcher.action_timeout must be positive")
	case (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == ""):
		return fmt.Errorf("server.tls_cert_file and server.tls_key_file go together")
	case c.Server.MetricsAuth != MetricsAuthRole && c.Server.MetricsAuth != MetricsAuthNone:
		return fmt.Errorf("server.metrics_auth %q: want %s (the read credential) or %s (open)", c.Server.MetricsAuth, MetricsAuthRole, MetricsAuthNone)
	}
	if err := c.Audit.validate(); err != nil {
		return err
	}
	return c.State.validate()
}

// applyEnvState lets REMEDIATOR_STATE_REDIS_URL select the Redis state store.
// A file that names the URL's place as well is an error rather than a silent
// choice between the two.
func (c *Config) applyEnvState(getenv func(string) string) error {
	if getenv(EnvStateRedisURL) == "" {
		return nil
	}
	if c.State.RedisURLEnv != "" || c.State.RedisURLFile != "" {
		return fmt.Errorf("state: redis_url_env/redis_url_file set here and %s in the environment; remove one", EnvStateRedisURL)
	}
	c.State.RedisURLEnv = EnvStateRedisURL
	return nil
}

// applyEnvAudit lets REMEDIATOR_AUDIT_POSTGRES_DSN select the PostgreSQL
// audit store; a file that names the store as well is an error.
func (c *Config) applyEnvAudit(getenv func(string) string) error {
	if getenv(EnvAuditPostgresDSN) == "" {
		return nil
	}
	if c.Audit.DSN != "" || c.Audit.DSNEnv != "" || c.Audit.DSNFile != "" {
		return fmt.Errorf("audit: dsn, dsn_env or dsn_file set here and %s in the environment; remove one", EnvAuditPostgresDSN)
	}
	c.Audit.DSNEnv = EnvAuditPostgresDSN
	return nil
}

// validateTargets checks the backend targets; errors read FILE:LINE: reason,
// at the target's line when the file has one.
func (c *Config) validateTargets(file string, data []byte) error {
	for _, name := range slices.Sorted(maps.Keys(c.Postgres.Targets)) {
		if err := c.Postgres.Targets[name].Validate(); err != nil {
			return targetError(file, data, "postgres", name, err)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Redis.Targets)) {
		if err := c.Redis.Targets[name].Validate(); err != nil {
			return targetError(file, data, "redis", name, err)
		}
	}
	return nil
}

// applyEnvTargets lets REMEDIATOR_POSTGRES_DSN and REMEDIATOR_REDIS_URL
// define the "default" targets. A file that defines "default" as well is an
// error rather than a silent choice between the two.
func (c *Config) applyEnvTargets(file string, data []byte, getenv func(string) string) error {
	if getenv(EnvPostgresDSN) != "" {
		if _, dup := c.Postgres.Targets[remediations.DefaultConnection]; dup {
			return targetError(file, data, "postgres", remediations.DefaultConnection,
				fmt.Errorf("defined here and by %s; remove one", EnvPostgresDSN))
		}
		if c.Postgres.Targets == nil {
			c.Postgres.Targets = map[string]postgres.TargetConfig{}
		}
		c.Postgres.Targets[remediations.DefaultConnection] = postgres.TargetConfig{DSNEnv: EnvPostgresDSN}
	}
	if getenv(EnvRedisURL) != "" {
		if _, dup := c.Redis.Targets[remediations.DefaultConnection]; dup {
			return targetError(file, data, "redis", remediations.DefaultConnection,
				fmt.Errorf("defined here and by %s; remove one", EnvRedisURL))
		}
		if c.Redis.Targets == nil {
			c.Redis.Targets = map[string]redis.TargetConfig{}
		}
		c.Redis.Targets[remediations.DefaultConnection] = redis.TargetConfig{URLEnv: EnvRedisURL}
	}
	return nil
}

func targetError(file string, data []byte, backend, name string, err error) error {
	where := file
	if line := lineOf(data, backend, "targets", name); line > 0 {
		where = fmt.Sprintf("%s:%d", file, line)
	}
	return fmt.Errorf("%s: %s.targets.%s: %w", where, backend, name, err)
}

// lineOf finds the line of the mapping key at path in a YAML document; 0
// when there is none.
func lineOf(data []byte, path ...string) int {
	var doc yaml.Node
	if len(data) == 0 || yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
		return 0
	}
	n, line := doc.Content[0], 0
	for _, key := range path {
		if n.Kind != yaml.MappingNode {
			return 0
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next, line = n.Content[i+1], n.Content[i].Line
			}
		}
		if next == nil {
			return 0
		}
		n = next
	}
	return line
}

func nameOr(path string) string {
	if path == "" {
		return "built-in defaults"
	}
	return path
}
