package policies_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/remediator/remediator/internal/metricstest"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/remediations"
)

func int32p(v int32) *int32       { return &v }
func float64p(v float64) *float64 { return &v }

// baseInput is a scale-out of an ordinary Deployment with a clean history.
func baseInput() policies.Input {
	return policies.Input{
		Alert: policies.AlertInput{
			Name: "HighCPUUsage", Status: "firing", Fingerprint: "f1",
			Labels:   map[string]string{"alertname": "HighCPUUsage", "namespace": "order-context"},
			StartsAt: time.Date(2026, 11, 25, 8, 0, 0, 0, time.UTC),
		},
		Target: remediations.Target{
			Kind: "Deployment", Namespace: "order-context", Name: "order-service",
			CurrentReplicas: int32p(5),
		},
		Action: policies.ActionInput{Name: "kubernetes.scale", Params: remediations.Params{"step": 2, "max_replicas": 10}},
	}
}

func newEngine(t *testing.T, opts ...policies.Option) (*policies.Engine, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	e, err := policies.New(context.Background(), append(opts, policies.WithRegisterer(reg))...)
	if err != nil {
		t.Fatalf("policies.New: %v", err)
	}
	return e, reg
}

// TestBundledRegoTests runs the bundled *_test.rego through OPA's tester, as
// `go test` and `remediator policy test` both do, and requires full coverage.
func TestBundledRegoTests(t *testing.T) {
	set, err := policies.Load("", true)
	if err != nil {
		t.Fatal(err)
	}
	if err := set.Test(context.Background()); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	ok, err := set.TestReport(context.Background(), &out, true, false, 0)
	if err != nil || !ok {
		t.Fatalf("TestReport ok=%v err=%v\n%s", ok, err, out.String())
	}
	if !strings.Contains(out.String(), "PASS:") {
		t.Fatalf("verbose report lists no passing test:\n%s", out.String())
	}
}

