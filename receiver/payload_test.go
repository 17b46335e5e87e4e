package receiver

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/remediator/remediator/internal/alert"
)

func TestDecodeTestdata(t *testing.T) {
	tests := []struct {
		file      string
		alerts    int
		status    string
		truncated uint64
	}{
		{"firing_high_cpu.json", 1, "firing", 0},
		{"resolved_high_cpu.json", 1, "resolved", 0},
		{"multi_alert_group.json", 3, "firing", 0},
		{"truncated_alerts.json", 2, "firing", 3},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			msg, err := strictDecode(bytes.NewReader(readTestdata(t, tt.file)))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if msg.Version != "4" || msg.GroupKey == "" || msg.Receiver == "" {
				t.Errorf("version %q, groupKey %q, receiver %q", msg.Version, msg.GroupKey, msg.Receiver)
			}
			if len(msg.Data.Alerts) != tt.alerts || msg.Status != tt.status || msg.TruncatedAlerts != tt.truncated {
				t.Errorf("got %d alerts, status %q, truncated %d; want %d, %q, %d",
					len(msg.Data.Alerts), msg.Status, msg.TruncatedAlerts, tt.alerts, tt.status, tt.truncated)
			}
		})
	}
}

func TestDecodeFiringFields(t *testing.T) {
	msg, err := strictDecode(bytes.NewReader(readTestdata(t, "firing_high_cpu.json")))
	if err != nil {
		t.Fatal(err)
	}
	a := msg.Data.Alerts[0]
	want := map[string]string{"alertname": "HighCPUUsage", "namespace": "shop", "deployment": "checkout", "severity": "critical"}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, a.Labels[k], v)
		}
	}
	if a.Fingerprint != "a3f1c92be04d7715" || !a.StartsAt.Equal(testStart) || !a.EndsAt.IsZero() {
		t.Errorf("fingerprint %q startsAt %v endsAt %v", a.Fingerprint, a.StartsAt, a.EndsAt)
	}
	if !strings.Contains(a.GeneratorURL, "&g0.tab=1") {
		t.Errorf("generatorURL %q: \\u0026 not unescaped", a.GeneratorURL)
	}
	if msg.NotificationReason != "first notification" {
		t.Errorf("notification_reason %q", msg.NotificationReason)
	}
}

