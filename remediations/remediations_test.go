package remediations_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/remediator/remediator/remediations"
)

// testParams exercises Define's decoding: required, optional, pointer and
// ignored fields.
type testParams struct {
	Count  int      `json:"count" doc:"how many"`
	Mode   string   `json:"mode,omitempty" doc:"a or b"`
	Limit  *int32   `json:"limit,omitempty" doc:"optional cap"`
	Labels []string `json:"labels,omitempty" doc:"label names"`
	Hidden int      `json:"-"`
}

func (p *testParams) Validate() error {
	if p.Count < 0 {
		return fmt.Errorf("count %d must not be negative", p.Count)
	}
	switch p.Mode {
	case "", "a", "b":
	default:
		return fmt.Errorf("mode must be a or b, not %q", p.Mode)
	}
	return nil
}

func testAction(name string, example remediations.Params) remediations.Action {
	return remediations.Define(remediations.Spec{
		Name:        name,
		Description: "a test action",
		Kind:        remediations.Resolution,
		TargetKinds: []string{"Deployment", "StatefulSet"},
		Example:     example,
	}, func(t remediations.Target, p *testParams) ([]string, error) {
		if t.Name == "" {
			return nil, errors.New("target needs a name")
		}
		limit := "none"
		if p.Limit != nil {
			limit = fmt.Sprint(*p.Limit)
		}
		return []string{fmt.Sprintf("DO %s count=%d mode=%q limit=%s labels=%v", t.Name, p.Count, p.Mode, limit, p.Labels)}, nil
	})
}

func noParamsAction(name string) remediations.Action {
	return remediations.Define(remediations.Spec{
		Name:        name,
		Description: "takes nothing",
		Kind:        remediations.Investigation,
		TargetKinds: []string{"Redis"},
		Example:     remediations.Params{},
	}, func(remediations.Target, *remediations.NoParams) ([]string, error) {
		return []string{"INFO"}, nil
	})
}

