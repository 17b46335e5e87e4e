package kubernetes

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// Access is one API permission: verbs on a resource of an API group.
type Access struct {
	Group    string
	Resource string
	Verbs    []string
}

func read(group, resource string) Access {
	return Access{group, resource, []string{"get", "list"}}
}

var (
	nsGet         = Access{"", "namespaces", []string{"get"}}
	resolveAccess = []Access{
		read("", "pods"), read("apps", "replicasets"), read("apps", "deployments"), read("apps", "statefulsets"),
		nsGet, {"autoscaling", "horizontalpodautoscalers", []string{"list"}},
	}
	eventAccess    = Access{"events.k8s.io", "events", []string{"create"}}
	workloadUpdate = []Access{
		{"apps", "deployments", []string{"get", "update"}}, {"apps", "statefulsets", []string{"get", "update"}},
		nsGet,
	}
)

// accessByAction is what each action needs beyond resolving its target (see
// ResolveTarget) and recording its Event. It is the single source of the
// shipped ClusterRole (deploy/kubernetes/rbac.yaml, checked by a test) and of
// the test that runs every action under that role on a real API server.
var accessByAction = map[string][]Access{
	Scale.Spec().Name: {
		{"apps", "deployments", []string{"get"}}, {"apps", "statefulsets", []string{"get"}},
		{"apps", "deployments/scale", []string{"get", "update"}}, {"apps", "statefulsets/scale", []string{"get", "update"}},
		{"autoscaling", "horizontalpodautoscalers", []string{"get", "list", "update"}}, nsGet,
	},
	SetResources.Spec().Name:   workloadUpdate,
	RolloutRestart.Spec().Name: workloadUpdate,
	SetEnv.Spec().Name:         workloadUpdate,
	DeletePod.Spec().Name: {
		read("apps", "deployments"), read("apps", "statefulsets"), read("apps", "replicasets"), nsGet,
		{"", "pods", []string{"get", "list", "delete"}}, {"", "pods/eviction", []string{"create"}},
	},
	DeletePods.Spec().Name: {
		read("apps", "deployments"), read("apps", "statefulsets"), nsGet,
		{"", "pods", []string{"list", "delete"}}, {"", "pods/eviction", []string{"create"}},
	},
	RolloutUndo.Spec().Name: {
		{"apps", "deployments", []string{"get", "update"}}, {"apps", "replicasets", []string{"list"}}, nsGet,
	},
	ScaleNamespace.Spec().Name: {
		{"apps", "deployments", []string{"get", "list", "update"}}, {"autoscaling", "horizontalpodautoscalers", []string{"list"}}, nsGet,
	},
	RestoreNamespace.Spec().Name: {
		{"apps", "deployments", []string{"get", "list", "update"}}, nsGet,
	},

	PodStatus.Spec().Name: {read("", "pods"), read("apps", "deployments"), read("apps", "statefulsets"), read("apps", "replicasets")},
	Logs.Spec().Name: {
		read("", "pods"), {"", "pods/log", []string{"get"}}, read("apps", "deployments"), read("apps", "statefulsets"), read("apps", "replicasets"),
	},
	Events.Spec().Name: {
		{"", "events", []string{"list"}}, read("", "pods"), read("apps", "deployments"), read("apps", "statefulsets"), read("apps", "replicasets"),
	},
	Endpoints.Spec().Name:      {{"discovery.k8s.io", "endpointslices", []string{"list"}}},
	TopPods.Spec().Name:        {{"metrics.k8s.io", "pods", []string{"list"}}, read("", "pods"), read("apps", "deployments"), read("apps", "statefulsets"), read("apps", "replicasets")},
	ConfigMapKeys.Spec().Name:  {{"", "configmaps", []string{"get"}}},
	RolloutHistory.Spec().Name: {read("apps", "deployments"), {"apps", "replicasets", []string{"list"}}},
}

// AccessFor is what running action needs, its target's resolution and
// Event included.
func AccessFor(action string) []Access {
	return slices.Concat(resolveAccess, []Access{eventAccess}, accessByAction[action])
}

// ClusterRoleRules are the least-privilege rules for every action: the
// union of AccessFor over all actions, one rule per API group and verb set,
// sorted so that the generated role is stable.
func ClusterRoleRules() []rbacv1.PolicyRule {
	verbs := map[[2]string]map[string]bool{} // group, resource → verbs
	for _, a := range Actions() {
		for _, acc := range AccessFor(a.Spec().Name) {
			k := [2]string{acc.Group, acc.Resource}
			if verbs[k] == nil {
				verbs[k] = map[string]bool{}
			}
			for _, v := range acc.Verbs {
				verbs[k][v] = true
			}
		}
	}
	// Resources of a group with the same verbs share a rule.
	type groupVerbs struct{ group, verbs string }
	byVerbs := map[groupVerbs][]string{}
	for k, vs := range verbs {
		gv := groupVerbs{k[0], strings.Join(slices.Sorted(maps.Keys(vs)), ",")}
		byVerbs[gv] = append(byVerbs[gv], k[1])
	}
	keys := slices.SortedFunc(maps.Keys(byVerbs), func(a, b groupVerbs) int {
		if c := strings.Compare(a.group, b.group); c != 0 {
			return c
		}
		return strings.Compare(a.verbs, b.verbs)
	})
	rules := make([]rbacv1.PolicyRule, 0, len(keys))
	for _, k := range keys {
		rules = append(rules, rbacv1.PolicyRule{
			APIGroups: []string{k.group},
			Resources: slices.Sorted(slices.Values(byVerbs[k])),
			Verbs:     strings.Split(k.verbs, ","),
		})
	}
	return rules
}

// RBACManifest is deploy/kubernetes/rbac.yaml: the ClusterRole with
// ClusterRoleRules, bound to the ServiceAccount the daemon runs as. A test
// keeps the shipped file equal to it (`go test -update` rewrites it).
func RBACManifest(namespace, serviceAccount string) ([]byte, error) {
	role := rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: "remediator", Labels: map[string]string{"app.kubernetes.io/name": "remediator"}},
		Rules:      ClusterRoleRules(),
	}
	binding := rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "remediator", Labels: map[string]string{"app.kubernetes.io/name": "remediator"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "remediator"},
		Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: serviceAccount, Namespace: namespace}},
	}
	var b bytes.Buffer
	b.WriteString("# Generated from remediations/kubernetes/rbac.go (go test ./remediations/kubernetes/ -update):\n" +
		"# exactly the verbs remediator's Kubernetes actions and investigations use, and no\n" +
		"# others. A cluster-wide role, because alerts name workloads in any namespace;\n" +
		"# policy (allowed_namespaces, protected_namespaces) narrows where it acts. Secrets\n" +
		"# are not readable; ConfigMaps are read for their keys only.\n")
	for i, obj := range []any{role, binding} {
		if i > 0 {
			b.WriteString("---\n")
		}
		y, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("rbac manifest: %w", err)
		}
		b.Write(y)
	}
	return b.Bytes(), nil
}
