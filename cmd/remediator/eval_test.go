package main

import (
	"bytes"
	"encoding/json"
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
