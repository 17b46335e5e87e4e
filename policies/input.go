package policies

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/remediator/remediator/remediations"
)

// Input is what the policy sees as `input` (the contract in DESIGN.md).
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
// evaluation, which costs as much as the evaluation itself.
func (in *Input) value() (ast.Value, error) {
	params, err := paramsValue(in.Action.Params)
	if err != nil {
		return nil, err
	}
	var lastRun *ast.Term
	if in.History.ActionLastRunSecondsAgo == nil {
		lastRun = ast.NullTerm()
	} else {
		lastRun = ast.FloatNumberTerm(*in.History.ActionLastRunSecondsAgo)
	}
	var startsAt *ast.Term
	if in.Alert.StartsAt.IsZero() {
		startsAt = ast.StringTerm("")
	} else {
		startsAt = ast.StringTerm(in.Alert.StartsAt.UTC().Format(time.RFC3339Nano))
	}
	t := in.Target
	replicas := ast.NullTerm()
	if t.CurrentReplicas != nil {
		replicas = ast.IntNumberTerm(int(*t.CurrentReplicas))
	}
	hpa := ast.NullTerm()
	if t.HPA != nil {
		v, err := ast.InterfaceToValue(t.HPA)
		if err != nil {
			return nil, fmt.Errorf("target.hpa: %w", err)
		}
		hpa = ast.NewTerm(v)
	}
	return ast.NewObject(
		item("alert", ast.ObjectTerm(
			item("name", ast.StringTerm(in.Alert.Name)),
			item("status", ast.StringTerm(in.Alert.Status)),
			item("labels", stringMap(in.Alert.Labels)),
			item("annotations", stringMap(in.Alert.Annotations)),
			item("startsAt", startsAt),
			item("fingerprint", ast.StringTerm(in.Alert.Fingerprint)),
		)),
		item("target", ast.ObjectTerm(
			item("kind", ast.StringTerm(t.Kind)),
			item("namespace", ast.StringTerm(t.Namespace)),
			item("name", ast.StringTerm(t.Name)),
			item("pod", ast.StringTerm(t.Pod)),
			item("container", ast.StringTerm(t.Container)),
			item("database", ast.StringTerm(t.Database)),
			item("instance", ast.StringTerm(t.Instance)),
			item("currentReplicas", replicas),
			item("labels", stringMap(t.Labels)),
			item("annotations", stringMap(t.Annotations)),
			item("hpa", hpa),
		)),
		item("action", ast.ObjectTerm(
			item("name", ast.StringTerm(in.Action.Name)),
			item("params", ast.NewTerm(params)),
		)),
		item("history", ast.ObjectTerm(
			item("target_actions_last_hour", ast.IntNumberTerm(in.History.TargetActionsLastHour)),
			item("action_last_run_seconds_ago", lastRun),
			item("global_actions_last_hour", ast.IntNumberTerm(in.History.GlobalActionsLastHour)),
			item("consecutive_failures", ast.IntNumberTerm(in.History.ConsecutiveFailures)),
		)),
		item("dry_run", ast.BooleanTerm(in.DryRun)),
	), nil
}

func item(k string, v *ast.Term) [2]*ast.Term { return ast.Item(ast.StringTerm(k), v) }

func stringMap(m map[string]string) *ast.Term {
	items := make([][2]*ast.Term, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		items = append(items, item(k, ast.StringTerm(m[k])))
	}
	return ast.ObjectTerm(items...)
}

func paramsValue(p remediations.Params) (ast.Value, error) {
	if p == nil {
		return ast.NewObject(), nil
	}
	v, err := ast.InterfaceToValue(map[string]any(p))
	if err != nil {
		return nil, fmt.Errorf("action.params: %w", err)
	}
	return v, nil
}

// decodeDecision converts the policy's result document into a Decision,
// rejecting anything that does not have the contract's shape: a malformed
// decision must deny, not be read as a partial allow.
func decodeDecision(v any) (Decision, error) {
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
