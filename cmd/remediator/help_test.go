package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestHelpRunsNothing (issue 11, finding 10: "--help runs the command"):
// --help, -h and `help CMD` print the usage and exit 0 on every command,
// whatever other flags are given, and run nothing. Before the fix kingpin
// went on parsing after printing the usage: `serve --help` started the
// daemon, `eval --help` failed on the missing --alert, `policy test --help`
// ran the tests, and the bare `--help` started the default command, serve.
func TestHelpRunsNothing(t *testing.T) {
	// Whatever a command would write by default (serve's and history's
	// SQLite audit file) lands here, so that "ran nothing" can be checked.
	stateDir := t.TempDir()
	t.Setenv("STATE_DIRECTORY", stateDir)
	t.Setenv("REMEDIATOR_LISTEN_ADDRESS", "127.0.0.1:0")
	exportDir := filepath.Join(t.TempDir(), "exported")
	exportFile := filepath.Join(t.TempDir(), "remediator.yaml")
	const sample = "../../deploy/examples/alerts/kube-system.json"

	tests := []struct {
		name  string
		args  []string
		usage string // the usage line the output must start with
		// notWant are what running the command would have printed.
		notWant []string
	}{
		{"bare --help", []string{"--help"}, "usage: remediator <command>", nil},
		{"bare -h", []string{"-h"}, "usage: remediator <command>", nil},
		{"help command", []string{"help"}, "usage: remediator <command>", nil},
		{"serve", []string{"serve", "--help", "--listen-address", "127.0.0.1:0"}, "usage: remediator serve", nil},
		// With the log flags given (their defaults are not applied under
		// --help), this one started the daemon.
		{"serve with log flags", []string{"serve", "--log-level=info", "--log-format=text", "--help", "--listen-address", "127.0.0.1:0"}, "usage: remediator serve", nil},
		{"serve -h after flags", []string{"serve", "--listen-address=127.0.0.1:0", "--log-format=json", "--log-level=warn", "-h"}, "usage: remediator serve", nil},
		{"help serve", []string{"help", "serve"}, "usage: remediator serve", nil},
		{"eval without its required flag", []string{"eval", "--help"}, "usage: remediator eval", nil},
		{"eval with a payload", []string{"eval", "--alert", sample, "--help", "--fail-on", "denied"}, "usage: remediator eval", []string{"alert HighCPUUsage", "runbook:"}},
		{"policy", []string{"policy", "--help"}, "usage: remediator policy", nil},
		{"policy test", []string{"policy", "test", "--help"}, "usage: remediator policy test", []string{"PASS", "FAIL"}},
		{"policy test verbose with coverage", []string{"policy", "test", "-v", "--coverage", "--help"}, "usage: remediator policy test", []string{"PASS", "FAIL", `"coverage"`}},
		{"help policy test", []string{"help", "policy", "test"}, "usage: remediator policy test", []string{"PASS", "FAIL"}},
		{"policy export", []string{"policy", "export", exportDir, "--help"}, "usage: remediator policy export", []string{"wrote the bundled policy"}},
		{"runbooks", []string{"runbooks", "--help"}, "usage: remediator runbooks", []string{"(bundled)"}},
		{"runbooks with its flags", []string{"runbooks", "-o", "json", "--help"}, "usage: remediator runbooks", []string{"(bundled)", `"runbooks"`}},
		{"runbooks list", []string{"runbooks", "list", "--help"}, "usage: remediator runbooks list", []string{"(bundled)"}},
		{"runbooks export", []string{"runbooks", "export", "--help"}, "usage: remediator runbooks export", []string{"- name: HighCPUUsage"}},
		{"runbooks export to a file", []string{"runbooks", "export", "-o", exportFile, "--help"}, "usage: remediator runbooks export", []string{"wrote the bundled runbooks"}},
		{"help runbooks export", []string{"help", "runbooks", "export"}, "usage: remediator runbooks export", []string{"- name: HighCPUUsage"}},
		{"actions", []string{"actions", "--help"}, "usage: remediator actions", []string{"example params:"}},
		{"history", []string{"history", "--help", "--since", "24h", "-o", "json"}, "usage: remediator history", []string{"TIME (UTC)", `"items"`}},
		{"version", []string{"version", "--help"}, "usage: remediator version", []string{"go version:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runPromptly(t, tc.args)
			if code != 0 {
				t.Errorf("exit %d, want 0; stderr:\n%s", code, stderr)
			}
			if !strings.HasPrefix(stdout, tc.usage) {
				t.Errorf("stdout does not start with %q:\n%s", tc.usage, stdout)
			}
			// Nothing ran: no logs, no errors, no report.
			if stderr != "" {
				t.Errorf("stderr is not empty:\n%s", stderr)
			}
			for _, s := range tc.notWant {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout has %q: the command ran\n%s", s, stdout)
				}
			}
			if _, err := os.Stat(exportDir); err == nil {
				t.Errorf("%s was created: policy export ran", exportDir)
			}
			if _, err := os.Stat(exportFile); err == nil {
				t.Errorf("%s was created: runbooks export ran", exportFile)
			}
			if entries, _ := os.ReadDir(stateDir); len(entries) > 0 {
				t.Errorf("%s has %v: a command opened its audit store", stateDir, entries)
			}
		})
	}
}

// runPromptly runs the command line in-process and fails the test if it has
// not returned within a few seconds (a daemon started by mistake never
// returns; it is left running, since only a signal stops it).
func runPromptly(t *testing.T, args []string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	done := make(chan int, 1)
	go func() { done <- run(args, &out, &errOut) }()
	select {
	case code = <-done:
		return code, out.String(), errOut.String()
	case <-time.After(20 * time.Second):
		t.Fatalf("%q has not returned after 20s: it is running the command", args)
		return 0, "", ""
	}
}
