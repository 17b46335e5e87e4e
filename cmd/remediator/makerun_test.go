package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/internal/redistest"
)

// TestMakeRunNeverActs (issue 11, finding 8: "dry-run is not guaranteed"):
// `make run`, which the README's quick start and the Makefile call dry-run,
// runs the daemon with --dry-run, so that it acts on nothing even with
// KUBECONFIG, REMEDIATOR_POSTGRES_DSN and REMEDIATOR_REDIS_URL exported in
// the shell. The test takes the command line from `make -n run` and runs it
// with all three set (a kubeconfig for a stand-in API server that only
// answers /version, the real local PostgreSQL and Redis): every backend's
// start-up line says PLANNING because of --dry-run, and
// the listening line says dry_run=true. Before, the recipe was `$(BIN)
// serve`, which acted on the cluster KUBECONFIG named.
func TestMakeRunNeverActs(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "remediator")
	mk := exec.Command("make", "-s", "-n", "run", "BIN="+bin)
	mk.Dir = "../.."
	out, err := mk.CombinedOutput()
	if err != nil {
		t.Fatalf("make -n run: %v\n%s", err, out)
	}
	var args []string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) > 0 && f[0] == bin {
			args = f[1:]
		}
	}
	if len(args) == 0 || args[0] != "serve" || !slices.Contains(args, "--dry-run") {
		t.Errorf("make run runs %q, want %s serve --dry-run ...\n%s", args, bin, out)
	}
	if len(args) == 0 {
		t.FailNow()
	}

	var help, stderr bytes.Buffer
	if code := run([]string{"--help"}, &help, &stderr); code != 0 || !strings.Contains(help.String(), "remediator serve --dry-run") {
		t.Errorf("remediator --help's quick start is not remediator serve --dry-run (exit %d):\n%s", code, help.String())
	}

	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cluster := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/version" {
			t.Errorf("the daemon called %s %s on the cluster", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		fmt.Fprint(w, `{"gitVersion":"v1.37.2"}`)
	}))
	defer cluster.Close()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+cluster.URL+`"}}]
users: [{name: u, user: {token: t0ken}}]
contexts: [{name: shell-context, context: {cluster: c, user: u}}]
current-context: shell-context
`), 0o600); err != nil {
		t.Fatal(err)
	}

	shell := []string{
		"KUBECONFIG=" + kubeconfig,
		"REMEDIATOR_POSTGRES_DSN=" + pgtest.AdminDSN(),
		"REMEDIATOR_REDIS_URL=" + redistest.URL(),
		"STATE_DIRECTORY=" + dir,
	}
	lines := startupLines(t, bin, args, shell)
	modes := map[string]string{}
	for _, r := range lines {
		if r.Mode != "" {
			modes[r.Backend] = r.Mode
			if r.Mode != "PLANNING" || !strings.Contains(r.Reason, "--dry-run") {
				t.Errorf("make run: %s is %s (%s), want PLANNING because of --dry-run", r.Backend, r.Mode, r.Reason)
			}
		}
		if r.Msg == "remediator listening" && (r.DryRun == nil || !*r.DryRun || len(r.Acting) > 0) {
			t.Errorf("make run: listening line %s, want dry_run=true and no acting_backends", r.raw)
		}
	}
	// Every backend is configured in the shell, and must have said so.
	for _, b := range []string{"kubernetes", "postgres", "redis"} {
		if modes[b] != "PLANNING" {
			t.Errorf("make run: no PLANNING line for %s", b)
		}
	}

	// The control: the same daemon given a cluster by --kubeconfig, without
	// --dry-run, says it acts on it.
	lines = startupLines(t, bin, []string{"serve", "--kubeconfig", kubeconfig}, []string{"KUBECONFIG=", "STATE_DIRECTORY=" + dir})
	var k8sActing bool
	for _, r := range lines {
		if r.Backend == "kubernetes" && r.Mode != "" {
			k8sActing = r.Mode == "ACTING" && r.Cluster == cluster.URL && r.Context == "shell-context"
		}
		if r.Msg == "remediator listening" && (r.DryRun == nil || *r.DryRun || !slices.Equal(r.Acting, []string{"kubernetes"})) {
			t.Errorf("serve --kubeconfig: listening line %s, want dry_run=false and acting_backends [kubernetes]", r.raw)
		}
	}
	if !k8sActing {
		t.Errorf("serve --kubeconfig: no line saying kubernetes ACTING on %s, context shell-context", cluster.URL)
	}
}

// startupLine is what TestMakeRunNeverActs reads of a JSON log line.
type startupLine struct {
	Msg, Backend, Mode, Reason, Cluster, Context string
	DryRun                                       *bool    `json:"dry_run"`
	Acting                                       []string `json:"acting_backends"`
	raw                                          string
}

// startupLines runs bin with args and env added to the test's environment,
// reads its log up to the listening line, stops it with SIGTERM and returns
// the lines; the test fails when the daemon does not start or stop cleanly.
func startupLines(t *testing.T, bin string, args, env []string) []startupLine {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	// A free port and lines to parse: the test's business, not the command's.
	cmd.Env = append(os.Environ(), "REMEDIATOR_LISTEN_ADDRESS=127.0.0.1:0", "REMEDIATOR_LOG_FORMAT=json")
	cmd.Env = append(cmd.Env, env...)
	pipe, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var lines []startupLine
	var logs []string
	sc := bufio.NewScanner(pipe)
	listening := false
	for !listening && sc.Scan() {
		logs = append(logs, sc.Text())
		var r startupLine
		if json.Unmarshal(sc.Bytes(), &r) != nil {
			continue
		}
		r.raw = sc.Text()
		lines = append(lines, r)
		listening = r.Msg == "remediator listening"
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for sc.Scan() {
		logs = append(logs, sc.Text())
	}
	if err := cmd.Wait(); err != nil || !listening {
		t.Fatalf("%s %q: listening %v, exit %v\n%s", bin, args, listening, err, strings.Join(logs, "\n"))
	}
	return lines
}
