package policies

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/tester"
)

// Test runs the set's Rego unit tests (`test_` rules in *_test.rego and
// elsewhere) and fails if any fails or errors.
func (s *Set) Test(ctx context.Context) error {
	ch, err := tester.NewRunner().
		SetStore(s.newStore()).
		CapturePrintOutput(true).
		Run(ctx, s.Modules)
	if err != nil {
		return fmt.Errorf("running policy tests: %w", err)
	}
	var failed []string
	for r := range ch {
		if r.Fail || r.Error != nil {
			name := r.Package + "." + r.Name
			if r.Error != nil {
				name += " (" + r.Error.Error() + ")"
			}
			failed = append(failed, name)
		}
	}
	if len(failed) > 0 {
		sort.Strings(failed)
		return fmt.Errorf("policy tests failed: %s", strings.Join(failed, ", "))
	}
	return nil
}

// TestReport runs the set's tests like `opa test [-v] [--coverage]`, writing
// the same report to w. It returns false if any test failed.
func (s *Set) TestReport(ctx context.Context, w io.Writer, verbose, coverage bool, threshold float64) (bool, error) {
	runner := tester.NewRunner().SetStore(s.newStore()).CapturePrintOutput(true)
	var cov *cover.Cover
	if coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, err := runner.Run(ctx, s.Modules)
	if err != nil {
		return false, fmt.Errorf("running policy tests: %w", err)
	}
	// Count failures as results stream past the reporter.
	failed := false
	counted := make(chan *tester.Result)
	go func() {
		defer close(counted)
		for r := range ch {
			if r.Fail || r.Error != nil {
				failed = true
			}
			counted <- r
		}
	}()
	var rep tester.Reporter = tester.PrettyReporter{Output: w, Verbose: verbose, FailureLine: true}
	if coverage {
		rep = tester.JSONCoverageReporter{Cover: cov, Modules: s.Modules, Output: w, Threshold: threshold, Verbose: verbose}
	}
	repErr := rep.Report(counted)
	if repErr != nil && !failed {
		// The coverage reporter returns an error when coverage is under the threshold.
		return false, repErr
	}
	return !failed, nil
}
