package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/metricstest"
)

// Issue 12's findings, as the hostile phases replay them, and the load just
// inside the receiver's field limits. The limits are the receiver's defaults:
// max_body_bytes 1 MiB, max_inflight_bytes 4 MiB, queue_size 1000,
// queue_max_bytes 32 MiB, max_alerts_per_notification 1000, max_labels 64,
// max_annotations 32, max_label_name_bytes 256, max_label_value_bytes 2048,
// max_annotation_bytes 16384, and fingerprints of 16 hex digits.
const (
	// hostilePhaseDeadline bounds each phase; what is not sent by then is
	// not sent. Five phases and the checks after them stay under a minute.
	hostilePhaseDeadline = 8 * time.Second
	// hostileControlWait is how long the normal alert after the storm may
	// be refused with 503 while the queue drains.
	hostileControlWait = 15 * time.Second
	// hostileGetWait bounds a /metrics or /healthz request; the daemon's
	// own /metrics timeout is 5s.
	hostileGetWait = 10 * time.Second
	// hostileKillRSS: a daemon past this is killed on the spot (and the test
	// fails with the figure), so that an unbounded daemon cannot make the
	// machine swap.
	hostileKillRSS = 1 << 30
	// hostileMaxMetrics bounds the /metrics body after the storm.
	hostileMaxMetrics = 1 << 20
	hostileToken      = "hostile-token"

	maxLabels          = 64
	maxAnnotations     = 32
	maxLabelNameBytes  = 256
	maxLabelValueBytes = 2048
	maxAnnotationBytes = 16384
)

// payload is one request body in parts, so that a large part is shared by
// many requests instead of copied into each.
type payload [][]byte

func (p payload) size() int64 {
	var n int64
	for _, b := range p {
		n += int64(len(b))
	}
	return n
}

func (p payload) reader() io.Reader {
	rs := make([]io.Reader, len(p))
	for i, b := range p {
		rs[i] = bytes.NewReader(b)
	}
	return io.MultiReader(rs...)
}

// hostilePhase is one kind of traffic: requests bodies, sent by senders at
// once.
type hostilePhase struct {
	name     string
	requests int
	senders  int
	body     func(i int) payload
	// check asserts what the limits promise for this phase's alerts.
	check func(t *testing.T, r *phaseResult)
}

// phaseResult is what one phase's senders saw.
type phaseResult struct {
	name     string
	requests int   // planned
	body     int64 // bytes of the first request's body
	sent     int   // requests answered or failed
	codes    map[int]int
	accepted int // alerts, by the 200 answers
	rejected int // alerts listed under "rejected" in the 200 answers
	// firstRejected is the first "rejected" entry, for a failure message.
	firstRejected string
	// dropped counts connections the daemon closed or reset before
	// answering: what a server shedding load may do.
	dropped int
	// cut counts requests still in flight at the deadline (or the kill).
	cut int
	// unexpected holds the first other transport errors.
	unexpected []string
	elapsed    time.Duration
	hwm        int64 // VmHWM after the phase
	metrics    int   // /metrics bytes after the phase; -1 if not had
}

func (r *phaseResult) String() string {
	var codes []string
	for _, c := range []int{200, 400, 413, 503} {
		if n := r.codes[c]; n > 0 {
			codes = append(codes, fmt.Sprintf("%d×%d", n, c))
		}
	}
	for c, n := range r.codes {
		if c != 200 && c != 400 && c != 413 && c != 503 {
			codes = append(codes, fmt.Sprintf("%d×%d", n, c))
		}
	}
	if len(codes) == 0 {
		codes = []string{"none answered"}
	}
	metrics := fmt.Sprintf("%d bytes", r.metrics)
	if r.metrics < 0 {
		metrics = "no answer"
	}
	return fmt.Sprintf("%s: %d of %d requests of %d KB sent in %.1fs: %s; alerts accepted %d, rejected %d; dropped %d, cut %d; VmHWM %d MiB; /metrics %s",
		r.name, r.sent, r.requests, r.body>>10, r.elapsed.Seconds(), strings.Join(codes, " "), r.accepted, r.rejected, r.dropped, r.cut, r.hwm>>20, metrics)
}

