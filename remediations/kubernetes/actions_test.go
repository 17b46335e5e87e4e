package kubernetes_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

type P = remediations.Params

var (
	orderService = remediations.Target{Kind: "Deployment", Namespace: "order-context", Name: "order-service"}
	cart         = remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart", Pod: "cart-7d9f-x2", Container: "app"}
	kafka        = remediations.Target{Kind: "StatefulSet", Namespace: "data", Name: "kafka"}
	batch        = remediations.Target{Kind: "Namespace", Namespace: "batch", Name: "batch"}
)

// checkErr compares err with want: "" means no error, a trailing "…" a prefix.
func checkErr(t *testing.T, err error, want string) {
	t.Helper()
	switch prefix, isPrefix := strings.CutSuffix(want, "…"); {
	case want == "" && err != nil:
		t.Errorf("unexpected error: %v", err)
	case want != "" && err == nil:
		t.Errorf("no error, want %q", want)
	case want == "":
	case isPrefix && !strings.HasPrefix(err.Error(), prefix):
		t.Errorf("error %q, want prefix %q", err, prefix)
	case !isPrefix && err.Error() != want:
		t.Errorf("error %q, want %q", err, want)
	}
}

func TestActionsList(t *testing.T) {
	var names []string
	for _, a := range k8s.Actions() {
		names = append(names, a.Spec().Name)
	}
	want := []string{
		"kubernetes.scale", "kubernetes.set_resources", "kubernetes.rollout_restart", "kubernetes.delete_pod",
		"kubernetes.delete_pods", "kubernetes.rollout_undo", "kubernetes.set_env", "kubernetes.scale_namespace",
		"kubernetes.restore_namespace", "kubernetes.pod_status", "kubernetes.logs", "kubernetes.events",
		"kubernetes.endpoints", "kubernetes.top_pods", "kubernetes.configmap_keys", "kubernetes.rollout_history",
	}
	if !slices.Equal(names, want) {
		t.Errorf("Actions() = %v, want %v", names, want)
	}
	if _, err := remediations.NewCatalog(k8s.Actions()...); err != nil {
		t.Errorf("NewCatalog(Actions()...): %v", err)
	}
}

