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
		"Quick start (dry-run, bundled policy and runbooks, loopback only):\n  remediator serve --dry-run\n"+
		"Preview what an alert would do:\n  remediator eval --alert alert.json\nWhat it did:\n  remediator history --since 24h").
		UsageWriter(stdout).ErrorWriter(stderr)
	app.HelpFlag.Short('h')
	cmds := []command{
		newServeCmd(app),
		newEvalCmd(app),
		newPolicyCmd(app),
		newActionsCmd(app),
		newRunbooksCmd(app),
		newHistoryCmd(app),
		newVersionCmd(app),
	}
	chosen, code, exited, err := parse(app, args)
	switch {
	case exited:
		return code // kingpin printed the help
	case err != nil:
		fmt.Fprintf(stderr, "remediator: %v (try --help)\n", err)
		return 2
	}
	for _, c := range cmds {
		if code, ok := c.run(chosen, stdout, stderr); ok {
			return code
		}
	}
	// The `help` command ends in parse; every other choice is a command.
	return 0
}

// exitCode is what kingpin's terminate function panics with, for parse.
type exitCode int

// parse parses args. Kingpin ends --help, -h and `help CMD` by calling its
// terminate function once the usage is printed (os.Exit by default, which
// run must not call: tests call run in-process). If that function returns,
// kingpin goes on parsing, validating and selecting the command, so
// `serve --help` printed the usage and then started the daemon, and
// `eval --help` failed on its missing --alert. Here terminate unwinds out
// of Parse instead, and parse reports the code kingpin asked for with
// exited set: nothing after the usage runs.
func parse(app *kingpin.Application, args []string) (chosen string, code int, exited bool, err error) {
	app.Terminate(func(code int) { panic(exitCode(code)) })
	defer func() {
		if r := recover(); r != nil {
			c, ok := r.(exitCode)
			if !ok {
				panic(r)
			}
			chosen, code, exited, err = "", int(c), true, nil
		}
	}()
	chosen, err = app.Parse(args)
	return chosen, 0, false, err
}

// command is one subcommand: run reports ok=false when it was not chosen.
type command interface {
	run(chosen string, stdout, stderr io.Writer) (code int, ok bool)
}
