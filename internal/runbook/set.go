package runbook

import (
	_ "embed"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/remediator/remediator/remediations"
)

//go:embed defaults.yaml
var defaultsYAML []byte

// DefaultsYAML is the shipped runbook set, for `remediator runbooks` and docs.
func DefaultsYAML() []byte { return defaultsYAML }

// Set is an ordered list of runbooks; the first that matches an alert wins.
type Set struct {
	Runbooks []*Runbook
}

// Match returns the first runbook whose matchers all match ls.
func (s *Set) Match(ls map[string]string) (*Runbook, error) {
	for _, r := range s.Runbooks {
		if r.Match.Matches(ls) {
			return r, nil
		}
	}
	return nil, ErrNoRunbook
}

// Lookup finds a runbook by name.
func (s *Set) Lookup(name string) (*Runbook, bool) {
	for _, r := range s.Runbooks {
		if r.Name == name {
			return r, true
		}
	}
	return nil, false
}

// Defaults returns the shipped runbooks.
func Defaults(catalog *remediations.Catalog) (*Set, error) {
	var doc struct {
		Runbooks []*Runbook `yaml:"runbooks"`
	}
	if err := DecodeStrict(defaultsYAML, &doc); err != nil {
		return nil, FileError("defaults.yaml (embedded)", err)
	}
	return Compile(doc.Runbooks, catalog, "defaults.yaml (embedded)")
}

// Compile validates runbooks against the catalogue. file names the source in
// errors, which read FILE:LINE: reason.
func Compile(rbs []*Runbook, catalog *remediations.Catalog, file string) (*Set, error) {
	seen := map[string]bool{}
	for _, r := range rbs {
		if err := compileRunbook(r, catalog); err != nil {
			return nil, FileError(file, fmt.Errorf("runbook %q: %w", r.Name, err))
		}
		if seen[r.Name] {
			return nil, FileError(file, &lineError{line: r.Line, err: fmt.Errorf("runbook %q is defined twice", r.Name)})
		}
		seen[r.Name] = true
	}
	return &Set{Runbooks: rbs}, nil
}

func compileRunbook(r *Runbook, catalog *remediations.Catalog) error {
	if r.Name == "" {
		return &lineError{line: r.Line, err: errors.New("name is required")}
	}
	if len(r.Match) == 0 {
		return &lineError{line: r.Line, err: errors.New("match needs at least one matcher (a runbook must not select every alert)")}
	}
	if err := r.Target.validate(r.Line); err != nil {
		return err
	}
	if len(r.Resolve) == 0 {
		return &lineError{line: r.Line, err: errors.New("resolve needs at least one option")}
	}
	switch {
	case r.EscalateAfter < 0:
		return &lineError{line: r.Line, err: fmt.Errorf("escalate_after %s is negative", r.EscalateAfter)}
	case r.EscalateAfter > 0 && len(r.Resolve) < 2:
		// Escalation moves to the next option; with one there is none.
		return &lineError{line: r.Line, err: errors.New("escalate_after needs at least two resolve options to escalate between")}
	}
	for _, s := range r.Investigate {
		if err := s.compile(catalog, remediations.Investigation); err != nil {
			return err
		}
		if s.Target != nil {
			if err := s.Target.validate(s.Line); err != nil {
				return err
			}
		}
	}
	for _, s := range r.Resolve {
		if err := s.compile(catalog, remediations.Resolution); err != nil {
			return err
		}
		if s.Target != nil {
			if err := s.Target.validate(s.Line); err != nil {
				return err
			}
		}
	}
	return nil
}

// Merge puts user runbooks first; a default runbook with the same name as a
// user one is replaced by it.
func Merge(user, defaults *Set) *Set {
	out := &Set{Runbooks: append([]*Runbook(nil), user.Runbooks...)}
	for _, d := range defaults.Runbooks {
		if _, overridden := user.Lookup(d.Name); !overridden {
			out.Runbooks = append(out.Runbooks, d)
		}
	}
	return out
}

// TargetFor returns the spec that builds the step's target: its own, or the runbook's.
func (r *Runbook) TargetFor(s *Step) TargetSpec {
	if s.Target != nil {
		return *s.Target
	}
	return r.Target
}

// DecodeStrict decodes YAML rejecting unknown fields.
func DecodeStrict(data []byte, out any) error {
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(out); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// FileError formats YAML and validation errors as FILE:LINE: reason, one per line.
func FileError(file string, err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = file + ":" + strings.TrimPrefix(e, "line ")
		}
		return fmt.Errorf("%s", strings.Join(msgs, "\n"))
	}
	var le *lineError
	if errors.As(err, &le) {
		// Keep the runbook context the wrapping added, but lead with FILE:LINE.
		msg := strings.Replace(err.Error(), le.Error(), le.err.Error(), 1)
		return fmt.Errorf("%s:%d: %s", file, le.line, msg)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "yaml: line ") {
		return fmt.Errorf("%s:%s", file, strings.TrimPrefix(msg, "yaml: line "))
	}
	return fmt.Errorf("%s: %w", file, err)
}
