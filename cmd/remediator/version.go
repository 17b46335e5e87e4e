package main

import (
	"fmt"
	"io"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/common/version"
)

type versionCmd struct{ cmd *kingpin.CmdClause }

func newVersionCmd(app *kingpin.Application) *versionCmd {
	return &versionCmd{cmd: app.Command("version", "Print the version, revision and Go version.\n\nExample:\n  remediator version")}
}

func (c *versionCmd) run(chosen string, stdout, _ io.Writer) (int, bool) {
	if chosen != c.cmd.FullCommand() {
		return 0, false
	}
	fmt.Fprintln(stdout, version.Print("remediator"))
	return 0, true
}
