package kubernetes_test

// Shared fixtures for the tests that run the executor against client-go's
// fake clientset: object builders, the scale subresource the fake lacks, and
// readers of what the executor wrote.

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

// fkBase is the fixtures' "now": object creation times and the executor's
// clock are derived from it, never from the wall clock.
var fkBase = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)

const fkNS = "shop"

var (
	fkDeploymentsGVR  = appsv1.SchemeGroupVersion.WithResource("deployments")
	fkStatefulsetsGVR = appsv1.SchemeGroupVersion.WithResource("statefulsets")
	fkEventsGVR       = eventsv1.SchemeGroupVersion.WithResource("events")
	fkPodsGVR         = corev1.SchemeGroupVersion.WithResource("pods")
	fkHpasGVR         = autoscalingv2.SchemeGroupVersion.WithResource("horizontalpodautoscalers")
)

// fkStepClock is Options.Now: fkBase, then one second later at each call, so
// that two Events of one test never share a name.
func fkStepClock() func() time.Time {
	var n atomic.Int64
	return func() time.Time { return fkBase.Add(time.Duration(n.Add(1)-1) * time.Second) }
}

func fkNamespace(name string, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name: name, UID: types.UID("uid-ns-" + name), Annotations: annotations, Labels: map[string]string{"team": "shop-team"},
	}}
}

func fkDisabled() map[string]string { return map[string]string{k8s.DisabledAnnotation: "true"} }

// fkDeployment is Deployment ns/name selecting app=name, with one container
// "app" (image name:v1) and the given replicas (nil: unset).
func fkDeployment(ns, name string, replicas *int32, mods ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name, UID: types.UID("uid-" + name), ResourceVersion: "7",
			Labels: map[string]string{"app": name}, Annotations: map[string]string{},
		},
		Spec: appsv1.DeploymentSpec{
			Replicas: replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: fkTemplate(name, name+":v1"),
		},
	}
	for _, m := range mods {
		m(d)
	}
	return d
}

func fkTemplate(app, image string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": app}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func fkStatefulSet(ns, name string, replicas int32) *appsv1.StatefulSet {
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID("uid-" + name), Labels: map[string]string{"app": name}},
		Spec: appsv1.StatefulSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
			Template: fkTemplate(name, name+":v1"),
		},
	}
}

// fkReplicaSet is a ReplicaSet of d at revision rev (0: no revision
// annotation), its template running image and labelled with its
// pod-template-hash, as the deployment controller makes them.
func fkReplicaSet(d *appsv1.Deployment, name string, rev int, image string) *appsv1.ReplicaSet {
	hash := "h" + name
	tmpl := *d.Spec.Template.DeepCopy()
	tmpl.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	tmpl.Spec.Containers[0].Image = image
	labels := map[string]string{appsv1.DefaultDeploymentUniqueLabelKey: hash}
	for k, v := range d.Spec.Selector.MatchLabels {
		labels[k] = v
	}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: d.Namespace, Name: name, UID: types.UID("uid-" + name), Labels: labels, Annotations: map[string]string{},
			OwnerReferences:   []metav1.OwnerReference{fkControllerRef("Deployment", d.Name, d.UID)},
			CreationTimestamp: metav1.NewTime(fkBase.Add(time.Duration(rev) * time.Minute)),
		},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: tmpl,
		},
		Status: appsv1.ReplicaSetStatus{Replicas: int32(rev)},
	}
	if rev > 0 {
		rs.Annotations[k8s.RevisionAnnotation] = fmt.Sprint(rev)
	}
	return rs
}

func fkControllerRef(kind, name string, uid types.UID) metav1.OwnerReference {
	apiVersion := "apps/v1"
	if kind == "Job" {
		apiVersion = "batch/v1"
	}
	return metav1.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: name, UID: uid, Controller: new(true)}
}

// fkPod is a pod controlled by owner (a ReplicaSet or StatefulSet; nil: a
// bare pod), with owner's labels, created minute minutes after fkBase.
func fkPod(name string, owner metav1.Object, ownerKind string, ready bool, minute int) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: fkNS, Name: name, UID: types.UID("uid-" + name),
			CreationTimestamp: metav1.NewTime(fkBase.Add(time.Duration(minute) * time.Minute)),
			Labels:            map[string]string{},
		},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}, NodeName: "node-1"},
		Status: corev1.PodStatus{
			Phase:      corev1.PodRunning,
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
		},
	}
	if ready {
		p.Status.Conditions[0].Status = corev1.ConditionTrue
	}
	if owner != nil {
		p.Namespace = owner.GetNamespace()
		p.OwnerReferences = []metav1.OwnerReference{fkControllerRef(ownerKind, owner.GetName(), owner.GetUID())}
		for k, v := range owner.GetLabels() {
			p.Labels[k] = v
		}
	}
	return p
}

func fkHPA(ns, name, kind, target string, minR *int32, maxR, current int32) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: kind, Name: target},
			MinReplicas:    minR, MaxReplicas: maxR,
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: current, DesiredReplicas: current},
	}
}

