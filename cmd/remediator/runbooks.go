package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/remediations/builtin"
)

// runbooksCmd shows the runbooks as `policy export` shows the policy: the
// bundled set is what the daemon does with no config at all, so it must be
// readable (list) and adoptable (export) without reading the source.
type runbooksCmd struct {
	list       *kingpin.CmdClause
	configFile string
	format     string

	export     *kingpin.CmdClause
	exportFile string
}

func newRunbooksCmd(app *kingpin.Application) *runbooksCmd {
	c := &runbooksCmd{}
	r := app.Command("runbooks", "List the runbooks (the bundled ones, and with --config yours), or export the bundled ones as a config file.")
	// list is the default subcommand, so `remediator runbooks -o json` lists.
	c.list = r.Command("list", "List the runbooks in the order they are matched: name, matchers, target, investigations and resolution options with their params.\n\n"+
		"With --config, the file's runbooks come first, marked user; bundled runbooks follow unless the file sets\n"+
		"include_default_runbooks: false (a user runbook of the same name replaces the bundled one).\n\n"+
		"Examples:\n"+
		"  remediator runbooks\n"+
		"  remediator runbooks --config remediator.yaml -o json").Default()
	c.list.Flag("config", "YAML config file whose runbooks to list with the bundled ones.").Short('c').ExistingFileVar(&c.configFile)
	c.list.Flag("output", "text (one block per runbook) or json (stable, for scripts).").Short('o').Default("text").EnumVar(&c.format, "text", "json")

	c.export = r.Command("export", "Write the bundled runbooks as a config file to start from (to stdout, or to FILE).\n\n"+
		"The file sets include_default_runbooks: false, so loaded with `serve --config` its runbooks are the whole set\n"+
		"(the bundled ones are not appended after them); edit them, or add settings beside them.\n\n"+
		"Examples:\n"+
		"  remediator runbooks export > remediator.yaml\n"+
		"  remediator runbooks export -o remediator.yaml && remediator eval --config remediator.yaml --alert alert.json")
	c.export.Flag("output", "File to write (not overwritten if it exists); default stdout.").Short('o').PlaceHolder("FILE").StringVar(&c.exportFile)
	return c
}

func (c *runbooksCmd) run(chosen string, stdout, stderr io.Writer) (int, bool) {
	switch chosen {
	case c.list.FullCommand():
		if err := c.runList(stdout, stderr); err != nil {
			fmt.Fprintln(stderr, "remediator runbooks:", err)
			return 1, true
		}
		return 0, true
	case c.export.FullCommand():
		if err := c.runExport(stdout); err != nil {
			fmt.Fprintln(stderr, "remediator runbooks export:", err)
			return 1, true
		}
		if c.exportFile != "" {
			fmt.Fprintf(stdout, "wrote the bundled runbooks to %s\n", c.exportFile)
		}
		return 0, true
	}
	return 0, false
}

// Sources of a listed runbook.
const (
	sourceUser    = "user"
	sourceBundled = "bundled"
)

// listedRunbook is one runbook as `runbooks -o json` prints it. Its fields
// are the runbook file's names, so a script reads what a user writes.
type listedRunbook struct {
	Name   string `json:"name"`
	Source string `json:"source"` // user or bundled
	// Replaces is set on a user runbook that has a bundled one's name.
	Replaces      bool         `json:"replaces_bundled,omitempty"`
	Description   string       `json:"description,omitempty"`
	Match         []string     `json:"match"`
	Target        listedTarget `json:"target"`
	EscalateAfter string       `json:"escalate_after,omitempty"`
	Investigate   []listedStep `json:"investigate"`
	Resolve       []listedStep `json:"resolve"`
}

// listedTarget is a runbook.TargetSpec: each field lists the label names
// tried in order.
type listedTarget struct {
	Kind       string   `json:"kind"`
	Namespace  []string `json:"namespace,omitempty"`
	Name       []string `json:"name,omitempty"`
	Pod        []string `json:"pod,omitempty"`
	Container  []string `json:"container,omitempty"`
	Database   []string `json:"database,omitempty"`
	Instance   []string `json:"instance,omitempty"`
	Connection []string `json:"connection,omitempty"`
}

type listedStep struct {
	Action string         `json:"action"`
	Params map[string]any `json:"params,omitempty"`
	// Target is set when the step acts on another target than its runbook's.
	Target *listedTarget `json:"target,omitempty"`
}

func (c *runbooksCmd) runList(stdout, stderr io.Writer) error {
	listed, err := c.listed(stderr)
	if err != nil {
		return err
	}
	if c.format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(struct {
			Runbooks []listedRunbook `json:"runbooks"`
		}{listed})
	}
	writeRunbooksText(stdout, listed)
	return nil
}

// listed loads the runbooks as serve would (config.Load with no file is the
// bundled set alone) and marks each one's source. The config's warnings go
// to stderr, as serve would log them, so stdout stays parseable.
func (c *runbooksCmd) listed(stderr io.Writer) ([]listedRunbook, error) {
	catalog, err := builtin.Catalog()
	if err != nil {
		return nil, fmt.Errorf("building the action catalogue: %w", err)
	}
	cfg, err := config.Load(c.configFile, catalog)
	if err != nil {
		return nil, err
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintln(stderr, "remediator runbooks: warning:", w)
	}
	bundled, err := runbook.Defaults(catalog)
	if err != nil {
		return nil, fmt.Errorf("loading the bundled runbooks: %w", err)
	}
	user := &runbook.Set{Runbooks: cfg.Runbooks}
	out := make([]listedRunbook, 0, len(cfg.RunbookSet.Runbooks))
	for _, r := range cfg.RunbookSet.Runbooks {
		l := listRunbook(r)
		l.Source = sourceBundled
		if _, ok := user.Lookup(r.Name); ok {
			l.Source = sourceUser
			_, l.Replaces = bundled.Lookup(r.Name)
		}
		out = append(out, l)
	}
	return out, nil
}

