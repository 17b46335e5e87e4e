package policies

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/remediator/remediator/remediations"
)

// Input is what the policy sees as `input`: the contract in policies/README.md,
// which documents every field and must change with them.
type Input struct {
	Alert   AlertInput          `json:"alert"`
	Target  remediations.Target `json:"target"`
	Action  ActionInput         `json:"action"`
	History HistoryInput        `json:"history"`
	DryRun  bool                `json:"dry_run"`
}

// AlertInput is the alert part of Input.
type AlertInput struct {
	Name        string            `json:"name"`
	Status      string            `json:"status"`
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	StartsAt    time.Time         `json:"startsAt"`
	Fingerprint string            `json:"fingerprint"`
}

// ActionInput is the candidate action.
type ActionInput struct {
	Name   string              `json:"name"`
	Params remediations.Params `json:"params"`
}

// HistoryInput is what the state store knows about past actions.
type HistoryInput struct {
	TargetActionsLastHour int `json:"target_actions_last_hour"`
	// ActionLastRunSecondsAgo is nil when the action never ran on the target.
	ActionLastRunSecondsAgo *float64 `json:"action_last_run_seconds_ago"`
	GlobalActionsLastHour   int      `json:"global_actions_last_hour"`
	ConsecutiveFailures     int      `json:"consecutive_failures"`
	// ActionRunsLastHour counts runs of this action on this target within the hour.
	ActionRunsLastHour int `json:"action_runs_last_hour"`
}

// Decision is the policy's answer (`data.remediator.decision`).
type Decision struct {
	Allow   bool                `json:"allow"`
	Reasons []string            `json:"reasons"`
	Params  remediations.Params `json:"params"`
	// Codes are machine-readable deny reasons (cooldown, rate_limit_target, ...).
	Codes []string `json:"codes,omitempty"`
}

// value converts the input to an AST value directly. Going through
// ast.InterfaceToValue on the struct would round-trip it through JSON on every
// evaluation, which costs as much as the evaluation itself. The keys are
// shared terms (see inputKeys), and empty strings and maps are OPA's interned
// empty values: evaluation never modifies its input, so sharing is safe, and
// it halves the allocations of a typical input.
func (in *Input) value() (ast.Value, error) {
	params, err := paramsValue(in.Action.Params)
	if err != nil {
		return nil, err
	}
	var lastRun *ast.Term
	if in.History.ActionLastRunSecondsAgo == nil {
		lastRun = ast.InternedNullTerm
	} else {
		lastRun = ast.FloatNumberTerm(*in.History.ActionLastRunSecondsAgo)
	}
	startsAt := ast.InternedEmptyString
	if !in.Alert.StartsAt.IsZero() {
		startsAt = ast.StringTerm(in.Alert.StartsAt.UTC().Format(time.RFC3339Nano))
	}
	t := &in.Target
	replicas := ast.InternedNullTerm
	if t.CurrentReplicas != nil {
		replicas = ast.IntNumberTerm(int(*t.CurrentReplicas))
	}
	hpa := ast.InternedNullTerm
	if t.HPA != nil {
		v, err := ast.InterfaceToValue(t.HPA)
		if err != nil {
			return nil, fmt.Errorf("target.hpa: %w", err)
		}
		hpa = ast.NewTerm(v)
	}
	k := &inputKeys
	target := ast.ObjectTerm(
		[2]*ast.Term{k.kind, str(t.Kind)},
		[2]*ast.Term{k.namespace, str(t.Namespace)},
		[2]*ast.Term{k.name, str(t.Name)},
		[2]*ast.Term{k.pod, str(t.Pod)},
		[2]*ast.Term{k.container, str(t.Container)},
		[2]*ast.Term{k.database, str(t.Database)},
		[2]*ast.Term{k.instance, str(t.Instance)},
		[2]*ast.Term{k.connection, str(t.Connection)},
		[2]*ast.Term{k.currentReplicas, replicas},
		[2]*ast.Term{k.labels, stringMap(t.Labels)},
		[2]*ast.Term{k.annotations, stringMap(t.Annotations)},
		[2]*ast.Term{k.hpa, hpa},
	)
	if t.NamespaceAnnotations != nil {
		// Present only when known, as in the JSON form (omitempty).
		target.Value.(ast.Object).Insert(k.namespaceAnnotations, stringMap(t.NamespaceAnnotations))
	}
	return ast.NewObject(
		[2]*ast.Term{k.alert, ast.ObjectTerm(
			[2]*ast.Term{k.name, str(in.Alert.Name)},
			[2]*ast.Term{k.status, str(in.Alert.Status)},
			[2]*ast.Term{k.labels, stringMap(in.Alert.Labels)},
			[2]*ast.Term{k.annotations, stringMap(in.Alert.Annotations)},
			[2]*ast.Term{k.startsAt, startsAt},
			[2]*ast.Term{k.fingerprint, str(in.Alert.Fingerprint)},
		)},
		[2]*ast.Term{k.target, target},
		[2]*ast.Term{k.action, ast.ObjectTerm(
			[2]*ast.Term{k.name, str(in.Action.Name)},
			[2]*ast.Term{k.params, params},
		)},
		[2]*ast.Term{k.history, ast.ObjectTerm(
			[2]*ast.Term{k.targetActionsLastHour, ast.IntNumberTerm(in.History.TargetActionsLastHour)},
			[2]*ast.Term{k.actionLastRunSecondsAgo, lastRun},
			[2]*ast.Term{k.globalActionsLastHour, ast.IntNumberTerm(in.History.GlobalActionsLastHour)},
			[2]*ast.Term{k.consecutiveFailures, ast.IntNumberTerm(in.History.ConsecutiveFailures)},
			[2]*ast.Term{k.actionRunsLastHour, ast.IntNumberTerm(in.History.ActionRunsLastHour)},
		)},
		[2]*ast.Term{k.dryRun, ast.BooleanTerm(in.DryRun)},
	), nil
}

