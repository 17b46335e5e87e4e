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
	ch, done, err := s.run(ctx, tester.NewRunner().CapturePrintOutput(true))
	if err != nil {
		return err
	}
	defer done()
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
	runner := tester.NewRunner().CapturePrintOutput(true)
	var cov *cover.Cover
	if coverage {
		cov = cover.New()
		runner = runner.SetCoverageQueryTracer(cov)
	}
	ch, done, err := s.run(ctx, runner)
	if err != nil {
		return false, err
	}
	defer done()
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

// run starts the set's tests on runner, in a read transaction on a fresh store
// holding the set's data. done ends the transaction once ch is drained.
func (s *Set) run(ctx context.Context, runner *tester.Runner) (ch chan *tester.Result, done func(), err error) {
	store := s.newStore()
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("opening policy store: %w", err)
	}
	ch, err = runner.SetStore(store).SetModules(s.Modules).RunTests(ctx, txn)
	if err != nil {
		store.Abort(ctx, txn)
		return nil, nil, fmt.Errorf("running policy tests: %w", err)
	}
	return ch, func() { store.Abort(ctx, txn) }, nil
}
