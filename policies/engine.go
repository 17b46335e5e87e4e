// Package policies decides, with Open Policy Agent, whether a remediation may
// run on a target and with which (possibly lowered) parameters.
//
// The default policy is embedded (policies/*.rego). A user directory is loaded
// beside it the way `opa test`/`opa run` load one, through OPA's loader: Rego
// modules in package remediator add `deny` rules, data files under
// remediator.config tune limits. The query is prepared once per load and
// swapped atomically, so evaluation never waits for a reload; a load whose
// modules do not compile, whose settings are wrong (data.remediator.config_errors),
// which redefines a bundled rule, or whose tests fail is refused and the
// previous policy keeps deciding. Every error denies: the engine fails closed.
package policies

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/loader"
	opametrics "github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/prometheus/client_golang/prometheus"
)

// DecisionQuery is the document the daemon asks for.
const DecisionQuery = "data.remediator.decision"

//go:embed *.rego
var bundledFS embed.FS

// BundledFS is the embedded default policy and its tests, for `policy export`.
func BundledFS() fs.FS { return bundledFS }

// ErrUndefined means the policy produced no decision for an input.
var ErrUndefined = errors.New("policy produced no decision (data.remediator.decision is undefined)")

// Option configures an Engine.
type Option func(*Engine)

// WithDir loads the Rego modules and data files under dir beside the bundled policy.
func WithDir(dir string) Option { return func(e *Engine) { e.dir = dir } }

// WithoutBundled leaves the bundled policy out; the directory must then define
// data.remediator.decision itself.
func WithoutBundled() Option { return func(e *Engine) { e.bundled = false } }

// WithOwnNamespace tells the policy the daemon's own namespace, which the
// default policy never touches (data.remediator.runtime.own_namespace).
func WithOwnNamespace(ns string) Option { return func(e *Engine) { e.ownNamespace = ns } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(e *Engine) { e.log = l } }

// WithRegisterer registers the engine's metrics.
func WithRegisterer(r prometheus.Registerer) Option { return func(e *Engine) { e.reg = r } }

// Engine evaluates the policy. It is safe for concurrent use.
type Engine struct {
	dir          string
	bundled      bool
	ownNamespace string
	log          *slog.Logger
	reg          prometheus.Registerer
	metrics      *metrics

	reloadMu sync.Mutex
	current  atomic.Pointer[compiled]
}

// compiled is one successfully loaded policy: the unit swapped on reload.
type compiled struct {
	query rego.PreparedEvalQuery
	files []string
}

// New loads the policy and prepares the decision query; it fails if the
// policy does not compile or its tests fail.
func New(ctx context.Context, opts ...Option) (*Engine, error) {
	e := &Engine{bundled: true, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(e)
	}
	e.metrics = newMetrics(e.reg)
	c, err := e.compile(ctx)
	if err != nil {
		e.metrics.reloads.WithLabelValues("failure").Inc()
		return nil, err
	}
	e.current.Store(c)
	e.metrics.reloads.WithLabelValues("success").Inc()
	e.metrics.lastReloadOK.Set(1)
	e.log.Info("policy loaded", "files", len(c.files), "dir", e.dir, "bundled", e.bundled)
	return e, nil
}

// Reload loads the policy again. On failure the current policy stays in force
// and the error is returned, logged and counted.
func (e *Engine) Reload(ctx context.Context) error {
	e.reloadMu.Lock()
	defer e.reloadMu.Unlock()
	c, err := e.compile(ctx)
	if err != nil {
		e.metrics.reloads.WithLabelValues("failure").Inc()
		e.metrics.lastReloadOK.Set(0)
		e.log.Error("policy reload refused; the previous policy stays in force", "dir", e.dir, "err", err)
		return err
	}
	e.current.Store(c)
	e.metrics.reloads.WithLabelValues("success").Inc()
	e.metrics.lastReloadOK.Set(1)
	e.log.Info("policy reloaded", "files", len(c.files), "dir", e.dir)
	return nil
}

// Decide evaluates the decision for one candidate action. On any error the
// returned decision denies, and says why in its reasons.
func (e *Engine) Decide(ctx context.Context, in Input) (Decision, error) {
	start := time.Now()
	d, err := e.decide(ctx, &in)
	e.metrics.duration.Observe(time.Since(start).Seconds())
	switch {
	case errors.Is(err, ErrUndefined):
		e.metrics.evaluations.WithLabelValues("undefined").Inc()
	case err != nil:
		e.metrics.evaluations.WithLabelValues("error").Inc()
	case d.Allow:
		e.metrics.evaluations.WithLabelValues("allow").Inc()
	default:
		e.metrics.evaluations.WithLabelValues("deny").Inc()
	}
	if err != nil {
		return Decision{Allow: false, Reasons: []string{"denied: " + err.Error()}, Params: in.Action.Params, Codes: []string{"policy_error"}}, err
	}
	return d, nil
}

