package policies

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
)

// ConfigErrorsQuery is the set of messages in which the policy says what is
// wrong with data.remediator.config: unknown keys and bad values. The policy
// builds the messages (remediator.rego); the engine only reports them.
const ConfigErrorsQuery = "data.remediator.config_errors"

// Check compiles the set's policy modules and checks the loaded
// configuration, as the engine does on every load, without running the tests.
func (s *Set) Check(ctx context.Context) error {
	compiler, err := s.compile()
	if err != nil {
		return err
	}
	return checkConfig(ctx, compiler, s.newStore())
}

// compile compiles the modules that decide (tests left out).
func (s *Set) compile() (*ast.Compiler, error) {
	compiler := ast.NewCompiler()
	compiler.Compile(s.policyModules())
	if compiler.Failed() {
		return nil, fmt.Errorf("compiling policy: %w", compiler.Errors)
	}
	return compiler, nil
}

// checkConfig evaluates ConfigErrorsQuery and fails with its messages, verbatim
// and sorted, if there are any. A policy that does not define config_errors
// (a policy of one's own, loaded without the bundled one) checks nothing.
//
// It runs once per load, not per decision: it would add some 40% to the cost
// of every decision.
func checkConfig(ctx context.Context, compiler *ast.Compiler, store storage.Store) error {
	rs, err := rego.New(
		rego.Query(ConfigErrorsQuery),
		rego.Compiler(compiler),
		rego.Store(store),
	).Eval(ctx)
	if err != nil {
		return fmt.Errorf("evaluating %s: %w", ConfigErrorsQuery, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return nil
	}
	set, ok := rs[0].Expressions[0].Value.([]any)
	if !ok {
		return fmt.Errorf("%s is %T, want a set of strings", ConfigErrorsQuery, rs[0].Expressions[0].Value)
	}
	msgs := make([]string, 0, len(set))
	for _, m := range set {
		msgs = append(msgs, fmt.Sprint(m))
	}
	if len(msgs) == 0 {
		return nil
	}
	slices.Sort(msgs)
	return fmt.Errorf("invalid policy configuration: %s", strings.Join(msgs, "; "))
}

// bundledConflict fails if a module under dir defines a complete rule or a
// function that the bundled policy defines too: the two definitions would
// clash at evaluation (eval_conflict_error) or silently run twice. The
// usual cause is an exported copy of the bundled policy loaded beside it.
// Partial rules (deny contains ..., param_overrides[k] := ...) are the
// bundled policy's extension points and may be added to freely.
func bundledConflict(bundled map[string]*ast.Module, dir map[string]*loader.RegoFile, dirName string) error {
	defined := map[string]bool{}
	for _, m := range bundled {
		for _, r := range m.Rules {
			if complete(r) {
				defined[m.Package.Path.Extend(r.Head.Ref()).String()] = true
			}
		}
	}
	var clashes []string
	files := map[string]string{}
	for _, f := range dir {
		for _, r := range f.Parsed.Rules {
			ref := f.Parsed.Package.Path.Extend(r.Head.Ref()).String()
			if complete(r) && defined[ref] && files[ref] == "" {
				clashes = append(clashes, ref)
				files[ref] = f.Name
			}
		}
	}
	if len(clashes) == 0 {
		return nil
	}
	// The decision first: it is the rule that says "a whole policy" most plainly.
	slices.SortFunc(clashes, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == DecisionQuery:
			return -1
		case b == DecisionQuery:
			return 1
		}
		return strings.Compare(a, b)
	})
	more := ""
	if n := len(clashes) - 1; n > 0 {
		more = fmt.Sprintf(" (and %d more)", n)
	}
	return fmt.Errorf("rule %s is defined by both the bundled policy and %s%s: "+
		"to replace the bundled policy with an exported one, pass --no-bundled-policy; "+
		"to extend the bundled policy, add deny rules and data files to %s, not copies of its rules",
		clashes[0], files[clashes[0]], more, dirName)
}

// complete reports whether r is a complete rule (one value, such as decision
// or a test) or a function: what must have a single definition.
func complete(r *ast.Rule) bool {
	if len(r.Head.Args) > 0 {
		return true
	}
	return r.Head.RuleKind() == ast.SingleValue && r.Head.Ref().IsGround()
}
