package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestEvalFailOn (issue 11, finding 10): `eval --fail-on STATUS,...` exits 3
// when an alert's outcome is one of the statuses, so that SREs' CI fails on
// a sample alert that would be denied or match no runbook; the report is
// printed all the same. Before, eval had no such flag (kingpin refused it)
// and exited 0 whatever the outcomes.
func TestEvalFailOn(t *testing.T) {
	const (
		denied  = "../../deploy/examples/alerts/kube-system.json"   // HighCPUUsage in kube-system: denied
		planned = "../../deploy/examples/alerts/high-cpu.json"      // planned option 1
		unknown = "../../deploy/examples/alerts/unknown-alert.json" // no_runbook
	)
	tests := []struct {
		name string
		args []string
		code int
		// stderr must contain each of these; with exit 0 it must not
		// mention --fail-on (the policy's warnings go there too).
		stderr []string
	}{
		{"denied sample fails on denied", []string{"--alert", denied, "--fail-on", "denied"}, 3,
			[]string{"--fail-on", "HighCPUUsage", "a1b2c3d4e5f60007", "denied"}},
		{"planned sample passes with --fail-on denied", []string{"--alert", planned, "--fail-on", "denied"}, 0, nil},
		{"without --fail-on a denial exits 0", []string{"--alert", denied}, 0, nil},
		{"a list", []string{"--alert", unknown, "--fail-on", "denied,no_runbook,invalid_target"}, 3, []string{"no_runbook"}},
		{"spaces in the list", []string{"--alert", denied, "--fail-on", "no_runbook, denied"}, 3, []string{"denied"}},
		{"repeated flag", []string{"--alert", denied, "--fail-on", "no_runbook", "--fail-on", "denied"}, 3, []string{"denied"}},
		{"planned is a status too", []string{"--alert", planned, "--fail-on=planned"}, 3, []string{"planned"}},
		{"json output", []string{"--alert", denied, "--fail-on", "denied", "-o", "json"}, 3, []string{"denied"}},
		{"unknown status", []string{"--alert", denied, "--fail-on", "deny"}, 2, []string{`"deny"`, "denied", "no_runbook"}},
		{"executed never happens in eval", []string{"--alert", denied, "--fail-on", "executed"}, 2, []string{"executed", "never executes"}},
		{"empty list", []string{"--alert", denied, "--fail-on", ""}, 2, []string{"--fail-on"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(append([]string{"eval"}, tc.args...), &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if tc.code == 0 && strings.Contains(stderr.String(), "--fail-on") {
				t.Errorf("stderr mentions --fail-on, which matched nothing:\n%s", stderr.String())
			}
			for _, s := range tc.stderr {
				if !strings.Contains(stderr.String(), s) {
					t.Errorf("stderr does not mention %q:\n%s", s, stderr.String())
				}
			}
			if tc.code == 2 {
				return // a usage error: no report
			}
			// The report is printed whatever the exit code.
			if strings.Contains(strings.Join(tc.args, " "), "-o json") {
				var out EvalOutput
				if err := json.Unmarshal(stdout.Bytes(), &out); err != nil || len(out.Alerts) == 0 {
					t.Errorf("json report: %v\n%s", err, stdout.String())
				}
			} else if !strings.Contains(stdout.String(), "result:") {
				t.Errorf("no report on stdout:\n%s", stdout.String())
			}
		})
	}
}

// TestEvalFailOnHelp: eval --help documents --fail-on, with its statuses and
// exit code, for whoever writes the CI job.
func TestEvalFailOnHelp(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"eval", "--help"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, s := range []string{"--fail-on", "denied", "no_runbook", "invalid_target", "failed", "exit", "3"} {
		if !strings.Contains(stdout.String(), s) {
			t.Errorf("eval --help does not mention %q:\n%s", s, stdout.String())
		}
	}
}

// TestEvalEmergencyScaleDownCriticality (issue 11, finding 9: "missing labels
// pick the harsher path"): the shipped EmergencyScaleDown runbooks take every
// Deployment of a namespace to 1 replica only when the alert's criticality
// label is one of the documented non-critical values, written exactly; a
// missing, odd-cased or unknown value gets the capped critical-namespace
// behaviour. Before, the harsh runbook matched criticality!="critical", which
// a missing label, "Critical" and "CRITICAL" all satisfy.
func TestEvalEmergencyScaleDownCriticality(t *testing.T) {
	const harsh, capped = "EmergencyScaleDown", "EmergencyScaleDownCritical"
	tests := []struct {
		name        string
		criticality *string // nil: no criticality label
		runbook     string
	}{
		{"missing label", nil, capped},
		{"critical", ptr("critical"), capped},
		{"Critical", ptr("Critical"), capped},
		{"CRITICAL", ptr("CRITICAL"), capped},
		{"empty value", ptr(""), capped},
		{"unknown value", ptr("medium"), capped},
		{"typo of low", ptr("lwo"), capped},
		{"odd-cased low", ptr("Low"), capped},
		{"low with a space", ptr("low "), capped},
		{"low", ptr("low"), harsh},
		{"non-critical", ptr("non-critical"), harsh},
		{"noncritical", ptr("noncritical"), harsh},
		{"best-effort", ptr("best-effort"), harsh},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			labels := map[string]string{"alertname": "EmergencyScaleDown", "severity": "critical", "namespace": "batch-reports"}
			if tc.criticality != nil {
				labels["criticality"] = *tc.criticality
			}
			out := evalAlert(t, labels)
			if len(out.Alerts) != 1 {
				t.Fatalf("%d outcomes, want 1", len(out.Alerts))
			}
			o := out.Alerts[0]
			if o.Runbook != tc.runbook {
				t.Fatalf("runbook %q, want %q", o.Runbook, tc.runbook)
			}
			if len(o.Options) != 1 || o.Options[0].Action != "kubernetes.scale_namespace" {
				t.Fatalf("options %+v, want kubernetes.scale_namespace alone", o.Options)
			}
			// What the option would do: 1 replica for every Deployment, or
			// at most 3 and only ever down.
			p := o.Options[0].Params
			want := map[string]any{"replicas": float64(3), "only_reduce": true}
			if tc.runbook == harsh {
				want = map[string]any{"replicas": float64(1)}
			}
			got, _ := json.Marshal(p)
			if wantJSON, _ := json.Marshal(want); !bytes.Equal(got, wantJSON) {
				t.Errorf("params %s, want %s", got, wantJSON)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

// evalAlert runs `eval -o json` on a payload of one firing alert.
func evalAlert(t *testing.T, labels map[string]string) EvalOutput {
	t.Helper()
	payload := map[string]any{
		"version": "4", "status": "firing", "receiver": "remediator", "groupKey": "{}",
		"alerts": []map[string]any{{
			"status": "firing", "labels": labels, "annotations": map[string]string{},
			"startsAt": "2026-11-25T08:00:00Z", "fingerprint": "e5ca1a7e00000001",
		}},
	}
	b, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "alert.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"eval", "--alert", file, "-o", "json"}, &stdout, &stderr); code != 0 {
		t.Fatalf("eval: exit %d: %s", code, stderr.String())
	}
	var out EvalOutput
	if err := json.Unmarshal(stdout.Bytes(), &out); err != nil {
		t.Fatalf("eval -o json: %v\n%s", err, stdout.String())
	}
	return out
}
