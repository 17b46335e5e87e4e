package daemon_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/httpauth"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/remediations/builtin"
)

const token = "e2e-token"

type harness struct {
	t      *testing.T
	d      *daemon.Daemon
	url    string
	cancel context.CancelFunc
	done   chan error
}

func loadConfig(t *testing.T) *config.Config {
	t.Helper()
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", catalog)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start runs a daemon with the embedded defaults on a random loopback port.
func start(t *testing.T, mutate func(*config.Config)) *harness {
	t.Helper()
	return startWith(t, mutate, daemon.Options{}, true)
}

// startWith is start with options (Auth defaults to the test token) and,
// when waitReady is false, without waiting for /readyz.
func startWith(t *testing.T, mutate func(*config.Config), opts daemon.Options, waitReady bool) *harness {
	t.Helper()
	cfg := loadConfig(t)
	cfg.DryRun = true
	cfg.Policy.OwnNamespace = "remediator"
	if mutate != nil {
		mutate(cfg)
	}
	return serveDaemon(t, cfg, opts, waitReady)
}

// serveDaemon runs a daemon for cfg on a random loopback port, with the test
// token as its one (alerts) credential unless opts.Auth is set, stopped at
// cleanup; it returns once the daemon is ready (or, when waitReady is false,
// once it answers at all).
func serveDaemon(t *testing.T, cfg *config.Config, opts daemon.Options, waitReady bool) *harness {
	t.Helper()
	if opts.Auth == nil {
		opts.Auth = authWith(t, map[httpauth.Role]string{httpauth.Alerts: token})
	}
	d, err := daemon.New(context.Background(), cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{t: t, d: d, url: "http://" + ln.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- d.Serve(ctx, ln) }()
	t.Cleanup(func() { h.stop() })
	if waitReady {
		waitFor(t, "daemon ready", func() bool { return h.get("/readyz", false).StatusCode == http.StatusOK })
	} else {
		waitFor(t, "daemon listening", func() bool {
			resp, err := http.Get(h.url + "/healthz")
			if err == nil {
				resp.Body.Close()
			}
			return err == nil
		})
	}
	return h
}

func (h *harness) stop() error {
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // let a second stop see it too
		return err
	case <-time.After(60 * time.Second):
		h.t.Fatal("daemon did not stop within 60s")
		return nil
	}
}

func (h *harness) get(path string, auth bool) *http.Response {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, h.url+path, nil)
	if auth {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	h.t.Cleanup(func() { resp.Body.Close() })
	return resp
}

type postResult struct {
	code int
	body map[string]any
}

func (h *harness) post(body []byte, authz string) postResult {
	h.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, h.url+"/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if authz != "" {
		req.Header.Set("Authorization", authz)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Errorf("POST: %v", err)
		return postResult{}
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		h.t.Errorf("response is not JSON (status %d): %v", resp.StatusCode, err)
	}
	return postResult{code: resp.StatusCode, body: out}
}

func (h *harness) postFile(name string) postResult {
	h.t.Helper()
	return h.post(sample(h.t, name), "Bearer "+token)
}

