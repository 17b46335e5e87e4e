package runbook_test

import (
	"errors"
	"maps"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	amtemplate "github.com/prometheus/alertmanager/template"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/runbook"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/builtin"
)

func catalog(t *testing.T) *remediations.Catalog {
	t.Helper()
	c, err := builtin.Catalog()
	if err != nil {
		t.Fatalf("builtin.Catalog: %v", err)
	}
	return c
}

func defaults(t *testing.T) *runbook.Set {
	t.Helper()
	s, err := runbook.Defaults(catalog(t))
	if err != nil {
		t.Fatalf("Defaults: %v", err)
	}
	return s
}

// compile decodes and compiles a runbooks document the way config.Load does,
// with errors as FILE:LINE: reason.
func compile(t *testing.T, src string) (*runbook.Set, error) {
	t.Helper()
	var doc struct {
		Runbooks []*runbook.Runbook `yaml:"runbooks"`
	}
	if err := runbook.DecodeStrict([]byte(src), &doc); err != nil {
		return nil, runbook.FileError("runbooks.yaml", err)
	}
	return runbook.Compile(doc.Runbooks, catalog(t), "runbooks.yaml")
}

func mustCompile(t *testing.T, src string) *runbook.Set {
	t.Helper()
	s, err := compile(t, src)
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	return s
}

func actionNames(steps []*runbook.Step) []string {
	var names []string
	for _, s := range steps {
		names = append(names, s.Action)
	}
	return names
}

func TestDefaultsContent(t *testing.T) {
	set := defaults(t)
	want := []struct {
		name        string
		investigate []string
		resolve     []string
	}{
		{
			name:        "HighCPUUsage",
			investigate: []string{"kubernetes.top_pods", "kubernetes.pod_status", "kubernetes.events"},
			resolve:     []string{"kubernetes.scale", "kubernetes.set_resources", "kubernetes.rollout_restart"},
		},
		{
			name:        "HighMemoryUsage",
			investigate: []string{"kubernetes.pod_status", "kubernetes.logs", "kubernetes.top_pods", "kubernetes.events"},
			resolve:     []string{"kubernetes.set_resources", "kubernetes.delete_pod", "kubernetes.scale"},
		},
		{
			name:        "PostgresTooManyConnections",
			investigate: []string{"postgres.connection_report"},
			resolve:     []string{"postgres.terminate_idle", "kubernetes.set_env"},
		},
		{
			name: "ServiceUnavailable",
			investigate: []string{"kubernetes.endpoints", "kubernetes.configmap_keys", "kubernetes.events",
				"kubernetes.rollout_history", "kubernetes.pod_status"},
			resolve: []string{"kubernetes.rollout_undo", "kubernetes.delete_pods"},
		},
		{
			name:        "EmergencyScaleDownCritical",
			investigate: []string{"kubernetes.top_pods"},
			resolve:     []string{"kubernetes.scale_namespace"},
		},
		{
			name:        "EmergencyScaleDown",
			investigate: []string{"kubernetes.top_pods"},
			resolve:     []string{"kubernetes.scale_namespace"},
		},
		{
			name:        "RedisCacheMaintenance",
			investigate: []string{"redis.cache_report"},
			resolve:     []string{"redis.delete_keys"},
		},
	}
	var gotNames, wantNames []string
	for _, r := range set.Runbooks {
		gotNames = append(gotNames, r.Name)
	}
	for _, w := range want {
		wantNames = append(wantNames, w.name)
	}
	if !slices.Equal(gotNames, wantNames) {
		t.Fatalf("default runbooks = %v, want %v", gotNames, wantNames)
	}
	for i, w := range want {
		r := set.Runbooks[i]
		t.Run(w.name, func(t *testing.T) {
			if r.Description == "" {
				t.Error("no description")
			}
			if len(r.Match) == 0 {
				t.Error("no matchers")
			}
			if r.Line <= 0 {
				t.Errorf("Line = %d, want the runbook's line in defaults.yaml", r.Line)
			}
			if got := actionNames(r.Investigate); !slices.Equal(got, w.investigate) {
				t.Errorf("investigate = %v, want %v", got, w.investigate)
			}
			if got := actionNames(r.Resolve); !slices.Equal(got, w.resolve) {
				t.Errorf("resolve = %v, want %v", got, w.resolve)
			}
			for _, s := range slices.Concat(r.Investigate, r.Resolve) {
				impl := s.ActionImpl()
				if impl == nil {
					t.Errorf("step %s: ActionImpl() is nil after Compile", s.Action)
					continue
				}
				if impl.Spec().Name != s.Action {
					t.Errorf("step %s: ActionImpl() is %s", s.Action, impl.Spec().Name)
				}
			}
			for _, s := range r.Investigate {
				if k := s.ActionImpl().Spec().Kind; k != remediations.Investigation {
					t.Errorf("investigate step %s is a %s", s.Action, k)
				}
			}
			for _, s := range r.Resolve {
				if k := s.ActionImpl().Spec().Kind; k != remediations.Resolution {
					t.Errorf("resolve step %s is a %s", s.Action, k)
				}
			}
		})
	}
}

