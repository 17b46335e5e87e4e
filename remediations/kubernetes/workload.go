package kubernetes

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/util/retry"

	"github.com/remediator/remediator/remediations"
)

// workload is a Deployment or a StatefulSet seen through what the actions
// need of either: its metadata, pod template, replicas and selector.
type workload struct {
	kind     string
	meta     *metav1.ObjectMeta
	template *corev1.PodTemplateSpec
	replicas *int32
	selector *metav1.LabelSelector
	// update writes the (mutated) object back.
	update func(ctx context.Context, opts metav1.UpdateOptions) error
	// obj is the typed object, for Events.
	obj any
}

func (w *workload) ref() *eventRef {
	return &eventRef{kind: w.kind, apiVersion: "apps/v1", namespace: w.meta.Namespace, name: w.meta.Name, uid: string(w.meta.UID), resourceVersion: w.meta.ResourceVersion}
}

func (w *workload) String() string { return w.kind + " " + w.meta.Namespace + "/" + w.meta.Name }

// currentReplicas is spec.replicas, which the API defaults to 1.
func (w *workload) currentReplicas() int32 {
	if w.replicas == nil {
		return 1
	}
	return *w.replicas
}

func (c *call) getWorkload(ctx context.Context) (*workload, error) {
	return getWorkload(ctx, c.e, c.t.Kind, c.t.Namespace, c.t.Name)
}

func getWorkload(ctx context.Context, e *Executor, kind, ns, name string) (*workload, error) {
	if ns == "" || name == "" {
		return nil, fmt.Errorf("%s target needs a namespace and a name", kind)
	}
	switch kind {
	case KindDeployment:
		d, err := e.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("getting deployment %s/%s: %w", ns, name, err)
		}
		return deploymentWorkload(e, d), nil
	case KindStatefulSet:
		s, err := e.client.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("getting statefulset %s/%s: %w", ns, name, err)
		}
		return &workload{
			kind: KindStatefulSet, meta: &s.ObjectMeta, template: &s.Spec.Template, replicas: s.Spec.Replicas, selector: s.Spec.Selector, obj: s,
			update: func(ctx context.Context, opts metav1.UpdateOptions) error {
				_, err := e.client.AppsV1().StatefulSets(ns).Update(ctx, s, opts)
				return err
			},
		}, nil
	}
	return nil, fmt.Errorf("%s is not a workload kind (Deployment, StatefulSet)", kind)
}

func deploymentWorkload(e *Executor, d *appsv1.Deployment) *workload {
	return &workload{
		kind: KindDeployment, meta: &d.ObjectMeta, template: &d.Spec.Template, replicas: d.Spec.Replicas, selector: d.Spec.Selector, obj: d,
		update: func(ctx context.Context, opts metav1.UpdateOptions) error {
			_, err := e.client.AppsV1().Deployments(d.Namespace).Update(ctx, d, opts)
			return err
		},
	}
}

// checkEnabled refuses a target whose object or namespace opted out with
// DisabledAnnotation.
func (e *Executor) checkEnabled(ctx context.Context, meta *metav1.ObjectMeta, kind string) error {
	if meta.Annotations[DisabledAnnotation] == "true" {
		return fmt.Errorf("%s %s/%s is annotated %w; not touching it", kind, meta.Namespace, meta.Name, ErrDisabled)
	}
	ns, err := e.client.CoreV1().Namespaces().Get(ctx, meta.Namespace, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("getting namespace %s for its %s annotation: %w", meta.Namespace, DisabledAnnotation, err)
	}
	if ns.Annotations[DisabledAnnotation] == "true" {
		return fmt.Errorf("namespace %s is annotated %w; not touching %s %s", meta.Namespace, ErrDisabled, kind, meta.Name)
	}
	return nil
}

