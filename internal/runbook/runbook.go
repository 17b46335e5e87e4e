// Package runbook maps alerts onto procedures: which alerts a runbook selects
// (Alertmanager matchers), how its target is built from the alert's labels,
// what to investigate, and the resolution options to try in order.
package runbook

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/prometheus/alertmanager/matcher/parse"
	"github.com/prometheus/alertmanager/pkg/labels"
	"go.yaml.in/yaml/v3"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/remediations"
)

// Runbook is one procedure.
type Runbook struct {
	Name        string     `yaml:"name"`
	Description string     `yaml:"description"`
	Match       Matchers   `yaml:"match"`
	Target      TargetSpec `yaml:"target"`
	Investigate []*Step    `yaml:"investigate"`
	Resolve     []*Step    `yaml:"resolve"`
	// EscalateAfter, when set, lets a still-firing incident move on to the
	// next resolution option once this long has passed without a
	// resolution since its last option (or its last escalation), once per
	// step. Zero: re-sent firing notifications of an open incident never act.
	EscalateAfter time.Duration `yaml:"escalate_after"`

	Line int `yaml:"-"`
}

// Matchers are Alertmanager label matchers; an alert is selected when all match.
type Matchers labels.Matchers

// UnmarshalYAML parses a list of matcher strings (each may hold several,
// comma-separated, with or without braces) with Alertmanager's own parser.
func (m *Matchers) UnmarshalYAML(n *yaml.Node) error {
	var raw []string
	if n.Kind == yaml.ScalarNode {
		raw = []string{n.Value}
	} else if err := n.Decode(&raw); err != nil {
		return err
	}
	for i, s := range raw {
		ms, err := parse.Matchers(s)
		if err != nil {
			line := n.Line
			if n.Kind == yaml.SequenceNode {
				line = n.Content[i].Line
			}
			return &lineError{line: line, err: fmt.Errorf("invalid matcher %q: %w", s, err)}
		}
		*m = append(*m, ms...)
	}
	return nil
}

// Matches reports whether every matcher matches the label set.
func (m Matchers) Matches(ls map[string]string) bool {
	for _, x := range m {
		if !x.Matches(ls[x.Name]) {
			return false
		}
	}
	return true
}

// String renders the matchers in Alertmanager syntax.
func (m Matchers) String() string { return labels.Matchers(m).String() }

// TargetSpec says how a target is built from an alert's labels. Each field
// lists label names; the first one the alert has (non-empty) wins.
type TargetSpec struct {
	Kind      string   `yaml:"kind"`
	Namespace []string `yaml:"namespace"`
	Name      []string `yaml:"name"`
	Pod       []string `yaml:"pod"`
	Container []string `yaml:"container"`
	Database  []string `yaml:"database"`
	Instance  []string `yaml:"instance"`
	// Connection picks the configured backend target the action runs
	// through (postgres.targets.NAME, redis.targets.NAME); when no label is
	// present the target is "default".
	Connection []string `yaml:"connection"`
}

// Resolve builds the target from the alert's labels.
func (s TargetSpec) Resolve(ls map[string]string) (remediations.Target, error) {
	first := func(names []string) string {
		for _, n := range names {
			if v := ls[n]; v != "" {
				return v
			}
		}
		return ""
	}
	t := remediations.Target{
		Kind:      s.Kind,
		Namespace: first(s.Namespace),
		Name:      first(s.Name),
		Pod:       first(s.Pod),
		Container: first(s.Container),
		Database:  first(s.Database),
		Instance:  first(s.Instance),

		Connection: first(s.Connection),
	}
	if s.Kind == "Namespace" {
		// A namespace target is its own namespace: policy's namespace rules
		// (protected, allow-list) must see it there.
		if t.Name == "" {
			t.Name = t.Namespace
		}
		t.Namespace = t.Name
	}
	var missing []string
	for _, req := range s.required() {
		if req.value(t) == "" {
			missing = append(missing, fmt.Sprintf("%s (labels %s)", req.field, strings.Join(req.labels, ", ")))
		}
	}
	if len(missing) > 0 {
		return t, fmt.Errorf("alert has no label for the %s target's %s", s.Kind, strings.Join(missing, "; "))
	}
	return t, nil
}

