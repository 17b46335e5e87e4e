package clustertest_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/k8stest"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/builtin"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

// firstCall times, for an armed alert, the span from the POST of its
// notification to the first request the Kubernetes backend sends.
type firstCall struct {
	next  http.RoundTripper
	armed atomic.Pointer[time.Time]
	took  chan time.Duration
}

func (f *firstCall) RoundTrip(r *http.Request) (*http.Response, error) {
	if t0 := f.armed.Swap(nil); t0 != nil {
		f.took <- time.Since(*t0)
	}
	return f.next.RoundTrip(r)
}

// BenchmarkAlertToFirstAPICall: an Alertmanager notification is posted to
// the running daemon; the clock stops when the Kubernetes backend issues its
// first API request for it (looking up the target before the first
// investigation). Receiver, queue, dispatcher, runbook match and target
// building are in the span; the API server's answer is not.
//
//	K8S_TESTBIN=~/.cache/remediator/k8s-v1.37.2 go test -run '^$' -bench AlertToFirstAPICall -benchtime 500x ./remediations/kubernetes/clustertest/
func BenchmarkAlertToFirstAPICall(b *testing.B) {
	ns := env.NewNamespace(b)
	deployment(b, ns, "bench", 1, "example.invalid/bench:v1")
	fc := &firstCall{took: make(chan time.Duration, 1)}
	cfg := rest.CopyConfig(env.Config())
	cfg.QPS, cfg.Burst = 1000, 1000 // measure the daemon, not client-go's rate limiter
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper { fc.next = rt; return fc })
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		b.Fatal(err)
	}
	catalog, err := builtin.Catalog()
	if err != nil {
		b.Fatal(err)
	}
	dcfg, err := config.Load("", catalog)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	router := remediations.NewRouter(false, map[string]remediations.Backend{"kubernetes": k8s.NewExecutor(cs, k8s.Options{})})
	d, err := daemon.New(ctx, dcfg, daemon.Options{Executor: router, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = d.Serve(ctx, ln) }()
	r := &running{url: "http://" + ln.Addr().String()}
	k8stest.Eventually(b, wait, "daemon ready", func(context.Context) (bool, error) {
		resp, err := http.Get(r.url + "/readyz")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})
	labels := func() map[string]string { return map[string]string{"namespace": ns, "deployment": "bench"} }

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		now := time.Now()
		fc.armed.Store(&now)
		r.post(b, "HighCPUUsage", fmt.Sprintf("bench-%d", i), labels())
		lat = append(lat, <-fc.took)
		// Let the alert finish (its other calls and decision) before the
		// next, so that each measures an idle daemon.
		r.waitProcessed(b, "HighCPUUsage", float64(i+1))
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(float64(len(lat)-1)*p)].Microseconds()) }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(0, "ns/op") // the loop time includes waiting for each alert to finish: not the figure
}
