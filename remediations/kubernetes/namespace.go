package kubernetes

import (
	"context"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/remediator/remediator/remediations"
)

// PreviousReplicasAnnotation records, on each Deployment the emergency
// scale-down changed, the replica count it had before, for
// kubernetes.restore_namespace.
const PreviousReplicasAnnotation = "remediator.io/previous-replicas"

func (c *call) namespace(ctx context.Context) (string, error) {
	ns, err := needNamespace(c.t)
	if err != nil {
		return "", err
	}
	obj, err := c.e.client.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("getting namespace %s: %w", ns, err)
	}
	if obj.Annotations[DisabledAnnotation] == "true" {
		return "", fmt.Errorf("namespace %s is annotated %w; not touching it", ns, ErrDisabled)
	}
	c.regarding = &eventRef{kind: KindNamespace, apiVersion: "v1", name: ns, uid: string(obj.UID), resourceVersion: obj.ResourceVersion}
	return ns, nil
}

// namespaceDeployments checks the target namespace's opt-out and lists its
// Deployments.
func (c *call) namespaceDeployments(ctx context.Context) (string, *appsv1.DeploymentList, error) {
	ns, err := c.namespace(ctx)
	if err != nil {
		return "", nil, err
	}
	list, err := c.e.client.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", nil, fmt.Errorf("listing deployments in %s: %w", ns, err)
	}
	return ns, list, nil
}

// scaleNamespace is the emergency scale-down. Each Deployment's count and the
// annotation that remembers the previous one are written in one update, so
// a crash between the two cannot lose the count to restore. A Deployment
// that already carries the annotation keeps it: a second scale-down during
// the same emergency must not overwrite the pre-emergency count.
func (e *Executor) scaleNamespace(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[ScaleNamespaceParams](raw)
	if err != nil {
		return nil, err
	}
	ns, list, err := c.namespaceDeployments(ctx)
	if err != nil {
		return nil, err
	}
	skipped := map[string]string{}
	for _, d := range list.Items {
		if d.Annotations[DisabledAnnotation] == "true" {
			skipped[d.Name] = DisabledAnnotation + "=true"
			continue
		}
		hpa, err := e.hpaFor(ctx, ns, KindDeployment, d.Name)
		if err != nil {
			return nil, err
		}
		if hpa != nil {
			// Its HPA would scale it straight back; lowering the HPA is a
			// capacity decision left to its owner.
			skipped[d.Name] = "scaled by horizontalpodautoscaler " + hpa.Name
			continue
		}
		if err := e.updateDeployment(ctx, c, ns, d.Name, func(d *appsv1.Deployment) (string, error) {
			current := replicasOf(d)
			if current == p.Replicas || (p.OnlyReduce && current <= p.Replicas) {
				return "", nil
			}
			if _, ok := d.Annotations[PreviousReplicasAnnotation]; !ok {
				if d.Annotations == nil {
					d.Annotations = map[string]string{}
				}
				d.Annotations[PreviousReplicasAnnotation] = strconv.Itoa(int(current))
			}
			want := p.Replicas
			d.Spec.Replicas = &want
			return fmt.Sprintf("Deployment %s/%s spec.replicas %d → %d (previous count kept in %s)", ns, d.Name, current, want, PreviousReplicasAnnotation), nil
		}); err != nil {
			return nil, err
		}
	}
	return map[string]any{"deployments": len(list.Items), "skipped": skipped}, nil
}

// restoreNamespace puts back the counts scaleNamespace recorded and removes
// the annotation.
func (e *Executor) restoreNamespace(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	ns, list, err := c.namespaceDeployments(ctx)
	if err != nil {
		return nil, err
	}
	invalid, skipped := map[string]string{}, map[string]string{}
	for _, d := range list.Items {
		if _, ok := d.Annotations[PreviousReplicasAnnotation]; !ok {
			continue
		}
		if d.Annotations[DisabledAnnotation] == "true" {
			// Opted out since the scale-down: its owner decides now.
			skipped[d.Name] = DisabledAnnotation + "=true"
			continue
		}
		if err := e.updateDeployment(ctx, c, ns, d.Name, func(d *appsv1.Deployment) (string, error) {
			raw, ok := d.Annotations[PreviousReplicasAnnotation]
			if !ok {
				return "", nil // restored meanwhile
			}
			prev, err := strconv.ParseInt(raw, 10, 32)
			if err != nil || prev < 0 {
				invalid[d.Name] = raw
				return "", nil
			}
			current := replicasOf(d)
			want := int32(prev)
			d.Spec.Replicas = &want
			delete(d.Annotations, PreviousReplicasAnnotation)
			return fmt.Sprintf("Deployment %s/%s spec.replicas %d → %d (restored from %s)", ns, d.Name, current, want, PreviousReplicasAnnotation), nil
		}); err != nil {
			return nil, err
		}
	}
	if len(invalid) > 0 {
		return map[string]any{"invalidAnnotations": invalid, "skipped": skipped}, fmt.Errorf("%s holds no replica count on %v; left as is", PreviousReplicasAnnotation, invalid)
	}
	if len(skipped) > 0 {
		return map[string]any{"skipped": skipped}, nil
	}
	return nil, nil
}

// updateDeployment re-reads and updates one Deployment, retrying on
// conflict; mutate returns the change it made, or "" for none.
func (e *Executor) updateDeployment(ctx context.Context, c *call, ns, name string, mutate func(*appsv1.Deployment) (string, error)) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := e.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting deployment %s/%s: %w", ns, name, err)
		}
		change, err := mutate(d)
		if err != nil || change == "" {
			return err
		}
		if _, err := e.client.AppsV1().Deployments(ns).Update(ctx, d, c.update()); err != nil {
			return fmt.Errorf("updating deployment %s/%s: %w", ns, name, err)
		}
		c.changed("%s", change)
		return nil
	})
}

func replicasOf(d *appsv1.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}
