// Package config reads remediator's YAML configuration file: daemon settings
// and the user's runbooks. Every setting has a default, so the daemon runs
// with no file at all; flags override the file.
package config

import (
	"fmt"
	"os"
	"time"

	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/remediations"
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

	// IncludeDefaultRunbooks appends the shipped runbooks after the user's
	// (nil means true).
	IncludeDefaultRunbooks *bool `yaml:"include_default_runbooks"`
	// Runbooks are the user's runbooks; they are matched before the shipped ones.
	Runbooks []*runbook.Runbook `yaml:"runbooks"`

	// RunbookSet is the compiled set (user + defaults), filled by Load.
	RunbookSet *runbook.Set `yaml:"-"`
}

// Receiver configures the webhook receiver.
type Receiver struct {
	MaxBodyBytes int64         `yaml:"max_body_bytes"`
	DedupeTTL    time.Duration `yaml:"dedupe_ttl"`
	QueueSize    int           `yaml:"queue_size"`
}

// Dispatcher configures the worker pool.
type Dispatcher struct {
	Workers int `yaml:"workers"`
	// ActionTimeout bounds one action.
	ActionTimeout time.Duration `yaml:"action_timeout"`
	// HistorySize is how many outcomes the in-memory history keeps.
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

// Server configures the HTTP server.
type Server struct {
	ReadTimeout     time.Duration `yaml:"read_timeout"`
	WriteTimeout    time.Duration `yaml:"write_timeout"`
	IdleTimeout     time.Duration `yaml:"idle_timeout"`
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	TLSCertFile     string        `yaml:"tls_cert_file"`
	TLSKeyFile      string        `yaml:"tls_key_file"`
}

// Default is the configuration used with no file: loopback only, bundled
// policy and runbooks, in-memory state.
func Default() Config {
	return Config{
		ListenAddress: "127.0.0.1:9095",
		Receiver: Receiver{
			MaxBodyBytes: 1 << 20,
			// Alertmanager re-sends a firing group every group_interval for as
			// long as it fires; a day covers the usual repeat_interval.
			DedupeTTL: 24 * time.Hour,
			QueueSize: 1000,
		},
		Dispatcher: Dispatcher{Workers: 4, ActionTimeout: 2 * time.Minute, HistorySize: 1000},
		Policy:     Policy{OwnNamespace: os.Getenv("POD_NAMESPACE")},
		Server: Server{
			ReadTimeout:     10 * time.Second,
			WriteTimeout:    10 * time.Second,
			IdleTimeout:     2 * time.Minute,
			ShutdownTimeout: 30 * time.Second,
		},
	}
}

// Load reads the file at path over the defaults (path "" means no file) and
// compiles the runbooks. Errors read FILE:LINE: reason.
func Load(path string, catalog *remediations.Catalog) (*Config, error) {
	cfg := Default()
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading config: %w", err)
		}
		if err := runbook.DecodeStrict(data, &cfg); err != nil {
			return nil, runbook.FileError(path, err)
		}
	}
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", nameOr(path), err)
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
	case c.Receiver.DedupeTTL <= 0:
		return fmt.Errorf("receiver.dedupe_ttl must be positive")
	case c.Dispatcher.Workers <= 0:
		return fmt.Errorf("dispatcher.workers must be positive")
	case c.Dispatcher.ActionTimeout <= 0:
		return fmt.Errorf("dispatcher.action_timeout must be positive")
	case (c.Server.TLSCertFile == "") != (c.Server.TLSKeyFile == ""):
		return fmt.Errorf("server.tls_cert_file and server.tls_key_file go together")
	}
	return nil
}

func nameOr(path string) string {
	if path == "" {
		return "built-in defaults"
	}
	return path
}
