package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/internal/pgtest"
)

// stallProxy forwards TCP to PostgreSQL until a client sends pattern; from
// then on that connection's traffic is swallowed (never reaches the server)
// until the client goes away. It makes an action block at a known point, with
// no hook in the daemon.
type stallProxy struct {
	ln      net.Listener
	pattern []byte
	stalls  atomic.Int32
	stalled chan struct{}
	once    sync.Once
}

func newStallProxy(t *testing.T, upstream, pattern string) *stallProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &stallProxy{ln: ln, pattern: []byte(pattern), stalled: make(chan struct{})}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.serve(c, upstream)
		}
	}()
	return p
}

func (p *stallProxy) serve(client net.Conn, upstream string) {
	defer client.Close()
	server, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { _, _ = io.Copy(client, server) }()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if bytes.Contains(buf[:n], p.pattern) {
				p.stalls.Add(1)
				p.once.Do(func() { close(p.stalled) })
				_, _ = io.Copy(io.Discard, client) // until the client dies
				return
			}
			if _, err := server.Write(buf[:n]); err != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// killConfig: terminate_idle on the "default" PostgreSQL target (through the
// proxy), with timeouts long enough that only a kill ends the stalled call.
const killConfig = `
dispatcher:
  action_timeout: 10m
postgres:
  targets:
    default: {dsn_env: KILLTEST_POSTGRES_DSN, call_timeout: 10m}
runbooks:
  - name: PostgresTooManyConnections
    match: ['alertname="PostgresTooManyConnections"']
    target:
      kind: PostgreSQL
      database: [database]
      instance: [instance]
    resolve:
      - action: postgres.terminate_idle
        params: {idle_seconds: 1, max_sessions: 50}
policy:
  dir: POLICY_DIR
`

type daemonProc struct {
	cmd   *exec.Cmd
	addr  string
	token string // the bearer token do sends: REMEDIATOR_AUTH_TOKEN of env
	mu    sync.Mutex
	logs  []string
	lines chan string
}

// maxLogLine is how much of one log line startDaemon keeps. A hostile alert
// can put a megabyte into a line (a fingerprint, say); the rest is dropped,
// never left unread, since a daemon whose stderr is not drained blocks.
const maxLogLine = 64 << 10

func startDaemon(t *testing.T, bin string, env []string, args ...string) *daemonProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"serve", "--listen-address=127.0.0.1:0", "--log-format=json"}, args...)...)
	// Credentials come from env alone, not from the machine's environment.
	cmd.Env = append(withoutAuthEnv(), env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	d := &daemonProc{cmd: cmd, lines: make(chan string, 1000)}
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "REMEDIATOR_AUTH_TOKEN="); ok {
			d.token = v
		}
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	go func() {
		defer close(d.lines)
		r := bufio.NewReaderSize(stderr, maxLogLine)
		for {
			line, err := readLogLine(r)
			if line != "" {
				d.mu.Lock()
				d.logs = append(d.logs, line)
				d.mu.Unlock()
				d.lines <- line
			}
			if err != nil {
				return
			}
		}
	}()
	addrRE := regexp.MustCompile(`"msg":"remediator listening".*"address":"(127\.0\.0\.1:\d+)"`)
	timeout := time.After(60 * time.Second)
	for d.addr == "" {
		select {
		case l, ok := <-d.lines:
			if !ok {
				t.Fatalf("daemon exited before listening:\n%s", d.log())
			}
			if m := addrRE.FindStringSubmatch(l); m != nil {
				d.addr = m[1]
			}
		case <-timeout:
			t.Fatalf("daemon not listening after 60s:\n%s", d.log())
		}
	}
	go func() {
		for range d.lines { // keep draining
		}
	}()
	return d
}

// readLogLine returns the next line of r without its newline, cut to
// maxLogLine bytes (r's buffer size); the rest of a longer line is read and
// dropped.
func readLogLine(r *bufio.Reader) (string, error) {
	b, err := r.ReadSlice('\n')
	line := string(bytes.TrimSuffix(b, []byte("\n")))
	for errors.Is(err, bufio.ErrBufferFull) {
		_, err = r.ReadSlice('\n')
	}
	return line, err
}

func (d *daemonProc) log() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return strings.Join(d.logs, "\n")
}