func TestDefaultsParams(t *testing.T) {
	set := defaults(t)
	for _, tc := range []struct {
		runbook string
		step    int // index into Resolve
		want    remediations.Params
	}{
		{"HighCPUUsage", 0, remediations.Params{"step": 2, "max_replicas": 10}},
		{"HighCPUUsage", 1, remediations.Params{"resource": "cpu", "factor": 1.5, "max": "2"}},
		{"HighCPUUsage", 2, nil},
		{"HighMemoryUsage", 0, remediations.Params{"resource": "memory", "factor": 1.5, "max": "4Gi"}},
		{"HighMemoryUsage", 1, remediations.Params{"min_ready": 1}},
		{"HighMemoryUsage", 2, remediations.Params{"step": 1, "max_replicas": 10}},
		{"PostgresTooManyConnections", 0, remediations.Params{"idle_seconds": 600, "max_sessions": 50}},
		{"PostgresTooManyConnections", 1, remediations.Params{"name": "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "value": "20"}},
		{"ServiceUnavailable", 1, remediations.Params{"selector": "app={{ or .Labels.app .Labels.service .Labels.deployment }}", "max_pods": 2, "min_ready": 0}},
		{"EmergencyScaleDownCritical", 0, remediations.Params{"replicas": 3, "only_reduce": true}},
		{"EmergencyScaleDown", 0, remediations.Params{"replicas": 1}},
		{"RedisCacheMaintenance", 0, remediations.Params{"pattern": "expired:*", "max_keys": 10000, "batch_size": 500, "pause_ms": 10}},
	} {
		r, ok := set.Lookup(tc.runbook)
		if !ok {
			t.Fatalf("Lookup(%q) found nothing", tc.runbook)
		}
		if got := r.Resolve[tc.step].Params; !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s resolve[%d] params = %#v, want %#v", tc.runbook, tc.step, got, tc.want)
		}
	}
	if _, ok := set.Lookup("NoSuchRunbook"); ok {
		t.Error(`Lookup("NoSuchRunbook") found a runbook`)
	}
}

func TestDefaultsYAMLIsEmbedded(t *testing.T) {
	y := string(runbook.DefaultsYAML())
	for _, name := range []string{"HighCPUUsage", "EmergencyScaleDownCritical"} {
		if !strings.Contains(y, "- name: "+name+"\n") {
			t.Errorf("DefaultsYAML() lacks runbook %s", name)
		}
	}
}

// TestDefaultsNeedTheirActions compiles the defaults against a catalogue
// without the PostgreSQL actions: the error must name the embedded file, the
// line of the first missing action and the runbook.
func TestDefaultsNeedTheirActions(t *testing.T) {
	full := catalog(t)
	var actions []remediations.Action
	for _, n := range full.Names() {
		if !strings.HasPrefix(n, "postgres.") {
			a, _ := full.Lookup(n)
			actions = append(actions, a)
		}
	}
	partial, err := remediations.NewCatalog(actions...)
	if err != nil {
		t.Fatal(err)
	}
	_, err = runbook.Defaults(partial)
	if err == nil {
		t.Fatal("Defaults compiled against a catalogue without postgres actions")
	}
	line := lineOf(t, string(runbook.DefaultsYAML()), "- action: postgres.connection_report")
	want := "defaults.yaml (embedded):" + line + `: runbook "PostgresTooManyConnections": unknown action "postgres.connection_report" (known: kubernetes.`
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error = %q, want prefix %q", err, want)
	}
}