// TestHostileSenders replays issue 12's hostile senders against the binary,
// run as the shipped manifest runs it (its --memory-limit, in-memory state,
// the audit history in an SQLite file, dry-run): many concurrent authenticated senders of alerts with
// unique alertnames, of 40,000 labels, of 6,000 alerts, of 900 KB
// fingerprints, then a load of alerts just inside every field limit that
// match a shipped runbook, so that the queue's byte bound is what holds them.
// The daemon's peak RSS must stay under the container's memory limit and its
// /metrics under 1 MiB; afterwards it is healthy and accepts a normal alert.
func TestHostileSenders(t *testing.T) {
	start := time.Now()
	shipped := readShippedLimits(t)
	bin := buildBinary(t)
	env := []string{"REMEDIATOR_AUTH_TOKEN=" + hostileToken,
		// As the manifest runs it, whatever the test's environment says.
		"GOMEMLIMIT=", "GOGC=", "REMEDIATOR_MEMORY_LIMIT=", "REMEDIATOR_CONFIG="}
	// The manifest keeps the audit history in an SQLite file. An in-memory
	// audit store is not bounded by the Go memory limit (SQLite allocates
	// outside the Go heap) and grows with every record, by design.
	audit := "--audit=sqlite://" + filepath.Join(t.TempDir(), "audit.db")
	d := startDaemon(t, bin, env, "--state=memory", audit, "--dry-run", shipped.flag)
	pid := d.cmd.Process.Pid
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: 128, DisableCompression: true},
		// A backstop only: each request's context ends it first.
		Timeout: 2 * hostileControlWait,
	}
	defer client.CloseIdleConnections()

	// The shipped setting is the one in force.
	code, m, err := get(client, d.addr, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics before the storm: %d %v", code, err)
	}
	if !slices.ContainsFunc(strings.Split(d.log(), "\n"), func(l string) bool {
		return strings.Contains(l, `"msg":"Go memory limit","source":"flag"`) && strings.Contains(l, fmt.Sprintf(`"limit_bytes":%d`, shipped.goLimit))
	}) {
		t.Errorf("no start-up line saying the manifest's %s is in force:\n%s", shipped.flag, d.log())
	}
	if got := metricstest.Scraped(t, string(m), "go_gc_gomemlimit_bytes", nil); got != float64(shipped.goLimit) {
		t.Errorf("go_gc_gomemlimit_bytes %v, want the manifest's %d", got, shipped.goLimit)
	}

	storm, stopStorm := context.WithCancel(context.Background())
	defer stopStorm()
	watch := watchRSS(t, pid, hostileKillRSS, stopStorm)
	url := "http://" + d.addr + "/api/v1/alerts"

	phases := hostilePhases()
	for _, p := range phases {
		// Each body is well-formed and fits max_body_bytes, so that the
		// other limits are what is tested.
		body, _ := io.ReadAll(p.body(0).reader())
		if len(body) > 1<<20 || !json.Valid(body) {
			t.Fatalf("phase %q: a body of %d bytes, over max_body_bytes or not JSON: %.300s", p.name, len(body), body)
		}
	}
	for _, p := range phases {
		r := runPhase(storm, client, url, p)
		r.hwm, r.metrics = watch.hwm(), -1
		if storm.Err() == nil {
			r.metrics = scrape(client, d.addr)
		}
		t.Logf("phase %s", r)
		if killed := watch.killedAt(); killed > 0 {
			t.Fatalf("phase %q: the daemon's RSS reached %d MiB (over %d MiB): killed; peak RSS (VmHWM) %d MiB, the container's limit %d MiB",
				p.name, killed>>20, int64(hostileKillRSS)>>20, watch.hwm()>>20, shipped.container>>20)
		}
		for _, e := range r.unexpected {
			t.Errorf("phase %q: transport error: %s", p.name, e)
		}
		for code, n := range r.codes {
			// Refusals are what hostile senders are to get; anything else
			// (a 401 would mean the storm never reached the receiver) is not.
			if code != http.StatusOK && code != http.StatusBadRequest && code != http.StatusRequestEntityTooLarge && code != http.StatusServiceUnavailable {
				t.Errorf("phase %q: %d answers %d", p.name, n, code)
			}
		}
		if p.check != nil {
			p.check(t, r)
		}
	}

	// Once the load stops, a normal alert is taken; 503s while the queue
	// drains are retried for a while, as Alertmanager would.
	control := sampleAlert(t, "high-cpu.json")
	ctx, cancel := context.WithTimeout(context.Background(), hostileControlWait)
	defer cancel()
	var controlAnswer string
	for {
		code, body, err := postAlerts(ctx, client, url, payload{control})
		controlAnswer = fmt.Sprintf("%d %s %v", code, bytes.TrimSpace(body), err)
		if err == nil && code != http.StatusServiceUnavailable || ctx.Err() != nil {
			var out webhookAnswer
			if err != nil || code != http.StatusOK || json.Unmarshal(body, &out) != nil || out.Accepted+out.Duplicates != 1 || len(out.Rejected) != 0 {
				t.Errorf("a normal alert after the storm: %s; want 200 with the alert accepted (or a duplicate) within %v", controlAnswer, hostileControlWait)
			}
			break
		}
		time.Sleep(250 * time.Millisecond)
	}

	if code, _, err := get(client, d.addr, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz after the storm: %d %v", code, err)
	}
	code, m, err = get(client, d.addr, "/metrics")
	hwm := watch.hwm()
	t.Logf("after the storm: peak RSS (VmHWM) %d MiB, the container's limit %d MiB, Go memory limit %d MiB; /metrics %d %d bytes %v; control: %s; %v in all",
		hwm>>20, shipped.container>>20, shipped.goLimit>>20, code, len(m), err, controlAnswer, time.Since(start).Round(time.Second))
	switch {
	case code != http.StatusOK:
		t.Errorf("/metrics after the storm: %d %v %.200s", code, err, m)
	case len(m) > hostileMaxMetrics:
		t.Errorf("/metrics is %d bytes after the storm, want at most %d", len(m), hostileMaxMetrics)
	}
	if hwm > shipped.container {
		t.Errorf("peak RSS %d MiB, over the container's memory limit %d MiB (the pod would have been OOM-killed)", hwm>>20, shipped.container>>20)
	}
}

