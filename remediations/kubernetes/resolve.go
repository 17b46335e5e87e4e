package kubernetes

import (
	"context"
	"fmt"
	"maps"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/remediator/remediator/remediations"
)

// ResolveTarget implements remediations.TargetResolver. A workload target
// known only by a pod (the labels of cAdvisor and kube-state-metrics alerts
// name namespace, pod and container) is resolved to the pod's controller
// through ownerReferences: Pod → ReplicaSet → Deployment, or Pod →
// StatefulSet. Then the facts policy reads are filled in from the cluster:
// current replicas, labels, annotations, the HPA that scales it, and the
// namespace's annotations.
func (e *Executor) ResolveTarget(ctx context.Context, _ remediations.Action, t remediations.Target) (remediations.Target, error) {
	switch t.Kind {
	case KindNamespace:
		ns := t.Name
		if ns == "" {
			ns = t.Namespace
		}
		obj, err := e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if err != nil {
			return t, fmt.Errorf("getting namespace %s: %w", ns, err)
		}
		t.Labels, t.Annotations = copyMap(obj.Labels), copyMap(obj.Annotations)
		t.NamespaceAnnotations = copyMap(obj.Annotations)
		return t, nil
	case KindDeployment, KindStatefulSet:
	default:
		return t, nil
	}
	if t.Name == "" {
		if t.Pod == "" || t.Namespace == "" {
			return t, fmt.Errorf("a %s target needs a namespace and a name or a pod", t.Kind)
		}
		kind, name, err := e.podOwner(ctx, t.Namespace, t.Pod)
		if err != nil {
			return t, err
		}
		t.Kind, t.Name = kind, name
	}
	w, err := getWorkload(ctx, e, t.Kind, t.Namespace, t.Name)
	if err != nil {
		return t, err
	}
	replicas := w.currentReplicas()
	t.CurrentReplicas = &replicas
	t.Labels, t.Annotations = copyMap(w.meta.Labels), copyMap(w.meta.Annotations)
	hpa, err := e.hpaFor(ctx, t.Namespace, t.Kind, t.Name)
	if err != nil {
		return t, err
	}
	if hpa != nil {
		t.HPA = hpaFacts(hpa)
	}
	ns, err := e.client.CoreV1().Namespaces().Get(ctx, t.Namespace, metav1.GetOptions{})
	if err != nil {
		return t, fmt.Errorf("getting namespace %s: %w", t.Namespace, err)
	}
	t.NamespaceAnnotations = copyMap(ns.Annotations)
	return t, nil
}

// copyMap returns a non-nil copy, so that policy sees {} rather than null
// for an object without labels.
func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	maps.Copy(out, m)
	return out
}

// podOwner follows the pod's controller references to the workload.
func (e *Executor) podOwner(ctx context.Context, ns, pod string) (kind, name string, err error) {
	p, err := e.client.CoreV1().Pods(ns).Get(ctx, pod, metav1.GetOptions{})
	if err != nil {
		return "", "", fmt.Errorf("resolving pod %s/%s to its owner: %w", ns, pod, err)
	}
	ref := metav1.GetControllerOf(p)
	if ref == nil {
		return "", "", fmt.Errorf("pod %s/%s has no controller (a bare pod): no workload to act on", ns, pod)
	}
	switch ref.Kind {
	case KindStatefulSet:
		return KindStatefulSet, ref.Name, nil
	case "ReplicaSet":
		rs, err := e.client.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return "", "", fmt.Errorf("resolving pod %s/%s: getting its replicaset %s: %w", ns, pod, ref.Name, err)
		}
		dref := metav1.GetControllerOf(rs)
		if dref == nil || dref.Kind != KindDeployment {
			return "", "", fmt.Errorf("pod %s/%s belongs to replicaset %s, which no Deployment controls", ns, pod, ref.Name)
		}
		return KindDeployment, dref.Name, nil
	}
	return "", "", fmt.Errorf("pod %s/%s is controlled by a %s (%s), not a Deployment or StatefulSet", ns, pod, ref.Kind, ref.Name)
}

// hpaFor finds the HorizontalPodAutoscaler that scales the workload, if any.
func (e *Executor) hpaFor(ctx context.Context, ns, kind, name string) (*autoscalingv2.HorizontalPodAutoscaler, error) {
	list, err := e.client.AutoscalingV2().HorizontalPodAutoscalers(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("listing horizontalpodautoscalers in %s: %w", ns, err)
	}
	for i := range list.Items {
		ref := list.Items[i].Spec.ScaleTargetRef
		if ref.Kind == kind && ref.Name == name {
			return &list.Items[i], nil
		}
	}
	return nil, nil
}

// hpaFacts is the HPA as policy sees it (input.target.hpa).
func hpaFacts(h *autoscalingv2.HorizontalPodAutoscaler) map[string]any {
	min := int32(1)
	if h.Spec.MinReplicas != nil {
		min = *h.Spec.MinReplicas
	}
	return map[string]any{
		"name":            h.Name,
		"minReplicas":     int(min),
		"maxReplicas":     int(h.Spec.MaxReplicas),
		"currentReplicas": int(h.Status.CurrentReplicas),
		"desiredReplicas": int(h.Status.DesiredReplicas),
	}
}