// lineOf returns the 1-based line number of the first line containing s.
func lineOf(t *testing.T, text, s string) string {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return strconv.Itoa(i + 1)
		}
	}
	t.Fatalf("%q not found", s)
	return ""
}

// TestEmergencyScaleDownSelectors (issue 11, finding 9): the two shipped
// EmergencyScaleDown runbooks each select on their own, whatever their order
// (a user's runbook replacing one by name does not move the other): for any
// criticality, present or not, exactly one matches, and the harsh one (every
// Deployment to 1) only for the documented non-critical values.
func TestEmergencyScaleDownSelectors(t *testing.T) {
	set := defaults(t)
	harsh, ok := set.Lookup("EmergencyScaleDown")
	capped, ok2 := set.Lookup("EmergencyScaleDownCritical")
	if !ok || !ok2 {
		t.Fatal("shipped EmergencyScaleDown runbooks missing")
	}
	for _, tc := range []struct {
		criticality string // "-" means no label
		harsh       bool
	}{
		{"-", false}, {"", false}, {"critical", false}, {"Critical", false}, {"CRITICAL", false},
		{"high", false}, {"medium", false}, {"Low", false}, {"LOW", false}, {" low", false}, {"low,critical", false},
		{"low", true}, {"non-critical", true}, {"noncritical", true}, {"best-effort", true},
	} {
		ls := map[string]string{"alertname": "EmergencyScaleDown", "namespace": "batch"}
		if tc.criticality != "-" {
			ls["criticality"] = tc.criticality
		}
		h, c := harsh.Match.Matches(ls), capped.Match.Matches(ls)
		if h != tc.harsh || c == tc.harsh {
			t.Errorf("criticality %q: harsh runbook matches %v, capped %v; want harsh %v, capped %v", tc.criticality, h, c, tc.harsh, !tc.harsh)
		}
	}
}

