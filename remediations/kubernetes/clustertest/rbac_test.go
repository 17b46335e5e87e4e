package clustertest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"sigs.k8s.io/yaml"

	"github.com/remediator/remediator/internal/k8stest"
	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

// shippedRole is the ClusterRole of deploy/kubernetes/rbac.yaml, as a
// cluster would get it.
func shippedRole(t *testing.T) rbacv1.ClusterRole {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "kubernetes", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _, _ := bytes.Cut(raw, []byte("\n---\n"))
	var role rbacv1.ClusterRole
	if err := yaml.UnmarshalStrict(doc, &role); err != nil {
		t.Fatal(err)
	}
	return role
}

// saConfig binds the shipped ClusterRole (under a test-unique name) to a new
// ServiceAccount and returns a client config authenticated only by that
// ServiceAccount's token, from the TokenRequest API as a pod would mount it.
func saConfig(t *testing.T, ns string) *rest.Config {
	t.Helper()
	ctx := context.Background()
	admin := env.Clientset()
	role := shippedRole(t)
	role.Name = "remediator-" + ns
	role.ResourceVersion = ""
	if _, err := admin.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoles().Delete(context.Background(), role.Name, metav1.DeleteOptions{})
	})
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "remediator"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: role.Name},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: "remediator", Namespace: ns}},
	}
	if _, err := admin.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = admin.RbacV1().ClusterRoleBindings().Delete(context.Background(), binding.Name, metav1.DeleteOptions{})
	})
	tok, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "remediator",
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(3600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg := rest.AnonymousClientConfig(env.Config())
	cfg.BearerToken = tok.Status.Token
	return cfg
}

