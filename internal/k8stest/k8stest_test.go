package k8stest_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/remediator/remediator/internal/k8stest"
)

var env *k8stest.Env

func TestMain(m *testing.M) { os.Exit(k8stest.Run(m, &env)) }

const (
	wait        = 30 * time.Second
	revisionKey = "deployment.kubernetes.io/revision"
)

func TestServerVersion(t *testing.T) {
	v, err := env.Clientset().Discovery().ServerVersion()
	if err != nil {
		t.Fatal(err)
	}
	if want := "v" + k8stest.KubeVersion; v.GitVersion != want {
		t.Fatalf("server version %s, want %s", v.GitVersion, want)
	}
	t.Logf("server %s, control plane RSS %s", v.GitVersion, rss())
}

func TestNamespacesAreUnique(t *testing.T) {
	a, b := env.NewNamespace(t), env.NewNamespace(t)
	if a == b || !strings.HasPrefix(a, "testnamespacesareunique-") {
		t.Fatalf("namespaces %q and %q", a, b)
	}
}

// TestDeploymentLifecycle checks that the controllers act as the Kubernetes
// actions' integration tests need: a Deployment gets a ReplicaSet and pods,
// the scale subresource works, pods can be made ready, and a template
// change makes a second revision.
func TestDeploymentLifecycle(t *testing.T) {
	cs := env.Clientset()
	ns := env.NewNamespace(t)
	ctx := context.Background()
	labels := map[string]string{"app": "web"}
	sel := "app=web"
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(int32(2)),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{
					{Name: "web", Image: "example.invalid/web:v1"},
				}},
			},
		},
	}
	start := time.Now()
	if _, err := cs.AppsV1().Deployments(ns).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	k8stest.Eventually(t, wait, "a ReplicaSet owned by the Deployment", func(ctx context.Context) (bool, error) {
		rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil || len(rss.Items) != 1 {
			return false, err
		}
		refs := rss.Items[0].OwnerReferences
		return len(refs) == 1 && refs[0].Kind == "Deployment" && refs[0].Name == "web", nil
	})
	t.Logf("ReplicaSet after %s", time.Since(start).Round(time.Millisecond))
	waitPods(t, ns, sel, 2, corev1.PodPending)
	t.Logf("2 Pending pods after %s", time.Since(start).Round(time.Millisecond))

	// Scale through the scale subresource.
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "web", types.MergePatchType,
		[]byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{FieldManager: "k8stest"}, "scale"); err != nil {
		t.Fatal(err)
	}
	waitPods(t, ns, sel, 3, corev1.PodPending)
	scale, err := cs.AppsV1().Deployments(ns).GetScale(ctx, "web", metav1.GetOptions{})
	if err != nil || scale.Spec.Replicas != 3 {
		t.Fatalf("scale %+v, %v", scale, err)
	}

	// Do the kubelet's part.
	if n, err := k8stest.SetPodsReady(ctx, cs, ns, sel); err != nil || n != 3 {
		t.Fatalf("SetPodsReady: %d, %v", n, err)
	}
	waitPods(t, ns, sel, 3, corev1.PodRunning)
	k8stest.Eventually(t, wait, "3 ready replicas", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.ReadyReplicas == 3, err
	})

	// What `kubectl rollout restart` does: a second revision.
	restart := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":%q}}}}}`,
		time.Now().Format(time.RFC3339))
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "web", types.StrategicMergePatchType,
		[]byte(restart), metav1.PatchOptions{FieldManager: "k8stest"}); err != nil {
		t.Fatal(err)
	}
	k8stest.Eventually(t, wait, "ReplicaSets with revisions 1 and 2", func(ctx context.Context) (bool, error) {
		return strings.Join(revisions(ctx, t, ns, sel), ",") == "1,2", nil
	})
	// The controller annotates the new ReplicaSet before the Deployment.
	k8stest.Eventually(t, wait, "the Deployment at revision 2", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Annotations[revisionKey] == "2", err
	})

	// Completing the rollout takes ready pods of revision 2.
	k8stest.Eventually(t, wait, "the rollout to finish (rev1:0, rev2:3)", func(ctx context.Context) (bool, error) {
		if _, err := k8stest.SetPodsReady(ctx, cs, ns, sel); err != nil {
			return false, err
		}
		rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		want := map[string]int32{"1": 0, "2": 3} // spec and ready replicas per revision
		for _, rs := range rss.Items {
			w, ok := want[rs.Annotations[revisionKey]]
			if !ok || *rs.Spec.Replicas != w || rs.Status.ReadyReplicas != w {
				return false, nil
			}
		}
		return len(rss.Items) == 2, nil
	})
	t.Logf("rollout of revision 2 done after %s; control plane RSS %s", time.Since(start).Round(time.Millisecond), rss())
}

func waitPods(t *testing.T, ns, sel string, n int, phase corev1.PodPhase) {
	t.Helper()
	k8stest.Eventually(t, wait, fmt.Sprintf("%d %s pods", n, phase), func(ctx context.Context) (bool, error) {
		pods, err := env.Clientset().CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, err
		}
		count := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == phase {
				count++
			}
		}
		return count == n && len(pods.Items) == n, nil
	})
}

func revisions(ctx context.Context, t *testing.T, ns, sel string) []string {
	rss, err := env.Clientset().AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Logf("listing ReplicaSets: %v", err)
		return nil
	}
	var revs []string
	for _, rs := range rss.Items {
		revs = append(revs, rs.Annotations[revisionKey])
	}
	sort.Strings(revs)
	return revs
}

func rss() string {
	var parts []string
	var total int64
	m := env.RSS()
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager"} {
		parts = append(parts, fmt.Sprintf("%s %d MB", name, m[name]>>20))
		total += m[name]
	}
	return fmt.Sprintf("%d MB (%s)", total>>20, strings.Join(parts, ", "))
}

func ptr[T any](v T) *T { return &v }