type requirement struct {
	field  string
	labels []string
	value  func(remediations.Target) string
}

// required lists the fields a target of this kind cannot do without.
func (s TargetSpec) required() []requirement {
	ns := requirement{"namespace", s.Namespace, func(t remediations.Target) string { return t.Namespace }}
	name := requirement{"name", s.Name, func(t remediations.Target) string { return t.Name }}
	switch s.Kind {
	case "Deployment", "StatefulSet":
		// A pod is enough: the Kubernetes backend resolves it to the
		// workload that owns it (cAdvisor and kube-state-metrics alerts name
		// only namespace, pod and container).
		nameOrPod := requirement{"name or pod", slices.Concat(s.Name, s.Pod), func(t remediations.Target) string {
			return cmp.Or(t.Name, t.Pod)
		}}
		return []requirement{ns, nameOrPod}
	case "Namespace":
		// Resolve falls back to the namespace labels for the name.
		return []requirement{{"name", slices.Concat(s.Name, s.Namespace), name.value}}
	case "PostgreSQL":
		return []requirement{{"database", s.Database, func(t remediations.Target) string { return t.Database }}}
	case "Redis":
		// Without an instance every Redis alert would share one lock and one
		// rate limit.
		return []requirement{{"instance", s.Instance, func(t remediations.Target) string { return t.Instance }}}
	}
	return nil
}

var targetKinds = []string{"Deployment", "StatefulSet", "Namespace", "PostgreSQL", "Redis"}

// Step is one investigation or resolution option: an action and its default
// parameters. String parameters may use Alertmanager-style templates over the
// alert, e.g. `app={{ .Labels.service }}`.
type Step struct {
	Action string              `yaml:"action"`
	Params remediations.Params `yaml:"params"`
	// Target overrides the runbook's target for this step, for options that
	// act on something else (the app's Deployment for a database alert).
	Target *TargetSpec `yaml:"target"`

	Line int `yaml:"-"`

	action    remediations.Action
	templates map[string]*template.Template
}

// UnmarshalYAML records the step's line for error messages.
func (s *Step) UnmarshalYAML(n *yaml.Node) error {
	type plain Step
	if err := decodeKnownFields(n, (*plain)(s), reflect.TypeFor[Step]()); err != nil {
		return err
	}
	s.Line = n.Line
	return nil
}

// UnmarshalYAML records the runbook's line for error messages.
func (r *Runbook) UnmarshalYAML(n *yaml.Node) error {
	type plain Runbook
	if err := decodeKnownFields(n, (*plain)(r), reflect.TypeFor[Runbook]()); err != nil {
		return err
	}
	r.Line = n.Line
	return nil
}

// decodeKnownFields is n.Decode(out) rejecting unknown fields as DecodeStrict
// does: yaml.v3's Node.Decode, which an UnmarshalYAML method must use, ignores
// the decoder's KnownFields, so a typo inside a runbook or step (`parms:`)
// would otherwise be silently dropped. t is out's struct type, for messages.
func decodeKnownFields(n *yaml.Node, out any, t reflect.Type) error {
	errs := unknownFields(n, t)
	err := n.Decode(out)
	if te := (*yaml.TypeError)(nil); errors.As(err, &te) {
		errs = append(errs, te.Errors...)
	} else if err != nil {
		return err
	}
	if len(errs) > 0 {
		return &yaml.TypeError{Errors: errs}
	}
	return nil
}

var yamlUnmarshaler = reflect.TypeFor[yaml.Unmarshaler]()

