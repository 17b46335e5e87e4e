package builtin_test

import (
	"context"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/builtin"
)

// fullTargets are complete targets of every kind an action may accept.
var fullTargets = map[string]remediations.Target{
	"Deployment":  {Kind: "Deployment", Namespace: "shop", Name: "cart", Pod: "cart-7d9f-x2", Container: "app"},
	"StatefulSet": {Kind: "StatefulSet", Namespace: "data", Name: "kafka", Pod: "kafka-0", Container: "broker"},
	"Namespace":   {Kind: "Namespace", Namespace: "batch", Name: "batch"},
	"PostgreSQL":  {Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432"},
	"Redis":       {Kind: "Redis", Instance: "cache-0:6379"},
}

var allKinds = []string{"Deployment", "StatefulSet", "Namespace", "PostgreSQL", "Redis", "Pod"}

func catalog(t *testing.T) *remediations.Catalog {
	t.Helper()
	c, err := builtin.Catalog()
	if err != nil {
		t.Fatalf("builtin.Catalog: %v", err)
	}
	return c
}

func TestCatalogNames(t *testing.T) {
	c := catalog(t)
	investigations := []string{
		"kubernetes.configmap_keys", "kubernetes.endpoints", "kubernetes.events", "kubernetes.logs",
		"kubernetes.pod_status", "kubernetes.rollout_history", "kubernetes.top_pods",
		"postgres.connection_report", "redis.cache_report",
	}
	resolutions := []string{
		"kubernetes.delete_pod", "kubernetes.delete_pods", "kubernetes.restore_namespace", "kubernetes.rollout_restart",
		"kubernetes.rollout_undo", "kubernetes.scale", "kubernetes.scale_namespace", "kubernetes.set_env",
		"kubernetes.set_resources", "postgres.recommend_max_connections", "postgres.terminate_idle", "redis.delete_keys",
	}
	want := slices.Sorted(slices.Values(slices.Concat(investigations, resolutions)))
	if got := c.Names(); !slices.Equal(got, want) {
		t.Fatalf("Names() =\n  %v\nwant\n  %v", got, want)
	}
	for _, n := range investigations {
		if a, _ := c.Lookup(n); a.Spec().Kind != remediations.Investigation {
			t.Errorf("%s is a %s, want an investigation", n, a.Spec().Kind)
		}
	}
	for _, n := range resolutions {
		if a, _ := c.Lookup(n); a.Spec().Kind != remediations.Resolution {
			t.Errorf("%s is a %s, want a resolution", n, a.Spec().Kind)
		}
	}
}

func TestSpecs(t *testing.T) {
	c := catalog(t)
	for _, name := range c.Names() {
		a, _ := c.Lookup(name)
		s := a.Spec()
		t.Run(name, func(t *testing.T) {
			if s.Name != name {
				t.Errorf("Spec().Name = %q, want %q", s.Name, name)
			}
			backend, _, _ := strings.Cut(name, ".")
			if !slices.Contains([]string{"kubernetes", "postgres", "redis"}, backend) {
				t.Errorf("name %q is not prefixed by its backend", name)
			}
			if len(s.Description) < 20 || !strings.HasSuffix(s.Description, ".") {
				t.Errorf("description %q is not a sentence", s.Description)
			}
			if s.Kind != remediations.Investigation && s.Kind != remediations.Resolution {
				t.Errorf("Kind = %q", s.Kind)
			}
			if len(s.TargetKinds) == 0 {
				t.Error("no TargetKinds")
			}
			for _, k := range s.TargetKinds {
				if _, ok := fullTargets[k]; !ok {
					t.Errorf("TargetKinds has %q, which no runbook target can be", k)
				}
			}
			if s.Example == nil {
				t.Error("no Example (use an empty Params for none)")
			}
			seen := map[string]bool{}
			for _, p := range s.Params {
				if p.Name == "" || p.Type == "" || strings.TrimSpace(p.Description) == "" {
					t.Errorf("param %+v is not fully documented", p)
				}
				if seen[p.Name] {
					t.Errorf("param %s documented twice", p.Name)
				}
				seen[p.Name] = true
			}
			for k := range s.Example {
				if !seen[k] {
					t.Errorf("example param %s is not documented", k)
				}
			}
		})
	}
}

// TestExamplesValidateAndPlan validates every action's example and plans it
// on a complete target of each kind the action accepts.
func TestExamplesValidateAndPlan(t *testing.T) {
	c := catalog(t)
	for _, name := range c.Names() {
		a, _ := c.Lookup(name)
		s := a.Spec()
		t.Run(name, func(t *testing.T) {
			if err := a.Validate(s.Example); err != nil {
				t.Fatalf("Validate(example %v): %v", s.Example, err)
			}
			for _, kind := range s.TargetKinds {
				target := fullTargets[kind]
				plan, err := a.Plan(target, s.Example)
				if err != nil {
					t.Errorf("Plan on %s: %v", target, err)
					continue
				}
				if plan.Action != name || !reflect.DeepEqual(plan.Params, s.Example) {
					t.Errorf("Plan on %s = action %q params %v, want %q %v", target, plan.Action, plan.Params, name, s.Example)
				}
				if len(plan.Calls) == 0 || slices.Contains(plan.Calls, "") {
					t.Errorf("Plan on %s has calls %q", target, plan.Calls)
				}
			}
		})
	}
}

func TestPlanRefusesOtherKinds(t *testing.T) {
	c := catalog(t)
	for _, name := range c.Names() {
		a, _ := c.Lookup(name)
		s := a.Spec()
		for _, kind := range allKinds {
			if slices.Contains(s.TargetKinds, kind) {
				continue
			}
			target, ok := fullTargets[kind]
			if !ok {
				target = remediations.Target{Kind: kind, Namespace: "shop", Name: "cart-1"}
			}
			_, err := a.Plan(target, s.Example)
			want := name + " cannot act on a " + kind + " target (accepts " + strings.Join(s.TargetKinds, ", ") + ")"
			if err == nil || err.Error() != want {
				t.Errorf("%s Plan on a %s: error %v, want %q", name, kind, err, want)
			}
		}
	}
}

func TestUnknownParamRejectedByEveryAction(t *testing.T) {
	c := catalog(t)
	for _, name := range c.Names() {
		a, _ := c.Lookup(name)
		p := remediations.Params{"no_such_param": 1}
		for k, v := range a.Spec().Example {
			p[k] = v
		}
		err := a.Validate(p)
		if err == nil || !strings.HasPrefix(err.Error(), `invalid params: unknown parameter "no_such_param" (`) {
			t.Errorf("%s: Validate with an unknown param: %v", name, err)
		}
	}
}

func TestDryRunEveryAction(t *testing.T) {
	c := catalog(t)
	for _, name := range c.Names() {
		a, _ := c.Lookup(name)
		s := a.Spec()
		target := fullTargets[s.TargetKinds[0]]
		res, err := remediations.DryRun{}.Execute(context.Background(), a, target, s.Example)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		want, _ := a.Plan(target, s.Example)
		if !res.DryRun || !reflect.DeepEqual(res.Plan, want) || res.Changes != nil {
			t.Errorf("%s: DryRun result %+v, want DryRun with plan %+v", name, res, want)
		}
	}
}