// get fetches path from the daemon with the token, within hostileGetWait.
func get(client *http.Client, addr, path string) (int, []byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), hostileGetWait)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+hostileToken)
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// scrape is the size of /metrics, or -1 if it could not be had.
func scrape(client *http.Client, addr string) int {
	code, b, err := get(client, addr, "/metrics")
	if err != nil || code != http.StatusOK {
		return -1
	}
	return len(b)
}

// hostilePhases are issue 12's findings 1-4 and the load inside the limits.
func hostilePhases() []hostilePhase {
	acceptsNone := func(what string) func(t *testing.T, r *phaseResult) {
		return func(t *testing.T, r *phaseResult) {
			if r.accepted > 0 {
				t.Errorf("phase %q: %d alerts accepted; %s", r.name, r.accepted, what)
			}
		}
	}

	// 1: unique alertnames counted before dedupe, one series each. Every
	// body is new, so it is put together from parts made once: formatting
	// 2,000 alerts a request would make the senders, not the daemon, the
	// bottleneck (under -race most of all).
	const perNotification = 2000
	first, last, _ := bytes.Cut(notification([]byte("ALERTS")), []byte("ALERTS"))
	alertHead, alertTail, _ := bytes.Cut(hostileAlert(`{"alertname":"StormI_J"}`, "{}", "FINGERPRINT"), []byte("I_J"))
	alertMid, alertTail, _ := bytes.Cut(alertTail, []byte("FINGERPRINT"))
	// byAlert[j] is what follows notification i's number in alert j: the
	// rest of its alertname up to its fingerprint's 8 digits of i, then the
	// rest of the fingerprint and of the alert.
	var byAlert [perNotification][2][]byte
	for j := range byAlert {
		byAlert[j][0] = slices.Concat(fmt.Appendf(nil, "_%d", j), alertMid, []byte("01"))
		byAlert[j][1] = slices.Concat(fmt.Appendf(nil, "%06x", j), alertTail, []byte(","))
	}
	names := hostilePhase{name: "1: 2,000 unique alertnames per notification", requests: 200, senders: 16,
		body: func(i int) payload {
			name, hex := strconv.AppendInt(nil, int64(i), 10), fmt.Appendf(nil, "%08x", i)
			b := append(make([]byte, 0, 400<<10), first...)
			for j := range byAlert {
				b = append(append(append(append(append(b, alertHead...), name...), byAlert[j][0]...), hex...), byAlert[j][1]...)
			}
			return payload{append(b[:len(b)-1], last...)} // without the last comma
		}}

	// 2: the queue bounded by count, not bytes: half a megabyte an alert.
	var labels bytes.Buffer
	labels.WriteString(`{"alertname":"HighCPUUsage","namespace":"hostile","deployment":"labels"`)
	for k := range 40000 {
		fmt.Fprintf(&labels, `,"l%04x":"v"`, k)
	}
	labels.WriteString("}")
	manyLabels := hostilePhase{name: "2: 40,000 labels per alert", requests: 720, senders: 16,
		body:  oneAlert(2, labels.String(), "{}", ""),
		check: acceptsNone(fmt.Sprintf("an alert may have at most %d labels", maxLabels))}

	// 3: nothing bounds the bodies decoded at once.
	small := make([][]byte, 6000)
	for j := range small {
		// 150 bytes: as small as an alert gets, and no more fields.
		small[j] = fmt.Appendf(nil, `{"status":"firing","labels":{"alertname":"Flood","i":"%021d"},"startsAt":"2026-11-25T08:00:00Z","fingerprint":%q}`,
			j, fingerprint(3, 0, j))
	}
	flood := payload{notification(bytes.Join(small, []byte(",")))}
	manyAlerts := hostilePhase{name: "3: 6,000 alerts per 0.9 MB notification", requests: 200, senders: 100,
		body: func(int) payload { return flood }}

	// 4: a 900 KB fingerprint, on an alert a runbook acts on.
	longFP := hostilePhase{name: "4: 900 KB fingerprints", requests: 200, senders: 16,
		body:  oneAlert(4, `{"alertname":"HighCPUUsage","namespace":"hostile","deployment":"fingerprints"}`, "{}", strings.Repeat("0123456789abcdef", 900_000/16)),
		check: acceptsNone("a fingerprint is 16 hex digits")}

	// 5: alerts just inside every field limit, matching the shipped
	// HighCPUUsage runbook: each is accepted and queued, 670 KB apiece, so
	// only the queue's byte bound keeps 1,000 of them (queue_size) out of
	// memory. 32 senders also have more bodies in flight than
	// max_inflight_bytes allows.
	var big bytes.Buffer
	big.WriteString(`{"alertname":"HighCPUUsage","namespace":"hostile","deployment":"limits"`)
	for k := range maxLabels - 3 {
		fmt.Fprintf(&big, `,%q:%q`, padded(fmt.Sprintf("label_%02d_", k), maxLabelNameBytes), padded("v", maxLabelValueBytes))
	}
	big.WriteString("}")
	var annotations bytes.Buffer
	annotations.WriteString("{")
	for k := range maxAnnotations {
		if k > 0 {
			annotations.WriteString(",")
		}
		fmt.Fprintf(&annotations, `%q:%q`, padded(fmt.Sprintf("annotation_%02d_", k), maxLabelNameBytes), padded("a", maxAnnotationBytes))
	}
	annotations.WriteString("}")
	inside := hostilePhase{name: "5: alerts just inside every field limit", requests: 320, senders: 32,
		body: oneAlert(5, big.String(), annotations.String(), ""),
		check: func(t *testing.T, r *phaseResult) {
			if r.accepted == 0 || r.rejected > 0 {
				t.Errorf("phase %q: %d accepted, %d rejected (first: %s); alerts inside every limit are to be taken while the queue has room",
					r.name, r.accepted, r.rejected, r.firstRejected)
			}
		}}
	return []hostilePhase{names, manyLabels, manyAlerts, longFP, inside}
}