func TestDecide(t *testing.T) {
	e, _ := newEngine(t, policies.WithOwnNamespace("remediator"))
	tests := []struct {
		name       string
		mutate     func(*policies.Input)
		allow      bool
		codes      []string
		wantParams remediations.Params // checked key by key when set
	}{
		{name: "ordinary scale-out is allowed", mutate: func(*policies.Input) {}, allow: true},
		{name: "kube-system is protected", mutate: func(in *policies.Input) { in.Target.Namespace = "kube-system" }, codes: []string{"protected_namespace"}},
		{name: "own namespace is protected", mutate: func(in *policies.Input) { in.Target.Namespace = "remediator" }, codes: []string{"protected_namespace"}},
		{name: "disabled annotation", mutate: func(in *policies.Input) {
			in.Target.Annotations = map[string]string{"remediator.io/disabled": "true"}
		}, codes: []string{"disabled"}},
		{name: "max_replicas above the cap is lowered", mutate: func(in *policies.Input) {
			in.Action.Params = remediations.Params{"step": 2, "max_replicas": 50}
		}, allow: true, wantParams: remediations.Params{"max_replicas": int64(20), "step": int64(2)}},
		{name: "absolute replicas above the cap are lowered", mutate: func(in *policies.Input) {
			in.Action.Params = remediations.Params{"replicas": 40}
		}, allow: true, wantParams: remediations.Params{"replicas": int64(20)}},
		{name: "already at max replicas cannot scale out", mutate: func(in *policies.Input) {
			in.Target.CurrentReplicas = int32p(10)
		}, codes: []string{"at_max_replicas"}},
		{name: "cooldown", mutate: func(in *policies.Input) {
			in.History.ActionLastRunSecondsAgo = float64p(30)
		}, codes: []string{"cooldown"}},
		{name: "cooldown over", mutate: func(in *policies.Input) {
			in.History.ActionLastRunSecondsAgo = float64p(601)
		}, allow: true},
		{name: "per-target hourly limit", mutate: func(in *policies.Input) { in.History.TargetActionsLastHour = 3 }, codes: []string{"rate_limit_target"}},
		{name: "global hourly limit", mutate: func(in *policies.Input) { in.History.GlobalActionsLastHour = 30 }, codes: []string{"rate_limit_global"}},
		{name: "circuit breaker", mutate: func(in *policies.Input) { in.History.ConsecutiveFailures = 3 }, codes: []string{"circuit_open"}},
		{name: "memory above the cap is lowered", mutate: func(in *policies.Input) {
			in.Action = policies.ActionInput{Name: "kubernetes.set_resources", Params: remediations.Params{"resource": "memory", "factor": 1.5, "max": "64Gi"}}
		}, allow: true, wantParams: remediations.Params{"max": "8Gi"}},
		{name: "pods deleted per run are capped", mutate: func(in *policies.Input) {
			in.Action = policies.ActionInput{Name: "kubernetes.delete_pods", Params: remediations.Params{"selector": "app=x", "max_pods": 10}}
		}, allow: true, wantParams: remediations.Params{"max_pods": int64(3)}},
		{name: "idle threshold below the floor is raised", mutate: func(in *policies.Input) {
			in.Target = remediations.Target{Kind: "PostgreSQL", Database: "orders"}
			in.Action = policies.ActionInput{Name: "postgres.terminate_idle", Params: remediations.Params{"idle_seconds": 10}}
		}, allow: true, wantParams: remediations.Params{"idle_seconds": int64(300)}},
		{name: "env var not on the allow-list", mutate: func(in *policies.Input) {
			in.Action = policies.ActionInput{Name: "kubernetes.set_env", Params: remediations.Params{"name": "LD_PRELOAD", "value": "x"}}
		}, codes: []string{"env_not_allowed"}},
		{name: "several denials at once", mutate: func(in *policies.Input) {
			in.Target.Namespace = "kube-system"
			in.History.TargetActionsLastHour = 99
		}, codes: []string{"protected_namespace", "rate_limit_target"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := baseInput()
			tc.mutate(&in)
			d, err := e.Decide(context.Background(), in)
			if err != nil {
				t.Fatalf("Decide: %v", err)
			}
			if d.Allow != tc.allow {
				t.Fatalf("allow = %v, want %v (reasons %q)", d.Allow, tc.allow, d.Reasons)
			}
			if !tc.allow && !slices.Equal(d.Codes, tc.codes) {
				t.Fatalf("codes = %q, want %q", d.Codes, tc.codes)
			}
			if len(d.Reasons) == 0 {
				t.Fatal("a decision must always say why")
			}
			for k, want := range tc.wantParams {
				if got := d.Params[k]; got != want {
					t.Errorf("params[%s] = %#v (%T), want %#v", k, got, got, want)
				}
			}
		})
	}
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestFailClosed: whatever goes wrong in evaluation, the decision denies.
func TestFailClosed(t *testing.T) {
	tests := []struct {
		name   string
		rego   string
		result string // evaluations metric label
		errIs  error
	}{
		{
			name:   "undefined decision",
			rego:   "package remediator\n\ndecision := {\"allow\": true} if input.never\n",
			result: "undefined", errIs: policies.ErrUndefined,
		},
		{
			name:   "conflicting values are an evaluation error",
			rego:   "package remediator\n\ndecision := {\"allow\": true} if true\n\ndecision := {\"allow\": false} if true\n",
			result: "error",
		},
		{
			name:   "malformed decision",
			rego:   "package remediator\n\ndecision := {\"allow\": \"yes\", \"reasons\": []}\n",
			result: "error",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"p.rego": tc.rego})
			e, reg := newEngine(t, policies.WithDir(dir), policies.WithoutBundled())
			d, err := e.Decide(context.Background(), baseInput())
			if err == nil {
				t.Fatal("Decide returned no error")
			}
			if tc.errIs != nil && !errors.Is(err, tc.errIs) {
				t.Fatalf("err = %v, want %v", err, tc.errIs)
			}
			if d.Allow {
				t.Fatal("a failed evaluation allowed the action")
			}
			if !slices.Contains(d.Codes, "policy_error") || len(d.Reasons) == 0 {
				t.Fatalf("decision does not say evaluation failed: %+v", d)
			}
			if got := metricstest.Gathered(t, reg, "remediator_policy_evaluations_total", map[string]string{"result": tc.result}); got != 1 {
				t.Fatalf("evaluations{result=%s} = %v, want 1", tc.result, got)
			}
		})
	}
}

func TestNewRefusesBadPolicy(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"syntax error", map[string]string{"bad.rego": "package remediator\n\ndeny contains x if {\n"}, "bad.rego"},
		{"failing test", map[string]string{
			"extra.rego":      "package remediator\n\ndeny contains {\"code\": \"friday\", \"message\": \"no changes on Fridays\"} if input.alert.labels.day == \"friday\"\n",
			"extra_test.rego": "package remediator_test\n\ntest_friday_denied if {\n\tdata.remediator.decision.allow with input as {\"action\": {\"name\": \"x\"}, \"alert\": {\"labels\": {\"day\": \"friday\"}}}\n}\n",
		}, "test_friday_denied"},
		{"invalid data file", map[string]string{"config.json": `{"remediator": {"config": {"max_replicas": }}}`}, "config.json"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeFiles(t, dir, tc.files)
			_, err := policies.New(context.Background(), policies.WithDir(dir))
			if err == nil {
				t.Fatal("New accepted a bad policy")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestUserDenyRule: a user module in package remediator adds a deny rule that
// the bundled decision honours, with its code and message.
func TestUserDenyRule(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"friday.rego": "package remediator\n\n" +
		"deny contains {\"code\": \"change_freeze\", \"message\": \"change freeze in order-context\"} if input.target.namespace == \"order-context\"\n"})
	e, _ := newEngine(t, policies.WithDir(dir))
	d, err := e.Decide(context.Background(), baseInput())
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow || !slices.Equal(d.Codes, []string{"change_freeze"}) || !slices.Contains(d.Reasons, "change freeze in order-context") {
		t.Fatalf("user deny rule not applied: %+v", d)
	}
}

