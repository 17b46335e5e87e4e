package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// TestEvalGolden: `remediator eval` on every shipped sample payload produces
// the documented output, in both formats.
func TestEvalGolden(t *testing.T) {
	samples, err := filepath.Glob("../../deploy/examples/alerts/*.json")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no sample payloads: %v", err)
	}
	for _, sample := range samples {
		for _, format := range []string{"text", "json"} {
			name := strings.TrimSuffix(filepath.Base(sample), ".json") + "." + format
			t.Run(name, func(t *testing.T) {
				var stdout, stderr bytes.Buffer
				if code := run([]string{"eval", "--alert", sample, "-o", format}, &stdout, &stderr); code != 0 {
					t.Fatalf("exit %d: %s", code, stderr.String())
				}
				if format == "json" {
					var out EvalOutput
					if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Alerts) == 0 {
						t.Fatalf("json output does not decode into EvalOutput: %v", err)
					}
				}
				golden := filepath.Join("testdata", "eval", name)
				if *update {
					if err := os.WriteFile(golden, stdout.Bytes(), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create it)", err)
				}
				if !bytes.Equal(stdout.Bytes(), want) {
					t.Fatalf("output differs from %s (go test -update rewrites it):\n%s", golden, stdout.String())
				}
			})
		}
	}
}

func TestEvalErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`{"version": "4", "alerts": []}`), 0o644); err != nil {
		t.Fatal(err)
	}
	badCfg := filepath.Join(dir, "cfg.yaml")
	if err := os.WriteFile(badCfg, []byte("runbooks:\n  - name: X\n    match: ['alertname=\"X\"']\n    target: {kind: Deployment}\n    resolve:\n      - action: kubernetes.sacle\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"payload without alerts", []string{"eval", "--alert", bad}, 1, "bad.json"},
		{"missing file", []string{"eval", "--alert", filepath.Join(dir, "nope.json")}, 1, "nope.json"},
		{"bad config names file and line", []string{"eval", "--alert", "../../deploy/examples/alerts/high-cpu.json", "--config", badCfg}, 1, "cfg.yaml:6:"},
		{"unknown flag", []string{"eval", "--nope"}, 2, "--help"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tc.code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("stderr %q does not mention %q", stderr.String(), tc.want)
			}
		})
	}
}

// TestHelp: every command's --help says what it does and shows an example.
func TestHelp(t *testing.T) {
	for _, cmd := range [][]string{{"serve"}, {"eval"}, {"policy", "test"}, {"policy", "export"}, {"actions"}, {"history"}, {"version"}} {
		t.Run(strings.Join(cmd, " "), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			run(append(cmd, "--help"), &stdout, &stderr)
			if !strings.Contains(stdout.String(), "Example") {
				t.Fatalf("--help has no example:\n%s", stdout.String())
			}
		})
	}
}

func TestPolicyTestCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"policy", "test", "-v"}, &stdout, &stderr); code != 0 {
		t.Fatalf("bundled policy tests: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(stdout.String(), "PASS") {
		t.Fatalf("verbose output lists no test:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"policy", "test", "--coverage"}, &stdout, &stderr); code != 0 {
		t.Fatalf("coverage: exit %d\n%s", code, stderr.String())
	}
	var cov struct {
		Coverage float64 `json:"coverage"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &cov); err != nil || cov.Coverage <= 0 {
		t.Fatalf("coverage report: %v %s", err, stdout.String())
	}

	// A user directory with a failing test fails the command.
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "x_test.rego"), []byte("package x_test\n\ntest_fails if {\n\tfalse\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout.Reset()
	if code := run([]string{"policy", "test", dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("failing test: exit %d, want 1\n%s", code, stdout.String())
	}
	if !strings.Contains(stdout.String(), "test_fails") {
		t.Fatalf("report does not name the failing test:\n%s", stdout.String())
	}
}

func TestPolicyExport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "p")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"policy", "export", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("export: exit %d: %s", code, stderr.String())
	}
	// The exported copy is a complete policy on its own.
	if code := run([]string{"policy", "test", "--no-bundled-policy", dir}, &stdout, &stderr); code != 0 {
		t.Fatalf("exported policy's tests: exit %d\n%s", code, stdout.String())
	}
	if code := run([]string{"policy", "export", dir}, &stdout, &stderr); code != 1 {
		t.Fatalf("export over existing files: exit %d, want 1", code)
	}
}

// TestServeProcess runs the real binary: it starts on its embedded defaults,
// accepts a webhook, and on SIGTERM shuts down gracefully with exit code 0.
func TestServeProcess(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "remediator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}

	t.Run("refuses non-loopback without auth", func(t *testing.T) {
		cmd := exec.Command(bin, "serve", "--listen-address=0.0.0.0:0")
		cmd.Env = withoutAuthEnv()
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
			t.Fatalf("exit: %v\n%s", err, out)
		}
		if !strings.Contains(string(out), "--insecure-no-auth") {
			t.Fatalf("message does not say how to proceed:\n%s", out)
		}
	})
	// Finding 8: an empty token file (a Secret mounted before it was
	// filled) used to start the daemon with no authentication at all, even
	// with REMEDIATOR_AUTH_TOKEN set. It must stop the start instead.
	t.Run("refuses an empty token file", func(t *testing.T) {
		empty := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		for _, env := range [][]string{nil, {"REMEDIATOR_AUTH_TOKEN=env-token"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bin, "serve", "--listen-address=127.0.0.1:0", "--audit=memory", "--auth-token-file="+empty)
			cmd.Env = append(withoutAuthEnv(), env...)
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("env %q: the daemon started (killed after 30s):\n%s", env, out)
			}
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
				t.Fatalf("env %q: exit: %v\n%s", env, err, out)
			}
			if !strings.Contains(string(out), "--auth-token-file") || strings.Contains(string(out), "listening") {
				t.Fatalf("env %q: the refusal does not name --auth-token-file:\n%s", env, out)
			}
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "serve", "--listen-address=127.0.0.1:0", "--log-format=json")
	cmd.Env = append(withoutAuthEnv(), "REMEDIATOR_AUTH_TOKEN=proc-token")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 100)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	addrRE := regexp.MustCompile(`"address":"(127\.0\.0\.1:\d+)"`)
	var addr string
	var logs []string
	for addr == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("daemon exited before listening:\n%s", strings.Join(logs, "\n"))
			}
			logs = append(logs, l)
			if m := addrRE.FindStringSubmatch(l); m != nil {
				addr = m[1]
			}
		case <-ctx.Done():
			t.Fatal("no 'listening' log line")
		}
	}
	body, _ := os.ReadFile("../../deploy/examples/alerts/high-cpu.json")
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer proc-token")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("webhook: %d", resp.StatusCode)
	}
	// Wait for the plan to be logged with the alert's fingerprint and runbook.
	for planned := false; !planned; {
		l, ok := <-lines
		if !ok {
			t.Fatalf("daemon exited early:\n%s", strings.Join(logs, "\n"))
		}
		logs = append(logs, l)
		planned = strings.Contains(l, "action planned (dry-run)") && strings.Contains(l, `"fingerprint":"a1b2c3d4e5f60001"`) && strings.Contains(l, `"runbook":"HighCPUUsage"`)
	}
	// SIGHUP reloads the policy.
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	for reloaded := false; !reloaded; {
		l, ok := <-lines
		if !ok {
			t.Fatalf("daemon exited after SIGHUP:\n%s", strings.Join(logs, "\n"))
		}
		logs = append(logs, l)
		reloaded = strings.Contains(l, `"msg":"policy reloaded"`)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for l := range lines {
		logs = append(logs, l)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, strings.Join(logs, "\n"))
	}
	if !strings.Contains(strings.Join(logs, "\n"), "shutdown complete") {
		t.Fatalf("no 'shutdown complete' log:\n%s", strings.Join(logs, "\n"))
	}
}