// fingerprint is 16 hex digits, unique per phase, notification and alert.
func fingerprint(phase, notification, alert int) string {
	return fmt.Sprintf("%02x%08x%06x", phase, notification, alert)
}

// padded is s followed by 'x's up to n bytes.
func padded(s string, n int) string {
	return s + strings.Repeat("x", n-len(s))
}

// hostileAlert is one firing alert's JSON.
func hostileAlert(labels, annotations, fp string) []byte {
	return fmt.Appendf(nil, `{"status":"firing","labels":%s,"annotations":%s,"startsAt":"2026-11-25T08:00:00Z","endsAt":"0001-01-01T00:00:00Z","fingerprint":%q}`,
		labels, annotations, fp)
}

// notification wraps alerts (joined JSON objects) in a webhook payload.
func notification(alerts []byte) []byte {
	return slices.Concat([]byte(`{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"remediator","groupLabels":{},`+
		`"commonLabels":{},"commonAnnotations":{},"externalURL":"http://alertmanager:9093","alerts":[`), alerts, []byte("]}"))
}

// oneAlert returns bodies of one alert each, the same but for the first 16
// hex digits of the fingerprint (fpTail follows them): the large parts are
// built once and shared.
func oneAlert(phase int, labels, annotations, fpTail string) func(i int) payload {
	whole := notification(hostileAlert(labels, annotations, "FINGERPRINT"+fpTail))
	head, tail, _ := bytes.Cut(whole, []byte("FINGERPRINT"))
	return func(i int) payload {
		return payload{head, []byte(fingerprint(phase, i, 0)), tail}
	}
}

