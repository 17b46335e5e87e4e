package remediations

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Validator is implemented by typed parameter structs.
type Validator interface {
	Validate() error
}

// Define declares an action from its spec, its typed parameters P and a plan
// function. Params are decoded into P strictly (an unknown parameter is an
// error, so a typo in a runbook fails at start rather than being ignored) and
// validated before plan is called.
func Define[P any, PP interface {
	*P
	Validator
}](spec Spec, plan func(t Target, p *P) ([]string, error)) Action {
	spec.Params = paramDocs(reflect.TypeFor[P]())
	return &defined[P, PP]{spec: spec, plan: plan}
}

type defined[P any, PP interface {
	*P
	Validator
}] struct {
	spec Spec
	plan func(Target, *P) ([]string, error)
}

func (d *defined[P, PP]) Spec() Spec { return d.spec }

func (d *defined[P, PP]) Validate(p Params) error {
	_, err := d.decode(p)
	return err
}

func (d *defined[P, PP]) Plan(t Target, p Params) (Plan, error) {
	typed, err := d.decode(p)
	if err != nil {
		return Plan{}, err
	}
	if !slices.Contains(d.spec.TargetKinds, t.Kind) {
		return Plan{}, fmt.Errorf("%s cannot act on a %s target (accepts %s)", d.spec.Name, t.Kind, strings.Join(d.spec.TargetKinds, ", "))
	}
	calls, err := d.plan(t, typed)
	if err != nil {
		return Plan{}, fmt.Errorf("%s: %w", d.spec.Name, err)
	}
	if p == nil {
		p = Params{}
	}
	return Plan{Action: d.spec.Name, Params: p, Calls: calls}, nil
}

// Decode decodes p into the action's typed parameters, for a backend that
// runs the action.
func Decode[P any, PP interface {
	*P
	Validator
}](p Params) (*P, error) {
	return (&defined[P, PP]{}).decode(p)
}

func (d *defined[P, PP]) decode(p Params) (*P, error) {
	// encoding/json matches keys to fields case-insensitively, so without
	// this check "Idle_Seconds" would set idle_seconds behind the back of a
	// policy that caps or floors the parameter by its exact name.
	docs := paramDocs(reflect.TypeFor[P]())
	for _, k := range slices.Sorted(maps.Keys(p)) {
		if !slices.ContainsFunc(docs, func(doc ParamDoc) bool { return doc.Name == k }) {
			return nil, fmt.Errorf("invalid params: unknown parameter %q (%s)", k, knownParams(docs))
		}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("encoding params: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	typed := new(P)
	if err := dec.Decode(typed); err != nil {
		return nil, fmt.Errorf("invalid params: %w", err)
	}
	if err := PP(typed).Validate(); err != nil {
		return nil, fmt.Errorf("invalid params: %w", err)
	}
	return typed, nil
}

func knownParams(docs []ParamDoc) string {
	if len(docs) == 0 {
		return "the action takes none"
	}
	names := make([]string, len(docs))
	for i, d := range docs {
		names[i] = d.Name
	}
	return "known: " + strings.Join(names, ", ")
}

// paramDocs documents the json-tagged fields of t from their `doc` tags.
func paramDocs(t reflect.Type) []ParamDoc {
	var docs []ParamDoc
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		typ := f.Type
		if typ.Kind() == reflect.Pointer {
			typ = typ.Elem()
		}
		docs = append(docs, ParamDoc{Name: name, Type: typ.String(), Description: f.Tag.Get("doc")})
	}
	return docs
}

// NoParams is the parameter type of actions that take none.
type NoParams struct{}

// Validate implements Validator.
func (NoParams) Validate() error { return nil }