func (h *harness) metrics() string {
	h.t.Helper()
	resp := h.get("/metrics", true)
	if resp.StatusCode != http.StatusOK {
		h.t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// outcomes returns every recorded outcome, oldest first.
func (h *harness) outcomes() []dispatch.Outcome {
	h.t.Helper()
	return h.outcomesFor("", "")
}

// outcomesFor returns the recorded outcomes of one fingerprint and status
// ("" for any), oldest first.
func (h *harness) outcomesFor(fingerprint, status string) []dispatch.Outcome {
	h.t.Helper()
	ctx := context.Background()
	var out []dispatch.Outcome
	page, err := h.d.History().List(ctx, audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range slices.Backward(page.Items) { // oldest first
		if (fingerprint != "" && r.Fingerprint != fingerprint) || (status != "" && r.AlertStatus != status) {
			continue
		}
		d, err := h.d.History().Get(ctx, r.ID)
		if err != nil {
			h.t.Fatal(err)
		}
		var o dispatch.Outcome
		if err := json.Unmarshal(d.Outcome, &o); err != nil {
			h.t.Fatal(err)
		}
		out = append(out, o)
	}
	return out
}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "deploy", "examples", "alerts", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEndToEnd posts the shipped sample payloads to a running daemon and
// checks the plans recorded, the status codes and the metrics scraped.
func TestEndToEnd(t *testing.T) {
	h := start(t, nil)

	runbooks := []struct {
		file, fingerprint, runbook, action string
		option                             int
		params                             map[string]any
	}{
		{"high-cpu.json", "a1b2c3d4e5f60001", "HighCPUUsage", "kubernetes.scale", 1, map[string]any{"step": float64(2), "max_replicas": float64(10)}},
		{"high-memory.json", "a1b2c3d4e5f60002", "HighMemoryUsage", "kubernetes.set_resources", 1, map[string]any{"resource": "memory", "max": "4Gi"}},
		{"postgres-connections.json", "a1b2c3d4e5f60003", "PostgresTooManyConnections", "postgres.terminate_idle", 1, map[string]any{"idle_seconds": float64(600), "max_sessions": float64(50)}},
		{"service-unavailable.json", "a1b2c3d4e5f60004", "ServiceUnavailable", "kubernetes.rollout_undo", 1, nil},
		{"emergency-scale-down.json", "a1b2c3d4e5f60005", "EmergencyScaleDown", "kubernetes.scale_namespace", 1, map[string]any{"replicas": float64(1)}},
		{"emergency-scale-down.json", "a1b2c3d4e5f60006", "EmergencyScaleDownCritical", "kubernetes.scale_namespace", 1, map[string]any{"replicas": float64(3), "only_reduce": true}},
	}
	posted := map[string]bool{}
	for _, rb := range runbooks {
		if posted[rb.file] {
			continue
		}
		posted[rb.file] = true
		if r := h.postFile(rb.file); r.code != http.StatusOK || r.body["duplicates"] != float64(0) {
			t.Fatalf("%s: %d %v", rb.file, r.code, r.body)
		}
	}
	for _, rb := range runbooks {
		t.Run(rb.runbook, func(t *testing.T) {
			waitFor(t, rb.runbook+" outcome", func() bool { return len(h.outcomesFor(rb.fingerprint, "firing")) == 1 })
			o := h.outcomesFor(rb.fingerprint, "firing")[0]
			if o.Runbook != rb.runbook || o.Status != dispatch.StatusPlanned || o.Chosen != rb.option {
				t.Fatalf("outcome = runbook %q status %q chosen %d; want %q planned %d (%+v)", o.Runbook, o.Status, o.Chosen, rb.runbook, rb.option, o)
			}
			opt := o.Options[o.Chosen-1]
			if opt.Action != rb.action || opt.Result == nil || !opt.Result.DryRun || len(opt.Result.Plan.Calls) == 0 {
				t.Fatalf("chosen option = %+v; want a dry-run plan of %s", opt, rb.action)
			}
			// Compare through JSON: that is how the plan is recorded and shown.
			var got map[string]any
			b, _ := json.Marshal(opt.Result.Plan.Params)
			_ = json.Unmarshal(b, &got)
			for k, want := range rb.params {
				if got[k] != want {
					t.Errorf("plan param %s = %#v, want %#v", k, got[k], want)
				}
			}
			if len(o.Investigations) == 0 {
				t.Error("no investigation recorded")
			}
			for _, inv := range o.Investigations {
				if inv.Error != "" || inv.Result == nil || len(inv.Result.Plan.Calls) == 0 {
					t.Errorf("investigation %s: %+v", inv.Action, inv)
				}
			}
		})
	}

	// A re-sent notification (Alertmanager's group_interval) is acknowledged and dropped.
	if r := h.postFile("high-cpu.json"); r.code != http.StatusOK || r.body["duplicates"] != float64(1) || r.body["accepted"] != float64(0) {
		t.Fatalf("duplicate: %d %v", r.code, r.body)
	}
	// The resolution is not a duplicate, and never acts.
	if r := h.postFile("high-cpu-resolved.json"); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
		t.Fatalf("resolved: %d %v", r.code, r.body)
	}
	waitFor(t, "resolved outcome", func() bool { return len(h.outcomesFor("a1b2c3d4e5f60001", "resolved")) == 1 })
	if o := h.outcomesFor("a1b2c3d4e5f60001", "resolved")[0]; o.Status != dispatch.StatusResolved || len(o.Options) != 0 {
		t.Fatalf("resolved alert acted: %+v", o)
	}

	// kube-system is never touched: every option is denied for that reason.
	if r := h.postFile("kube-system.json"); r.code != http.StatusOK {
		t.Fatalf("kube-system: %d %v", r.code, r.body)
	}
	waitFor(t, "kube-system outcome", func() bool { return len(h.outcomesFor("a1b2c3d4e5f60007", "firing")) == 1 })
	ks := h.outcomesFor("a1b2c3d4e5f60007", "firing")[0]
	if ks.Status != dispatch.StatusDenied || ks.Chosen != 0 || len(ks.Options) != 3 {
		t.Fatalf("kube-system outcome: %+v", ks)
	}
	for _, opt := range ks.Options {
		if opt.Decision == nil || opt.Decision.Allow || !strings.Contains(strings.Join(opt.Decision.Codes, ","), "protected_namespace") {
			t.Fatalf("kube-system option %d decision: %+v", opt.Option, opt.Decision)
		}
	}

	// An alert no runbook selects is recorded and left alone.
	h.postFile("unknown-alert.json")
	waitFor(t, "unknown alert outcome", func() bool { return len(h.outcomesFor("a1b2c3d4e5f60008", "firing")) == 1 })
	if o := h.outcomesFor("a1b2c3d4e5f60008", "firing")[0]; o.Status != dispatch.StatusNoRunbook {
		t.Fatalf("unknown alert: %+v", o)
	}

	// A storm of 1,000 identical notifications yields one plan.
	storm := bytes.ReplaceAll(sample(t, "high-cpu.json"), []byte("a1b2c3d4e5f60001"), []byte("5707a1b2c3d4e5f6"))
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	sem := make(chan struct{}, 32)
	for range 1000 {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			r := h.post(storm, "Bearer "+token)
			mu.Lock()
			codes[r.code]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if codes[http.StatusOK] != 1000 {
		t.Fatalf("storm status codes: %v", codes)
	}
	waitFor(t, "storm outcome", func() bool { return len(h.outcomesFor("5707a1b2c3d4e5f6", "firing")) >= 1 })
	// Same Deployment as the first HighCPUUsage alert: scaling is in its
	// cooldown, so the runbook's option 2 is taken instead.
	so := h.outcomesFor("5707a1b2c3d4e5f6", "firing")
	if len(so) != 1 || so[0].Chosen != 2 || so[0].Options[0].Decision == nil ||
		strings.Join(so[0].Options[0].Decision.Codes, ",") != "cooldown" || so[0].Options[1].Action != "kubernetes.set_resources" {
		t.Fatalf("storm outcomes: %+v", so)
	}

	// Bad input: clear errors, nothing queued.
	big := make([]byte, 1<<20+1)
	for i := range big {
		big[i] = ' '
	}
	bad := []struct {
		name  string
		body  []byte
		authz string
		code  int
	}{
		{"malformed JSON", []byte(`{"version": "4", "alerts": [`), "Bearer " + token, http.StatusBadRequest},
		{"wrong version", bytes.Replace(sample(t, "high-cpu.json"), []byte(`"version": "4"`), []byte(`"version": "3"`), 1), "Bearer " + token, http.StatusBadRequest},
		{"oversized body", big, "Bearer " + token, http.StatusRequestEntityTooLarge},
		{"wrong token", sample(t, "high-cpu.json"), "Bearer nope", http.StatusUnauthorized},
		{"no credentials", sample(t, "high-cpu.json"), "", http.StatusUnauthorized},
	}
	for _, b := range bad {
		r := h.post(b.body, b.authz)
		if r.code != b.code {
			t.Errorf("%s: status %d, want %d (%v)", b.name, r.code, b.code, r.body)
		}
		if msg, _ := r.body["error"].(string); msg == "" {
			t.Errorf("%s: no JSON error message: %v", b.name, r.body)
		}
	}

	// An alert without a fingerprint is refused on its own, in a 200 that
	// lists it: Alertmanager never retries a 4xx, so one bad alert must not
	// sink the others of its group.
	noFingerprint := bytes.Replace(sample(t, "high-cpu.json"), []byte(`"a1b2c3d4e5f60001"`), []byte(`""`), 1)
	if r := h.post(noFingerprint, "Bearer "+token); r.code != http.StatusOK || r.body["rejected_total"] != float64(1) || r.body["accepted"] != float64(0) {
		t.Errorf("alert without fingerprint: %d %v, want 200 listing it as rejected", r.code, r.body)
	}

	// Let the workers finish, then read the metrics a dashboard would.
	waitFor(t, "queue drained", func() bool {
		return metricstest.Scraped(t, h.metrics(), "remediator_queue_depth", nil) == 0
	})
	m := h.metrics()
	checks := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		// 1 sample + 1 duplicate + 1 resolved... counted per decoded alert, duplicates included.
		{"remediator_alerts_received_total", map[string]string{"runbook": "HighCPUUsage", "status": "firing"}, 1 + 1 + 1 + 1000},
		{"remediator_alerts_received_total", map[string]string{"runbook": "HighCPUUsage", "status": "resolved"}, 1},
		{"remediator_alerts_rejected_total", map[string]string{"field": "fingerprint"}, 1},
		{"remediator_alerts_duplicates_total", nil, 1 + 999},
		{"remediator_alerts_processed_total", map[string]string{"runbook": "HighCPUUsage", "outcome": "planned"}, 2},
		{"remediator_alerts_processed_total", map[string]string{"runbook": "HighCPUUsage", "outcome": "denied"}, 1},
		{"remediator_alerts_processed_total", map[string]string{"runbook": "HighCPUUsage", "outcome": "resolved"}, 1},
		{"remediator_alerts_processed_total", map[string]string{"runbook": "", "outcome": "no_runbook"}, 1},
		{"remediator_decisions_total", map[string]string{"action": "kubernetes.scale", "allowed": "true"}, 1},
		{"remediator_decisions_total", map[string]string{"action": "kubernetes.scale", "allowed": "false"}, 2}, // kube-system, cooldown
		{"remediator_decisions_total", map[string]string{"action": "kubernetes.set_resources", "allowed": "true"}, 2},
		{"remediator_actions_total", map[string]string{"action": "kubernetes.scale", "result": "dry_run"}, 1},
		{"remediator_actions_total", map[string]string{"action": "kubernetes.set_resources", "result": "dry_run"}, 2},
		{"remediator_cooled_down_total", map[string]string{"action": "kubernetes.scale"}, 1},
		{"remediator_actions_total", map[string]string{"action": "kubernetes.scale_namespace", "result": "dry_run"}, 2},
		{"remediator_policy_evaluations_total", map[string]string{"result": "deny"}, 3 + 1},
		{"remediator_policy_evaluations_total", map[string]string{"result": "error"}, 0},
		{"remediator_webhook_requests_total", map[string]string{"code": "401"}, 2},
		{"remediator_webhook_requests_total", map[string]string{"code": "413"}, 1},
		{"remediator_webhook_requests_total", map[string]string{"code": "400"}, 2},
		{"remediator_policy_last_reload_successful", nil, 1},
		{"remediator_queue_capacity", nil, 1000},
	}
	for _, c := range checks {
		if got := metricstest.Scraped(t, m, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"remediator_build_info", "remediator_action_duration_seconds", "remediator_policy_evaluation_duration_seconds", "remediator_webhook_request_duration_seconds"} {
		if !metricstest.Has(t, m, name) {
			t.Errorf("/metrics has no %s", name)
		}
	}
	if c := h.get("/metrics", false).StatusCode; c != http.StatusUnauthorized {
		t.Errorf("/metrics without credentials: %d, want 401", c)
	}
	if c := h.get("/healthz", false).StatusCode; c != http.StatusOK {
		t.Errorf("/healthz: %d", c)
	}
}

// TestGracefulShutdown: on shutdown the daemon stops being ready, finishes
// the work it accepted, and Serve returns nil.
func TestGracefulShutdown(t *testing.T) {
	h := start(t, func(c *config.Config) { c.Dispatcher.Workers = 1 })
	// Many distinct alerts so some are still queued when shutdown begins.
	var fps []string
	for i := range 50 {
		fp := fmt.Sprintf("5d%014x", i)
		fps = append(fps, fp)
		body := bytes.ReplaceAll(sample(t, "high-cpu.json"), []byte("a1b2c3d4e5f60001"), []byte(fp))
		body = bytes.ReplaceAll(body, []byte("order-service"), []byte(fmt.Sprintf("svc-%d", i)))
		if r := h.post(body, "Bearer "+token); r.code != http.StatusOK {
			t.Fatalf("post %d: %d %v", i, r.code, r.body)
		}
	}
	if err := h.stop(); err != nil {
		t.Fatalf("Serve returned %v, want nil", err)
	}
	for _, fp := range fps {
		if n := len(h.outcomesFor(fp, "firing")); n != 1 {
			t.Fatalf("alert %s has %d outcomes after shutdown, want 1 (accepted work was lost)", fp, n)
		}
	}
	if _, err := http.Get(h.url + "/readyz"); err == nil {
		t.Fatal("server still accepting connections after shutdown")
	}
}

func TestRefusesUnauthenticatedNonLoopback(t *testing.T) {
	tests := []struct {
		addr     string
		insecure bool
		auth     bool
		ok       bool
	}{
		{"127.0.0.1:9095", false, false, true},
		{"localhost:9095", false, false, true},
		{"[::1]:9095", false, false, true},
		{":9095", false, false, false},
		{"0.0.0.0:9095", false, false, false},
		{"10.1.2.3:9095", false, false, false},
		{"0.0.0.0:9095", true, false, true},
		{"0.0.0.0:9095", false, true, true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s insecure=%v auth=%v", tc.addr, tc.insecure, tc.auth), func(t *testing.T) {
			cfg := loadConfig(t)
			cfg.ListenAddress = tc.addr
			opts := daemon.Options{InsecureNoAuth: tc.insecure}
			if tc.auth {
				opts.Auth = authWith(t, map[httpauth.Role]string{httpauth.Alerts: "x"})
			}
			_, err := daemon.New(context.Background(), cfg, opts)
			if (err == nil) != tc.ok {
				t.Fatalf("New error = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !strings.Contains(err.Error(), "--insecure-no-auth") {
				t.Fatalf("error does not say how to proceed: %v", err)
			}
		})
	}
}

// authWith is an Authenticator with a bearer token for each role given.
func authWith(t *testing.T, tokens map[httpauth.Role]string) *httpauth.Authenticator {
	t.Helper()
	creds := make(map[httpauth.Role]httpauth.Credential)
	for role, tok := range tokens {
		c, err := httpauth.BearerToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		creds[role] = c
	}
	a, err := httpauth.New(creds)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