// inputKeys are the object keys of the input, as terms built once.
var inputKeys = struct {
	alert, name, status, labels, annotations, startsAt, fingerprint                    *ast.Term
	target, kind, namespace, pod, container, database, instance, currentReplicas, hpa  *ast.Term
	action, params                                                                     *ast.Term
	history, targetActionsLastHour, actionLastRunSecondsAgo                            *ast.Term
	globalActionsLastHour, consecutiveFailures, dryRun, actionRunsLastHour, connection *ast.Term
	namespaceAnnotations                                                               *ast.Term
}{
	alert: ast.StringTerm("alert"), name: ast.StringTerm("name"), status: ast.StringTerm("status"),
	labels: ast.StringTerm("labels"), annotations: ast.StringTerm("annotations"),
	startsAt: ast.StringTerm("startsAt"), fingerprint: ast.StringTerm("fingerprint"),
	target: ast.StringTerm("target"), kind: ast.StringTerm("kind"), namespace: ast.StringTerm("namespace"),
	pod: ast.StringTerm("pod"), container: ast.StringTerm("container"), database: ast.StringTerm("database"),
	instance: ast.StringTerm("instance"), currentReplicas: ast.StringTerm("currentReplicas"), hpa: ast.StringTerm("hpa"),
	action: ast.StringTerm("action"), params: ast.StringTerm("params"),
	history: ast.StringTerm("history"), targetActionsLastHour: ast.StringTerm("target_actions_last_hour"),
	actionLastRunSecondsAgo: ast.StringTerm("action_last_run_seconds_ago"),
	globalActionsLastHour:   ast.StringTerm("global_actions_last_hour"),
	consecutiveFailures:     ast.StringTerm("consecutive_failures"), dryRun: ast.StringTerm("dry_run"),
	actionRunsLastHour: ast.StringTerm("action_runs_last_hour"), connection: ast.StringTerm("connection"),
	namespaceAnnotations: ast.StringTerm("namespaceAnnotations"),
}

// str is ast.StringTerm, with OPA's interned term for "" (and the few strings
// OPA interns).
func str(s string) *ast.Term { return ast.InternedTerm(s) }

func stringMap(m map[string]string) *ast.Term {
	if len(m) == 0 {
		return ast.InternedEmptyObject
	}
	items := make([][2]*ast.Term, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		items = append(items, [2]*ast.Term{str(k), str(m[k])})
	}
	return ast.ObjectTerm(items...)
}

func paramsValue(p remediations.Params) (*ast.Term, error) {
	if len(p) == 0 {
		return ast.InternedEmptyObject, nil
	}
	v, err := ast.InterfaceToValue(map[string]any(p))
	if err != nil {
		return nil, fmt.Errorf("action.params: %w", err)
	}
	return ast.NewTerm(v), nil
}

