package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/remediations/builtin"
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
	if cfg.ListenAddress != "127.0.0.1:9095" || cfg.Receiver.MaxBodyBytes != 1<<20 || cfg.DryRun || !cfg.BundledPolicy() {
		t.Fatalf("defaults: %+v", cfg)
	}
	if n := len(cfg.RunbookSet.Runbooks); n != 6 {
		t.Fatalf("default runbooks = %d, want 6", n)
	}
}

func TestFileOverridesDefaults(t *testing.T) {
	cfg, err := load(t, `
listen_address: 0.0.0.0:9999
dry_run: true
receiver: {queue_size: 50, dedupe_ttl: 2h}
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
		cfg.Receiver.DedupeTTL != 2*time.Hour || cfg.Dispatcher.Workers != 2 || cfg.BundledPolicy() || cfg.Policy.Dir != "/etc/p" {
		t.Fatalf("config: %+v", cfg)
	}
	// Settings the file leaves out keep their defaults.
	if cfg.Receiver.MaxBodyBytes != 1<<20 || cfg.Server.ShutdownTimeout != 30*time.Second {
		t.Fatalf("defaults lost: %+v", cfg)
	}
	// The user's HighCPUUsage replaces the shipped one and comes first.
	rbs := cfg.RunbookSet.Runbooks
	if len(rbs) != 6 || rbs[0].Name != "HighCPUUsage" || rbs[0].Resolve[0].Action != "kubernetes.rollout_restart" {
		t.Fatalf("runbooks: first %q of %d", rbs[0].Name, len(rbs))
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
		{"tls cert without key", "server: {tls_cert_file: /x.pem}\n", "go together"},
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