func maxReplicasData(n int) string {
	return `{"remediator": {"config": {"max_replicas": ` + strconv.Itoa(n) + `}}}`
}

// decidedMax returns the max_replicas the policy grants a request for 100.
func decidedMax(t *testing.T, e *policies.Engine) any {
	t.Helper()
	in := baseInput()
	in.Target.CurrentReplicas = nil
	in.Action.Params = remediations.Params{"step": 1, "max_replicas": 100}
	d, err := e.Decide(context.Background(), in)
	if err != nil || !d.Allow {
		t.Fatalf("Decide: %+v, %v", d, err)
	}
	return d.Params["max_replicas"]
}

// TestReload: a valid change takes effect without a restart; a broken one is
// refused, counted, and the old policy keeps deciding.
func TestReload(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.json": maxReplicasData(5)})
	e, reg := newEngine(t, policies.WithDir(dir))
	if got := decidedMax(t, e); got != int64(5) {
		t.Fatalf("max_replicas = %v, want 5", got)
	}

	writeFiles(t, dir, map[string]string{"config.json": maxReplicasData(7)})
	if err := e.Reload(ctx); err != nil {
		t.Fatalf("valid reload refused: %v", err)
	}
	if got := decidedMax(t, e); got != int64(7) {
		t.Fatalf("after reload max_replicas = %v, want 7", got)
	}

	writeFiles(t, dir, map[string]string{"broken.rego": "package remediator\n\ndeny contains {"})
	if err := e.Reload(ctx); err == nil {
		t.Fatal("broken policy accepted")
	}
	if got := decidedMax(t, e); got != int64(7) {
		t.Fatalf("after refused reload max_replicas = %v, want the old policy's 7", got)
	}
	if got := metricstest.Gathered(t, reg, "remediator_policy_reloads_total", map[string]string{"result": "failure"}); got != 1 {
		t.Fatalf("reload failures = %v, want 1", got)
	}
	if got := metricstest.Gathered(t, reg, "remediator_policy_last_reload_successful", nil); got != 0 {
		t.Fatalf("last_reload_successful = %v, want 0", got)
	}
	if got := metricstest.Gathered(t, reg, "remediator_policy_reloads_total", map[string]string{"result": "success"}); got != 2 {
		t.Fatalf("reload successes = %v, want 2 (start + one reload)", got)
	}
}

// TestWatchReloadsOnChange: editing a file in the policy directory changes
// decisions without a reload call; a broken edit is refused.
func TestWatchReloadsOnChange(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"config.json": maxReplicasData(5)})
	e, reg := newEngine(t, policies.WithDir(dir))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Watch(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Watch: %v", err)
		}
	})

	// The watcher may not be registered the instant the goroutine starts, so
	// rewrite until the change is seen (bounded by the test's deadline).
	waitFor(t, func() bool {
		writeFiles(t, dir, map[string]string{"config.json": maxReplicasData(8)})
		return decidedMax(t, e) == int64(8)
	})
	failuresBefore := metricstest.Gathered(t, reg, "remediator_policy_reloads_total", map[string]string{"result": "failure"})
	writeFiles(t, dir, map[string]string{"broken.rego": "package remediator\n\ndeny contains {"})
	waitFor(t, func() bool {
		return metricstest.Gathered(t, reg, "remediator_policy_reloads_total", map[string]string{"result": "failure"}) > failuresBefore
	})
	if got := decidedMax(t, e); got != int64(8) {
		t.Fatalf("after a broken edit max_replicas = %v, want the old policy's 8", got)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestDecideContext: a context that can be cancelled but is not evaluates as
// usual; one already cancelled fails the evaluation, which denies.
func TestDecideContext(t *testing.T) {
	e, _ := newEngine(t)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := e.Decide(ctx, baseInput())
	if err != nil || !d.Allow {
		t.Fatalf("Decide with a live context = %+v, %v; want allowed", d, err)
	}
	cancel()
	d, err = e.Decide(ctx, baseInput())
	if err == nil || d.Allow || !slices.Contains(d.Codes, "policy_error") {
		t.Fatalf("Decide with a cancelled context = %+v, %v; want a policy_error deny", d, err)
	}
}