func TestDecodeErrors(t *testing.T) {
	firing := readTestdata(t, "firing_high_cpu.json")
	multi := readTestdata(t, "multi_alert_group.json")
	mut := func(base []byte, f func(m map[string]any)) []byte { return mutateJSON(t, base, f) }

	tests := []struct {
		name string
		body []byte
		want string // substring of the error
	}{
		{"empty body", nil, "empty body"},
		{"whitespace body", []byte(" \n\t "), "empty body"},
		{"null", []byte("null"), "body is null"},
		{"malformed JSON", []byte(`{"version":"4",`), "malformed JSON"},
		{"invalid character", []byte(`{"version":"4";}`), "malformed JSON: invalid character ';'"},
		{"label of wrong type in alerts[2]", mutateJSON(t, multi, func(m map[string]any) {
			m["alerts"].([]any)[2].(map[string]any)["labels"].(map[string]any)["severity"] = 3
		}), "alerts[2]: invalid alert: json: cannot unmarshal number"},
		{"not an object", []byte(`["version"]`), "invalid payload"},
		{"wrong field type", []byte(`{"version":4}`), "invalid payload: json: cannot unmarshal number into Go struct field"},
		{"alerts not an array", []byte(`{"version":"4","alerts":{}}`), "invalid payload"},
		{"huge groupKey", mut(firing, func(m map[string]any) { m["groupKey"] = strings.Repeat("k", maxGroupKeyBytes+1) }), "groupKey: longer than"},
		{"huge receiver", mut(firing, func(m map[string]any) { m["receiver"] = strings.Repeat("r", maxReceiverBytes+1) }), "receiver: longer than"},
		{"huge fingerprint", mut(firing, func(m map[string]any) { firstAlert(m)["fingerprint"] = strings.Repeat("a", 900_000) }), "alerts[0]: fingerprint is not 16 hex digits"},
		{"upper-case fingerprint", mut(firing, func(m map[string]any) { firstAlert(m)["fingerprint"] = "A3F1C92BE04D7715" }), "alerts[0]: fingerprint is not 16 hex digits"},
		{"too many labels", mut(firing, func(m map[string]any) {
			ls := firstAlert(m)["labels"].(map[string]any)
			for i := len(ls); i <= DefaultMaxLabels; i++ {
				ls[fmt.Sprintf("l%d", i)] = "v"
			}
		}), "alerts[0]: 65 labels, more than max_labels 64"},
		{"label value too long", mut(firing, func(m map[string]any) {
			firstAlert(m)["labels"].(map[string]any)["request_id"] = strings.Repeat("x", DefaultMaxLabelValueBytes+1)
		}), `alerts[0]: label "request_id": value of 2049 bytes, more than max_label_value_bytes 2048`},
		{"label name too long", mut(firing, func(m map[string]any) {
			firstAlert(m)["labels"].(map[string]any)[strings.Repeat("n", DefaultMaxNameBytes+1)] = "v"
		}), "alerts[0]: label name longer than"},
		{"empty label name", mut(firing, func(m map[string]any) { firstAlert(m)["labels"].(map[string]any)[""] = "v" }), "alerts[0]: empty label name"},
		{"too many annotations", mut(firing, func(m map[string]any) {
			as := map[string]any{}
			for i := range DefaultMaxAnnotations + 1 {
				as[fmt.Sprintf("a%d", i)] = "v"
			}
			firstAlert(m)["annotations"] = as
		}), "alerts[0]: 33 annotations, more than max_annotations 32"},
		{"annotation too long", mut(firing, func(m map[string]any) {
			firstAlert(m)["annotations"].(map[string]any)["description"] = strings.Repeat("d", DefaultMaxAnnotationBytes+1)
		}), `alerts[0]: annotation "description": value of 16385 bytes, more than max_annotation_bytes 16384`},
		{"generatorURL too long", mut(firing, func(m map[string]any) {
			firstAlert(m)["generatorURL"] = strings.Repeat("u", DefaultMaxAnnotationBytes+1)
		}), "alerts[0]: generatorURL longer than"},
		{"invalid UTF-8 in a label", bytes.Replace(firing, []byte(`"HighCPUUsage"`), []byte("\"HighCPU\xffUsage\""), 1), "alerts[0]: text is not valid UTF-8"},
		{"negative truncatedAlerts", mut(firing, func(m map[string]any) { m["truncatedAlerts"] = -1 }), "invalid payload"},
		{"bad startsAt", mut(firing, func(m map[string]any) { firstAlert(m)["startsAt"] = "yesterday" }), `alerts[0]: invalid alert: parsing time "yesterday"`},
		{"trailing garbage", append(append([]byte(nil), firing...), "xyz"...), "unexpected data after the JSON object"},
		{"second object", append(append([]byte(nil), firing...), firing...), "unexpected data after the JSON object"},
		{"trailing brace", append(append([]byte(nil), firing...), '}'), "unexpected data after the JSON object"},
		{"wrong version", mut(firing, func(m map[string]any) { m["version"] = "3" }), `version: unsupported version "3"`},
		{"missing version", mut(firing, func(m map[string]any) { delete(m, "version") }), `version: unsupported version ""`},
		{"empty alerts", mut(firing, func(m map[string]any) { m["alerts"] = []any{} }), "alerts: no alerts"},
		{"null alerts", mut(firing, func(m map[string]any) { m["alerts"] = nil }), "alerts: no alerts"},
		{"no data fields", []byte(`{"version":"4"}`), "alerts: no alerts"},
		{"missing fingerprint", mut(firing, func(m map[string]any) { delete(firstAlert(m), "fingerprint") }), "alerts[0]: missing fingerprint"},
		{"missing fingerprint in alerts[2]", mut(multi, func(m map[string]any) {
			m["alerts"].([]any)[2].(map[string]any)["fingerprint"] = ""
		}), "alerts[2]: missing fingerprint"},
		{"missing alertname", mut(firing, func(m map[string]any) { delete(firstAlert(m)["labels"].(map[string]any), "alertname") }), "alerts[0]: missing alertname label"},
		{"empty alertname", mut(firing, func(m map[string]any) { firstAlert(m)["labels"].(map[string]any)["alertname"] = "" }), "alerts[0]: missing alertname label"},
		{"no labels", mut(firing, func(m map[string]any) { firstAlert(m)["labels"] = nil }), "alerts[0]: missing alertname label"},
		{"missing startsAt", mut(firing, func(m map[string]any) { delete(firstAlert(m), "startsAt") }), "alerts[0]: missing startsAt"},
		{"zero startsAt", mut(firing, func(m map[string]any) { firstAlert(m)["startsAt"] = "0001-01-01T00:00:00Z" }), "alerts[0]: missing startsAt"},
		{"bad status", mut(firing, func(m map[string]any) { firstAlert(m)["status"] = "pending" }), `alerts[0]: invalid status "pending"`},
		{"missing status", mut(firing, func(m map[string]any) { delete(firstAlert(m), "status") }), `alerts[0]: invalid status ""`},
		{"status case", mut(firing, func(m map[string]any) { firstAlert(m)["status"] = "Firing" }), `alerts[0]: invalid status "Firing"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A body-level problem is an error; an alert-level one refuses
			// that alert alone ("alerts[i]: " in want), and the message
			// keeps the others.
			msg, rejected, err := Decode(bytes.NewReader(tt.body), DefaultLimits())
			if perAlert := strings.HasPrefix(tt.want, "alerts["); perAlert {
				if err != nil || len(rejected) != 1 {
					t.Fatalf("Decode: err %v, rejected %+v; want one alert refused", err, rejected)
				}
				rj := rejected[0]
				if got := fmt.Sprintf("alerts[%d]: %s", rj.Index, rj.Reason); !strings.Contains(got, tt.want) {
					t.Errorf("rejection %q does not contain %q", got, tt.want)
				}
				if !slices.Contains(RejectFields, rj.Field) {
					t.Errorf("field %q is not one of RejectFields", rj.Field)
				}
				if want := countAlerts(t, tt.body) - 1; len(msg.Data.Alerts) != want {
					t.Errorf("message keeps %d alerts, want the other %d", len(msg.Data.Alerts), want)
				}
				return
			}
			if err == nil {
				t.Fatalf("Decode succeeded: %+v", msg)
			}
			if _, ok := errors.AsType[*DecodeError](err); !ok {
				t.Errorf("error %T is not a *DecodeError", err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
		})
	}
}

func TestDecodeAccepts(t *testing.T) {
	firing := readTestdata(t, "firing_high_cpu.json")
	tests := []struct {
		name string
		body []byte
	}{
		{"unknown fields", mutateJSON(t, firing, func(m map[string]any) {
			m["futureField"] = map[string]any{"x": 1}
			firstAlert(m)["silencedBy"] = []any{"abc"}
		})},
		{"trailing whitespace", append(append([]byte(nil), firing...), " \r\n\t"...)},
		{"older Alertmanager without newer fields", mutateJSON(t, firing, func(m map[string]any) {
			delete(m, "routeLabels")
			delete(m, "notification_reason")
			delete(m, "truncatedAlerts")
		})},
		{"resolved", readTestdata(t, "resolved_high_cpu.json")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := strictDecode(bytes.NewReader(tt.body)); err != nil {
				t.Fatalf("Decode: %v", err)
			}
		})
	}
}

// failingReader returns some bytes and then an error, like a client that
// disconnects mid-body.
type failingReader struct {
	data []byte
	err  error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if len(f.data) == 0 {
		return 0, f.err
	}
	n := copy(p, f.data)
	f.data = f.data[n:]
	return n, nil
}

func TestDecodeReadError(t *testing.T) {
	boom := errors.New("connection reset")
	firing := readTestdata(t, "firing_high_cpu.json")
	for _, cut := range []int{0, 10, len(firing)} {
		_, err := strictDecode(&failingReader{data: firing[:cut], err: boom})
		if !errors.Is(err, boom) {
			t.Errorf("cut at %d: error %v does not wrap the read error", cut, err)
		}
		if de, ok := errors.AsType[*DecodeError](err); !ok || de.Reason != reasonRead {
			t.Errorf("cut at %d: error %#v is not a read DecodeError", cut, err)
		}
	}
}

func TestMessageAlerts(t *testing.T) {
	msg, err := strictDecode(bytes.NewReader(readTestdata(t, "multi_alert_group.json")))
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2025, 6, 12, 9, 45, 0, 0, time.UTC)
	got := msg.Queued(at)
	if len(got) != 3 {
		t.Fatalf("got %d alerts, want 3", len(got))
	}
	for i, a := range got {
		if a.Receiver != "remediator" || a.GroupKey != msg.GroupKey || !a.ReceivedAt.Equal(at) {
			t.Errorf("alert %d: receiver %q groupKey %q receivedAt %v", i, a.Receiver, a.GroupKey, a.ReceivedAt)
		}
		if a.Fingerprint != msg.Data.Alerts[i].Fingerprint || a.Name() != "HighCPUUsage" {
			t.Errorf("alert %d: fingerprint %q name %q", i, a.Fingerprint, a.Name())
		}
	}
	if !got[0].Firing() || got[2].Firing() {
		t.Errorf("statuses: %q %q", got[0].Status, got[2].Status)
	}
	if (&Message{}).Queued(at) != nil {
		t.Error("a message without data has alerts")
	}
}

// FuzzDecode checks that Decode never panics, that whatever it accepts obeys
// every validation rule, and that accepted messages survive a round trip.
func FuzzDecode(f *testing.F) {
	for _, name := range testdataPayloads {
		// Compacted: the fuzzer minimizes every new interesting input, at a
		// cost that grows with the square of its size, and mutants of the
		// indented files would spend most of a short run being minimized.
		var buf bytes.Buffer
		if err := json.Compact(&buf, readTestdata(f, name)); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	f.Add([]byte(`{"version":"4","alerts":[{"status":"firing","labels":{"alertname":"A"},"startsAt":"2025-01-01T00:00:00+23:59","fingerprint":"f"}]}`))
	f.Add([]byte(`{"version":"4","alerts":[{"status":"resolved","labels":{"alertname":"A"},"startsAt":"0000-01-01T00:00:00Z","fingerprint":"f"}]} `))
	f.Add([]byte(`null`))
	f.Add([]byte(`{}`))

	f.Fuzz(func(t *testing.T, data []byte) {
		// Small limits, so that the fuzzer reaches them with short inputs.
		lim := Limits{MaxLabels: 4, MaxAnnotations: 2, MaxNameBytes: 12, MaxLabelValueBytes: 24, MaxAnnotationBytes: 32}
		msg, rejected, err := Decode(bytes.NewReader(data), lim)
		if err != nil {
			if _, ok := errors.AsType[*DecodeError](err); !ok {
				t.Fatalf("error %T is not a *DecodeError: %v", err, err)
			}
			if msg != nil || rejected != nil {
				t.Fatal("non-nil message or rejections with an error")
			}
			return
		}
		assertValid(t, msg, lim)
		// Every alert is either kept or rejected, once, in order.
		if got, want := len(msg.Data.Alerts)+len(rejected), countAlerts(t, data); got != want {
			t.Fatalf("%d kept + %d rejected of %d alerts", len(msg.Data.Alerts), len(rejected), want)
		}
		for i, rj := range rejected {
			if !slices.Contains(RejectFields, rj.Field) || rj.Reason == "" || (i > 0 && rj.Index <= rejected[i-1].Index) {
				t.Fatalf("rejection %d: %+v", i, rj)
			}
			if rj.Fingerprint != "" && !validFingerprint(rj.Fingerprint) {
				t.Fatalf("rejection %d echoes an invalid fingerprint %q", i, rj.Fingerprint)
			}
		}
		if len(msg.Data.Alerts) == 0 {
			return
		}

		enc, err := json.Marshal(msg)
		if err != nil {
			t.Fatalf("re-encoding an accepted message: %v", err)
		}
		again, rejectedAgain, err := Decode(bytes.NewReader(enc), lim)
		if err != nil || len(rejectedAgain) > 0 {
			t.Fatalf("decoding the re-encoded message: %v %+v\n%s", err, rejectedAgain, enc)
		}
		if !messagesEqual(msg, again) {
			t.Fatalf("round trip changed the message:\nfirst  %+v\nsecond %+v", msg, again)
		}
		enc2, err := json.Marshal(again)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc, enc2) {
			t.Fatalf("encoding is not stable:\n%s\n%s", enc, enc2)
		}
	})
}

// countAlerts is how many elements the payload's alerts array has.
func countAlerts(t *testing.T, data []byte) int {
	t.Helper()
	var probe struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if err := json.Unmarshal(data, &probe); err != nil {
		t.Fatalf("counting alerts of a payload Decode accepted: %v", err)
	}
	return len(probe.Alerts)
}

// assertValid restates Decode's validation rules independently of
// validateAlert.
func assertValid(t *testing.T, msg *Message, lim Limits) {
	t.Helper()
	if msg == nil || msg.Data == nil {
		t.Fatal("accepted message without data")
	}
	if msg.Version != "4" {
		t.Fatalf("accepted version %q", msg.Version)
	}
	if len(msg.GroupKey) > maxGroupKeyBytes || len(msg.Receiver) > maxReceiverBytes {
		t.Fatalf("accepted a groupKey of %d bytes or a receiver of %d", len(msg.GroupKey), len(msg.Receiver))
	}
	for i, a := range msg.Data.Alerts {
		if a.Status != "firing" && a.Status != "resolved" {
			t.Fatalf("alerts[%d]: accepted status %q", i, a.Status)
		}
		if len(a.Fingerprint) != 16 || strings.Trim(a.Fingerprint, "0123456789abcdef") != "" {
			t.Fatalf("alerts[%d]: accepted fingerprint %q", i, a.Fingerprint)
		}
		if a.StartsAt.IsZero() {
			t.Fatalf("alerts[%d]: accepted zero startsAt", i)
		}
		if a.Labels["alertname"] == "" {
			t.Fatalf("alerts[%d]: accepted empty alertname", i)
		}
		if len(a.Labels) > lim.MaxLabels || len(a.Annotations) > lim.MaxAnnotations || len(a.GeneratorURL) > lim.MaxAnnotationBytes {
			t.Fatalf("alerts[%d]: accepted %d labels, %d annotations, a generatorURL of %d bytes", i, len(a.Labels), len(a.Annotations), len(a.GeneratorURL))
		}
		for k, v := range a.Labels {
			if k == "" || len(k) > lim.MaxNameBytes || len(v) > lim.MaxLabelValueBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("alerts[%d]: accepted label %q=%q", i, k, v)
			}
		}
		for k, v := range a.Annotations {
			if k == "" || len(k) > lim.MaxNameBytes || len(v) > lim.MaxAnnotationBytes || !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("alerts[%d]: accepted annotation %q=%q", i, k, v)
			}
		}
	}
	// The conversion to the queue unit must not lose alerts or keys.
	if got := msg.Queued(time.Unix(0, 0)); len(got) != len(msg.Data.Alerts) {
		t.Fatalf("Queued returned %d of %d", len(got), len(msg.Data.Alerts))
	}
	for _, a := range msg.Data.Alerts {
		if alert.Key(a) == "" {
			t.Fatal("empty dedupe key")
		}
	}
}

func BenchmarkDecode(b *testing.B) {
	cases := []struct {
		name string
		body []byte
	}{
		{"alerts=1", readTestdata(b, "firing_high_cpu.json")},
		{"alerts=3", readTestdata(b, "multi_alert_group.json")},
	}
	ten, _ := benchPayload(b, 10)
	cases = append(cases, struct {
		name string
		body []byte
	}{"alerts=10", ten})
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			r := bytes.NewReader(c.body)
			b.SetBytes(int64(len(c.body)))
			b.ReportAllocs()
			for b.Loop() {
				r.Reset(c.body)
				if _, err := strictDecode(r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
