// Command remediator is an alert-driven auto-remediation daemon: it receives
// Alertmanager webhooks, asks Open Policy Agent whether the runbook's
// resolution may run, and runs it (or plans it, in dry-run).
package main

import (
	"fmt"
	"io"
	"os"

	"github.com/alecthomas/kingpin/v2"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args and runs the chosen command; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	app := kingpin.New("remediator", "Alert-driven auto-remediation: when an Alertmanager alert fires, safely do what the runbook says.\n\n"+
		"Quick start (dry-run, bundled policy and runbooks, loopback only):\n  remediator serve\n"+
		"Preview what an alert would do:\n  remediator eval --alert alert.json\nWhat it did:\n  remediator history --since 24h").
		UsageWriter(stdout).ErrorWriter(stderr).Terminate(nil)
	app.HelpFlag.Short('h')
	cmds := []command{
		newServeCmd(app),
		newEvalCmd(app),
		newPolicyCmd(app),
		newActionsCmd(app),
		newHistoryCmd(app),
		newVersionCmd(app),
	}
	chosen, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "remediator: %v (try --help)\n", err)
		return 2
	}
	for _, c := range cmds {
		if code, ok := c.run(chosen, stdout, stderr); ok {
			return code
		}
	}
	// --help or --version was handled by kingpin.
	return 0
}

// command is one subcommand: run reports ok=false when it was not chosen.
type command interface {
	run(chosen string, stdout, stderr io.Writer) (code int, ok bool)
}
