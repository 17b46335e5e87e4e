package kubernetes_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

const fkKubeconfigYAML = `apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev
  cluster:
    server: https://dev.example:6443
- name: prod
  cluster:
    server: https://prod.example:6443
users:
- name: bot
  user:
    token: t0ken
contexts:
- name: dev
  context: {cluster: dev, user: bot}
- name: prod
  context: {cluster: prod, user: bot}
`

// fkIsolateFromHost keeps the real environment out of LoadCluster: no
// $KUBECONFIG, no in-cluster ServiceAccount, and a home directory whose
// ~/.kube/config points at a cluster that must never be picked up.
func fkIsolateFromHost(t *testing.T) (home string) {
	t.Helper()
	home = t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, ".kube"), 0o755); err != nil {
		t.Fatal(err)
	}
	laptop := strings.ReplaceAll(fkKubeconfigYAML, "dev.example", "laptop.example")
	if err := os.WriteFile(filepath.Join(home, ".kube", "config"), []byte(laptop), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("KUBECONFIG", "")
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	t.Setenv("KUBERNETES_SERVICE_PORT", "")
	return home
}

func fkWriteKubeconfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func fkEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadClusterNothingConfigured(t *testing.T) {
	fkIsolateFromHost(t)
	for name, getenv := range map[string]func(string) string{
		"empty environment":                fkEnv(nil),
		"process environment (getenv nil)": nil,
	} {
		t.Run(name, func(t *testing.T) {
			c, err := k8s.LoadCluster(k8s.ClusterConfig{}, getenv)
			if c != nil || err != nil {
				t.Fatalf("LoadCluster = %+v, %v; want nil, nil although ~/.kube/config exists", c, err)
			}
			// A context alone configures nothing either.
			c, err = k8s.LoadCluster(k8s.ClusterConfig{Context: "dev"}, getenv)
			if c != nil || err != nil {
				t.Fatalf("LoadCluster(context only) = %+v, %v; want nil, nil", c, err)
			}
		})
	}
}

func TestLoadCluster(t *testing.T) {
	fkIsolateFromHost(t)
	path := fkWriteKubeconfig(t, fkKubeconfigYAML)
	prodOnly := fkWriteKubeconfig(t, strings.ReplaceAll(fkKubeconfigYAML, "current-context: dev", "current-context: prod"))
	missing := filepath.Join(t.TempDir(), "missing")
	for _, tc := range []struct {
		name       string
		cc         k8s.ClusterConfig
		env        map[string]string
		wantErr    string
		wantHost   string
		wantSource string
		wantTO     time.Duration
		wantQPS    float32
		wantBurst  int
	}{
		{
			name: "explicit kubeconfig, its current context", cc: k8s.ClusterConfig{Kubeconfig: path},
			wantHost: "https://dev.example:6443", wantSource: `kubeconfig ` + path + `, context "dev"`,
			wantTO: 30 * time.Second, wantQPS: 20, wantBurst: 40,
		},
		{
			name: "explicit kubeconfig and context", cc: k8s.ClusterConfig{Kubeconfig: path, Context: "prod"},
			wantHost: "https://prod.example:6443", wantSource: `kubeconfig ` + path + `, context "prod"`,
			wantTO: 30 * time.Second, wantQPS: 20, wantBurst: 40,
		},
		{
			name: "KUBECONFIG", env: map[string]string{"KUBECONFIG": path},
			wantHost: "https://dev.example:6443", wantSource: `kubeconfig ` + path + `, context "dev"`,
			wantTO: 30 * time.Second, wantQPS: 20, wantBurst: 40,
		},
		{
			name: "KUBECONFIG list, missing files skipped", env: map[string]string{"KUBECONFIG": missing + string(os.PathListSeparator) + prodOnly},
			wantHost: "https://prod.example:6443", wantSource: `kubeconfig ` + missing + string(os.PathListSeparator) + prodOnly + `, context "prod"`,
			wantTO: 30 * time.Second, wantQPS: 20, wantBurst: 40,
		},
		{
			name: "explicit kubeconfig wins over KUBECONFIG", cc: k8s.ClusterConfig{Kubeconfig: path}, env: map[string]string{"KUBECONFIG": prodOnly},
			wantHost: "https://dev.example:6443", wantSource: `kubeconfig ` + path + `, context "dev"`,
			wantTO: 30 * time.Second, wantQPS: 20, wantBurst: 40,
		},
		{
			name: "limits configured", cc: k8s.ClusterConfig{Kubeconfig: path, RequestTimeout: 5 * time.Second, QPS: 3.5, Burst: 7},
			wantHost: "https://dev.example:6443", wantSource: `kubeconfig ` + path + `, context "dev"`,
			wantTO: 5 * time.Second, wantQPS: 3.5, wantBurst: 7,
		},
		{
			name: "missing context", cc: k8s.ClusterConfig{Kubeconfig: path, Context: "nope"},
			wantErr: "loading kubeconfig " + path + ": ",
		},
		{
			name: "missing context through KUBECONFIG", cc: k8s.ClusterConfig{Context: "nope"}, env: map[string]string{"KUBECONFIG": path},
			wantErr: "loading kubeconfig " + path + ": ",
		},
		{
			name: "missing explicit file", cc: k8s.ClusterConfig{Kubeconfig: missing},
			wantErr: "loading kubeconfig " + missing + ": ",
		},
		{
			name: "KUBECONFIG naming no file", env: map[string]string{"KUBECONFIG": missing},
			wantErr: "loading kubeconfig " + missing + ": ",
		},
		{
			// The in-cluster config is read from the process environment
			// and the ServiceAccount files, which this process has not.
			name: "in-cluster without its files", env: map[string]string{"KUBERNETES_SERVICE_HOST": "10.0.0.1"},
			wantErr: "in-cluster config: ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := k8s.LoadCluster(tc.cc, fkEnv(tc.env))
			if tc.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tc.wantErr) {
					t.Fatalf("LoadCluster = %+v, %v; want an error starting %q", c, err, tc.wantErr)
				}
				if strings.Contains(tc.name, "context") && !strings.Contains(err.Error(), "nope") {
					t.Errorf("error %q does not name the context", err)
				}
				return
			}
			if err != nil || c == nil {
				t.Fatalf("LoadCluster = %+v, %v", c, err)
			}
			if c.Source != tc.wantSource {
				t.Errorf("Source %q, want %q", c.Source, tc.wantSource)
			}
			cfg := c.Config
			if cfg.Host != tc.wantHost || cfg.BearerToken != "t0ken" {
				t.Errorf("host %q, token %q; want %q", cfg.Host, cfg.BearerToken, tc.wantHost)
			}
			if cfg.Timeout != tc.wantTO || cfg.QPS != tc.wantQPS || cfg.Burst != tc.wantBurst || cfg.UserAgent != "remediator" {
				t.Errorf("timeout %v, qps %v, burst %d, user agent %q; want %v, %v, %d, remediator", cfg.Timeout, cfg.QPS, cfg.Burst, cfg.UserAgent, tc.wantTO, tc.wantQPS, tc.wantBurst)
			}
			cs, mc, err := c.Clients()
			if err != nil || cs == nil || mc == nil {
				t.Errorf("Clients() = %v, %v, %v", cs, mc, err)
			}
		})
	}
}
