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
// goes to "postgres"), and plans instead of acting (DryRun) when the router
// is in global dry-run, the backend has no executor, or the executor has no
// configuration for the target. Dry-run is therefore per backend and target:
// configuring a database makes its actions real without making the
// Kubernetes ones real too.
type Router struct {
	dryRun   bool
	backends map[string]Backend
}

// NewRouter builds a router. dryRun plans every action whatever is
// configured (--dry-run). backends maps a backend name to its executor; a
// nil entry is the same as none.
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

// Plans reports whether the router would only plan a on t: the processor
// passes it to policy as input.dry_run, option by option.
func (r *Router) Plans(a Action, t Target) bool {
	if r.dryRun {
		return true
	}
	b, ok := r.backends[BackendOf(a.Spec().Name)]
	return !ok || !b.Configured(t)
}

// Execute implements Executor.
func (r *Router) Execute(ctx context.Context, a Action, t Target, p Params) (Result, error) {
	if r.Plans(a, t) {
		return DryRun{}.Execute(ctx, a, t, p)
	}
	return r.backends[BackendOf(a.Spec().Name)].Execute(ctx, a, t, p)
}

// GlobalDryRun reports whether the router plans every action (--dry-run).
func (r *Router) GlobalDryRun() bool { return r.dryRun }

// Backends lists the backends that have an executor, sorted.
func (r *Router) Backends() []string { return slices.Sorted(maps.Keys(r.backends)) }