func TestMatchDefaults(t *testing.T) {
	set := defaults(t)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string // "" means ErrNoRunbook
	}{
		{"cpu", map[string]string{"alertname": "HighCPUUsage", "namespace": "shop", "deployment": "cart"}, "HighCPUUsage"},
		{"cpu regex alternative", map[string]string{"alertname": "CPUThrottlingHigh"}, "HighCPUUsage"},
		{"regex is anchored", map[string]string{"alertname": "HighCPUUsageWarning"}, ""},
		{"regex is anchored at the start", map[string]string{"alertname": "NotHighCPUUsage"}, ""},
		{"memory", map[string]string{"alertname": "HighMemoryUsage"}, "HighMemoryUsage"},
		{"oom killed", map[string]string{"alertname": "ContainerOOMKilled", "pod": "cart-1"}, "HighMemoryUsage"},
		{"crash looping", map[string]string{"alertname": "KubePodCrashLooping"}, "HighMemoryUsage"},
		{"postgres", map[string]string{"alertname": "PostgresTooManyConnections", "datname": "orders"}, "PostgresTooManyConnections"},
		{"postgres timeouts", map[string]string{"alertname": "PostgresConnectionTimeouts"}, "PostgresTooManyConnections"},
		{"service unavailable", map[string]string{"alertname": "ServiceUnavailable"}, "ServiceUnavailable"},
		{"no healthy pods", map[string]string{"alertname": "NoHealthyPods"}, "ServiceUnavailable"},
		{"scale down critical", map[string]string{"alertname": "EmergencyScaleDown", "criticality": "critical", "namespace": "payments"}, "EmergencyScaleDownCritical"},
		{"scale down low", map[string]string{"alertname": "EmergencyScaleDown", "criticality": "low", "namespace": "batch"}, "EmergencyScaleDown"},
		// Issue 11, finding 9: a missing, odd-cased or unknown criticality
		// takes the capped runbook, never every Deployment to 1.
		{"scale down without criticality", map[string]string{"alertname": "EmergencyScaleDown", "namespace": "batch"}, "EmergencyScaleDownCritical"},
		{"scale down criticality Critical", map[string]string{"alertname": "EmergencyScaleDown", "criticality": "Critical"}, "EmergencyScaleDownCritical"},
		{"scale down criticality unknown", map[string]string{"alertname": "EmergencyScaleDown", "criticality": "critical-ish"}, "EmergencyScaleDownCritical"},
		{"scale down non-critical value is exact", map[string]string{"alertname": "EmergencyScaleDown", "criticality": "lowish"}, "EmergencyScaleDownCritical"},
		{"scale down best-effort", map[string]string{"alertname": "EmergencyScaleDown", "criticality": "best-effort"}, "EmergencyScaleDown"},
		{"unknown alert", map[string]string{"alertname": "DiskFull", "namespace": "shop"}, ""},
		{"alertname is case sensitive", map[string]string{"alertname": "highcpuusage"}, ""},
		{"no labels", map[string]string{}, ""},
		{"nil labels", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := set.Match(tc.labels)
			if tc.want == "" {
				if !errors.Is(err, runbook.ErrNoRunbook) {
					t.Fatalf("Match = %v, %v; want ErrNoRunbook", name(r), err)
				}
				if r != nil {
					t.Errorf("Match returned runbook %s with ErrNoRunbook", r.Name)
				}
				return
			}
			if err != nil {
				t.Fatalf("Match: %v", err)
			}
			if r.Name != tc.want {
				t.Errorf("Match = %s, want %s", r.Name, tc.want)
			}
		})
	}
}

func name(r *runbook.Runbook) string {
	if r == nil {
		return "<nil>"
	}
	return r.Name
}

func TestMatchFirstWinsAndMatchers(t *testing.T) {
	set := mustCompile(t, `
runbooks:
  - name: Specific
    match: ['alertname="Disk"', 'severity=~"critical|page"', 'team!~"infra.*"']
    target: {kind: Redis, instance: [instance]}
    resolve: [{action: redis.delete_keys, params: {pattern: "tmp:*"}}]
  - name: Braces
    match: '{alertname="Disk", env="prod"}'
    target: {kind: Redis}
    resolve: [{action: redis.delete_keys, params: {pattern: "tmp:*"}}]
  - name: Catch
    match: ['alertname=~"Disk|Memory"']
    target: {kind: Redis}
    resolve: [{action: redis.delete_keys, params: {pattern: "tmp:*"}}]
`)
	if got := len(set.Runbooks[1].Match); got != 2 {
		t.Errorf("Braces has %d matchers, want 2 (one string may hold several)", got)
	}
	if got, want := set.Runbooks[0].Match.String(), `{alertname="Disk",severity=~"critical|page",team!~"infra.*"}`; got != want {
		t.Errorf("Matchers.String() = %s, want %s", got, want)
	}
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"alertname": "Disk", "severity": "page", "env": "prod"}, "Specific"},
		{map[string]string{"alertname": "Disk", "severity": "critical", "team": "shop"}, "Specific"},
		{map[string]string{"alertname": "Disk", "severity": "critical", "team": "infra-db", "env": "prod"}, "Braces"},
		{map[string]string{"alertname": "Disk", "severity": "warning", "env": "prod"}, "Braces"},
		{map[string]string{"alertname": "Disk", "severity": "warning", "env": "dev"}, "Catch"},
		{map[string]string{"alertname": "Memory", "severity": "page"}, "Catch"},
		{map[string]string{"alertname": "CPU", "severity": "page"}, ""},
	} {
		r, err := set.Match(tc.labels)
		switch {
		case tc.want == "" && !errors.Is(err, runbook.ErrNoRunbook):
			t.Errorf("Match(%v) = %s, %v; want ErrNoRunbook", tc.labels, name(r), err)
		case tc.want != "" && (err != nil || r.Name != tc.want):
			t.Errorf("Match(%v) = %s, %v; want %s", tc.labels, name(r), err, tc.want)
		}
	}
}

