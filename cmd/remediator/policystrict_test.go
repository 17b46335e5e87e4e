package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestPolicySettingsStrict (issue 11, finding 7): policy settings no longer
// fail open. Before, a typo in a data.remediator.config key was ignored by
// serve, eval and policy test alike; a bad value stopped serve naming only the
// Rego test test_loaded_config_is_valid; and an exported policy loaded beside
// the bundled one broke every decision (eval_conflict_error) without saying
// what to do. Each is now refused at load in every command, in the policy's
// own words or naming the flag to use.
func TestPolicySettingsStrict(t *testing.T) {
	const alert = "../../deploy/examples/alerts/high-cpu.json"
	typo := map[string]string{"config.json": `{"remediator": {"config": {"alowed_namespaces": ["payment-context"]}}}`}
	badValue := map[string]string{"config.json": `{"remediator": {"config": {"max_replicas": "twelve"}}}`}
	tests := []struct {
		name     string
		files    map[string]string // written to DIR
		export   bool              // DIR is an exported copy of the bundled policy
		flags    []string          // for every command, besides DIR
		code     int
		want     []string // each in stderr; quotes left out, as serve's log escapes them
		notWant  []string
		commands []string // default: all three
	}{
		{
			name: "typo in a key", files: typo, code: 1,
			want: []string{"data.remediator.config: unknown key", "alowed_namespaces", "did you mean", "allowed_namespaces"},
		},
		{
			name: "bad value", files: badValue, code: 1,
			want:    []string{"config max_replicas must be a non-negative number"},
			notWant: []string{"test_loaded_config_is_valid"},
		},
		{
			name: "exported policy beside the bundled one", export: true, code: 1,
			want: []string{"rule data.remediator.decision is defined by both the bundled policy and", "to replace the bundled policy with an exported one, pass --no-bundled-policy"},
		},
		{
			name: "exported policy with --no-bundled-policy", export: true, flags: []string{"--no-bundled-policy"}, code: 0,
			commands: []string{"policy test", "eval"}, // serve would start and run
		},
		{
			name: "exported policy with a typo and --no-bundled-policy", export: true, files: typo, flags: []string{"--no-bundled-policy"}, code: 1,
			want: []string{"unknown key", "alowed_namespaces", "allowed_namespaces"},
		},
	}
	for _, tc := range tests {
		commands := tc.commands
		if commands == nil {
			commands = []string{"policy test", "eval", "serve"}
		}
		for _, command := range commands {
			t.Run(tc.name+"/"+command, func(t *testing.T) {
				dir := t.TempDir()
				if tc.export {
					dir = filepath.Join(dir, "exported")
					var stdout, stderr bytes.Buffer
					if code := run([]string{"policy", "export", dir}, &stdout, &stderr); code != 0 {
						t.Fatalf("export: exit %d: %s", code, stderr.String())
					}
				}
				for name, body := range tc.files {
					if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
				var args []string
				switch command {
				case "policy test":
					args = append([]string{"policy", "test", dir}, tc.flags...)
				case "eval":
					args = append([]string{"eval", "--alert", alert, "--policy", dir}, tc.flags...)
				case "serve":
					args = append([]string{"serve", "--listen-address=127.0.0.1:0", "--audit=memory", "--policy-dir", dir}, tc.flags...)
				}
				var stdout, stderr bytes.Buffer
				// A serve that accepts the policy starts and never returns: fail
				// after a while rather than at the test binary's timeout. (The
				// daemon is then left running until the test binary exits.)
				done := make(chan int, 1)
				go func() { done <- run(args, &stdout, &stderr) }()
				var code int
				select {
				case code = <-done:
				case <-time.After(30 * time.Second):
					t.Fatalf("%v did not return within 30s (it accepted the policy and started)", args)
				}
				if code != tc.code {
					t.Fatalf("%v: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", args, code, tc.code, stdout.String(), stderr.String())
				}
				for _, w := range tc.want {
					if !strings.Contains(stderr.String(), w) {
						t.Errorf("stderr does not say %q:\n%s", w, stderr.String())
					}
				}
				for _, w := range tc.notWant {
					if strings.Contains(stderr.String()+stdout.String(), w) {
						t.Errorf("output mentions %q:\n%s%s", w, stdout.String(), stderr.String())
					}
				}
			})
		}
	}
}