func fkResources(cpuReq, cpuLim, memReq, memLim string) corev1.ResourceRequirements {
	r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
	for _, q := range []struct {
		list  corev1.ResourceList
		name  corev1.ResourceName
		value string
	}{{r.Requests, corev1.ResourceCPU, cpuReq}, {r.Limits, corev1.ResourceCPU, cpuLim}, {r.Requests, corev1.ResourceMemory, memReq}, {r.Limits, corev1.ResourceMemory, memLim}} {
		if q.value != "" {
			q.list[q.name] = resource.MustParse(q.value)
		}
	}
	return r
}

// fkClient is a fake clientset holding objs, with the scale subresource of
// Deployments and StatefulSets served from the tracker (the fake has none):
// GET reads spec.replicas, UPDATE writes it unless it is a dry run.
func fkClient(objs ...runtime.Object) *fake.Clientset {
	cs := fake.NewClientset(objs...)
	for _, gvr := range []schema.GroupVersionResource{fkDeploymentsGVR, fkStatefulsetsGVR} {
		cs.PrependReactor("get", gvr.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			g, ok := a.(k8stesting.GetAction)
			if !ok || a.GetSubresource() != "scale" {
				return false, nil, nil
			}
			obj, err := cs.Tracker().Get(gvr, a.GetNamespace(), g.GetName())
			if err != nil {
				return true, nil, err
			}
			return true, fkScaleOf(obj), nil
		})
		cs.PrependReactor("update", gvr.Resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
			u, ok := a.(k8stesting.UpdateActionImpl)
			if !ok || a.GetSubresource() != "scale" {
				return false, nil, nil
			}
			s := u.GetObject().(*autoscalingv1.Scale)
			obj, err := cs.Tracker().Get(gvr, a.GetNamespace(), s.Name)
			if err != nil {
				return true, nil, err
			}
			switch o := obj.(type) {
			case *appsv1.Deployment:
				o.Spec.Replicas = new(s.Spec.Replicas)
			case *appsv1.StatefulSet:
				o.Spec.Replicas = new(s.Spec.Replicas)
			}
			if !slices.Contains(u.UpdateOptions.DryRun, metav1.DryRunAll) {
				if err := cs.Tracker().Update(gvr, obj, a.GetNamespace(), metav1.UpdateOptions{FieldManager: u.UpdateOptions.FieldManager}); err != nil {
					return true, nil, err
				}
			}
			return true, fkScaleOf(obj), nil
		})
	}
	return cs
}

func fkScaleOf(obj runtime.Object) *autoscalingv1.Scale {
	var meta metav1.ObjectMeta
	var replicas *int32
	switch o := obj.(type) {
	case *appsv1.Deployment:
		meta, replicas = o.ObjectMeta, o.Spec.Replicas
	case *appsv1.StatefulSet:
		meta, replicas = o.ObjectMeta, o.Spec.Replicas
	}
	s := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Namespace: meta.Namespace, Name: meta.Name, ResourceVersion: meta.ResourceVersion, UID: meta.UID}}
	s.Spec.Replicas = 1
	if replicas != nil {
		s.Spec.Replicas = *replicas
	}
	s.Status.Replicas = s.Spec.Replicas
	return s
}

// fkConflictOnce makes the first update of resource (subresource "" or e.g.
// "scale") fail with a Conflict, as when another writer got there first.
// It returns the number of conflicts injected so far.
func fkConflictOnce(cs *fake.Clientset, resource, subresource string) func() int {
	var n atomic.Int32
	cs.PrependReactor("update", resource, func(a k8stesting.Action) (bool, runtime.Object, error) {
		if a.GetSubresource() != subresource || !n.CompareAndSwap(0, 1) {
			return false, nil, nil
		}
		name := a.(k8stesting.UpdateAction).GetObject().(metav1.Object).GetName()
		return true, nil, apierrors.NewConflict(a.GetResource().GroupResource(), name, errors.New("the object has been modified; please apply your changes to the latest version and try again"))
	})
	return func() int { return int(n.Load()) }
}

// fkExecutor is an executor on cs with a stepping clock and a fixed
// reporting instance.
func fkExecutor(cs *fake.Clientset, mods ...func(*k8s.Options)) *k8s.Executor {
	opts := k8s.Options{Instance: "remediator-test-0", Now: fkStepClock()}
	for _, m := range mods {
		m(&opts)
	}
	return k8s.NewExecutor(cs, opts)
}

// writes are the recorded actions that change something (create, update,
// patch, delete), as "verb resource[/subresource] namespace/name".
func fkWrites(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "create", "update", "patch", "delete", "delete-collection":
		default:
			continue
		}
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		out = append(out, fmt.Sprintf("%s %s %s/%s", a.GetVerb(), res, a.GetNamespace(), fkActionName(a)))
	}
	return out
}