// enabledWorkload reads the target workload, refuses it when it or its
// namespace opted out, and makes it what the action's Event is about.
func (c *call) enabledWorkload(ctx context.Context) (*workload, error) {
	w, err := c.getWorkload(ctx)
	if err != nil {
		return nil, err
	}
	if err := c.e.checkEnabled(ctx, w.meta, w.kind); err != nil {
		return nil, err
	}
	c.regarding = w.ref()
	return w, nil
}

// enabledWorkloadPods is enabledWorkload and the pods it controls.
func (c *call) enabledWorkloadPods(ctx context.Context) (*workload, []corev1.Pod, error) {
	w, err := c.enabledWorkload(ctx)
	if err != nil {
		return nil, nil, err
	}
	pods, err := c.e.workloadPods(ctx, w)
	if err != nil {
		return nil, nil, err
	}
	return w, pods, nil
}

// mutateWorkload reads the target workload, lets mutate change it and
// writes it back with the field manager, reading again and retrying when the
// write conflicts with another writer. mutate must record its changes with
// them only through its result (on a conflict the attempt's changes are
// discarded); it returns none when the object is already as wanted, and
// then nothing is written.
func (c *call) mutateWorkload(ctx context.Context, mutate func(w *workload) (changes []string, err error)) error {
	var changes []string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changes = nil
		w, err := c.enabledWorkload(ctx)
		if err != nil {
			return err
		}
		changes, err = mutate(w)
		if err != nil || len(changes) == 0 {
			return err
		}
		return w.update(ctx, c.update())
	})
	if err != nil {
		return err
	}
	c.changes = append(c.changes, changes...)
	return nil
}

// container picks the container an action works on: the parameter, else
// the target's container (the alert's label), else the first.
func pickContainer(spec *corev1.PodSpec, param string, t remediations.Target) (*corev1.Container, error) {
	name := param
	if name == "" {
		name = t.Container
	}
	if name == "" {
		if len(spec.Containers) == 0 {
			return nil, fmt.Errorf("the pod template has no containers")
		}
		return &spec.Containers[0], nil
	}
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i], nil
		}
	}
	names := make([]string, len(spec.Containers))
	for i, ct := range spec.Containers {
		names[i] = ct.Name
	}
	return nil, fmt.Errorf("no container %q in the pod template (containers: %v)", name, names)
}

// workloadPods lists the pods of w: those its selector matches and that it
// controls (through its ReplicaSets for a Deployment), so that a selector
// shared with another workload never lets an action reach foreign pods.
func (e *Executor) workloadPods(ctx context.Context, w *workload) ([]corev1.Pod, error) {
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil {
		return nil, fmt.Errorf("%s selector: %w", w, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("%s has an empty selector; refusing to treat every pod as its own", w)
	}
	list, err := e.client.CoreV1().Pods(w.meta.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing pods of %s: %w", w, err)
	}
	owners := map[string]bool{string(w.meta.UID): true}
	if w.kind == KindDeployment {
		rss, err := e.ownedReplicaSets(ctx, w.meta, sel)
		if err != nil {
			return nil, err
		}
		owners = map[string]bool{}
		for _, rs := range rss {
			owners[string(rs.UID)] = true
		}
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if ref := metav1.GetControllerOf(&p); ref != nil && owners[string(ref.UID)] {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// ownedReplicaSets lists the ReplicaSets a Deployment controls.
func (e *Executor) ownedReplicaSets(ctx context.Context, d *metav1.ObjectMeta, sel labels.Selector) ([]appsv1.ReplicaSet, error) {
	list, err := e.client.AppsV1().ReplicaSets(d.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("listing replicasets of deployment %s/%s: %w", d.Namespace, d.Name, err)
	}
	var out []appsv1.ReplicaSet
	for _, rs := range list.Items {
		if ref := metav1.GetControllerOf(&rs); ref != nil && ref.UID == d.UID {
			out = append(out, rs)
		}
	}
	return out, nil
}

// podReady is the pod's Ready condition.
func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