// decodeDecision converts the policy's result document into a Decision,
// rejecting anything that does not have the contract's shape: a malformed
// decision must deny, not be read as a partial allow. The result arrives as
// an AST term (see evalOptions); the fields are read from it directly, and
// converted to Go values (as rego would have) only where the fast path does
// not apply, so that the rules and errors are those of decodeJSONDecision.
func decodeDecision(v any) (Decision, error) {
	t, ok := v.(*ast.Term)
	if !ok {
		return decodeJSONDecision(v)
	}
	obj, ok := t.Value.(ast.Object)
	if !ok {
		return decodeASTAsJSON(t.Value)
	}
	var d Decision
	allow, ok := field(obj, decisionKeys.allow).(ast.Boolean)
	if !ok {
		return decodeASTAsJSON(obj)
	}
	d.Allow = bool(allow)
	var err error
	if d.Reasons, err = astStringList(field(obj, decisionKeys.reasons), "reasons"); err != nil {
		return Decision{}, err
	}
	if d.Codes, err = astStringList(field(obj, decisionKeys.codes), "codes"); err != nil {
		return Decision{}, err
	}
	switch p := field(obj, decisionKeys.params).(type) {
	case nil, ast.Null:
	case ast.Object:
		d.Params = make(remediations.Params, p.Len())
		err := p.Iter(func(k, v *ast.Term) error {
			ks, ok := k.Value.(ast.String)
			if !ok {
				return errNonStringKey
			}
			x, err := ast.JSON(v.Value)
			if err != nil {
				return err
			}
			d.Params[string(ks)] = normalizeNumbers(x)
			return nil
		})
		if err != nil {
			return decodeASTAsJSON(obj)
		}
	default:
		return decodeASTAsJSON(obj)
	}
	return d, nil
}

var errNonStringKey = errors.New("non-string key")

var decisionKeys = struct{ allow, reasons, params, codes *ast.Term }{
	ast.StringTerm("allow"), ast.StringTerm("reasons"), ast.StringTerm("params"), ast.StringTerm("codes"),
}

// field is obj[key], or nil when absent.
func field(obj ast.Object, key *ast.Term) ast.Value {
	if t := obj.Get(key); t != nil {
		return t.Value
	}
	return nil
}

// astStringList reads an array of strings; anything else goes the way of
// stringList, after conversion to Go values.
func astStringList(v ast.Value, name string) ([]string, error) {
	if arr, ok := v.(*ast.Array); ok {
		out := make([]string, arr.Len())
		i := 0
		for ; i < arr.Len(); i++ {
			s, ok := arr.Elem(i).Value.(ast.String)
			if !ok {
				break
			}
			out[i] = string(s)
		}
		if i == arr.Len() {
			return out, nil
		}
	}
	if v == nil {
		return nil, nil
	}
	x, err := ast.JSON(v)
	if err != nil {
		return nil, fmt.Errorf("decision.%s: %w", name, err)
	}
	return stringList(x, name)
}

func decodeASTAsJSON(v ast.Value) (Decision, error) {
	x, err := ast.JSON(v)
	if err != nil {
		return Decision{}, err
	}
	return decodeJSONDecision(x)
}

// decodeJSONDecision decodes the decision converted to Go values (JSON
// numbers as json.Number).
func decodeJSONDecision(v any) (Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return Decision{}, fmt.Errorf("decision is %T, not an object", v)
	}
	var d Decision
	if d.Allow, ok = obj["allow"].(bool); !ok {
		return Decision{}, fmt.Errorf("decision.allow is %T, not a boolean", obj["allow"])
	}
	var err error
	if d.Reasons, err = stringList(obj["reasons"], "reasons"); err != nil {
		return Decision{}, err
	}
	if d.Codes, err = stringList(obj["codes"], "codes"); err != nil {
		return Decision{}, err
	}
	switch p := obj["params"].(type) {
	case nil:
	case map[string]any:
		d.Params = make(remediations.Params, len(p))
		for k, v := range p {
			d.Params[k] = normalizeNumbers(v)
		}
	default:
		return Decision{}, fmt.Errorf("decision.params is %T, not an object", p)
	}
	return d, nil
}

func stringList(v any, field string) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	list, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("decision.%s is %T, not an array", field, v)
	}
	out := make([]string, len(list))
	for i, x := range list {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("decision.%s[%d] is %T, not a string", field, i, x)
		}
		out[i] = s
	}
	return out, nil
}

// normalizeNumbers turns OPA's json.Number results into int64 or float64 so
// the actions' typed params decode them as written in the runbook.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i
		}
		if f, err := x.Float64(); err == nil {
			return f
		}
		return x.String()
	case map[string]any:
		for k, e := range x {
			x[k] = normalizeNumbers(e)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = normalizeNumbers(e)
		}
		return x
	}
	return v
}