func TestValidate(t *testing.T) {
	const ip = "invalid params: "
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		params  P
		wantErr string
	}{
		// kubernetes.scale
		{"scale step", k8s.Scale, P{"step": 2, "max_replicas": 10}, ""},
		{"scale negative step", k8s.Scale, P{"step": -1, "min_replicas": 1}, ""},
		{"scale replicas", k8s.Scale, P{"replicas": 3}, ""},
		{"scale factor", k8s.Scale, P{"factor": 1.5, "hpa": "refuse"}, ""},
		{"scale to zero allowed", k8s.Scale, P{"replicas": 0, "allow_zero": true}, ""},
		{"scale nothing", k8s.Scale, P{"max_replicas": 10}, ip + "exactly one of replicas, step or factor is required"},
		{"scale step and replicas", k8s.Scale, P{"step": 2, "replicas": 3}, ip + "exactly one of replicas, step or factor is required"},
		{"scale step and factor", k8s.Scale, P{"step": 2, "factor": 2}, ip + "exactly one of replicas, step or factor is required"},
		{"scale to zero", k8s.Scale, P{"replicas": 0}, ip + "replicas 0 is below 1 (set allow_zero to scale to 0)"},
		{"scale negative replicas", k8s.Scale, P{"replicas": -2, "allow_zero": true}, ip + "replicas -2 is below 1 (set allow_zero to scale to 0)"},
		{"scale negative factor", k8s.Scale, P{"factor": -0.5}, ip + "factor -0.5 must be positive"},
		{"scale negative max", k8s.Scale, P{"step": 1, "max_replicas": -1}, ip + "min_replicas and max_replicas must not be negative"},
		{"scale negative min", k8s.Scale, P{"step": 1, "min_replicas": -1}, ip + "min_replicas and max_replicas must not be negative"},
		{"scale min above max", k8s.Scale, P{"step": 1, "min_replicas": 5, "max_replicas": 3}, ip + "min_replicas 5 is above max_replicas 3"},
		{"scale bad hpa", k8s.Scale, P{"step": 1, "hpa": "ignore"}, ip + `hpa must be raise_min or refuse, not "ignore"`},
		{"scale step as string", k8s.Scale, P{"step": "2"}, ip + "json: cannot unmarshal string into Go struct field ScaleParams.step of type int32"},
		{"scale fractional step", k8s.Scale, P{"step": 1.5}, ip + "json: cannot unmarshal number 1.5 into Go struct field ScaleParams.step of type int32"},
		{"scale replicas overflow", k8s.Scale, P{"replicas": 3_000_000_000}, ip + "json: cannot unmarshal number 3000000000 into Go struct field ScaleParams.replicas of type int32"},
		{"scale allow_zero as string", k8s.Scale, P{"replicas": 0, "allow_zero": "yes"}, ip + "json: cannot unmarshal string into Go struct field ScaleParams.allow_zero of type bool"},
		{"scale unknown param", k8s.Scale, P{"step": 1, "max": 10}, ip + `unknown parameter "max" (known: replicas, step, factor, max_replicas, min_replicas, allow_zero, hpa)`},
		{"scale param in the wrong case", k8s.Scale, P{"Replicas": 500}, ip + `unknown parameter "Replicas" …`},

		// kubernetes.set_resources
		{"set_resources factor", k8s.SetResources, P{"resource": "memory", "factor": 1.5, "max": "4Gi"}, ""},
		{"set_resources value", k8s.SetResources, P{"resource": "cpu", "value": "500m", "container": "app"}, ""},
		{"set_resources bad resource", k8s.SetResources, P{"resource": "gpu", "factor": 2}, ip + `resource must be cpu or memory, not "gpu"`},
		{"set_resources no resource", k8s.SetResources, P{"factor": 2}, ip + `resource must be cpu or memory, not ""`},
		{"set_resources neither", k8s.SetResources, P{"resource": "cpu"}, ip + "exactly one of factor or value is required"},
		{"set_resources both", k8s.SetResources, P{"resource": "cpu", "factor": 2, "value": "1"}, ip + "exactly one of factor or value is required"},
		{"set_resources factor 1", k8s.SetResources, P{"resource": "cpu", "factor": 1}, ip + "factor 1 must be above 1 (this action only raises)"},
		{"set_resources lowering factor", k8s.SetResources, P{"resource": "memory", "factor": 0.5}, ip + "factor 0.5 must be above 1 (this action only raises)"},
		{"set_resources negative factor", k8s.SetResources, P{"resource": "memory", "factor": -2}, ip + "factor -2 must be above 1 (this action only raises)"},
		{"set_resources numeric max", k8s.SetResources, P{"resource": "cpu", "factor": 1.5, "max": 2}, ip + "json: cannot unmarshal number into Go struct field SetResourcesParams.max of type string"},

		// kubernetes.rollout_restart
		{"rollout_restart", k8s.RolloutRestart, P{}, ""},
		{"rollout_restart nil", k8s.RolloutRestart, nil, ""},
		{"rollout_restart takes no params", k8s.RolloutRestart, P{"force": true}, ip + `unknown parameter "force" (the action takes none)`},

		// kubernetes.delete_pod
		{"delete_pod", k8s.DeletePod, P{"min_ready": 1, "evict": true, "pod": "x"}, ""},
		{"delete_pod negative min_ready", k8s.DeletePod, P{"min_ready": -1}, ip + "min_ready must not be negative"},
		{"delete_pod evict as string", k8s.DeletePod, P{"evict": "true"}, ip + "json: cannot unmarshal string into Go struct field DeletePodParams.evict of type bool"},

		// kubernetes.delete_pods
		{"delete_pods", k8s.DeletePods, P{"selector": "app=checkout", "max_pods": 2, "min_ready": 0}, ""},
		{"delete_pods no selector", k8s.DeletePods, P{"max_pods": 2}, ip + "selector is required (deleting every pod of a namespace is never intended)"},
		{"delete_pods blank selector", k8s.DeletePods, P{"selector": "  "}, ip + "selector is required (deleting every pod of a namespace is never intended)"},
		{"delete_pods negative max_pods", k8s.DeletePods, P{"selector": "a=b", "max_pods": -1}, ip + "max_pods and min_ready must not be negative"},
		{"delete_pods negative min_ready", k8s.DeletePods, P{"selector": "a=b", "min_ready": -1}, ip + "max_pods and min_ready must not be negative"},
		{"delete_pods selector as map", k8s.DeletePods, P{"selector": map[string]any{"app": "x"}}, ip + "json: cannot unmarshal object into Go struct field DeletePodsParams.selector of type string"},

		// kubernetes.rollout_undo
		{"rollout_undo", k8s.RolloutUndo, P{}, ""},
		{"rollout_undo to revision", k8s.RolloutUndo, P{"to_revision": 7}, ""},
		{"rollout_undo negative revision", k8s.RolloutUndo, P{"to_revision": -1}, ip + "to_revision must not be negative"},

		// kubernetes.set_env
		{"set_env", k8s.SetEnv, P{"name": "POOL_SIZE", "value": "20"}, ""},
		{"set_env empty value", k8s.SetEnv, P{"name": "FEATURE_X"}, ""},
		{"set_env no name", k8s.SetEnv, P{"value": "20"}, ip + "name is required"},
		{"set_env name with =", k8s.SetEnv, P{"name": "A=B", "value": "1"}, ip + `invalid environment variable name "A=B"`},
		{"set_env name with space", k8s.SetEnv, P{"name": "A B", "value": "1"}, ip + `invalid environment variable name "A B"`},
		{"set_env name with newline", k8s.SetEnv, P{"name": "A\nB", "value": "1"}, ip + `invalid environment variable name "A\nB"`},
		{"set_env numeric value", k8s.SetEnv, P{"name": "POOL_SIZE", "value": 20}, ip + "json: cannot unmarshal number into Go struct field SetEnvParams.value of type string"},

		// kubernetes.scale_namespace
		{"scale_namespace", k8s.ScaleNamespace, P{"replicas": 3, "only_reduce": true}, ""},
		{"scale_namespace to zero allowed", k8s.ScaleNamespace, P{"replicas": 0, "allow_zero": true}, ""},
		{"scale_namespace no replicas", k8s.ScaleNamespace, P{"only_reduce": true}, ip + "replicas 0 is below 1 (set allow_zero to scale to 0)"},
		{"scale_namespace negative", k8s.ScaleNamespace, P{"replicas": -1, "allow_zero": true}, ip + "replicas -1 is below 1 (set allow_zero to scale to 0)"},

		// kubernetes.restore_namespace
		{"restore_namespace", k8s.RestoreNamespace, P{}, ""},
		{"restore_namespace takes no params", k8s.RestoreNamespace, P{"replicas": 1}, ip + `unknown parameter "replicas" (the action takes none)`},

		// investigations
		{"logs", k8s.Logs, P{"lines": 100, "max_bytes": 4096}, ""},
		{"logs negative lines", k8s.Logs, P{"lines": -1}, ip + "lines and max_bytes must not be negative"},
		{"logs negative max_bytes", k8s.Logs, P{"max_bytes": -1}, ip + "lines and max_bytes must not be negative"},
		{"logs unknown param", k8s.Logs, P{"tail": 10}, ip + `unknown parameter "tail" (known: lines, max_bytes)`},
		{"events", k8s.Events, P{"limit": 5}, ""},
		{"events negative limit", k8s.Events, P{"limit": -5}, ip + "limit must not be negative"},
		{"pod_status takes no params", k8s.PodStatus, P{"pod": "x"}, ip + `unknown parameter "pod" (the action takes none)`},
		{"endpoints takes no params", k8s.Endpoints, P{"service": "x"}, ip + `unknown parameter "service" (the action takes none)`},
		{"top_pods takes no params", k8s.TopPods, P{"sort": "cpu"}, ip + `unknown parameter "sort" (the action takes none)`},
		{"configmap_keys takes no params", k8s.ConfigMapKeys, P{"name": "x"}, ip + `unknown parameter "name" (the action takes none)`},
		{"rollout_history takes no params", k8s.RolloutHistory, P{"limit": 3}, ip + `unknown parameter "limit" (the action takes none)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkErr(t, tc.action.Validate(tc.params), tc.wantErr)
		})
	}
}

func TestPlan(t *testing.T) {
	const (
		orderDeploy = "apps/v1 deployments order-context/order-service"
		cartDeploy  = "apps/v1 deployments shop/cart"
		kafkaSTS    = "apps/v1 statefulsets data/kafka"
	)
	for _, tc := range []struct {
		name    string
		action  remediations.Action
		target  remediations.Target
		params  P
		want    []string
		wantErr string
	}{
		// kubernetes.scale
		{
			name: "scale step 2 max 10", action: k8s.Scale, target: orderService, params: P{"step": 2, "max_replicas": 10},
			want: []string{
				"GET apps/v1 deployments order-context/order-service/scale",
				"GET autoscaling/v2 horizontalpodautoscalers order-context targeting it; if one exists, raise its minReplicas to the same count",
				"PATCH apps/v1 deployments order-context/order-service/scale spec.replicas=current+2 (max 10)",
			},
		},
		{
			name: "scale statefulset to replicas, refusing HPAs", action: k8s.Scale, target: kafka, params: P{"replicas": 5, "hpa": "refuse"},
			want: []string{
				"GET " + kafkaSTS + "/scale",
				"GET autoscaling/v2 horizontalpodautoscalers data targeting it; if one exists, refuse",
				"PATCH " + kafkaSTS + "/scale spec.replicas=5",
			},
		},
		{
			name: "scale by factor within bounds", action: k8s.Scale, target: orderService, params: P{"factor": 1.5, "min_replicas": 2, "max_replicas": 8},
			want: []string{
				"GET " + orderDeploy + "/scale",
				"GET autoscaling/v2 horizontalpodautoscalers order-context targeting it; if one exists, raise its minReplicas to the same count",
				"PATCH " + orderDeploy + "/scale spec.replicas=ceil(current×1.5) (min 2, max 8)",
			},
		},
		{
			name: "scale down by step", action: k8s.Scale, target: orderService, params: P{"step": -1, "min_replicas": 1},
			want: []string{
				"GET " + orderDeploy + "/scale",
				"GET autoscaling/v2 horizontalpodautoscalers order-context targeting it; if one exists, raise its minReplicas to the same count",
				"PATCH " + orderDeploy + "/scale spec.replicas=current-1 (min 1)",
			},
		},
		{
			name: "scale to zero", action: k8s.Scale, target: orderService, params: P{"replicas": 0, "allow_zero": true},
			want: []string{
				"GET " + orderDeploy + "/scale",
				"GET autoscaling/v2 horizontalpodautoscalers order-context targeting it; if one exists, raise its minReplicas to the same count",
				"PATCH " + orderDeploy + "/scale spec.replicas=0",
			},
		},
		{name: "scale without namespace", action: k8s.Scale, target: remediations.Target{Kind: "Deployment", Name: "cart"}, params: P{"step": 1},
			wantErr: "kubernetes.scale: target needs a namespace and a name (or a pod to resolve to its owner)"},
		{name: "scale without name", action: k8s.Scale, target: remediations.Target{Kind: "Deployment", Namespace: "shop"}, params: P{"step": 1},
			wantErr: "kubernetes.scale: target needs a namespace and a name (or a pod to resolve to its owner)"},
		{name: "scale a namespace", action: k8s.Scale, target: batch, params: P{"step": 1},
			wantErr: "kubernetes.scale cannot act on a Namespace target (accepts Deployment, StatefulSet)"},
		{name: "scale with invalid params", action: k8s.Scale, target: orderService, params: P{"step": 1, "replicas": 2},
			wantErr: "invalid params: exactly one of replicas, step or factor is required"},

		// kubernetes.set_resources
		{
			name: "set_resources memory factor on the target's container", action: k8s.SetResources, target: cart,
			params: P{"resource": "memory", "factor": 1.5, "max": "4Gi"},
			want: []string{
				"GET " + cartDeploy,
				`PATCH ` + cartDeploy + ` container "app" resources.{requests,limits}.memory×1.5 (max 4Gi)`,
			},
		},
		{
			name: "set_resources cpu value on the first container", action: k8s.SetResources, target: orderService,
			params: P{"resource": "cpu", "value": "500m"},
			want: []string{
				"GET " + orderDeploy,
				"PATCH " + orderDeploy + " container <first> resources.{requests,limits}.cpu=500m",
			},
		},
		{
			name: "set_resources container param wins", action: k8s.SetResources, target: cart,
			params: P{"resource": "cpu", "factor": 2, "container": "sidecar"},
			want: []string{
				"GET " + cartDeploy,
				`PATCH ` + cartDeploy + ` container "sidecar" resources.{requests,limits}.cpu×2`,
			},
		},
		{name: "set_resources without name", action: k8s.SetResources, target: remediations.Target{Kind: "StatefulSet", Namespace: "data"},
			params: P{"resource": "cpu", "factor": 2}, wantErr: "kubernetes.set_resources: target needs a namespace and a name (or a pod to resolve to its owner)"},

		// kubernetes.rollout_restart
		{
			name: "rollout_restart", action: k8s.RolloutRestart, target: cart,
			want: []string{`PATCH ` + cartDeploy + ` spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]=<now>`},
		},
		{name: "rollout_restart without namespace", action: k8s.RolloutRestart, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.rollout_restart: target needs a namespace and a name (or a pod to resolve to its owner)"},

		// kubernetes.delete_pod
		{
			name: "delete_pod the alert's pod", action: k8s.DeletePod, target: cart, params: P{"min_ready": 1},
			want: []string{
				"LIST v1 pods shop owned by Deployment cart; refuse if fewer than 1 ready would remain",
				"DELETE v1 pods shop/cart-7d9f-x2",
			},
		},
		{
			name: "delete_pod evicts the named pod", action: k8s.DeletePod, target: cart, params: P{"pod": "cart-other", "evict": true},
			want: []string{
				"LIST v1 pods shop owned by Deployment cart; refuse if fewer than 0 ready would remain",
				"CREATE v1 pods/eviction shop/cart-other",
			},
		},
		{name: "delete_pod without a pod", action: k8s.DeletePod, target: orderService, params: P{"min_ready": 1},
			wantErr: "kubernetes.delete_pod: needs a namespace and a pod (the alert's pod label or the pod param)"},
		{name: "delete_pod without namespace", action: k8s.DeletePod, target: remediations.Target{Kind: "Deployment", Name: "cart", Pod: "cart-1"},
			wantErr: "kubernetes.delete_pod: needs a namespace and a pod (the alert's pod label or the pod param)"},

		// kubernetes.delete_pods
		{
			name: "delete_pods", action: k8s.DeletePods, target: orderService, params: P{"selector": "app=checkout", "max_pods": 2, "min_ready": 1},
			want: []string{
				`LIST v1 pods order-context labelSelector="app=checkout"`,
				"DELETE v1 pods order-context: at most 2, not-ready first, keeping ≥ 1 ready",
			},
		},
		{
			name: "delete_pods evict all matching", action: k8s.DeletePods, target: kafka, params: P{"selector": "app in (kafka)", "evict": true},
			want: []string{
				`LIST v1 pods data labelSelector="app in (kafka)"`,
				"CREATE v1 pods/eviction data: all matching, not-ready first, keeping ≥ 0 ready",
			},
		},
		{name: "delete_pods without namespace", action: k8s.DeletePods, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			params: P{"selector": "app=cart"}, wantErr: "kubernetes.delete_pods: target needs a namespace"},

		// kubernetes.rollout_undo
		{
			name: "rollout_undo previous", action: k8s.RolloutUndo, target: orderService,
			want: []string{
				"LIST apps/v1 replicasets order-context owned by deployment order-service",
				"PATCH " + orderDeploy + " spec.template=<pod template of the previous revision>; refuse if there is none",
			},
		},
		{
			name: "rollout_undo to revision", action: k8s.RolloutUndo, target: orderService, params: P{"to_revision": 4},
			want: []string{
				"LIST apps/v1 replicasets order-context owned by deployment order-service",
				"PATCH " + orderDeploy + " spec.template=<pod template of revision 4>; refuse if there is none",
			},
		},
		{name: "rollout_undo a statefulset", action: k8s.RolloutUndo, target: kafka,
			wantErr: "kubernetes.rollout_undo cannot act on a StatefulSet target (accepts Deployment)"},
		{name: "rollout_undo without name", action: k8s.RolloutUndo, target: remediations.Target{Kind: "Deployment", Namespace: "shop"},
			wantErr: "kubernetes.rollout_undo: target needs a namespace and a name (or a pod to resolve to its owner)"},

		// kubernetes.set_env
		{
			name: "set_env", action: k8s.SetEnv, target: orderService, params: P{"name": "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "value": "20"},
			want: []string{
				"GET " + orderDeploy,
				`PATCH ` + orderDeploy + ` container <first> env SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE="20"`,
			},
		},
		{
			name: "set_env quotes the value", action: k8s.SetEnv, target: cart, params: P{"name": "GREETING", "value": `say "hi"`},
			want: []string{
				"GET " + cartDeploy,
				`PATCH ` + cartDeploy + ` container "app" env GREETING="say \"hi\""`,
			},
		},
		{name: "set_env without namespace", action: k8s.SetEnv, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			params: P{"name": "A", "value": "1"}, wantErr: "kubernetes.set_env: target needs a namespace and a name (or a pod to resolve to its owner)"},

		// kubernetes.scale_namespace
		{
			name: "scale_namespace cap", action: k8s.ScaleNamespace, target: batch, params: P{"replicas": 3, "only_reduce": true},
			want: []string{
				"LIST apps/v1 deployments batch",
				"PATCH each Deployment above 3: annotate remediator.io/previous-replicas=<current>, then PATCH its scale spec.replicas=3",
			},
		},
		{
			name: "scale_namespace to 1", action: k8s.ScaleNamespace, target: batch, params: P{"replicas": 1},
			want: []string{
				"LIST apps/v1 deployments batch",
				"PATCH each Deployment: annotate remediator.io/previous-replicas=<current>, then PATCH its scale spec.replicas=1",
			},
		},
		{
			name: "scale_namespace named by Name only", action: k8s.ScaleNamespace, target: remediations.Target{Kind: "Namespace", Name: "batch"}, params: P{"replicas": 1},
			want: []string{
				"LIST apps/v1 deployments batch",
				"PATCH each Deployment: annotate remediator.io/previous-replicas=<current>, then PATCH its scale spec.replicas=1",
			},
		},
		{name: "scale_namespace without a namespace", action: k8s.ScaleNamespace, target: remediations.Target{Kind: "Namespace"}, params: P{"replicas": 1},
			wantErr: "kubernetes.scale_namespace: target needs a namespace"},
		{name: "scale_namespace on a deployment", action: k8s.ScaleNamespace, target: cart, params: P{"replicas": 1},
			wantErr: "kubernetes.scale_namespace cannot act on a Deployment target (accepts Namespace)"},

		// kubernetes.restore_namespace
		{
			name: "restore_namespace", action: k8s.RestoreNamespace, target: batch,
			want: []string{
				"LIST apps/v1 deployments batch annotated remediator.io/previous-replicas",
				"PATCH each: scale spec.replicas=<previous>, remove the annotation",
			},
		},
		{name: "restore_namespace without a namespace", action: k8s.RestoreNamespace, target: remediations.Target{Kind: "Namespace"},
			wantErr: "kubernetes.restore_namespace: target needs a namespace"},

		// investigations
		{name: "pod_status of the alert's pod", action: k8s.PodStatus, target: cart, want: []string{"GET v1 pods shop/cart-7d9f-x2"}},
		{name: "pod_status of the workload", action: k8s.PodStatus, target: orderService, want: []string{"LIST v1 pods order-context owned by Deployment order-service"}},
		{name: "pod_status without namespace", action: k8s.PodStatus, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.pod_status: target needs a namespace"},
		{name: "logs defaults", action: k8s.Logs, target: cart,
			want: []string{"GET v1 pods/log shop/cart-7d9f-x2 tailLines=100 limitBytes=65536 (and previous=true if restarted)"}},
		{name: "logs of the first pod", action: k8s.Logs, target: orderService, params: P{"lines": 20, "max_bytes": 1024},
			want: []string{"GET v1 pods/log order-context/<first pod of order-service> tailLines=20 limitBytes=1024 (and previous=true if restarted)"}},
		{name: "logs without namespace", action: k8s.Logs, target: remediations.Target{Kind: "StatefulSet", Name: "kafka"},
			wantErr: "kubernetes.logs: target needs a namespace"},
		{name: "logs of a namespace", action: k8s.Logs, target: batch,
			wantErr: "kubernetes.logs cannot act on a Namespace target (accepts Deployment, StatefulSet)"},
		{name: "events of a workload", action: k8s.Events, target: orderService, params: P{"limit": 5},
			want: []string{"LIST events.k8s.io/v1 events order-context regarding Deployment/order-service (newest 5)"}},
		{name: "events of a namespace", action: k8s.Events, target: batch,
			want: []string{"LIST events.k8s.io/v1 events batch (newest 20)"}},
		{name: "events without namespace", action: k8s.Events, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.events: target needs a namespace"},
		{name: "endpoints", action: k8s.Endpoints, target: orderService,
			want: []string{"LIST discovery.k8s.io/v1 endpointslices order-context labelSelector=kubernetes.io/service-name=order-service"}},
		{name: "endpoints without namespace", action: k8s.Endpoints, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.endpoints: target needs a namespace"},
		{name: "top_pods", action: k8s.TopPods, target: cart,
			want: []string{`LIST metrics.k8s.io/v1beta1 pods shop ("metrics API not available" when it is not served)`}},
		{name: "top_pods of a namespace named by Name only", action: k8s.TopPods, target: remediations.Target{Kind: "Namespace", Name: "batch"},
			want: []string{`LIST metrics.k8s.io/v1beta1 pods batch ("metrics API not available" when it is not served)`}},
		{name: "top_pods without namespace", action: k8s.TopPods, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.top_pods: target needs a namespace"},
		{name: "configmap_keys", action: k8s.ConfigMapKeys, target: orderService,
			want: []string{"GET v1 configmaps order-context/order-service-config (keys only)"}},
		{name: "configmap_keys without namespace", action: k8s.ConfigMapKeys, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.configmap_keys: target needs a namespace"},
		{name: "rollout_history", action: k8s.RolloutHistory, target: orderService,
			want: []string{"LIST apps/v1 replicasets order-context owned by deployment order-service (revision, images)"}},
		{name: "rollout_history without namespace", action: k8s.RolloutHistory, target: remediations.Target{Kind: "Deployment", Name: "cart"},
			wantErr: "kubernetes.rollout_history: target needs a namespace"},
		{name: "rollout_history of a statefulset", action: k8s.RolloutHistory, target: kafka,
			wantErr: "kubernetes.rollout_history cannot act on a StatefulSet target (accepts Deployment)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plan, err := tc.action.Plan(tc.target, tc.params)
			checkErr(t, err, tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			if plan.Action != tc.action.Spec().Name {
				t.Errorf("plan.Action = %q", plan.Action)
			}
			if !slices.Equal(plan.Calls, tc.want) {
				t.Errorf("calls:\n  %s\nwant:\n  %s", strings.Join(plan.Calls, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestScaleRejectsReplicasAboveMax(t *testing.T) {
	err := k8s.Scale.Validate(remediations.Params{"replicas": 12, "max_replicas": 10})
	if err == nil || !strings.Contains(err.Error(), "replicas 12 is above max_replicas 10") {
		t.Fatalf("Validate = %v", err)
	}
}

func TestPodStatusOnNamespace(t *testing.T) {
	p, err := k8s.PodStatus.Plan(remediations.Target{Kind: "Namespace", Namespace: "batch", Name: "batch"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"LIST v1 pods batch"}; !slices.Equal(p.Calls, want) {
		t.Fatalf("calls = %q, want %q", p.Calls, want)
	}
}
