package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/alecthomas/kingpin/v2"

	"github.com/remediator/remediator/policies"
)

type policyCmd struct {
	test      *kingpin.CmdClause
	dirs      []string
	noBundled bool
	verbose   bool
	coverage  bool
	threshold float64

	export    *kingpin.CmdClause
	exportDir string
}

func newPolicyCmd(app *kingpin.Application) *policyCmd {
	c := &policyCmd{}
	p := app.Command("policy", "Work with the Rego policy.")
	c.test = p.Command("test", "Run Rego unit tests (test_ rules) like `opa test`: the bundled policy's tests and those under DIR.\n\n"+
		"DIR is loaded beside the bundled policy, as `serve --policy-dir` loads it, so your tests can exercise\n"+
		"your deny rules together with the default ones. With --no-bundled-policy DIR is the whole policy,\n"+
		"as an exported and edited one must be (`serve --no-bundled-policy --policy-dir DIR`).\n"+
		"The settings in data.remediator.config are checked first, as serve checks them.\n\n"+
		"Examples:\n"+
		"  remediator policy test\n"+
		"  remediator policy test ./policies -v --coverage\n"+
		"  remediator policy test --no-bundled-policy ./my-complete-policy")
	c.test.Arg("dir", "Directories of Rego modules (and data files) to test.").ExistingDirsVar(&c.dirs)
	c.test.Flag("no-bundled-policy", "Test only DIR, without the bundled policy.").BoolVar(&c.noBundled)
	c.test.Flag("verbose", "Print every test, not only failures.").Short('v').BoolVar(&c.verbose)
	c.test.Flag("coverage", "Report coverage as JSON, like `opa test --coverage`.").BoolVar(&c.coverage)
	c.test.Flag("threshold", "With --coverage, fail below this percentage.").Default("0").Float64Var(&c.threshold)

	c.export = p.Command("export", "Write the bundled policy and its tests to DIR, as a starting point for your own.\n\n"+
		"Example:\n  remediator policy export ./my-policy && remediator policy test --no-bundled-policy ./my-policy")
	c.export.Arg("dir", "Directory to write to (created if missing).").Required().StringVar(&c.exportDir)
	return c
}

func (c *policyCmd) run(chosen string, stdout, stderr io.Writer) (int, bool) {
	switch chosen {
	case c.test.FullCommand():
		return c.runTest(stdout, stderr), true
	case c.export.FullCommand():
		if err := exportBundled(c.exportDir); err != nil {
			fmt.Fprintln(stderr, "remediator policy export:", err)
			return 1, true
		}
		fmt.Fprintf(stdout, "wrote the bundled policy to %s\n", c.exportDir)
		return 0, true
	}
	return 0, false
}

func (c *policyCmd) runTest(stdout, stderr io.Writer) int {
	if c.noBundled && len(c.dirs) == 0 {
		fmt.Fprintln(stderr, "remediator policy test: --no-bundled-policy needs a DIR")
		return 2
	}
	dirs := c.dirs
	if len(dirs) == 0 {
		dirs = []string{""}
	}
	ok := true
	for _, dir := range dirs {
		set, err := policies.Load(dir, !c.noBundled)
		if err != nil {
			fmt.Fprintln(stderr, "remediator policy test:", err)
			return 1
		}
		// The checks serve makes on load, first: a bad setting is reported in
		// the policy's own words, not as a failing test_loaded_config_is_valid.
		if err := set.Check(context.Background()); err != nil {
			fmt.Fprintln(stderr, "remediator policy test:", err)
			return 1
		}
		passed, err := set.TestReport(context.Background(), stdout, c.verbose, c.coverage, c.threshold)
		if err != nil {
			fmt.Fprintln(stderr, "remediator policy test:", err)
			return 1
		}
		ok = ok && passed
	}
	if !ok {
		return 1
	}
	return 0
}

func exportBundled(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	src := policies.BundledFS()
	return fs.WalkDir(src, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(src, path)
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, path)
		if _, err := os.Stat(dst); err == nil {
			return fmt.Errorf("%s exists; not overwriting it", dst)
		}
		return os.WriteFile(dst, b, 0o644)
	})
}