func listRunbook(r *runbook.Runbook) listedRunbook {
	l := listedRunbook{
		Name:        r.Name,
		Description: r.Description,
		Match:       make([]string, len(r.Match)),
		Target:      listTarget(r.Target),
		Investigate: listSteps(r.Investigate),
		Resolve:     listSteps(r.Resolve),
	}
	for i, m := range r.Match {
		l.Match[i] = m.String()
	}
	if r.EscalateAfter > 0 {
		l.EscalateAfter = r.EscalateAfter.String()
	}
	return l
}

func listTarget(t runbook.TargetSpec) listedTarget {
	return listedTarget{
		Kind: t.Kind, Namespace: t.Namespace, Name: t.Name, Pod: t.Pod, Container: t.Container,
		Database: t.Database, Instance: t.Instance, Connection: t.Connection,
	}
}

func listSteps(steps []*runbook.Step) []listedStep {
	out := make([]listedStep, len(steps))
	for i, s := range steps {
		out[i] = listedStep{Action: s.Action, Params: s.Params}
		if s.Target != nil {
			t := listTarget(*s.Target)
			out[i].Target = &t
		}
	}
	return out
}

// writeRunbooksText prints one compact block per runbook, in match order.
func writeRunbooksText(w io.Writer, listed []listedRunbook) {
	for i, r := range listed {
		if i > 0 {
			fmt.Fprintln(w)
		}
		source := r.Source
		if r.Replaces {
			source += ", replaces the bundled one"
		}
		fmt.Fprintf(w, "%s (%s)\n", r.Name, source)
		if r.Description != "" {
			fmt.Fprintf(w, "  %s\n", r.Description)
		}
		fmt.Fprintf(w, "  match:       %s\n", strings.Join(r.Match, ", "))
		fmt.Fprintf(w, "  target:      %s\n", r.Target)
		if r.EscalateAfter != "" {
			fmt.Fprintf(w, "  escalate:    to the next option after %s still firing\n", r.EscalateAfter)
		}
		fmt.Fprintln(w, "  investigate:")
		for _, s := range r.Investigate {
			fmt.Fprintf(w, "    - %s\n", s)
		}
		fmt.Fprintln(w, "  resolve (first allowed option wins):")
		for n, s := range r.Resolve {
			fmt.Fprintf(w, "    %d. %s\n", n+1, s)
		}
	}
}

// String renders the target as KIND (field: label|label; ...), the labels
// in the order they are tried.
func (t listedTarget) String() string {
	var fields []string
	for _, f := range []struct {
		name   string
		labels []string
	}{
		{"namespace", t.Namespace}, {"name", t.Name}, {"pod", t.Pod}, {"container", t.Container},
		{"database", t.Database}, {"instance", t.Instance}, {"connection", t.Connection},
	} {
		if len(f.labels) > 0 {
			fields = append(fields, f.name+": "+strings.Join(f.labels, "|"))
		}
	}
	if len(fields) == 0 {
		return t.Kind
	}
	return t.Kind + " (" + strings.Join(fields, "; ") + ")"
}

func (s listedStep) String() string {
	out := s.Action
	if len(s.Params) > 0 {
		out += " " + compactJSON(s.Params)
	}
	if s.Target != nil {
		out += " on " + s.Target.String()
	}
	return out
}

// exportHeader replaces defaults.yaml's own opening comment, which speaks
// of "the runbooks below" as defaults a config file adds to.
const exportHeader = `# remediator config: the bundled runbooks, exported by ` + "`remediator runbooks export`" + `
# as a starting point. include_default_runbooks: false makes these runbooks
# the whole set: without it the bundled runbooks would be appended after
# them, and one you rename or delete here would still match. Edit them, add
# your own (the first runbook whose matchers all match an alert handles it),
# and add any other settings beside them; ` + "`remediator runbooks --config FILE`" + ` lists the result.
include_default_runbooks: false

`

// exportYAML is the bundled runbooks as a config file: the embedded
// defaults.yaml verbatim from its runbooks: key on, so that the comments
// explaining each runbook's choices travel with it.
func exportYAML() ([]byte, error) {
	src := runbook.DefaultsYAML()
	i := bytes.Index(src, []byte("\nrunbooks:\n"))
	if i < 0 {
		return nil, errors.New("the bundled runbooks have no top-level runbooks: key")
	}
	return append([]byte(exportHeader), src[i+1:]...), nil
}

func (c *runbooksCmd) runExport(stdout io.Writer) error {
	b, err := exportYAML()
	if err != nil {
		return err
	}
	if c.exportFile == "" {
		_, err := stdout.Write(b)
		return err
	}
	// O_EXCL: like `policy export`, never overwrite a file the user may
	// have edited.
	f, err := os.OpenFile(c.exportFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%s exists; not overwriting it", c.exportFile)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", c.exportFile, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", c.exportFile, err)
	}
	return nil
}