func TestNewCatalog(t *testing.T) {
	for _, tc := range []struct {
		name    string
		actions []remediations.Action
		wantErr string
		names   []string
	}{
		{name: "empty", actions: nil, names: []string{}},
		{
			name:    "unique names, sorted",
			actions: []remediations.Action{testAction("z.act", remediations.Params{"count": 1}), noParamsAction("a.info"), testAction("m.act", nil)},
			names:   []string{"a.info", "m.act", "z.act"},
		},
		{
			name:    "duplicate name",
			actions: []remediations.Action{testAction("x.act", nil), noParamsAction("y.info"), testAction("x.act", remediations.Params{"count": 2})},
			wantErr: `action "x.act" declared twice`,
		},
		{
			name:    "duplicate across kinds",
			actions: []remediations.Action{noParamsAction("x.act"), testAction("x.act", nil)},
			wantErr: `action "x.act" declared twice`,
		},
		{
			name:    "example fails validation",
			actions: []remediations.Action{testAction("x.act", remediations.Params{"count": -1})},
			wantErr: `action "x.act": example params: invalid params: count -1 must not be negative`,
		},
		{
			name:    "example with an unknown parameter",
			actions: []remediations.Action{testAction("x.act", remediations.Params{"cuont": 1})},
			wantErr: `action "x.act": example params: invalid params: unknown parameter "cuont" (known: count, mode, limit, labels)`,
		},
		{
			name:    "example of the wrong type",
			actions: []remediations.Action{testAction("x.act", remediations.Params{"count": "1"})},
			wantErr: `action "x.act": example params: invalid params: json: cannot unmarshal string into Go struct field testParams.count of type int`,
		},
		{
			name:    "example params for an action that takes none",
			actions: []remediations.Action{noParamsAction("x.info"), noParamsActionWithExample("y.info", remediations.Params{"lines": 5})},
			wantErr: `action "y.info": example params: invalid params: unknown parameter "lines" (the action takes none)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := remediations.NewCatalog(tc.actions...)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("NewCatalog error = %v, want %q", err, tc.wantErr)
				}
				if c != nil {
					t.Error("NewCatalog returned a catalogue with an error")
				}
				return
			}
			if err != nil {
				t.Fatalf("NewCatalog: %v", err)
			}
			if got := c.Names(); !slices.Equal(got, tc.names) {
				t.Errorf("Names() = %v, want %v", got, tc.names)
			}
			for _, a := range tc.actions {
				got, ok := c.Lookup(a.Spec().Name)
				if !ok || got != a {
					t.Errorf("Lookup(%q) = %v, %v; want the action", a.Spec().Name, got, ok)
				}
			}
			if _, ok := c.Lookup("no.such"); ok {
				t.Error(`Lookup("no.such") found an action`)
			}
		})
	}
}

func noParamsActionWithExample(name string, example remediations.Params) remediations.Action {
	return remediations.Define(remediations.Spec{
		Name: name, Description: "takes nothing", Kind: remediations.Investigation,
		TargetKinds: []string{"Redis"}, Example: example,
	}, func(remediations.Target, *remediations.NoParams) ([]string, error) { return nil, nil })
}

func TestDefineParamDocs(t *testing.T) {
	a := testAction("x.act", nil)
	want := []remediations.ParamDoc{
		{Name: "count", Type: "int", Description: "how many"},
		{Name: "mode", Type: "string", Description: "a or b"},
		{Name: "limit", Type: "int32", Description: "optional cap"},
		{Name: "labels", Type: "[]string", Description: "label names"},
	}
	if got := a.Spec().Params; !reflect.DeepEqual(got, want) {
		t.Errorf("Params docs = %+v, want %+v", got, want)
	}
	if got := noParamsAction("y").Spec().Params; len(got) != 0 {
		t.Errorf("NoParams docs = %+v, want none", got)
	}
}

func TestDefineValidate(t *testing.T) {
	a := testAction("x.act", nil)
	for _, tc := range []struct {
		name    string
		params  remediations.Params
		wantErr string
	}{
		{name: "nil", params: nil},
		{name: "empty", params: remediations.Params{}},
		{name: "all fields", params: remediations.Params{"count": 3, "mode": "b", "limit": 5, "labels": []string{"a"}}},
		{name: "labels from YAML ([]any)", params: remediations.Params{"labels": []any{"a", "b"}}},
		{name: "int64 and float64 whole numbers", params: remediations.Params{"count": int64(3), "limit": float64(7)}},
		{name: "typed validation", params: remediations.Params{"mode": "c"}, wantErr: `invalid params: mode must be a or b, not "c"`},
		{name: "unknown parameter", params: remediations.Params{"count": 1, "colour": "red"}, wantErr: `invalid params: unknown parameter "colour" (known: count, mode, limit, labels)`},
		{name: "unknown parameters reported in name order", params: remediations.Params{"zz": 1, "aa": 1}, wantErr: `invalid params: unknown parameter "aa" …`},
		{name: "wrong case is unknown", params: remediations.Params{"Count": 1}, wantErr: `invalid params: unknown parameter "Count" …`},
		{name: "json:\"-\" field is unknown", params: remediations.Params{"Hidden": 1}, wantErr: `invalid params: unknown parameter "Hidden" …`},
		{name: "wrong type", params: remediations.Params{"mode": 1}, wantErr: "invalid params: json: cannot unmarshal number into Go struct field testParams.mode of type string"},
		{name: "fraction into int", params: remediations.Params{"count": 1.5}, wantErr: "invalid params: json: cannot unmarshal number 1.5 into Go struct field testParams.count of type int"},
		{name: "overflow", params: remediations.Params{"limit": int64(1) << 40}, wantErr: "invalid params: json: cannot unmarshal number 1099511627776 into Go struct field testParams.limit of type int32"},
		{name: "scalar for a list", params: remediations.Params{"labels": "a"}, wantErr: "invalid params: json: cannot unmarshal string into Go struct field testParams.labels of type []string"},
		{name: "not encodable", params: remediations.Params{"count": make(chan int)}, wantErr: "encoding params: json: unsupported type: chan int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, a.Validate(tc.params), tc.wantErr)
		})
	}
}

// checkErr compares err with want: "" means no error, a trailing "…" a prefix.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Errorf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Errorf("no error, want %q", want)
		return
	}
	if prefix, ok := strings.CutSuffix(want, "…"); ok {
		if !strings.HasPrefix(err.Error(), prefix) {
			t.Errorf("error %q, want prefix %q", err, prefix)
		}
	} else if err.Error() != want {
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestDefinePlan(t *testing.T) {
	a := testAction("x.act", nil)
	deploy := remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}
	for _, tc := range []struct {
		name    string
		target  remediations.Target
		params  remediations.Params
		want    remediations.Plan
		wantErr string
	}{
		{
			name:   "plan",
			target: deploy,
			params: remediations.Params{"count": 2, "limit": 9, "labels": []string{"x", "y"}},
			want: remediations.Plan{Action: "x.act", Params: remediations.Params{"count": 2, "limit": 9, "labels": []string{"x", "y"}},
				Calls: []string{`DO cart count=2 mode="" limit=9 labels=[x y]`}},
		},
		{
			name:   "nil params become empty params",
			target: deploy,
			params: nil,
			want:   remediations.Plan{Action: "x.act", Params: remediations.Params{}, Calls: []string{`DO cart count=0 mode="" limit=none labels=[]`}},
		},
		{
			name:    "wrong target kind",
			target:  remediations.Target{Kind: "Namespace", Namespace: "shop", Name: "shop"},
			wantErr: "x.act cannot act on a Namespace target (accepts Deployment, StatefulSet)",
		},
		{
			name:    "empty target kind",
			target:  remediations.Target{Name: "cart"},
			wantErr: "x.act cannot act on a  target (accepts Deployment, StatefulSet)",
		},
		{
			name:    "plan function error is prefixed with the action",
			target:  remediations.Target{Kind: "StatefulSet", Namespace: "shop"},
			wantErr: "x.act: target needs a name",
		},
		{
			name:    "invalid params are checked before the target",
			target:  remediations.Target{Kind: "Pod"},
			params:  remediations.Params{"count": -2},
			wantErr: "invalid params: count -2 must not be negative",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := a.Plan(tc.target, tc.params)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != "" {
				if !reflect.DeepEqual(got, remediations.Plan{}) {
					t.Errorf("Plan with an error = %+v, want the zero plan", got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Plan =\n  %+v\nwant\n  %+v", got, tc.want)
			}
		})
	}
}

func TestDecode(t *testing.T) {
	got, err := remediations.Decode[testParams](remediations.Params{"count": 4, "limit": 2, "mode": "a"})
	if err != nil {
		t.Fatal(err)
	}
	limit := int32(2)
	if want := (&testParams{Count: 4, Mode: "a", Limit: &limit}); !reflect.DeepEqual(got, want) {
		t.Errorf("Decode = %+v, want %+v", got, want)
	}
	if _, err := remediations.Decode[testParams](remediations.Params{"mode": "z"}); err == nil {
		t.Error("Decode did not validate")
	}
	if _, err := remediations.Decode[testParams](remediations.Params{"Mode": "a"}); err == nil {
		t.Error("Decode accepted a parameter name in the wrong case")
	}
	if _, err := remediations.Decode[remediations.NoParams](nil); err != nil {
		t.Errorf("Decode[NoParams](nil): %v", err)
	}
}

func TestDryRunExecute(t *testing.T) {
	a := testAction("x.act", nil)
	var ex remediations.Executor = remediations.DryRun{}
	target := remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}
	params := remediations.Params{"count": 1}

	res, err := ex.Execute(context.Background(), a, target, params)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := a.Plan(target, params)
	if err != nil {
		t.Fatal(err)
	}
	want := remediations.Result{DryRun: true, Plan: plan}
	if !reflect.DeepEqual(res, want) {
		t.Errorf("Execute = %+v, want %+v", res, want)
	}

	res, err = ex.Execute(context.Background(), a, remediations.Target{Kind: "Redis"}, params)
	if err == nil || err.Error() != "x.act cannot act on a Redis target (accepts Deployment, StatefulSet)" {
		t.Errorf("Execute on a wrong target: error %v", err)
	}
	if !res.DryRun || res.Plan.Action != "" || res.Changes != nil || res.Evidence != nil {
		t.Errorf("Execute with a plan error = %+v, want only DryRun set", res)
	}
}

func TestTargetKeyString(t *testing.T) {
	for _, tc := range []struct {
		name   string
		target remediations.Target
		key    string
		str    string
	}{
		{
			name:   "deployment",
			target: remediations.Target{Kind: "Deployment", Namespace: "order-context", Name: "order-service"},
			key:    "Deployment/order-context/order-service",
			str:    "Deployment order-context/order-service",
		},
		{
			name:   "pod, container and observed facts are not part of the identity",
			target: remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart", Pod: "cart-1", Container: "app", Labels: map[string]string{"a": "b"}},
			key:    "Deployment/shop/cart",
			str:    "Deployment shop/cart",
		},
		{
			name:   "statefulset",
			target: remediations.Target{Kind: "StatefulSet", Namespace: "data", Name: "kafka"},
			key:    "StatefulSet/data/kafka",
			str:    "StatefulSet data/kafka",
		},
		{
			name:   "namespace names itself once",
			target: remediations.Target{Kind: "Namespace", Namespace: "batch", Name: "batch"},
			key:    "Namespace/batch",
			str:    "Namespace batch",
		},
		{
			name:   "postgres database and instance",
			target: remediations.Target{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432"},
			key:    "PostgreSQL/orders/pg-0:5432",
			str:    "PostgreSQL orders",
		},
		{
			name:   "postgres in a namespace",
			target: remediations.Target{Kind: "PostgreSQL", Namespace: "db", Name: "pg", Database: "orders"},
			key:    "PostgreSQL/db/pg/orders",
			str:    "PostgreSQL db/pg/orders",
		},
		{
			name:   "redis instance",
			target: remediations.Target{Kind: "Redis", Instance: "cache-0:6379"},
			key:    "Redis/cache-0:6379",
			str:    "Redis cache-0:6379",
		},
		{
			name:   "postgres through a named connection",
			target: remediations.Target{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432", Connection: "prod"},
			key:    "PostgreSQL/orders/pg-0:5432@prod",
			str:    "PostgreSQL orders (connection prod)",
		},
		{
			name:   "redis through a named connection",
			target: remediations.Target{Kind: "Redis", Instance: "cache-0:6379", Connection: "cache"},
			key:    "Redis/cache-0:6379@cache",
			str:    "Redis cache-0:6379 (connection cache)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.target.Key(); got != tc.key {
				t.Errorf("Key() = %q, want %q", got, tc.key)
			}
			if got := tc.target.String(); got != tc.str {
				t.Errorf("String() = %q, want %q", got, tc.str)
			}
		})
	}
}

func TestTargetKeysDistinct(t *testing.T) {
	targets := []remediations.Target{
		{Kind: "Deployment", Namespace: "shop", Name: "cart"},
		{Kind: "Deployment", Namespace: "shop", Name: "web"},
		{Kind: "Deployment", Namespace: "shop2", Name: "cart"},
		{Kind: "StatefulSet", Namespace: "shop", Name: "cart"},
		{Kind: "Namespace", Namespace: "shop", Name: "shop"},
		{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432"},
		{Kind: "PostgreSQL", Database: "orders", Instance: "pg-1:5432"},
		{Kind: "PostgreSQL", Database: "users", Instance: "pg-0:5432"},
		{Kind: "Redis", Instance: "cache-0:6379"},
		// The same database through two connections, and a connection named
		// like an instance, are different targets.
		{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432", Connection: "prod"},
		{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432", Connection: "staging"},
		{Kind: "PostgreSQL", Database: "orders", Connection: "pg-0:5432"},
	}
	seen := map[string]remediations.Target{}
	for _, tg := range targets {
		k := tg.Key()
		if other, dup := seen[k]; dup {
			t.Errorf("%+v and %+v share key %q", other, tg, k)
		}
		seen[k] = tg
	}
}

// TestTargetKeyKeepsNamespace: only a Namespace target names itself once; a
// Deployment named like its namespace keeps both parts, so it never shares a
// lock or rate limit with the namespace itself.
func TestTargetKeyKeepsNamespace(t *testing.T) {
	tests := []struct {
		target      remediations.Target
		key, string string
	}{
		{remediations.Target{Kind: "Deployment", Namespace: "redis", Name: "redis"}, "Deployment/redis/redis", "Deployment redis/redis"},
		{remediations.Target{Kind: "Namespace", Namespace: "redis", Name: "redis"}, "Namespace/redis", "Namespace redis"},
	}
	for _, tc := range tests {
		if got := tc.target.Key(); got != tc.key {
			t.Errorf("Key() = %q, want %q", got, tc.key)
		}
		if got := tc.target.String(); got != tc.string {
			t.Errorf("String() = %q, want %q", got, tc.string)
		}
	}
}
