package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/remediations/postgres"
)

// startupPassword is in the DSN the daemon gets (trust auth ignores it); no
// start-up line may show it.
const startupPassword = "Heron-Quokka-71xW"

// modeLine is what one start-up line says about a backend or one target:
// its mode, and attributes it must have (a value is matched as a substring).
type modeLine struct {
	backend, target, mode string
	attrs                 map[string]string
}

// TestBackendsStartupLines (issue 11, finding 8: "dry-run is not
// guaranteed"): at start the daemon says, in one line per backend and per
// target, whether it is ACTING (on which cluster and context, server and
// database) or PLANNING, and why (--dry-run, or no target configured); the
// "remediator listening" line's dry_run is true exactly when nothing can act,
// and acting_backends lists what can. Before, the lines were prose with no
// mode, and the listening line said dry_run=false while nothing was
// configured and every action could only be planned.
func TestBackendsStartupLines(t *testing.T) {
	cluster := fakeAPIServer(t)
	kubeconfig := writeKubeconfig(t, cluster.URL)
	pgDSN := pgtest.WithPassword(t, pgtest.DSN(t, "postgres", ""), startupPassword)
	u, err := url.Parse(pgDSN)
	if err != nil {
		t.Fatal(err)
	}
	pgServer := "@" + u.Host + "/postgres"
	all := map[string]string{
		"KUBECONFIG":             kubeconfig,
		config.EnvPostgresDSN:    pgDSN,
		config.EnvRedisURL:       redistest.URL(),
		"REMEDIATOR_TEST_ORDERS": pgDSN,
	}
	// A second PostgreSQL target, as a config file would add it.
	orders := func(c *config.Config) {
		c.Postgres.Targets["orders"] = postgres.TargetConfig{DSNEnv: "REMEDIATOR_TEST_ORDERS"}
	}
	k8s := map[string]string{"cluster": cluster.URL, "context": "remediator-test", "kubeconfig": kubeconfig}
	pg := map[string]string{"connection": pgServer}
	rd := map[string]string{"connection": redistest.Addr() + "/0"}
	dryRun := map[string]string{"reason": "--dry-run"}
	with := func(a, b map[string]string) map[string]string {
		m := map[string]string{}
		for k, v := range a {
			m[k] = v
		}
		for k, v := range b {
			m[k] = v
		}
		return m
	}

	tests := []struct {
		name   string
		env    map[string]string
		dryRun bool
		mutate func(*config.Config)
		want   []modeLine
		acting []string
	}{
		{
			name: "nothing configured",
			want: []modeLine{
				{"postgres", "", "PLANNING", map[string]string{"reason": "no target configured (set postgres.targets or " + config.EnvPostgresDSN + ")"}},
				{"redis", "", "PLANNING", map[string]string{"reason": "no target configured (set redis.targets or " + config.EnvRedisURL + ")"}},
				{"kubernetes", "", "PLANNING", map[string]string{"reason": "no cluster configured (set --kubeconfig, KUBECONFIG, or run in a pod)"}},
			},
			acting: []string{},
		},
		{
			name: "--dry-run with targets configured", env: all, dryRun: true,
			want: []modeLine{
				{"postgres", "default", "PLANNING", with(pg, dryRun)},
				{"redis", "default", "PLANNING", with(rd, dryRun)},
				{"kubernetes", "", "PLANNING", with(k8s, dryRun)},
			},
			acting: []string{},
		},
		{
			name: "targets configured act", env: all, mutate: orders,
			want: []modeLine{
				{"postgres", "default", "ACTING", pg},
				{"postgres", "orders", "ACTING", pg},
				{"redis", "default", "ACTING", rd},
				{"kubernetes", "", "ACTING", with(k8s, map[string]string{"version": "v1.37.2", "field_manager": "remediator"})},
			},
			acting: []string{"kubernetes", "postgres", "redis"},
		},
		{
			name: "only postgres configured", env: map[string]string{config.EnvPostgresDSN: pgDSN},
			want: []modeLine{
				{"postgres", "default", "ACTING", pg},
				{"redis", "", "PLANNING", map[string]string{"reason": "no target configured"}},
				{"kubernetes", "", "PLANNING", map[string]string{"reason": "no cluster configured"}},
			},
			acting: []string{"postgres"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"KUBECONFIG", "KUBERNETES_SERVICE_HOST", config.EnvPostgresDSN, config.EnvRedisURL} {
				t.Setenv(k, tc.env[k])
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			cfg := loadConfig(t)
			cfg.DryRun = tc.dryRun
			cfg.Policy.OwnNamespace = "remediator"
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			var logs syncBuffer
			log := slog.New(slog.NewJSONHandler(&logs, nil))
			router, closeBackends, err := daemon.Backends(context.Background(), cfg, log)
			if err != nil {
				t.Fatal(err)
			}
			defer closeBackends()
			h := serveDaemon(t, cfg, daemon.Options{Executor: router, Logger: log}, false)
			if err := h.stop(); err != nil {
				t.Fatal(err)
			}
			records := logRecords(t, logs.String())

			listening := slices.IndexFunc(records, func(r map[string]any) bool { return r["msg"] == "remediator listening" })
			if listening < 0 {
				t.Fatalf("no listening line:\n%s", logs.String())
			}
			r := records[listening]
			acting := []string{}
			list, _ := r["acting_backends"].([]any)
			for _, b := range list {
				acting = append(acting, str(b))
			}
			if !slices.Equal(acting, tc.acting) {
				t.Errorf("listening: acting_backends=%v, want %v", r["acting_backends"], tc.acting)
			}
			if r["dry_run"] != (len(tc.acting) == 0) {
				t.Errorf("listening: dry_run=%v with acting backends %v", r["dry_run"], tc.acting)
			}
			var got []modeLine
			for _, r := range records {
				if _, ok := r["mode"]; !ok {
					continue
				}
				got = append(got, modeLine{backend: str(r["backend"]), target: str(r["target"]), mode: str(r["mode"])})
			}
			var want []modeLine
			for _, w := range tc.want {
				want = append(want, modeLine{backend: w.backend, target: w.target, mode: w.mode})
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("start-up lines with a mode:\n got %v\nwant %v\n%s", got, want, logs.String())
			}
			i := 0
			for _, r := range records {
				if _, ok := r["mode"]; !ok {
					continue
				}
				w := tc.want[i]
				i++
				if !strings.Contains(str(r["msg"]), w.mode) {
					t.Errorf("%s %s: the message %q does not say %s", w.backend, w.target, r["msg"], w.mode)
				}
				if _, ok := r["reason"]; ok != (w.mode == "PLANNING") {
					t.Errorf("%s %s: reason %v in a %s line", w.backend, w.target, r["reason"], w.mode)
				}
				for k, v := range w.attrs {
					if !strings.Contains(str(r[k]), v) {
						t.Errorf("%s %s: %s=%v, want it to contain %q", w.backend, w.target, k, r[k], v)
					}
				}
			}

			if strings.Contains(logs.String(), startupPassword) {
				t.Error("the DSN's password is in the logs")
			}
		})
	}
}

// fakeAPIServer answers GET /version like a kube-apiserver: the start-up
// lines only read the version; nothing here acts.
func fakeAPIServer(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/version" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"major":"1","minor":"37","gitVersion":"v1.37.2"}`)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// writeKubeconfig writes a kubeconfig whose current context,
// remediator-test, is the cluster at server.
func writeKubeconfig(t *testing.T, server string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	doc := `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster: {server: "` + server + `"}
users:
- name: test
  user: {token: t0ken}
contexts:
- name: remediator-test
  context: {cluster: test, user: test}
current-context: remediator-test
`
	if err := os.WriteFile(path, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// logRecords decodes JSON log lines.
func logRecords(t *testing.T, logs string) []map[string]any {
	t.Helper()
	var records []map[string]any
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r map[string]any
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		records = append(records, r)
	}
	return records
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}
