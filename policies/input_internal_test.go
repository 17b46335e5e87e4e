package policies

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/remediator/remediator/remediations"
)

// TestInputValueMatchesJSON: the hand-built AST input must say exactly what
// the Input struct's JSON says (the contract in policies/README.md), so a field added
// to one and not the other fails here rather than silently reading as
// undefined in policy.
func TestInputValueMatchesJSON(t *testing.T) {
	replicas := int32(5)
	ago := 840.5
	in := Input{
		Alert: AlertInput{
			Name: "HighCPUUsage", Status: "firing", Fingerprint: "f1",
			Labels: map[string]string{"alertname": "HighCPUUsage", "b": "2", "a": "1"}, Annotations: map[string]string{"summary": "s"},
			StartsAt: time.Date(2026, 11, 25, 8, 0, 0, 123, time.UTC),
		},
		Target: remediations.Target{
			Kind: "Deployment", Namespace: "ns", Name: "web", Pod: "web-1", Container: "app", Database: "db",
			Instance: "i:1", Connection: "primary", CurrentReplicas: &replicas,
			Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"x": "y"},
			HPA: map[string]any{"minReplicas": 2.0},
		},
		Action: ActionInput{Name: "kubernetes.scale", Params: remediations.Params{"step": 2, "max_replicas": 10}},
		History: HistoryInput{
			TargetActionsLastHour: 1, ActionLastRunSecondsAgo: &ago, GlobalActionsLastHour: 12,
			ConsecutiveFailures: 2, ActionRunsLastHour: 1,
		},
		DryRun: true,
	}
	got, err := in.value()
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	want, err := ast.ValueFromReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if got.Compare(want) != 0 {
		t.Fatalf("AST input differs from the JSON contract:\n got  %v\n want %v", got, want)
	}
}
