package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/internal/state"
)

// replica is one `remediator serve` process.
type replica struct {
	url    string
	cmd    *exec.Cmd
	client *http.Client
}

const replicaToken = "replica-token"

// startReplica runs the binary on a free loopback port with cfgFile, the
// Redis state store and policyDir, and waits until it is ready.
func startReplica(t *testing.T, bin, cfgFile, policyDir, logFile string) *replica {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	logs, err := os.Create(logFile)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config="+cfgFile, "--policy-dir="+policyDir, "--listen-address="+addr, "--log-level=warn")
	cmd.Env = append(os.Environ(), "REMEDIATOR_AUTH_TOKEN="+replicaToken, "REMEDIATOR_STATE_REDIS_URL=redis://"+redistest.Addr()+"/0")
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &replica{url: "http://" + addr, cmd: cmd, client: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logs.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logFile)
			t.Logf("%s log (last 4 KiB):\n%s", addr, b[max(0, len(b)-4096):])
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := r.client.Get(r.url + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("replica %s not ready: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends one webhook and returns how many alerts were accepted.
func (r *replica) post(body []byte) (accepted int, err error) {
	req, _ := http.NewRequest(http.MethodPost, r.url+"/api/v1/alerts", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+replicaToken)
	resp, err := r.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		Accepted int `json:"accepted"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d, decode %v", resp.StatusCode, err)
	}
	return out.Accepted, nil
}

func (r *replica) metric(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.url+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+replicaToken)
	resp, err := r.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return metricstest.Scraped(t, string(b), name, labels)
}

// alertPayload is a one-alert HighCPUUsage notification for a Deployment.
func alertPayload(fingerprint, deployment string) []byte {
	return fmt.Appendf(nil, `{"version":"4","groupKey":"{}:{alertname=\"HighCPUUsage\"}","status":"firing","receiver":"remediator",
"groupLabels":{"alertname":"HighCPUUsage"},"commonLabels":{},"commonAnnotations":{},"externalURL":"http://am:9093",
"alerts":[{"status":"firing","labels":{"alertname":"HighCPUUsage","namespace":"shop","deployment":%q},"annotations":{},
"startsAt":"2026-11-25T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":%q}]}`, deployment, fingerprint)
}

// TestTwoReplicas runs two daemon processes sharing one Redis and sends them
// 1,000 notifications at once, 20 times over: every round 24 targets, each
// with two alerts (two fingerprints), each alert delivered about 21 times,
// spread over both replicas. The receiver's firing dedupe window is 1ms, so
// nearly every duplicate reaches a dispatcher, and only the shared incidents,
// target locks and cooldowns stand between it and a second action. The
// policy allows only kubernetes.scale (600 s cooldown) and at most
// globalLimit actions an hour, so it allows exactly one action per target
// (24 a round) until the global limit is reached in round 12, then exactly
// what is left of it, then none: each target at most once, and never one
// action beyond the global limit, though many targets are decided at once
// on two replicas.
func TestTwoReplicas(t *testing.T) {
	if c, err := net.DialTimeout("tcp", redistest.Addr(), 2*time.Second); err != nil {
		t.Fatalf("this test needs a real Redis at %s (set REMEDIATOR_TEST_REDIS_ADDR): %v", redistest.Addr(), err)
	} else {
		_ = c.Close()
	}
	const (
		rounds        = 20
		targets       = 24
		notifications = 1000
		senders       = 32
		globalLimit   = 300
	)
	start := time.Now()
	dir := t.TempDir()
	bin := filepath.Join(dir, "remediator")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	prefix := redistest.Prefix()
	st, err := state.NewRedis(state.RedisOptions{URL: redistest.URL(), Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := st.DeletePrefix(context.Background()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
		_ = st.Close()
	})
	cfgFile := filepath.Join(dir, "remediator.yaml")
	cfg := fmt.Sprintf("dry_run: true\nreceiver: {queue_size: 100000, firing_dedupe_ttl: 1ms}\nstate: {prefix: %q}\n", prefix)
	policyDir := filepath.Join(dir, "policy")
	data := fmt.Sprintf(`{"remediator": {"config": {"allowed_actions": ["kubernetes.scale"], "max_actions_per_hour": %d}}}`, globalLimit)
	for _, f := range []struct{ path, body string }{{cfgFile, cfg}, {filepath.Join(policyDir, "data.json"), data}} {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f.path, []byte(f.body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	reps := []*replica{
		startReplica(t, bin, cfgFile, policyDir, filepath.Join(dir, "a.log")),
		startReplica(t, bin, cfgFile, policyDir, filepath.Join(dir, "b.log")),
	}
	built := time.Since(start)

	rng := mrand.New(mrand.NewPCG(1, 2))
	acted, accepted := 0.0, 0
	for round := range rounds {
		type delivery struct {
			to   *replica
			body []byte
		}
		var deliveries []delivery
		for i := range notifications {
			alertNo := i % (2 * targets)
			deployment := fmt.Sprintf("r%d-svc%d", round, alertNo/2)
			fp := fmt.Sprintf("%08x%08x", round, alertNo)
			deliveries = append(deliveries, delivery{reps[rng.IntN(2)], alertPayload(fp, deployment)})
		}
		rng.Shuffle(len(deliveries), func(i, j int) { deliveries[i], deliveries[j] = deliveries[j], deliveries[i] })

		work := make(chan delivery)
		var (
			wg sync.WaitGroup
			mu sync.Mutex
		)
		for range senders {
			wg.Go(func() {
				for d := range work {
					n, err := d.to.post(d.body)
					if err != nil {
						t.Errorf("round %d: webhook: %v", round, err)
						continue
					}
					mu.Lock()
					accepted += n
					mu.Unlock()
				}
			})
		}
		for _, d := range deliveries {
			work <- d
		}
		close(work)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		// Every accepted alert processed, on one replica or the other.
		deadline := time.Now().Add(60 * time.Second)
		for {
			processed := reps[0].metric(t, "remediator_alerts_processed_total", nil) + reps[1].metric(t, "remediator_alerts_processed_total", nil)
			if int(processed) == accepted {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("round %d: %v of %d accepted alerts processed", round, processed, accepted)
			}
			time.Sleep(20 * time.Millisecond)
		}
		total := reps[0].metric(t, "remediator_actions_total", nil) + reps[1].metric(t, "remediator_actions_total", nil)
		want := min(targets, globalLimit-int(acted))
		if got := total - acted; got != float64(want) {
			t.Errorf("round %d: %v actions, want exactly %d (one per target, %d left of the global limit)", round, got, want, globalLimit-int(acted))
		}
		acted = total
		once := 0
		for k := range targets {
			target := fmt.Sprintf("Deployment/shop/r%d-svc%d", round, k)
			h, err := st.History(context.Background(), target, "kubernetes.scale")
			if err != nil {
				t.Fatal(err)
			}
			switch h.TargetActionsLastHour {
			case 0:
			case 1:
				once++
			default:
				t.Errorf("round %d: %s acted on %d times, want at most once", round, target, h.TargetActionsLastHour)
			}
		}
		if once != want {
			t.Errorf("round %d: %d targets acted on, want %d", round, once, want)
		}
		if t.Failed() {
			t.FailNow()
		}
	}
	opened := reps[0].metric(t, "remediator_incidents_opened_total", nil) + reps[1].metric(t, "remediator_incidents_opened_total", nil)
	if want := float64(rounds * 2 * targets); opened != want {
		t.Errorf("%v incidents opened, want %v (one per alert)", opened, want)
	}
	t.Logf("%d rounds × %d notifications over 2 replicas: %d accepted (the rest deduped by the receiver), %v actions, %v incidents; build+start %v, rounds %v",
		rounds, notifications, accepted, acted, opened, built.Round(time.Millisecond), (time.Since(start) - built).Round(time.Millisecond))
}