func (e *Engine) decide(ctx context.Context, in *Input) (Decision, error) {
	c := e.current.Load()
	v, err := in.value()
	if err != nil {
		return Decision{}, fmt.Errorf("building policy input: %w", err)
	}
	opts, release := evalOptions(ctx, v)
	rs, err := c.query.Eval(ctx, opts...)
	release()
	if err != nil {
		return Decision{}, fmt.Errorf("evaluating %s: %w", DecisionQuery, err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		return Decision{}, ErrUndefined
	}
	d, err := decodeDecision(rs[0].Expressions[0].Value)
	if err != nil {
		return Decision{}, fmt.Errorf("malformed policy decision: %w", err)
	}
	return d, nil
}

// evalOptions are the options of one evaluation. They spare the parts of
// rego's per-evaluation set-up that a decision does not need:
//   - the result stays an AST term (astResult): decodeDecision reads it,
//     rather than rego converting all of it to Go values first;
//   - no metrics are collected;
//   - no goroutine is started to watch ctx (rego starts one per evaluation
//     unless given a Cancel): a context that can be cancelled cancels the
//     evaluation through context.AfterFunc, one that cannot
//     (context.Background) needs no watching, and one already done fails the
//     evaluation at once.
//
// release must be called once the evaluation is over.
func evalOptions(ctx context.Context, input ast.Value) (opts []rego.EvalOption, release func()) {
	if ctx.Done() == nil {
		return []rego.EvalOption{rego.EvalParsedInput(input), resultAsAST, noMetrics, notCancellable}, func() {}
	}
	c := topdown.NewCancel()
	stop := context.AfterFunc(ctx, c.Cancel)
	if ctx.Err() != nil {
		c.Cancel()
	}
	return []rego.EvalOption{rego.EvalParsedInput(input), resultAsAST, noMetrics, rego.EvalExternalCancel(c)}, func() { stop() }
}

var (
	resultAsAST    = rego.EvalGenerateJSON(astResult)
	noMetrics      = rego.EvalMetrics(opametrics.NoOp())
	notCancellable = rego.EvalExternalCancel(topdown.NewCancel()) // never cancelled
)

// astResult hands the result term through unconverted.
func astResult(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }

// Files lists the policy files currently in force.
func (e *Engine) Files() []string { return e.current.Load().files }

// compile loads, tests and prepares the policy.
func (e *Engine) compile(ctx context.Context) (*compiled, error) {
	set, err := Load(e.dir, e.bundled)
	if err != nil {
		return nil, err
	}
	if e.ownNamespace != "" {
		set.setRuntime("own_namespace", e.ownNamespace)
	}
	// AST values on read: otherwise every evaluation converts the data it
	// touches (the config) from Go values again.
	store := inmem.NewFromObjectWithOpts(set.Documents, inmem.OptReturnASTValuesOnRead(true))
	compiler, err := set.compile()
	if err != nil {
		return nil, err
	}
	// The configuration is checked before the tests, so that a bad setting is
	// reported in the policy's own words rather than as the failing test
	// test_loaded_config_is_valid.
	if err := checkConfig(ctx, compiler, store); err != nil {
		return nil, err
	}
	if err := set.Test(ctx); err != nil {
		return nil, err
	}
	pq, err := rego.New(
		rego.Query(DecisionQuery),
		rego.Compiler(compiler),
		rego.Store(store),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("preparing %s: %w", DecisionQuery, err)
	}
	return &compiled{query: pq, files: slices.Sorted(maps.Keys(set.Modules))}, nil
}

// Set is a loaded policy: modules (tests included) and data.
type Set struct {
	Modules   map[string]*ast.Module
	Documents map[string]any
}

// Load reads the bundled policy (unless bundled is false) and the Rego and
// data files under dir (if not empty) through OPA's loader.
func Load(dir string, bundled bool) (*Set, error) {
	set := &Set{Modules: map[string]*ast.Module{}, Documents: map[string]any{}}
	if bundled {
		res, err := loader.NewFileLoader().WithFS(bundledFS).All([]string{"."})
		if err != nil {
			return nil, fmt.Errorf("loading bundled policy: %w", err)
		}
		for _, m := range res.Modules {
			set.Modules["bundled:"+m.Name] = m.Parsed
		}
		maps.Copy(set.Documents, res.Documents)
	}
	if dir != "" {
		res, err := loader.NewFileLoader().Filtered([]string{dir}, ignoreHidden)
		if err != nil {
			return nil, fmt.Errorf("loading policy directory %s: %w", dir, err)
		}
		if bundled {
			if err := bundledConflict(set.Modules, res.Modules, dir); err != nil {
				return nil, err
			}
		}
		for _, m := range res.Modules {
			set.Modules[m.Name] = m.Parsed
		}
		for k, v := range res.Documents {
			if _, dup := set.Documents[k]; dup && bundled {
				return nil, fmt.Errorf("policy directory %s: data at %q conflicts with the bundled policy's data", dir, k)
			}
			set.Documents[k] = v
		}
	}
	if len(set.Modules) == 0 {
		return nil, fmt.Errorf("no Rego modules loaded (bundled policy off and %q has none)", dir)
	}
	return set, nil
}

// ignoreHidden skips dot-files and dot-directories, such as the ..data
// symlinks of a mounted ConfigMap and editors' swap files.
func ignoreHidden(_ string, info fs.FileInfo, _ int) bool {
	return strings.HasPrefix(info.Name(), ".")
}

// setRuntime writes data.remediator.runtime[key].
func (s *Set) setRuntime(key string, value any) {
	rem, _ := s.Documents["remediator"].(map[string]any)
	if rem == nil {
		rem = map[string]any{}
		s.Documents["remediator"] = rem
	}
	rt, _ := rem["runtime"].(map[string]any)
	if rt == nil {
		rt = map[string]any{}
		rem["runtime"] = rt
	}
	rt[key] = value
}

// policyModules are the modules that decide: tests are left out of the
// prepared query, which keeps evaluation lean.
func (s *Set) policyModules() map[string]*ast.Module {
	out := make(map[string]*ast.Module, len(s.Modules))
	for name, m := range s.Modules {
		if !isTestFile(name) {
			out[name] = m
		}
	}
	return out
}

func isTestFile(name string) bool { return strings.HasSuffix(name, "_test.rego") }

// newStore returns a fresh in-memory store holding the set's data.
func (s *Set) newStore() storage.Store { return inmem.NewFromObject(s.Documents) }