func TestTargetSpecResolve(t *testing.T) {
	deployment := runbook.TargetSpec{
		Kind:      "Deployment",
		Namespace: []string{"namespace", "kubernetes_namespace"},
		Name:      []string{"deployment", "service", "app"},
		Pod:       []string{"pod"},
		Container: []string{"container"},
	}
	namespace := runbook.TargetSpec{Kind: "Namespace", Name: []string{"namespace", "kubernetes_namespace"}}
	postgres := runbook.TargetSpec{Kind: "PostgreSQL", Database: []string{"database", "datname"}, Instance: []string{"instance"}}
	for _, tc := range []struct {
		name    string
		spec    runbook.TargetSpec
		labels  map[string]string
		want    remediations.Target
		wantErr string
	}{
		{
			name:   "first label wins",
			spec:   deployment,
			labels: map[string]string{"namespace": "shop", "kubernetes_namespace": "other", "deployment": "cart", "service": "cart-svc", "app": "cart-app", "pod": "cart-1", "container": "app"},
			want:   remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart", Pod: "cart-1", Container: "app"},
		},
		{
			name:   "later label when earlier missing",
			spec:   deployment,
			labels: map[string]string{"kubernetes_namespace": "shop", "app": "cart"},
			want:   remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"},
		},
		{
			name:   "empty label value is skipped",
			spec:   deployment,
			labels: map[string]string{"namespace": "", "kubernetes_namespace": "shop", "deployment": "", "service": "cart"},
			want:   remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"},
		},
		{
			// cAdvisor/kube-state-metrics labels: the backend resolves the
			// pod to its owner.
			name:   "pod instead of a name",
			spec:   deployment,
			labels: map[string]string{"namespace": "shop", "pod": "checkout-7d4b9-x2x", "container": "app"},
			want:   remediations.Target{Kind: "Deployment", Namespace: "shop", Pod: "checkout-7d4b9-x2x", Container: "app"},
		},
		{
			name:    "missing name",
			spec:    deployment,
			labels:  map[string]string{"namespace": "shop"},
			want:    remediations.Target{Kind: "Deployment", Namespace: "shop"},
			wantErr: "alert has no label for the Deployment target's name or pod (labels deployment, service, app, pod)",
		},
		{
			name:    "missing namespace and name",
			spec:    deployment,
			labels:  map[string]string{"alertname": "HighCPUUsage", "namespace": ""},
			want:    remediations.Target{Kind: "Deployment"},
			wantErr: "alert has no label for the Deployment target's namespace (labels namespace, kubernetes_namespace); name or pod (labels deployment, service, app, pod)",
		},
		{
			name:    "StatefulSet needs namespace",
			spec:    runbook.TargetSpec{Kind: "StatefulSet", Namespace: []string{"namespace"}, Name: []string{"statefulset"}},
			labels:  map[string]string{"statefulset": "db"},
			want:    remediations.Target{Kind: "StatefulSet", Name: "db"},
			wantErr: "alert has no label for the StatefulSet target's namespace (labels namespace)",
		},
		{
			name:   "Namespace kind sets Namespace=Name",
			spec:   namespace,
			labels: map[string]string{"namespace": "batch"},
			want:   remediations.Target{Kind: "Namespace", Namespace: "batch", Name: "batch"},
		},
		{
			name:   "Namespace kind from namespace labels only",
			spec:   runbook.TargetSpec{Kind: "Namespace", Namespace: []string{"namespace"}},
			labels: map[string]string{"namespace": "batch"},
			want:   remediations.Target{Kind: "Namespace", Namespace: "batch", Name: "batch"},
		},
		{
			name:   "Namespace kind: name wins over namespace",
			spec:   runbook.TargetSpec{Kind: "Namespace", Namespace: []string{"namespace"}, Name: []string{"target_namespace"}},
			labels: map[string]string{"namespace": "monitoring", "target_namespace": "batch"},
			want:   remediations.Target{Kind: "Namespace", Namespace: "batch", Name: "batch"},
		},
		{
			name:    "Namespace kind missing",
			spec:    namespace,
			labels:  map[string]string{"alertname": "EmergencyScaleDown"},
			want:    remediations.Target{Kind: "Namespace"},
			wantErr: "alert has no label for the Namespace target's name (labels namespace, kubernetes_namespace)",
		},
		{
			name:    "Namespace kind missing names the namespace labels too",
			spec:    runbook.TargetSpec{Kind: "Namespace", Namespace: []string{"namespace"}, Name: []string{"target_namespace"}},
			labels:  map[string]string{},
			want:    remediations.Target{Kind: "Namespace"},
			wantErr: "alert has no label for the Namespace target's name (labels target_namespace, namespace)",
		},
		{
			name:   "PostgreSQL",
			spec:   postgres,
			labels: map[string]string{"datname": "orders", "instance": "pg-0:5432", "namespace": "db"},
			want:   remediations.Target{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:5432"},
		},
		{
			name:   "PostgreSQL without instance is fine",
			spec:   postgres,
			labels: map[string]string{"database": "orders"},
			want:   remediations.Target{Kind: "PostgreSQL", Database: "orders"},
		},
		{
			name:    "PostgreSQL needs a database",
			spec:    postgres,
			labels:  map[string]string{"instance": "pg-0:5432"},
			want:    remediations.Target{Kind: "PostgreSQL", Instance: "pg-0:5432"},
			wantErr: "alert has no label for the PostgreSQL target's database (labels database, datname)",
		},
		{
			name:   "PostgreSQL connection: first label wins",
			spec:   runbook.TargetSpec{Kind: "PostgreSQL", Database: []string{"database"}, Connection: []string{"remediator_connection", "pg_cluster"}},
			labels: map[string]string{"database": "orders", "remediator_connection": "", "pg_cluster": "hippo"},
			want:   remediations.Target{Kind: "PostgreSQL", Database: "orders", Connection: "hippo"},
		},
		{
			name:   "PostgreSQL without a connection label: the default target",
			spec:   runbook.TargetSpec{Kind: "PostgreSQL", Database: []string{"database"}, Connection: []string{"remediator_connection"}},
			labels: map[string]string{"database": "orders"},
			want:   remediations.Target{Kind: "PostgreSQL", Database: "orders"},
		},
		{
			name:   "Redis connection",
			spec:   runbook.TargetSpec{Kind: "Redis", Instance: []string{"instance"}, Connection: []string{"remediator_connection"}},
			labels: map[string]string{"instance": "cache-0:6379", "remediator_connection": "sessions"},
			want:   remediations.Target{Kind: "Redis", Instance: "cache-0:6379", Connection: "sessions"},
		},
		{
			name:    "Redis needs an instance",
			spec:    runbook.TargetSpec{Kind: "Redis", Instance: []string{"instance"}},
			labels:  map[string]string{},
			want:    remediations.Target{Kind: "Redis"},
			wantErr: "alert has no label for the Redis target's instance (labels instance)",
		},
		{
			name:   "Redis instance",
			spec:   runbook.TargetSpec{Kind: "Redis", Instance: []string{"instance"}},
			labels: map[string]string{"instance": "cache-0:6379"},
			want:   remediations.Target{Kind: "Redis", Instance: "cache-0:6379"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.spec.Resolve(tc.labels)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Errorf("Resolve error = %v, want %q", err, tc.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Resolve = %+v, want %+v", got, tc.want)
			}
		})
	}
}

// TestDefaultTargets resolves the targets of the shipped runbooks for the
// example alerts' labels, including a step that overrides the target.
func TestDefaultTargets(t *testing.T) {
	set := defaults(t)
	pg, _ := set.Lookup("PostgresTooManyConnections")
	labels := map[string]string{"alertname": "PostgresTooManyConnections", "datname": "orders", "instance": "pg-0:9187", "namespace": "shop", "application": "order-service"}

	runbookTarget, err := pg.TargetFor(pg.Resolve[0]).Resolve(labels)
	if err != nil {
		t.Fatal(err)
	}
	if want := (remediations.Target{Kind: "PostgreSQL", Database: "orders", Instance: "pg-0:9187"}); !reflect.DeepEqual(runbookTarget, want) {
		t.Errorf("terminate_idle target = %+v, want %+v", runbookTarget, want)
	}
	// The connection comes from remediator_connection, else pg_cluster.
	for _, tc := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{"pg_cluster": "hippo"}, "hippo"},
		{map[string]string{"pg_cluster": "hippo", "remediator_connection": "orders-primary"}, "orders-primary"},
	} {
		ls := maps.Clone(labels)
		maps.Copy(ls, tc.labels)
		got, err := pg.TargetFor(pg.Resolve[0]).Resolve(ls)
		if err != nil || got.Connection != tc.want {
			t.Errorf("labels %v: connection %q (err %v), want %q", tc.labels, got.Connection, err, tc.want)
		}
	}
	stepTarget, err := pg.TargetFor(pg.Resolve[1]).Resolve(labels)
	if err != nil {
		t.Fatal(err)
	}
	if want := (remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "order-service"}); !reflect.DeepEqual(stepTarget, want) {
		t.Errorf("set_env target = %+v, want %+v", stepTarget, want)
	}

	es, _ := set.Match(map[string]string{"alertname": "EmergencyScaleDown", "namespace": "batch-reports", "criticality": "low"})
	nsTarget, err := es.TargetFor(es.Resolve[0]).Resolve(map[string]string{"namespace": "batch-reports"})
	if err != nil {
		t.Fatal(err)
	}
	if nsTarget.Key() != "Namespace/batch-reports" {
		t.Errorf("namespace target key = %q", nsTarget.Key())
	}
}

