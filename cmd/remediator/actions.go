package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/remediations/builtin"
)

type actionsCmd struct{ cmd *kingpin.CmdClause }

func newActionsCmd(app *kingpin.Application) *actionsCmd {
	return &actionsCmd{cmd: app.Command("actions", "List every action runbooks can use: kind, targets, description and parameters.\n\n"+
		"Example:\n  remediator actions")}
}

func (c *actionsCmd) run(chosen string, stdout, stderr io.Writer) (int, bool) {
	if chosen != c.cmd.FullCommand() {
		return 0, false
	}
	catalog, err := builtin.Catalog()
	if err != nil {
		fmt.Fprintln(stderr, "remediator actions:", err)
		return 1, true
	}
	for _, name := range catalog.Names() {
		a, _ := catalog.Lookup(name)
		s := a.Spec()
		fmt.Fprintf(stdout, "%s (%s; targets: %s)\n  %s\n", s.Name, s.Kind, strings.Join(s.TargetKinds, ", "), s.Description)
		if len(s.Params) > 0 {
			tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
			for _, p := range s.Params {
				fmt.Fprintf(tw, "    %s\t%s\t%s\n", p.Name, p.Type, p.Description)
			}
			_ = tw.Flush()
		}
		fmt.Fprintf(stdout, "  example params: %s\n\n", compactJSON(s.Example))
	}
	return 0, true
}