// webhookAnswer is the body of a 200 from the receiver.
type webhookAnswer struct {
	Accepted   int               `json:"accepted"`
	Duplicates int               `json:"duplicates"`
	Rejected   []json.RawMessage `json:"rejected"`
}

// postAlerts sends one webhook request with p as its body.
func postAlerts(ctx context.Context, client *http.Client, url string, p payload) (int, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, p.reader())
	if err != nil {
		return 0, nil, err
	}
	// A length, as Alertmanager sends, rather than chunks.
	req.ContentLength = p.size()
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(p.reader()), nil }
	req.Header.Set("Authorization", "Bearer "+hostileToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// runPhase sends p's requests from p.senders goroutines until all are sent,
// the phase's deadline passes or storm ends (the RSS watch killed the
// daemon). Refusals (400, 413, 503) and dropped connections are counted,
// never retried.
func runPhase(storm context.Context, client *http.Client, url string, p hostilePhase) *phaseResult {
	ctx, cancel := context.WithTimeout(storm, hostilePhaseDeadline)
	defer cancel()
	r := &phaseResult{name: p.name, requests: p.requests, body: p.body(0).size(), codes: map[int]int{}}
	start := time.Now()
	var (
		next atomic.Int64
		mu   sync.Mutex
		wg   sync.WaitGroup
	)
	for range p.senders {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= p.requests {
					return
				}
				code, body, err := postAlerts(ctx, client, url, p.body(i))
				var out webhookAnswer
				if err == nil && code == http.StatusOK {
					if jerr := json.Unmarshal(body, &out); jerr != nil {
						err = fmt.Errorf("a 200 whose body does not decode: %w: %.200s", jerr, body)
					}
				}
				mu.Lock()
				r.sent++
				switch {
				case err == nil:
					r.codes[code]++
					r.accepted += out.Accepted
					r.rejected += len(out.Rejected)
					if len(out.Rejected) > 0 && r.firstRejected == "" {
						r.firstRejected = fmt.Sprintf("%.300s", out.Rejected[0])
					}
				case ctx.Err() != nil:
					r.cut++
				case dropped(err):
					r.dropped++
				default:
					if len(r.unexpected) < 5 {
						r.unexpected = append(r.unexpected, err.Error())
					}
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	r.elapsed = time.Since(start)
	return r
}

// dropped reports whether err is the daemon closing or resetting the
// connection, as a server may while it refuses a body it has not read.
func dropped(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		// net/http's errServerClosedIdle, which it does not export: a
		// connection closed after a refusal, reused for a POST it may not
		// replay.
		strings.Contains(err.Error(), "server closed idle connection")
}

// rssWatch samples a process's memory from /proc and kills it past a bound.
type rssWatch struct {
	pid    int
	peak   atomic.Int64 // the largest VmHWM seen
	killed atomic.Int64 // VmRSS at the kill; 0 if none
}

func (w *rssWatch) hwm() int64 {
	if _, hwm, err := procMemory(w.pid); err == nil {
		w.peak.Store(max(w.peak.Load(), hwm))
	}
	return w.peak.Load()
}

func (w *rssWatch) killedAt() int64 { return w.killed.Load() }

// watchRSS samples pid's VmRSS and VmHWM every 50ms until the test ends;
// past killAbove it ends the storm (stop) and SIGKILLs the process.
func watchRSS(t *testing.T, pid int, killAbove int64, stop context.CancelFunc) *rssWatch {
	w := &rssWatch{pid: pid}
	done := make(chan struct{})
	finished := make(chan struct{})
	t.Cleanup(func() { close(done); <-finished })
	go func() {
		defer close(finished)
		tick := time.NewTicker(50 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			rss, hwm, err := procMemory(pid)
			if err != nil {
				return // the process is gone
			}
			w.peak.Store(max(w.peak.Load(), hwm))
			if rss > killAbove {
				w.killed.Store(rss)
				stop()
				_ = syscall.Kill(pid, syscall.SIGKILL)
				return
			}
		}
	}()
	return w
}

// procMemory reads VmRSS and VmHWM (peak RSS) of pid, in bytes.
func procMemory(pid int) (rss, hwm int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, value, ok := strings.Cut(sc.Text(), ":")
		if !ok || key != "VmRSS" && key != "VmHWM" {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(value), "kB")), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, sc.Text(), err)
		}
		if key == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if hwm == 0 {
		return 0, 0, fmt.Errorf("/proc/%d/status: no VmHWM (a zombie?)", pid)
	}
	return rss, hwm, nil
}