// unknownFields lists, worded as yaml.v3 does, the keys of the mapping n that
// name no field of struct type t, recursing into nested structs that do not
// decode themselves.
func unknownFields(n *yaml.Node, t reflect.Type) []string {
	if n.Kind != yaml.MappingNode {
		return nil // not a mapping: Decode reports the type error
	}
	fields := map[string]reflect.Type{}
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = strings.ToLower(f.Name)
		}
		fields[name] = f.Type
	}
	var errs []string
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft, ok := fields[k.Value]
		if !ok {
			if k.Value != "<<" {
				errs = append(errs, fmt.Sprintf("line %d: field %s not found in type %s", k.Line, k.Value, t))
			}
			continue
		}
		elems := []*yaml.Node{v}
		if ft.Kind() == reflect.Slice {
			ft, elems = ft.Elem(), v.Content
		}
		if ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		if ft.Kind() != reflect.Struct || reflect.PointerTo(ft).Implements(yamlUnmarshaler) {
			continue
		}
		for _, e := range elems {
			errs = append(errs, unknownFields(e, ft)...)
		}
	}
	return errs
}

// ActionImpl is the catalogue entry the step names (set by Compile).
func (s *Step) ActionImpl() remediations.Action { return s.action }

// TemplateData is what a step's parameter templates see.
type TemplateData struct {
	Labels      map[string]string
	Annotations map[string]string
	Fingerprint string
	Status      string
}

// Render returns the step's parameters with templates executed for a.
func (s *Step) Render(a alert.Alert) (remediations.Params, error) {
	out := make(remediations.Params, len(s.Params))
	maps.Copy(out, s.Params)
	data := TemplateData{Labels: a.Labels, Annotations: a.Annotations, Fingerprint: a.Fingerprint, Status: a.Status}
	for k, tmpl := range s.templates {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, data); err != nil {
			return nil, fmt.Errorf("param %s: %w", k, err)
		}
		out[k] = b.String()
	}
	return out, nil
}

// compile resolves the action and parses templates; errors carry the line.
func (s *Step) compile(catalog *remediations.Catalog, want remediations.Kind) error {
	a, ok := catalog.Lookup(s.Action)
	if !ok {
		return &lineError{line: s.Line, err: fmt.Errorf("unknown action %q (known: %s)", s.Action, strings.Join(catalog.Names(), ", "))}
	}
	if k := a.Spec().Kind; k != want {
		return &lineError{line: s.Line, err: fmt.Errorf("action %q is for %ss, not %ss", s.Action, k, want)}
	}
	s.action = a
	s.templates = map[string]*template.Template{}
	sample := remediations.Params{}
	for k, v := range s.Params {
		str, ok := v.(string)
		if !ok || !strings.Contains(str, "{{") {
			sample[k] = v
			continue
		}
		t, err := template.New(k).Option("missingkey=zero").Parse(str)
		if err != nil {
			return &lineError{line: s.Line, err: fmt.Errorf("param %s: %w", k, err)}
		}
		s.templates[k] = t
		sample[k] = "x" // stands in for the rendered value during validation
	}
	if err := a.Validate(sample); err != nil {
		return &lineError{line: s.Line, err: fmt.Errorf("action %s: %w", s.Action, err)}
	}
	return nil
}

func (s TargetSpec) validate(line int) error {
	for _, k := range targetKinds {
		if s.Kind == k {
			return nil
		}
	}
	return &lineError{line: line, err: fmt.Errorf("target kind %q is not one of %s", s.Kind, strings.Join(targetKinds, ", "))}
}

// lineError is an error at a line of a YAML document.
type lineError struct {
	line int
	err  error
}

func (e *lineError) Error() string { return fmt.Sprintf("line %d: %v", e.line, e.err) }
func (e *lineError) Unwrap() error { return e.err }

// ErrNoRunbook is returned by Match when no runbook selects an alert.
var ErrNoRunbook = errors.New("no runbook matches")