func firingAlert(labels map[string]string) alert.Alert {
	return alert.Alert{Alert: amtemplate.Alert{
		Status:      "firing",
		Labels:      labels,
		Annotations: amtemplate.KV{"summary": "cart is down"},
		Fingerprint: "a1b2c3",
	}}
}

func TestStepRenderDefaults(t *testing.T) {
	set := defaults(t)
	su, _ := set.Lookup("ServiceUnavailable")
	step := su.Resolve[1]
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   string
	}{
		{"app wins", map[string]string{"app": "cart", "service": "cart-svc", "deployment": "cart-deploy"}, "app=cart"},
		{"service when no app", map[string]string{"service": "checkout", "deployment": "checkout-v2"}, "app=checkout"},
		{"empty app is skipped", map[string]string{"app": "", "service": "checkout"}, "app=checkout"},
		{"deployment last", map[string]string{"deployment": "web"}, "app=web"},
		{"none: empty, not <no value>", map[string]string{"alertname": "ServiceUnavailable"}, "app="},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := step.Render(firingAlert(tc.labels))
			if err != nil {
				t.Fatal(err)
			}
			want := remediations.Params{"selector": tc.want, "max_pods": 2, "min_ready": 0}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Render = %#v, want %#v", got, want)
			}
		})
	}
	// Rendering must not touch the step's own parameters.
	if got := step.Params["selector"]; got != "app={{ or .Labels.app .Labels.service .Labels.deployment }}" {
		t.Errorf("step params changed by Render: selector = %v", got)
	}
	// A step without templates renders to a copy of its parameters.
	cpu, _ := set.Lookup("HighCPUUsage")
	got, err := cpu.Resolve[0].Render(firingAlert(map[string]string{"app": "x"}))
	if err != nil {
		t.Fatal(err)
	}
	got["step"] = 99
	if cpu.Resolve[0].Params["step"] != 2 {
		t.Error("the rendered params share the step's map")
	}
}

