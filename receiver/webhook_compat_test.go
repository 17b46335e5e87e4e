package receiver

// This is the only file in the repository that imports Alertmanager's
// notify/webhook package: Message mirrors webhook.Message so that the daemon
// does not link the notifier stack, and these tests fail the moment the two
// diverge (after an Alertmanager upgrade, say).

import (
	"bytes"
	"encoding/json"
	"net/url"
	"os/exec"
	"reflect"
	"strings"
	"testing"
	"time"

	amalert "github.com/prometheus/alertmanager/alert"
	"github.com/prometheus/alertmanager/notify/webhook"
	"github.com/prometheus/alertmanager/template"
	"github.com/prometheus/common/model"
)

// TestMessageMirrorsWebhookMessage compares the two struct types field by
// field: name, JSON tag (the whole struct tag), type and embedding.
func TestMessageMirrorsWebhookMessage(t *testing.T) {
	ours, theirs := reflect.TypeFor[Message](), reflect.TypeFor[webhook.Message]()
	fieldSet := func(typ reflect.Type) []string {
		var out []string
		for f := range typ.Fields() {
			out = append(out, strings.Join([]string{
				f.Name, string(f.Tag), f.Type.String(), f.Type.PkgPath(), reflect.ValueOf(f.Anonymous).String(),
			}, "|"))
		}
		return out
	}
	if got, want := fieldSet(ours), fieldSet(theirs); !reflect.DeepEqual(got, want) {
		t.Fatalf("receiver.Message fields differ from webhook.Message:\nours   %q\ntheirs %q", got, want)
	}
	for i := range ours.NumField() {
		o, w := ours.Field(i), theirs.Field(i)
		if o.Type != w.Type || o.Anonymous != w.Anonymous || o.Tag.Get("json") != w.Tag.Get("json") {
			t.Errorf("field %d: ours %s %v %q, theirs %s %v %q", i, o.Type, o.Anonymous, o.Tag.Get("json"), w.Type, w.Anonymous, w.Tag.Get("json"))
		}
	}
	// Identical field types make the types convertible, which is what lets
	// a payload move between them without loss.
	if !ours.ConvertibleTo(theirs) {
		t.Error("receiver.Message is not convertible to webhook.Message")
	}
}

// TestWebhookRoundTrip decodes each payload into both types, re-encodes both
// and requires the same JSON; then feeds each type's encoding to the other.
func TestWebhookRoundTrip(t *testing.T) {
	for _, name := range testdataPayloads {
		t.Run(name, func(t *testing.T) {
			payload := readTestdata(t, name)

			ours, err := strictDecode(bytes.NewReader(payload))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			var theirs webhook.Message
			if err := json.Unmarshal(payload, &theirs); err != nil {
				t.Fatalf("webhook.Message: %v", err)
			}
			encOurs, encTheirs := mustMarshal(t, ours), mustMarshal(t, &theirs)
			if !bytes.Equal(encOurs, encTheirs) {
				t.Fatalf("encodings differ:\nours   %s\ntheirs %s", encOurs, encTheirs)
			}
			// Nothing in the payload is lost by either type (testdata carries
			// every field Alertmanager sends).
			assertJSONEqual(t, payload, encOurs)

			// Theirs → ours.
			fromTheirs, err := strictDecode(bytes.NewReader(encTheirs))
			if err != nil {
				t.Fatalf("Decode of webhook.Message's encoding: %v", err)
			}
			if got := mustMarshal(t, fromTheirs); !bytes.Equal(got, encTheirs) {
				t.Errorf("theirs → ours changed the JSON:\n%s\n%s", encTheirs, got)
			}
			// Ours → theirs.
			var fromOurs webhook.Message
			if err := json.Unmarshal(encOurs, &fromOurs); err != nil {
				t.Fatal(err)
			}
			if got := mustMarshal(t, &fromOurs); !bytes.Equal(got, encOurs) {
				t.Errorf("ours → theirs changed the JSON:\n%s\n%s", encOurs, got)
			}
			// And as values, after conversion.
			if !messagesEqual(ours, (*Message)(&theirs)) {
				t.Errorf("decoded values differ:\nours   %+v\ntheirs %+v", ours, theirs)
			}
		})
	}
}

// TestDecodeAlertmanagerOutput builds a notification the way Alertmanager's
// webhook notifier does (template data from its internal alerts, wrapped in
// webhook.Message, written with json.Encoder) and checks that Decode accepts
// it and sees the same alerts.
func TestDecodeAlertmanagerOutput(t *testing.T) {
	tmpl, err := template.New()
	if err != nil {
		t.Fatal(err)
	}
	if tmpl.ExternalURL, err = url.Parse("http://alertmanager.monitoring.svc:9093"); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 6, 12, 10, 0, 0, 0, time.UTC)
	firing := &amalert.Alert{Alert: model.Alert{
		Labels:       model.LabelSet{"alertname": "HighCPUUsage", "namespace": "shop", "deployment": "checkout", "severity": "critical"},
		Annotations:  model.LabelSet{"summary": "checkout is CPU throttled"},
		StartsAt:     now.Add(-10 * time.Minute),
		GeneratorURL: "http://prometheus.monitoring.svc:9090/graph?g0.expr=x&g0.tab=1",
	}}
	resolved := &amalert.Alert{Alert: model.Alert{
		Labels:   model.LabelSet{"alertname": "HighCPUUsage", "namespace": "shop", "deployment": "cart", "severity": "critical"},
		StartsAt: now.Add(-time.Hour),
		EndsAt:   now.Add(-time.Minute),
	}}
	data := tmpl.Data("remediator",
		model.LabelSet{"alertname": "HighCPUUsage"}, model.LabelSet{"team": "payments"},
		"new alerts added", firing, resolved)
	msg := &webhook.Message{Version: "4", Data: data, GroupKey: `{}:{alertname="HighCPUUsage"}`, TruncatedAlerts: 2}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(msg); err != nil {
		t.Fatal(err)
	}

	got, err := strictDecode(&buf)
	if err != nil {
		t.Fatalf("Decode of Alertmanager's output: %v", err)
	}
	if !messagesEqual(got, (*Message)(msg)) {
		t.Errorf("decoded %+v\nsent    %+v", got, msg)
	}
	alerts := got.Queued(now)
	if len(alerts) != 2 || !alerts[0].Firing() || alerts[1].Firing() ||
		alerts[0].Fingerprint != firing.Fingerprint().String() || alerts[1].Fingerprint != resolved.Fingerprint().String() {
		t.Errorf("alerts %+v", alerts)
	}
}

// TestReceiverDoesNotLinkNotifier guards the reason Message exists: the
// package must not depend on Alertmanager's notifier stack.
func TestReceiverDoesNotLinkNotifier(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed to list the package's dependencies: %v", err)
	}
	out, err := exec.Command(goTool, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	for dep := range strings.Lines(string(out)) {
		dep = strings.TrimSpace(dep)
		if strings.HasPrefix(dep, "github.com/prometheus/alertmanager/notify") {
			t.Errorf("receiver depends on %s", dep)
		}
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertJSONEqual compares two JSON documents as values, ignoring layout
// and key order.
func assertJSONEqual(t *testing.T, a, b []byte) {
	t.Helper()
	var va, vb any
	if err := json.Unmarshal(a, &va); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &vb); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(va, vb) {
		t.Errorf("JSON differs:\n%s\n%s", a, b)
	}
}
