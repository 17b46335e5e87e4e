package clustertest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/k8stest"
	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/remediations/builtin"
)

// running is a daemon started the way `remediator serve --kubeconfig` starts
// one, on a loopback port.
type running struct {
	url string
}

func startDaemon(t *testing.T, policyData string) *running {
	t.Helper()
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", catalog)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Kubernetes.Kubeconfig = env.KubeconfigPath()
	cfg.Policy.OwnNamespace = "remediator"
	if policyData != "" {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "data.json"), []byte(policyData), 0o644); err != nil {
			t.Fatal(err)
		}
		cfg.Policy.Dir = dir
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	ctx, cancel := context.WithCancel(context.Background())
	router, closeBackends, err := daemon.Backends(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	if got := router.Backends(); !strings.Contains(strings.Join(got, ","), "kubernetes") {
		t.Fatalf("backends %v: the kubeconfig did not configure kubernetes", got)
	}
	d, err := daemon.New(ctx, cfg, daemon.Options{Executor: router, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- d.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("daemon: %v", err)
		}
		closeBackends()
	})
	r := &running{url: "http://" + ln.Addr().String()}
	k8stest.Eventually(t, wait, "daemon ready", func(ctx context.Context) (bool, error) {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	return r
}

// post sends one Alertmanager notification (webhook v4) of a firing alert.
// The alert's fingerprint is derived from id, as Alertmanager derives its
// 16 hex digits from the labels: the same id, the same alert.
func (r *running) post(t testing.TB, name, id string, labels map[string]string) {
	t.Helper()
	fingerprint := fmt.Sprintf("%016x", hashString(id))
	labels["alertname"] = name
	alert := map[string]any{
		"status": "firing", "labels": labels, "annotations": map[string]string{"summary": name},
		"startsAt": "2026-11-25T08:00:00Z", "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fingerprint,
	}
	body, err := json.Marshal(map[string]any{
		"version": "4", "groupKey": "{}:{alertname=\"" + name + "\"}", "status": "firing", "receiver": "remediator",
		"groupLabels": map[string]string{"alertname": name}, "commonLabels": labels, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager.example", "alerts": []any{alert},
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(r.url+"/api/v1/alerts", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s %s", name, resp.Status, b)
	}
}

func (r *running) metric(t testing.TB, name string, labels map[string]string) float64 {
	t.Helper()
	resp, err := http.Get(r.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return metricstest.Scraped(t, string(b), name, labels)
}

// waitProcessed waits until the daemon has processed n alerts of runbook,
// whatever their outcome.
func (r *running) waitProcessed(t testing.TB, runbook string, n float64) {
	t.Helper()
	k8stest.Eventually(t, wait, fmt.Sprintf("%v alerts of %s processed", n, runbook), func(context.Context) (bool, error) {
		var sum float64
		for _, status := range []string{"executed", "failed", "denied", "planned", "invalid_target", "incident_open", "incident_closed"} {
			sum += r.metric(t, "remediator_alerts_processed_total", map[string]string{"runbook": runbook, "outcome": status})
		}
		return sum >= n, nil
	})
}

// processed waits until the daemon has processed n alerts of runbook and
// checks that all n executed.
func (r *running) processed(t *testing.T, runbook string, n float64) {
	t.Helper()
	r.waitProcessed(t, runbook, n)
	if got := r.metric(t, "remediator_alerts_processed_total", map[string]string{"runbook": runbook, "outcome": "executed"}); got != n {
		t.Fatalf("%v alerts of %s executed, want %v (failed: %v, denied: %v)", got, runbook, n,
			r.metric(t, "remediator_alerts_processed_total", map[string]string{"runbook": runbook, "outcome": "failed"}),
			r.metric(t, "remediator_alerts_processed_total", map[string]string{"runbook": runbook, "outcome": "denied"}))
	}
}

// Each shipped runbook, end to end: a webhook posted to the running daemon
// changes the real objects as the runbook says, exactly once, and leaves an
// Event on the object.
func TestRunbooksEndToEnd(t *testing.T) {
	cs := env.Clientset()
	ctx := context.Background()

	t.Run("HighCPUUsage scales out", func(t *testing.T) {
		ns := env.NewNamespace(t)
		deployment(t, ns, "order-service", 2, "example.invalid/order:v1")
		d := startDaemon(t, "")
		labels := map[string]string{"namespace": ns, "deployment": "order-service", "severity": "warning"}
		d.post(t, "HighCPUUsage", "e2e-cpu-1", labels)
		d.post(t, "HighCPUUsage", "e2e-cpu-1", labels) // Alertmanager's re-send: a duplicate
		d.processed(t, "HighCPUUsage", 1)
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "order-service", metav1.GetOptions{})
		if err != nil || *got.Spec.Replicas != 4 {
			t.Fatalf("replicas %v, %v; want 2 + step 2 = 4, once", got.Spec.Replicas, err)
		}
		if notes := eventsFor(t, ns, "order-service", "RemediationScale"); len(notes) != 1 || !strings.Contains(notes[0], "HighCPUUsage") {
			t.Fatalf("events %q, want one naming the alert", notes)
		}
	})

	t.Run("HighMemoryUsage with only a pod label raises memory of its Deployment", func(t *testing.T) {
		ns := env.NewNamespace(t)
		deployment(t, ns, "cart", 2, "example.invalid/cart:v1")
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=cart"})
		if err != nil || len(pods.Items) == 0 {
			t.Fatalf("pods %v, %v", pods, err)
		}
		d := startDaemon(t, "")
		// kube-state-metrics' labels: namespace, pod, container.
		d.post(t, "ContainerOOMKilled", "e2e-mem-1", map[string]string{"namespace": ns, "pod": pods.Items[0].Name, "container": "app"})
		d.processed(t, "HighMemoryUsage", 1)
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "cart", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if lim := got.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String(); lim != "384Mi" {
			t.Fatalf("memory limit %s, want 256Mi × 1.5 = 384Mi", lim)
		}
		if len(eventsFor(t, ns, "cart", "RemediationSetResources")) != 1 {
			t.Fatal("want one RemediationSetResources Event on the Deployment")
		}
	})

	t.Run("PostgresTooManyConnections shrinks the app's pool when terminating sessions is not allowed", func(t *testing.T) {
		ns := env.NewNamespace(t)
		deployment(t, ns, "billing", 1, "example.invalid/billing:v1")
		d := startDaemon(t, `{"remediator": {"config": {"allowed_actions": ["kubernetes.set_env"]}}}`)
		d.post(t, "PostgresTooManyConnections", "e2e-pg-1", map[string]string{"namespace": ns, "deployment": "billing", "database": "billing"})
		d.processed(t, "PostgresTooManyConnections", 1)
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "billing", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		env := got.Spec.Template.Spec.Containers[0].Env
		if len(env) != 1 || env[0].Name != "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE" || env[0].Value != "20" {
			t.Fatalf("env %v, want the pool size 20", env)
		}
		if len(eventsFor(t, ns, "billing", "RemediationSetEnv")) != 1 {
			t.Fatal("want one RemediationSetEnv Event")
		}
	})

	t.Run("ServiceUnavailable rolls back to the previous revision", func(t *testing.T) {
		ns := env.NewNamespace(t)
		deployment(t, ns, "checkout", 1, "example.invalid/checkout:v1")
		if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "checkout", types.StrategicMergePatchType,
			[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"example.invalid/checkout:v2-broken"}]}}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		waitRevision(t, ns, "checkout", "2")
		d := startDaemon(t, "")
		d.post(t, "ServiceUnavailable", "e2e-503-1", map[string]string{"namespace": ns, "service": "checkout"})
		d.processed(t, "ServiceUnavailable", 1)
		got, err := cs.AppsV1().Deployments(ns).Get(ctx, "checkout", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if img := got.Spec.Template.Spec.Containers[0].Image; img != "example.invalid/checkout:v1" {
			t.Fatalf("image %s, want v1 after the rollback", img)
		}
		if len(eventsFor(t, ns, "checkout", "RemediationRolloutUndo")) != 1 {
			t.Fatal("want one RemediationRolloutUndo Event")
		}
	})

	for _, tc := range []struct {
		runbook, criticality string
		want                 map[string]int32
	}{
		{"EmergencyScaleDown", "low", map[string]int32{"big": 1, "small": 1}},
		{"EmergencyScaleDownCritical", "critical", map[string]int32{"big": 3, "small": 2}},
	} {
		t.Run(tc.runbook, func(t *testing.T) {
			ns := env.NewNamespace(t)
			deployment(t, ns, "big", 5, "example.invalid/big:v1")
			deployment(t, ns, "small", 2, "example.invalid/small:v1")
			d := startDaemon(t, "")
			d.post(t, "EmergencyScaleDown", "e2e-emergency-"+tc.criticality, map[string]string{"namespace": ns, "criticality": tc.criticality})
			d.processed(t, tc.runbook, 1)
			for name, want := range tc.want {
				got, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil || *got.Spec.Replicas != want {
					t.Fatalf("%s replicas %v, %v; want %d", name, got.Spec.Replicas, err, want)
				}
			}
			if n := len(eventsFor(t, metav1.NamespaceDefault, ns, "RemediationScaleNamespace")); n != 1 {
				t.Fatalf("%d RemediationScaleNamespace Events, want 1", n)
			}
		})
	}
}

// hashString is FNV-1a of s.
func hashString(s string) uint64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte(s))
	return h.Sum64()
}