func TestStepRenderTemplateData(t *testing.T) {
	set := mustCompile(t, `
runbooks:
  - name: Env
    match: ['alertname="X"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve:
      - action: kubernetes.set_env
        params:
          name: LAST_ALERT
          value: '{{ .Status }}/{{ .Fingerprint }}/{{ .Annotations.summary }}/{{ .Labels.app | printf "%q" }}'
          container: "{{ .Labels.container }}"
  - name: Bad
    match: ['alertname="Y"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve:
      - action: kubernetes.set_env
        params: {name: X, value: '{{ index .Labels 1 }}'}
`)
	r, _ := set.Lookup("Env")
	got, err := r.Resolve[0].Render(firingAlert(map[string]string{"app": "cart", "container": "main"}))
	if err != nil {
		t.Fatal(err)
	}
	want := remediations.Params{"name": "LAST_ALERT", "value": `firing/a1b2c3/cart is down/"cart"`, "container": "main"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Render = %#v, want %#v", got, want)
	}

	bad, _ := set.Lookup("Bad")
	if _, err := bad.Resolve[0].Render(firingAlert(map[string]string{"app": "cart"})); err == nil || !strings.HasPrefix(err.Error(), "param value: ") {
		t.Errorf("Render with a failing template: error %v, want one starting with \"param value: \"", err)
	}
}

