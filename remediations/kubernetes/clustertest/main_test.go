// Package clustertest_test runs the Kubernetes actions against a real
// kube-apiserver, etcd and kube-controller-manager (internal/k8stest). It is
// a package of its own so that the client-go fake tests beside the executor
// run without a control plane.
package clustertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/remediator/remediator/internal/k8stest"
	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

var env *k8stest.Env

func TestMain(m *testing.M) { os.Exit(k8stest.Run(m, &env)) }

// wait bounds every wait for a controller; generous for a loaded CI machine,
// and never a measure of speed.
const wait = 60 * time.Second

func ptr[T any](v T) *T { return &v }

// deployment creates a Deployment with replicas pods and waits for the
// controller to create them, then marks them ready (there is no kubelet).
func deployment(t testing.TB, ns, name string, replicas int32, image string, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	t.Helper()
	cs := env.Clientset()
	labels := map[string]string{"app": name}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: image,
					Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
						Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("200m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
					},
				}}},
			},
		},
	}
	for _, m := range mutate {
		m(d)
	}
	ctx := context.Background()
	d, err := cs.AppsV1().Deployments(ns).Create(ctx, d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readyPods(t, ns, "app="+name, int(replicas))
	return d
}

// readyPods waits until n live pods match selector and marks them ready.
func readyPods(t testing.TB, ns, selector string, n int) {
	t.Helper()
	cs := env.Clientset()
	k8stest.Eventually(t, wait, fmt.Sprintf("%d ready pods %s in %s", n, selector, ns), func(ctx context.Context) (bool, error) {
		if _, err := k8stest.SetPodsReady(ctx, cs, ns, selector); err != nil {
			return false, err
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
		if err != nil {
			return false, err
		}
		ready := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
				ready++
			}
		}
		return ready == n, nil
	})
}

func executor(cs kubernetes.Interface) *k8s.Executor {
	return k8s.NewExecutor(cs, k8s.Options{Instance: "clustertest"})
}

// execute runs action a on t with params p and fails the test on error.
func execute(t *testing.T, e *k8s.Executor, a remediations.Action, tg remediations.Target, p remediations.Params) remediations.Result {
	t.Helper()
	ctx := remediations.WithCause(context.Background(), "clustertest "+t.Name())
	res, err := e.Execute(ctx, a, tg, p)
	if err != nil {
		t.Fatalf("%s: %v", a.Spec().Name, err)
	}
	return res
}

// eventsFor lists the Events remediator recorded on the named object.
func eventsFor(t *testing.T, ns, name, reason string) []string {
	t.Helper()
	list, err := env.Clientset().EventsV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var notes []string
	for _, ev := range list.Items {
		if ev.Regarding.Name == name && ev.Reason == reason && ev.ReportingController == k8s.ReportingController {
			notes = append(notes, ev.Note)
		}
	}
	return notes
}

// managedBy reports whether field manager owns some fields of obj (for
// the subresource, "" for the main resource).
func managedBy(obj metav1.Object, manager, subresource string) bool {
	for _, f := range obj.GetManagedFields() {
		if f.Manager == manager && f.Subresource == subresource {
			return true
		}
	}
	return false
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

func jsonString(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// rolledOut waits until the deployment controller has finished rolling out
// name: every replica is of the current template and available, and no pod
// of an older ReplicaSet is left for the controller to delete. Without a
// kubelet the test marks the pods ready itself. A step that picks a pod
// while a rollout is under way races the controller, which may delete that
// pod first.
func rolledOut(t testing.TB, ns, name string) {
	t.Helper()
	cs := env.Clientset()
	k8stest.Eventually(t, wait, "deployment "+name+" rolled out", func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil {
			return false, err
		}
		if _, err := k8stest.SetPodsReady(ctx, cs, ns, sel.String()); err != nil {
			return false, err
		}
		want := int32(1)
		if d.Spec.Replicas != nil {
			want = *d.Spec.Replicas
		}
		st := d.Status
		if st.ObservedGeneration < d.Generation || st.UpdatedReplicas != want || st.Replicas != want || st.AvailableReplicas != want {
			return false, nil
		}
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, err
		}
		live := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				live++
			}
		}
		return live == int(want), nil
	})
}
