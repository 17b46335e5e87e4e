package remediations

import (
	"context"
	"maps"
	"slices"
	"strings"
)

// Backend is the executor of one backend's actions (postgres, redis,
// kubernetes): it runs them on the targets it has configured.
type Backend interface {
	Executor
	// Configured reports whether the backend can act on t (a connection or
	// cluster for it is configured).
	Configured(t Target) bool
}

// Router is the Executor the daemon uses: it sends each action to its
// backend's executor by the action's name prefix ("postgres.terminate_idle"
// goes to "postgres"). Dry-run is per backend and target: configuring a
// database makes its actions real without making the Kubernetes ones real
// too.
//
// What Execute does with an action a on a target t:
//
//   - t's backend has no executor, or its executor has no configuration for
//     t: a is planned (DryRun): no I/O at all.
//   - Not in global dry-run, t configured: a runs for real.
//   - Global dry-run (--dry-run, dry_run: true), t configured:
//     an investigation runs for real, since it only reads and its evidence
//     is what a dry-run is for; a resolution runs through the backend's
//     Preview (read-only: it reports what it would change) when the
//     executor is a Previewer, and is planned otherwise. Either way the
//     result has DryRun set and nothing is changed.
type Router struct {
	dryRun   bool
	backends map[string]Backend
}

// NewRouter builds a router. dryRun makes every run read-only whatever is
// configured (--dry-run): investigations still read, resolutions are
// previewed or planned. backends maps a backend name to its executor; a nil
// entry is the same as none.
func NewRouter(dryRun bool, backends map[string]Backend) *Router {
	r := &Router{dryRun: dryRun, backends: map[string]Backend{}}
	for name, b := range backends {
		if b != nil {
			r.backends[name] = b
		}
	}
	return r
}

// BackendOf is the backend an action belongs to: its name up to the first '.'.
func BackendOf(action string) string {
	backend, _, _ := strings.Cut(action, ".")
	return backend
}

// Plans reports whether running a on t changes nothing: in global dry-run
// (where a resolution is previewed or planned, and an investigation only
// reads anyway), or when t's backend is not there or not configured for t.
// The processor passes it to policy as input.dry_run, option by option.
func (r *Router) Plans(a Action, t Target) bool {
	if r.dryRun {
		return true
	}
	_, ok := r.configured(a, t)
	return !ok
}

// configured is the backend that runs a on t, if it has a configuration
// for t.
func (r *Router) configured(a Action, t Target) (Backend, bool) {
	b, ok := r.backends[BackendOf(a.Spec().Name)]
	if !ok || !b.Configured(t) {
		return nil, false
	}
	return b, true
}

// Execute implements Executor, as the Router's comment says.
func (r *Router) Execute(ctx context.Context, a Action, t Target, p Params) (Result, error) {
	b, ok := r.configured(a, t)
	switch {
	case !ok:
		return DryRun{}.Execute(ctx, a, t, p)
	case !r.dryRun || a.Spec().Kind == Investigation:
		return b.Execute(ctx, a, t, p)
	}
	pv, ok := b.(Previewer)
	if !ok {
		return DryRun{}.Execute(ctx, a, t, p)
	}
	res, err := pv.Preview(ctx, a, t, p)
	// Whatever the backend says, a preview is a dry-run and changed nothing.
	res.DryRun, res.Changes = true, nil
	return res, err
}

// ResolveTarget implements TargetResolver through the backend that runs a
// on t, when it is configured for t and can look targets up; otherwise t is
// returned as it is.
func (r *Router) ResolveTarget(ctx context.Context, a Action, t Target) (Target, error) {
	b, ok := r.configured(a, t)
	if !ok {
		return t, nil
	}
	res, ok := b.(TargetResolver)
	if !ok {
		return t, nil
	}
	return res.ResolveTarget(ctx, a, t)
}

// GlobalDryRun reports whether the router is in global dry-run (--dry-run):
// nothing is changed, whatever is configured.
func (r *Router) GlobalDryRun() bool { return r.dryRun }

// Backends lists the backends that have an executor, sorted.
func (r *Router) Backends() []string { return slices.Sorted(maps.Keys(r.backends)) }
