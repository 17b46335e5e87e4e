// Command remediator-loadgen posts Alertmanager webhook notifications to a
// remediator and reports throughput, latency percentiles and status codes.
// It sends a bounded number of requests and stops by itself.
//
//	remediator-loadgen --url http://127.0.0.1:9095/api/v1/alerts --requests 20000 --concurrency 16
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "remediator-loadgen:", err)
		os.Exit(1)
	}
}

type options struct {
	url         string
	requests    int
	concurrency int
	alerts      int
	dupEvery    int
	namespaces  int
	allowRemote bool
	timeout     time.Duration
}

func run(args []string, out io.Writer) error {
	var o options
	fs := flag.NewFlagSet("remediator-loadgen", flag.ContinueOnError)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:9095/api/v1/alerts", "webhook URL")
	fs.IntVar(&o.requests, "requests", 10000, "notifications to send (the run stops after them)")
	fs.IntVar(&o.concurrency, "concurrency", 8, "concurrent senders")
	fs.IntVar(&o.alerts, "alerts", 1, "alerts per notification")
	fs.IntVar(&o.dupEvery, "duplicate-every", 0, "re-send the previous notification every Nth request (0: never), as Alertmanager's group_interval does")
	fs.IntVar(&o.namespaces, "namespaces", 50, "distinct namespaces the alerts point at")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback URL")
	fs.DurationVar(&o.timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "Post Alertmanager webhook notifications to remediator and report latency.\n\nThe bearer token comes from REMEDIATOR_AUTH_TOKEN.\n\nExample:\n  remediator-loadgen --requests 20000 --concurrency 16 --alerts 5\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	u, err := url.Parse(o.url)
	if err != nil {
		return fmt.Errorf("--url: %w", err)
	}
	if ip := net.ParseIP(u.Hostname()); !o.allowRemote && u.Hostname() != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("--url %s is not a loopback address (pass --allow-remote to load another host)", o.url)
	}
	if o.requests < 1 || o.concurrency < 1 || o.alerts < 1 {
		return fmt.Errorf("--requests, --concurrency and --alerts must be positive")
	}
	token := os.Getenv("REMEDIATOR_AUTH_TOKEN")
	client := &http.Client{Timeout: o.timeout, Transport: &http.Transport{MaxIdleConnsPerHost: o.concurrency}}

	var next atomic.Int64
	lat := make([][]time.Duration, o.concurrency)
	codes := make([]map[int]int, o.concurrency)
	var errs atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for w := range o.concurrency {
		codes[w] = map[int]int{}
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.requests {
					return
				}
				seq := i
				if o.dupEvery > 0 && i > 0 && i%o.dupEvery == 0 {
					seq = i - 1
				}
				body := payload(seq, o.alerts, o.namespaces)
				req, _ := http.NewRequest(http.MethodPost, o.url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				if token != "" {
					req.Header.Set("Authorization", "Bearer "+token)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					errs.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[w] = append(lat[w], time.Since(t0))
				codes[w][resp.StatusCode]++
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(lat...)
	slices.Sort(all)
	total := map[int]int{}
	for _, c := range codes {
		for k, v := range c {
			total[k] += v
		}
	}
	fmt.Fprintf(out, "requests=%d alerts/request=%d concurrency=%d elapsed=%s\n", o.requests, o.alerts, o.concurrency, elapsed.Round(time.Millisecond))
	fmt.Fprintf(out, "throughput=%.0f req/s (%.0f alerts/s)\n", float64(len(all))/elapsed.Seconds(), float64(len(all)*o.alerts)/elapsed.Seconds())
	if len(all) > 0 {
		fmt.Fprintf(out, "latency p50=%s p90=%s p99=%s max=%s\n", pct(all, 50), pct(all, 90), pct(all, 99), all[len(all)-1])
	}
	keys := make([]int, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	for _, k := range keys {
		fmt.Fprintf(out, "status %d: %d\n", k, total[k])
	}
	if n := errs.Load(); n > 0 {
		fmt.Fprintf(out, "transport errors: %d\n", n)
	}
	return nil
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)].Round(time.Microsecond)
}

// payload builds notification seq: distinct fingerprints per notification,
// targets spread over namespaces and deployments.
func payload(seq, alerts, namespaces int) []byte {
	type alert struct {
		Status       string            `json:"status"`
		Labels       map[string]string `json:"labels"`
		Annotations  map[string]string `json:"annotations"`
		StartsAt     time.Time         `json:"startsAt"`
		EndsAt       time.Time         `json:"endsAt"`
		GeneratorURL string            `json:"generatorURL"`
		Fingerprint  string            `json:"fingerprint"`
	}
	as := make([]alert, alerts)
	for i := range as {
		n := seq*alerts + i
		as[i] = alert{
			Status: "firing",
			Labels: map[string]string{
				"alertname": "HighCPUUsage", "severity": "warning",
				"namespace": fmt.Sprintf("load-ns-%d", n%namespaces), "deployment": fmt.Sprintf("svc-%d", n),
			},
			Annotations: map[string]string{"summary": "load test"},
			StartsAt:    time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
			Fingerprint: fmt.Sprintf("%016x", n),
		}
	}
	b, _ := json.Marshal(map[string]any{
		"version": "4", "groupKey": fmt.Sprintf("{}:{alertname=\"HighCPUUsage\",seq=\"%d\"}", seq),
		"status": "firing", "receiver": "remediator", "groupLabels": map[string]string{"alertname": "HighCPUUsage"},
		"commonLabels": map[string]string{"alertname": "HighCPUUsage"}, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager.example:9093", "truncatedAlerts": 0, "alerts": as,
	})
	return b
}
