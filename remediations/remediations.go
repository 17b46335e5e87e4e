// Package remediations is the action catalogue: every investigation and
// resolution the daemon can run, declared once with its name, description,
// typed parameters and a plan that says exactly what it would call.
//
// Backends live in one sub-package each (remediations/kubernetes,
// remediations/postgres, remediations/redis). The dispatcher only sees the
// Action and Executor interfaces, so dry-run and real execution share one path.
package remediations

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// Kind says whether an action only reads (investigation) or changes something
// (resolution). Only resolutions are subject to policy.
type Kind string

// Action kinds.
const (
	Investigation Kind = "investigation"
	Resolution    Kind = "resolution"
)

// DefaultConnection is the configured backend target (postgres.targets.NAME,
// redis.targets.NAME) that a Target naming no connection runs through.
const DefaultConnection = "default"

// Target is what an action works on, resolved from the alert's labels.
type Target struct {
	// Kind is the object kind: Deployment, StatefulSet, Pod, Namespace,
	// PostgreSQL, Redis.
	Kind      string `json:"kind"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Pod       string `json:"pod,omitempty"`
	Container string `json:"container,omitempty"`
	// Database and Instance name a PostgreSQL/Redis target.
	Database string `json:"database,omitempty"`
	Instance string `json:"instance,omitempty"`
	// Connection names the configured backend target (postgres.targets.NAME,
	// redis.targets.NAME) the action runs through; empty means
	// DefaultConnection.
	Connection string `json:"connection,omitempty"`

	// Observed facts about the target, filled by a backend that can read
	// them; nil/empty when unknown (for example in dry-run without a cluster).
	CurrentReplicas *int32            `json:"currentReplicas"`
	Labels          map[string]string `json:"labels"`
	Annotations     map[string]string `json:"annotations"`
	HPA             map[string]any    `json:"hpa"`
	// NamespaceAnnotations are the target namespace's annotations (a
	// namespace can opt out of remediation as a whole); nil when unknown.
	NamespaceAnnotations map[string]string `json:"namespaceAnnotations,omitempty"`
}

// ConnectionName is the backend target the action runs through.
func (t Target) ConnectionName() string {
	if t.Connection == "" {
		return DefaultConnection
	}
	return t.Connection
}

// Key identifies the target for locks, rate limits and cooldowns.
func (t Target) Key() string {
	parts := []string{t.Kind}
	ns := t.Namespace
	if t.Kind == "Namespace" {
		ns = "" // a Namespace target is its own namespace: name it once
	}
	name := t.Name
	if name == "" && t.Pod != "" {
		// A workload known only by its pod (not resolved to its owner, as
		// when no cluster is configured): the pod stands in for it, so that
		// unrelated pods of one namespace do not share a lock.
		name = "pod:" + t.Pod
	}
	for _, p := range []string{ns, name, t.Database, t.Instance} {
		if p != "" {
			parts = append(parts, p)
		}
	}
	key := strings.Join(parts, "/")
	if t.Connection != "" {
		// Marked with "@" so that it cannot collide with an instance name,
		// and appended so that keys without a connection stay as they were.
		key += "@" + t.Connection
	}
	return key
}

// String is the target as a person reads it, e.g. Deployment order-context/order-service.
func (t Target) String() string {
	if t.Name == "" && t.Pod != "" {
		return t.Kind + " owning pod " + t.Namespace + "/" + t.Pod
	}
	name := t.Name
	if t.Namespace != "" && t.Kind != "Namespace" {
		name = t.Namespace + "/" + name
	}
	if t.Database != "" {
		name = strings.TrimPrefix(name+"/"+t.Database, "/")
	}
	if name == "" {
		name = t.Instance // a Redis target has only its instance
	}
	if t.Connection != "" {
		name += " (connection " + t.Connection + ")"
	}
	return t.Kind + " " + name
}

// Params are an action's parameters as written in a runbook and as seen and
// possibly lowered by policy. Each action decodes them into its typed struct.
type Params map[string]any

// Plan says what an action would do, without doing it.
type Plan struct {
	Action string `json:"action"`
	Params Params `json:"params"`
	// Calls are the API calls or queries the action would issue, in order.
	Calls []string `json:"calls"`
}

// Result is what running (or dry-running) an action produced.
type Result struct {
	DryRun bool `json:"dryRun"`
	Plan   Plan `json:"plan"`
	// Changes lists what changed, before → after, for the audit record.
	Changes []string `json:"changes,omitempty"`
	// Evidence is what an investigation collected.
	Evidence any `json:"evidence,omitempty"`
}

// Spec is an action's declaration. Documentation, `remediator actions` and
// config validation are all derived from it.
type Spec struct {
	Name        string
	Description string
	Kind        Kind
	// TargetKinds lists the target kinds the action accepts.
	TargetKinds []string
	// Params documents the parameters, derived from the typed struct.
	Params []ParamDoc
	// Example is a valid parameter set.
	Example Params
}

// ParamDoc documents one parameter.
type ParamDoc struct {
	Name        string `json:"name"`
	Type        string `json:"type"`
	Description string `json:"description"`
}

// Action is one entry of the catalogue.
type Action interface {
	Spec() Spec
	// Validate checks params (after defaults and policy) for this action.
	Validate(Params) error
	// Plan says, without I/O, exactly what running the action on t would do.
	Plan(t Target, p Params) (Plan, error)
}

// Executor runs actions. A backend implements it for its own actions; DryRun
// implements it for all of them by planning only.
type Executor interface {
	Execute(ctx context.Context, a Action, t Target, p Params) (Result, error)
}

// Previewer is implemented by an Executor that can tell, by reading its
// target, what running an action would change, without changing it: a
// read-only run. Preview returns Result{DryRun: true} with the action's plan
// and, as Evidence, what a real run would do (the sessions it would end,
// the keys it would delete) as far as the target's current state shows. It
// must issue no call that changes anything; Changes stays empty.
type Previewer interface {
	Preview(ctx context.Context, a Action, t Target, p Params) (Result, error)
}

// DryRun is the Executor that plans and never acts.
type DryRun struct{}

// Execute implements Executor by returning the plan.
func (DryRun) Execute(_ context.Context, a Action, t Target, p Params) (Result, error) {
	plan, err := a.Plan(t, p)
	if err != nil {
		return Result{DryRun: true}, err
	}
	return Result{DryRun: true, Plan: plan}, nil
}

// Catalog is the set of known actions, by name.
type Catalog struct {
	byName map[string]Action
}

// NewCatalog builds a catalogue; names must be unique and examples valid.
func NewCatalog(actions ...Action) (*Catalog, error) {
	c := &Catalog{byName: make(map[string]Action, len(actions))}
	for _, a := range actions {
		s := a.Spec()
		if _, dup := c.byName[s.Name]; dup {
			return nil, fmt.Errorf("action %q declared twice", s.Name)
		}
		if err := a.Validate(s.Example); err != nil {
			return nil, fmt.Errorf("action %q: example params: %w", s.Name, err)
		}
		c.byName[s.Name] = a
	}
	return c, nil
}

// Lookup finds an action by name.
func (c *Catalog) Lookup(name string) (Action, bool) {
	a, ok := c.byName[name]
	return a, ok
}

// Names lists the action names, sorted.
func (c *Catalog) Names() []string {
	names := make([]string, 0, len(c.byName))
	for n := range c.byName {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