// The shipped role, bound to a ServiceAccount token, runs every action and
// investigation; and it grants nothing beyond them.
func TestShippedRoleCoversEveryAction(t *testing.T) {
	ns := env.NewNamespace(t)
	ctx := context.Background()
	admin := env.Clientset()
	deployment(t, ns, "web", 3, "example.invalid/web:v1")
	if _, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "web-config"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.DiscoveryV1().EndpointSlices(ns).Create(ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{
			{Addresses: []string{"10.0.0.1"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}},
			{Addresses: []string{"10.0.0.2"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(false)}},
		},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	cfg := saConfig(t, ns)
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := k8s.NewExecutor(cs, k8s.Options{Metrics: mc})

	pods, err := admin.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods.Items) != 3 {
		t.Fatalf("pods: %v, %v", pods, err)
	}
	// The first steps name only a pod, as kube-state-metrics alerts do; the
	// later ones the Deployment, since rollouts replace the pods.
	byPod := remediations.Target{Kind: k8s.KindDeployment, Namespace: ns, Pod: pods.Items[0].Name}
	byName := remediations.Target{Kind: k8s.KindDeployment, Namespace: ns, Name: "web"}
	nsTarget := remediations.Target{Kind: k8s.KindNamespace, Name: ns, Namespace: ns}
	// In the order a runbook would run them; each must pass under the role.
	steps := []struct {
		a remediations.Action
		t remediations.Target
		p remediations.Params
	}{
		{k8s.PodStatus, byPod, nil},
		{k8s.Logs, byPod, nil},
		{k8s.Events, byPod, nil},
		{k8s.Endpoints, byPod, nil},
		{k8s.TopPods, byPod, nil},
		{k8s.ConfigMapKeys, byPod, nil},
		{k8s.RolloutHistory, byPod, nil},
		{k8s.Scale, byName, remediations.Params{"step": 1}},
		{k8s.SetResources, byName, remediations.Params{"resource": "cpu", "factor": 1.5}},
		{k8s.SetEnv, byName, remediations.Params{"name": "POOL", "value": "20"}},
		{k8s.RolloutRestart, byName, remediations.Params{}},
		{k8s.RolloutUndo, byName, remediations.Params{}},
		{k8s.DeletePod, byName, remediations.Params{"min_ready": 0}},
		{k8s.DeletePod, byName, remediations.Params{"min_ready": 0, "evict": true}},
		{k8s.DeletePods, byName, remediations.Params{"selector": "app=web", "max_pods": 1}},
		{k8s.DeletePods, byName, remediations.Params{"selector": "app=web", "max_pods": 1, "evict": true}},
		{k8s.ScaleNamespace, nsTarget, remediations.Params{"replicas": 1}},
		{k8s.RestoreNamespace, nsTarget, remediations.Params{}},
	}
	covered := map[string]bool{}
	for i, st := range steps {
		p := st.p
		if p == nil {
			p = remediations.Params{}
		}
		if st.a == k8s.DeletePod || st.a == k8s.DeletePods {
			// Earlier steps started rollouts: let the controller finish
			// replacing the pods, or it may delete the one picked here
			// first (CI saw delete_pod find its pod already gone).
			rolledOut(t, ns, "web")
		}
		if st.a == k8s.DeletePod {
			// Name a live pod, as a new alert would.
			st.t.Pod = livePod(t, ns)
		}
		tg, err := e.ResolveTarget(ctx, st.a, st.t)
		if err != nil {
			t.Fatalf("step %d: resolving %s under the shipped role: %v", i, st.a.Spec().Name, err)
		}
		res, err := e.Execute(ctx, st.a, tg, p)
		if apierrors.IsForbidden(err) || (err != nil && strings.Contains(err.Error(), "forbidden")) {
			t.Fatalf("step %d: %s is forbidden under the shipped role: %v", i, st.a.Spec().Name, err)
		}
		// rollout_undo may refuse while the controller has not yet numbered
		// the revisions: that is not a permission problem.
		if err != nil && st.a != k8s.RolloutUndo {
			t.Fatalf("step %d: %s: %v", i, st.a.Spec().Name, err)
		}
		if st.a.Spec().Kind == remediations.Resolution && err == nil && len(res.Changes) == 0 && st.a != k8s.RestoreNamespace {
			t.Errorf("step %d: %s changed nothing; the step does not prove its permissions", i, st.a.Spec().Name)
		}
		covered[st.a.Spec().Name] = true
	}
	for _, a := range k8s.Actions() {
		if !covered[a.Spec().Name] {
			t.Errorf("%s is not exercised under the shipped role", a.Spec().Name)
		}
	}
	// Events were written under the role.
	if len(eventsFor(t, ns, "web", "RemediationScale")) != 1 {
		t.Error("no RemediationScale Event written under the shipped role")
	}

	// Nothing beyond: a few things a remediation daemon must never do.
	for _, attr := range []authorizationv1.ResourceAttributes{
		{Namespace: ns, Verb: "get", Resource: "secrets"},
		{Namespace: ns, Verb: "list", Resource: "secrets"},
		{Namespace: ns, Verb: "delete", Group: "apps", Resource: "deployments"},
		{Namespace: ns, Verb: "create", Group: "apps", Resource: "deployments"},
		{Namespace: ns, Verb: "patch", Group: "apps", Resource: "deployments"},
		{Namespace: ns, Verb: "create", Resource: "pods"},
		{Namespace: ns, Verb: "create", Resource: "pods/exec"},
		{Namespace: ns, Verb: "list", Resource: "configmaps"},
		{Namespace: ns, Verb: "update", Resource: "configmaps"},
		{Verb: "delete", Resource: "namespaces"},
		{Verb: "update", Group: "rbac.authorization.k8s.io", Resource: "clusterroles"},
	} {
		r, err := cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &attr},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed {
			t.Errorf("the shipped role allows %s %s/%s", attr.Verb, attr.Group, attr.Resource)
		}
	}
}

// livePod marks the pods of app=web ready and returns one that is not
// being deleted.
func livePod(t *testing.T, ns string) string {
	t.Helper()
	var name string
	k8stest.Eventually(t, wait, "a live pod of web", func(ctx context.Context) (bool, error) {
		cs := env.Clientset()
		if _, err := k8stest.SetPodsReady(ctx, cs, ns, "app=web"); err != nil {
			return false, err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				name = p.Name
				return true, nil
			}
		}
		return false, nil
	})
	return name
}