func TestMerge(t *testing.T) {
	def := defaults(t)
	user := mustCompile(t, `
runbooks:
  - name: Mine
    match: ['alertname="HighCPUUsage"', 'team="shop"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve: [{action: kubernetes.rollout_restart}]
  - name: ServiceUnavailable
    match: ['alertname="ServiceUnavailable"']
    target: {kind: Deployment, namespace: [namespace], name: [app]}
    resolve: [{action: kubernetes.rollout_restart}]
`)
	merged := runbook.Merge(user, def)
	var names []string
	for _, r := range merged.Runbooks {
		names = append(names, r.Name)
	}
	want := []string{"Mine", "ServiceUnavailable", "HighCPUUsage", "HighMemoryUsage", "PostgresTooManyConnections", "EmergencyScaleDownCritical", "EmergencyScaleDown", "RedisCacheMaintenance"}
	if !slices.Equal(names, want) {
		t.Fatalf("merged runbooks = %v, want %v", names, want)
	}
	su, _ := merged.Lookup("ServiceUnavailable")
	if su != user.Runbooks[1] {
		t.Error("ServiceUnavailable is not the user's")
	}
	// User runbooks are matched first; the rest fall through to the defaults.
	for labels, want := range map[[2]string]string{
		{"HighCPUUsage", "shop"}:       "Mine",
		{"HighCPUUsage", "other"}:      "HighCPUUsage",
		{"ServiceUnavailable", ""}:     "ServiceUnavailable",
		{"ContainerOOMKilled", "shop"}: "HighMemoryUsage",
	} {
		r, err := merged.Match(map[string]string{"alertname": labels[0], "team": labels[1]})
		if err != nil || r.Name != want {
			t.Errorf("Match(%v) = %s, %v; want %s", labels, name(r), err, want)
		}
	}
	if got := actionNames(su.Resolve); !slices.Equal(got, []string{"kubernetes.rollout_restart"}) {
		t.Errorf("merged ServiceUnavailable resolves with %v, want the user's options", got)
	}
	// Merge copies: neither input changes.
	if len(user.Runbooks) != 2 || len(def.Runbooks) != 7 {
		t.Errorf("Merge changed its inputs: %d user, %d default runbooks", len(user.Runbooks), len(def.Runbooks))
	}
	if got := runbook.Merge(&runbook.Set{}, def); len(got.Runbooks) != len(def.Runbooks) {
		t.Errorf("Merge with no user runbooks has %d runbooks, want %d", len(got.Runbooks), len(def.Runbooks))
	}
}