func fkActionName(a k8stesting.Action) string {
	switch a := a.(type) {
	case k8stesting.DeleteAction:
		return a.GetName()
	case interface{ GetObject() runtime.Object }: // create and update
		if m, ok := a.GetObject().(metav1.Object); ok {
			return m.GetName()
		}
	}
	return ""
}

// fkWritesBesidesEvents are writes without the Events creates.
func fkWritesBesidesEvents(cs *fake.Clientset) []string {
	return slices.DeleteFunc(fkWrites(cs), func(w string) bool { return strings.HasPrefix(w, "create events ") })
}

// fkEvents are the events.k8s.io/v1 Events stored in ns, read from the
// tracker so that reading them records no action.
func fkEvents(t *testing.T, cs *fake.Clientset, ns string) []eventsv1.Event {
	t.Helper()
	obj, err := cs.Tracker().List(fkEventsGVR, eventsv1.SchemeGroupVersion.WithKind("Event"), ns)
	if err != nil {
		t.Fatalf("listing Events in %s: %v", ns, err)
	}
	return obj.(*eventsv1.EventList).Items
}

func fkGetDeployment(t *testing.T, cs *fake.Clientset, ns, name string) *appsv1.Deployment {
	t.Helper()
	obj, err := cs.Tracker().Get(fkDeploymentsGVR, ns, name)
	if err != nil {
		t.Fatalf("getting deployment %s/%s: %v", ns, name, err)
	}
	return obj.(*appsv1.Deployment)
}

func fkGetStatefulSet(t *testing.T, cs *fake.Clientset, ns, name string) *appsv1.StatefulSet {
	t.Helper()
	obj, err := cs.Tracker().Get(fkStatefulsetsGVR, ns, name)
	if err != nil {
		t.Fatalf("getting statefulset %s/%s: %v", ns, name, err)
	}
	return obj.(*appsv1.StatefulSet)
}

func fkGetHPA(t *testing.T, cs *fake.Clientset, ns, name string) *autoscalingv2.HorizontalPodAutoscaler {
	t.Helper()
	obj, err := cs.Tracker().Get(fkHpasGVR, ns, name)
	if err != nil {
		t.Fatalf("getting horizontalpodautoscaler %s/%s: %v", ns, name, err)
	}
	return obj.(*autoscalingv2.HorizontalPodAutoscaler)
}

func fkPodExists(t *testing.T, cs *fake.Clientset, ns, name string) bool {
	t.Helper()
	_, err := cs.Tracker().Get(fkPodsGVR, ns, name)
	switch {
	case apierrors.IsNotFound(err):
		return false
	case err != nil:
		t.Fatalf("getting pod %s/%s: %v", ns, name, err)
	}
	return true
}

func fkReplicas(r *int32) string {
	if r == nil {
		return "<nil>"
	}
	return fmt.Sprint(*r)
}

// fkEvidence decodes the evidence, whatever its Go type, into v through
// JSON, as the audit record sees it.
func fkEvidence(t *testing.T, evidence any, v any) {
	t.Helper()
	b, err := json.Marshal(evidence)
	if err != nil {
		t.Fatalf("marshalling evidence %#v: %v", evidence, err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("unmarshalling evidence %s: %v", b, err)
	}
}

// fkTarget is a workload target in fkNS.
func fkTarget(kind, name string) remediations.Target {
	return remediations.Target{Kind: kind, Namespace: fkNS, Name: name}
}

// fkShop is a namespace with Deployment web (2 replicas; ReplicaSet web-1
// at revision 1) and its pods web-1-a, web-1-b (ready) and web-1-c (not
// ready), and a Deployment other sharing web's app=web selector, whose pod
// other-1-x must never count as web's.
func fkShop(extra ...runtime.Object) (*appsv1.Deployment, []runtime.Object) {
	web := fkDeployment(fkNS, "web", new(int32(2)), func(d *appsv1.Deployment) {
		d.Annotations[k8s.RevisionAnnotation] = "1"
		d.Spec.Template.Spec.Containers = append(d.Spec.Template.Spec.Containers, corev1.Container{Name: "sidecar", Image: "proxy:v1"})
	})
	rs := fkReplicaSet(web, "web-1", 1, "web:v1")
	other := fkDeployment(fkNS, "other", new(int32(1)), func(d *appsv1.Deployment) {
		d.Spec.Selector.MatchLabels = map[string]string{"app": "web"}
		d.Labels = map[string]string{"app": "web"}
	})
	otherRS := fkReplicaSet(other, "other-1", 1, "other:v1")
	objs := []runtime.Object{
		fkNamespace(fkNS, nil), web, rs, other, otherRS,
		fkPod("web-1-a", rs, "ReplicaSet", true, 1),
		fkPod("web-1-b", rs, "ReplicaSet", true, 2),
		fkPod("web-1-c", rs, "ReplicaSet", false, 3),
		fkPod("other-1-x", otherRS, "ReplicaSet", true, 0),
	}
	return web, append(objs, extra...)
}
