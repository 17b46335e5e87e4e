package receiver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/prometheus/alertmanager/template"
)

// testdataPayloads are the realistic Alertmanager v4 payloads under testdata/.
var testdataPayloads = []string{
	"firing_high_cpu.json",
	"resolved_high_cpu.json",
	"multi_alert_group.json",
	"truncated_alerts.json",
}

func readTestdata(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// mutateJSON decodes body into generic JSON, applies f and re-encodes it, so
// that invalid payloads can be derived from the realistic ones.
func mutateJSON(tb testing.TB, body []byte, f func(m map[string]any)) []byte {
	tb.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		tb.Fatal(err)
	}
	f(m)
	out, err := json.Marshal(m)
	if err != nil {
		tb.Fatal(err)
	}
	return out
}

// firstAlert returns alerts[0] of a generic JSON payload.
func firstAlert(m map[string]any) map[string]any {
	return m["alerts"].([]any)[0].(map[string]any)
}

var testStart = time.Date(2025, 6, 12, 9, 41, 27, 513e6, time.UTC)

// testAlert is a firing HighCPUUsage alert with the given fingerprint.
func testAlert(fingerprint string) template.Alert {
	return template.Alert{
		Status: "firing",
		Labels: template.KV{
			"alertname":  "HighCPUUsage",
			"namespace":  "shop",
			"deployment": "checkout",
			"severity":   "critical",
		},
		Annotations:  template.KV{"summary": "checkout is CPU throttled"},
		StartsAt:     testStart,
		GeneratorURL: "http://prometheus.monitoring.svc:9090/graph?g0.expr=up",
		Fingerprint:  fingerprint,
	}
}

// encodeMessage builds a valid v4 payload holding alerts.
func encodeMessage(tb testing.TB, alerts ...template.Alert) []byte {
	tb.Helper()
	status := "resolved"
	for _, a := range alerts {
		if a.Status == "firing" {
			status = "firing"
		}
	}
	msg := Message{
		Data: &template.Data{
			Receiver:          "remediator",
			Status:            status,
			Alerts:            alerts,
			GroupLabels:       template.KV{"alertname": "HighCPUUsage"},
			CommonLabels:      template.KV{"alertname": "HighCPUUsage"},
			CommonAnnotations: template.KV{},
			RouteLabels:       template.KV{},
			ExternalURL:       "http://alertmanager.monitoring.svc:9093",
		},
		Version:  "4",
		GroupKey: `{}:{alertname="HighCPUUsage"}`,
	}
	b, err := json.Marshal(msg)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// benchPayload is a payload of n alerts whose fingerprints end in 8 hex
// digits at the returned offsets, so a benchmark can make every iteration's
// dedupe keys unique by rewriting them in place instead of re-encoding.
func benchPayload(tb testing.TB, n int) (body []byte, offsets []int) {
	tb.Helper()
	alerts := make([]template.Alert, n)
	for i := range alerts {
		alerts[i] = testAlert(fmt.Sprintf("%08x%s", i, "abcdefab"))
		alerts[i].Labels["pod"] = fmt.Sprintf("checkout-7d9f8b6c5-%05d", i)
	}
	body = encodeMessage(tb, alerts...)
	for i := range alerts {
		off := bytes.Index(body, []byte(alerts[i].Fingerprint))
		if off < 0 {
			tb.Fatal("fingerprint not found in payload")
		}
		offsets = append(offsets, off+8)
	}
	return body, offsets
}

// stampFingerprints writes iteration i, as 8 hex digits, into every
// fingerprint of a benchPayload.
func stampFingerprints(body []byte, offsets []int, i uint32) {
	const hex = "0123456789abcdef"
	for _, off := range offsets {
		v := i
		for j := 7; j >= 0; j-- {
			body[off+j] = hex[v&0xf]
			v >>= 4
		}
	}
}

// normalizeTimes returns a copy of m whose times are in UTC, because equal
// instants decoded from "Z" and "+00:00" differ in their *time.Location.
func normalizeTimes(m *Message) Message {
	c := *m
	if m.Data != nil {
		d := *m.Data
		d.Alerts = append(template.Alerts(nil), m.Data.Alerts...)
		for i := range d.Alerts {
			d.Alerts[i].StartsAt = d.Alerts[i].StartsAt.UTC()
			d.Alerts[i].EndsAt = d.Alerts[i].EndsAt.UTC()
		}
		c.Data = &d
	}
	return c
}

// messagesEqual compares two messages field by field, times by instant.
func messagesEqual(a, b *Message) bool {
	na, nb := normalizeTimes(a), normalizeTimes(b)
	return reflect.DeepEqual(na, nb)
}

// strictDecode is Decode with the default limits for tests of payloads that
// must be valid throughout: an alert refused on its own is an error too,
// worded as the field and reason.
func strictDecode(r io.Reader) (*Message, error) {
	msg, rejected, err := Decode(r, DefaultLimits())
	if err != nil {
		return nil, err
	}
	if len(rejected) > 0 {
		rj := rejected[0]
		return nil, &DecodeError{Field: fmt.Sprintf("alerts[%d]", rj.Index), Reason: rj.Reason}
	}
	return msg, nil
}

// reflectDeepEqual is reflect.DeepEqual, named for the log assertions.
func reflectDeepEqual(a, b any) bool { return reflect.DeepEqual(a, b) }