func (d *daemonProc) do(t *testing.T, method, path string, body []byte) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+d.addr+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+d.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKillBetweenIntentAndOutcome: the daemon is SIGKILLed while an allowed
// action runs (its intent written, its outcome not). The next start marks the
// intent interrupted, counts and logs it, and does not run it again; the
// history keeps everything else; `remediator history` shows it.
func TestKillBetweenIntentAndOutcome(t *testing.T) {
	admin := pgtest.Admin(t)
	db := pgtest.CreateDatabase(t)
	app := pgtest.CreateRole(t)
	victim := pgtest.Connect(t, pgtest.DSN(t, db, app), "order-service").PgConn().PID()
	proxy := newStallProxy(t, "127.0.0.1:5432", "pg_terminate_backend(a.pid)")

	dir := t.TempDir()
	policyDir := filepath.Join(dir, "policy")
	if err := os.Mkdir(policyDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(policyDir, "data.json"), []byte(`{"remediator": {"config": {"min_idle_seconds": 1}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfgFile := filepath.Join(dir, "remediator.yaml")
	if err := os.WriteFile(cfgFile, []byte(strings.Replace(killConfig, "POLICY_DIR", policyDir, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(dir, "audit.db")
	store := "sqlite://" + dbFile
	env := []string{"REMEDIATOR_AUTH_TOKEN=kill-token", "KILLTEST_POSTGRES_DSN=postgres://postgres@" + proxy.ln.Addr().String() + "/" + db + "?sslmode=disable"}
	args := []string{"--config=" + cfgFile, "--audit=" + store}
	bin := buildBinary(t)
	// The victim must have been idle longer than idle_seconds.
	time.Sleep(1200 * time.Millisecond)

	d1 := startDaemon(t, bin, env, args...)
	reader, err := audit.Open(context.Background(), store, audit.Options{Instance: "test-reader"})
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	records := func(f audit.Filter) []audit.Record {
		t.Helper()
		f.Limit = audit.MaxLimit
		p, err := reader.List(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		return p.Items
	}
	// First an alert that completes: its record must survive the kill.
	if code, b := d1.do(t, http.MethodPost, "/api/v1/alerts", sampleAlert(t, "high-cpu.json")); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, b)
	}
	waitUntil(t, "the first record", func() bool { return len(records(audit.Filter{Alertname: "HighCPUUsage"})) == 1 })

	body := bytes.ReplaceAll(sampleAlert(t, "postgres-connections.json"), []byte(`"database": "orders"`), []byte(`"database": "`+db+`"`))
	if code, b := d1.do(t, http.MethodPost, "/api/v1/alerts", body); code != http.StatusOK {
		t.Fatalf("post: %d %s", code, b)
	}
	select {
	case <-proxy.stalled:
	case <-time.After(60 * time.Second):
		t.Fatalf("terminate_idle never reached pg_terminate_backend:\n%s", d1.log())
	}
	running, err := reader.Actions(context.Background(), audit.StateRunning)
	if err != nil || len(running) != 1 || running[0].Action != "postgres.terminate_idle" {
		t.Fatalf("intent before the kill: %v %+v", err, running)
	}
	if err := d1.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = d1.cmd.Wait()
	if st := pgtest.State(t, admin, victim); st != "idle" {
		t.Fatalf("victim session %q after the kill, want idle (the stalled call never reached the server)", st)
	}

	d2 := startDaemon(t, bin, env, args...)
	_, m := d2.do(t, http.MethodGet, "/metrics", nil)
	if got := metricstest.Scraped(t, string(m), "remediator_audit_interrupted_intents_total", nil); got != 1 {
		t.Errorf("remediator_audit_interrupted_intents_total = %v, want 1", got)
	}
	if !strings.Contains(d2.log(), `"msg":"action interrupted`) || !strings.Contains(d2.log(), running[0].ID) {
		t.Errorf("no log line naming the interrupted intent %s:\n%s", running[0].ID, d2.log())
	}
	all, err := reader.Actions(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	var pgActions []audit.Action
	for _, a := range all {
		if a.Action == "postgres.terminate_idle" {
			pgActions = append(pgActions, a)
		}
	}
	if len(pgActions) != 1 || pgActions[0].State != audit.StateInterrupted || pgActions[0].ID != running[0].ID {
		t.Fatalf("terminate_idle actions after the restart: %+v (want the one intent, interrupted, and no new run)", pgActions)
	}
	code, b := d2.do(t, http.MethodGet, "/api/v1/remediations?result=interrupted", nil)
	if code != http.StatusOK || !strings.Contains(string(b), `"action":"postgres.terminate_idle"`) || !strings.Contains(string(b), `"alertname":"PostgresTooManyConnections"`) {
		t.Fatalf("interrupted record over the API: %d %s", code, b)
	}
	if n := len(records(audit.Filter{Alertname: "HighCPUUsage"})); n != 1 {
		t.Errorf("%d HighCPUUsage records after the restart, want 1", n)
	}
	// Nothing re-ran: the proxy saw one terminate call, the victim lives.
	if n := proxy.stalls.Load(); n != 1 {
		t.Errorf("%d calls of pg_terminate_backend, want 1", n)
	}
	if st := pgtest.State(t, admin, victim); st != "idle" {
		t.Errorf("victim session %q after the restart, want idle", st)
	}
	if err := d2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := d2.cmd.Wait(); err != nil {
		t.Fatalf("exit after SIGTERM: %v", err)
	}

	// remediator history shows both, newest first.
	var stdout, stderr bytes.Buffer
	if code := run([]string{"history", "--audit", store}, &stdout, &stderr); code != 0 {
		t.Fatalf("history: exit %d: %s", code, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "TIME (UTC)") ||
		!regexp.MustCompile(`PostgresTooManyConnections\s+PostgresTooManyConnections\s+PostgreSQL `+db+`\s+postgres.terminate_idle\s+interrupted\s+[0-9a-f]{24}\s+interrupted: the process`).MatchString(lines[1]) ||
		!regexp.MustCompile(`HighCPUUsage\s+HighCPUUsage\s+Deployment order-context/order-service\s+kubernetes.scale\s+planned\s+[0-9a-f]{24}`).MatchString(lines[2]) {
		t.Fatalf("history table:\n%s", stdout.String())
	}
	stdout.Reset()
	if code := run([]string{"history", "--audit", store, "--result", "planned", "--limit", "1"}, &stdout, &stderr); code != 0 || strings.Contains(stdout.String(), "Postgres") || !strings.Contains(stdout.String(), "HighCPUUsage") {
		t.Fatalf("history --result planned: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"history", "--audit", store, "--result", "boom"}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "result") {
		t.Fatalf("history --result boom: exit %d: %s", code, stderr.String())
	}
}

func sampleAlert(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "alerts", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// buildBinary builds the command into the test's temporary directory.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "remediator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
