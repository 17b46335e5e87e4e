package kubernetes

import (
	"context"
	"fmt"
	"math"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/util/retry"

	"github.com/remediator/remediator/remediations"
)

// desiredReplicas applies p to the current count, within p's bounds: never
// above max_replicas, never below min_replicas, and never below 1 unless
// allow_zero.
//
// A relative change never reverses direction: a step or factor that scales
// out leaves a workload already above max_replicas as it is rather than
// scaling it in (and one that scales in never scales out).
func desiredReplicas(current int32, p *ScaleParams) int32 {
	var want float64
	switch {
	case p.Replicas != nil:
		want = float64(*p.Replicas)
	case p.Step != 0:
		want = float64(current) + float64(p.Step)
	default:
		// In float64 first, so that a huge factor saturates instead of
		// overflowing an integer into a scale-down.
		want = math.Ceil(roundOff(float64(current) * p.Factor))
	}
	floor := float64(max(p.MinReplicas, 1))
	if p.AllowZero && p.MinReplicas == 0 {
		floor = 0
	}
	want = max(want, floor)
	if p.MaxReplicas > 0 {
		want = min(want, float64(p.MaxReplicas))
	}
	want = min(want, math.MaxInt32)
	if p.Replicas == nil {
		if p.Step > 0 || p.Factor > 1 { // scaling out
			want = max(want, float64(current))
		} else {
			want = min(want, float64(current))
		}
	}
	return int32(want)
}

// roundOff drops float64 noise below a millionth, so that 100 × 1.1 is 110
// and not 110.00000000000001, which rounding up would make 111.
func roundOff(v float64) float64 { return math.Round(v*1e6) / 1e6 }

// scale changes the replica count through the scale subresource. When an
// HPA scales the workload, writing spec.replicas would only start a tug of
// war the HPA wins at its next sync; the lasting way to get more replicas is
// to raise the HPA's floor, so that is what hpa=raise_min (the default) does.
func (e *Executor) scale(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[ScaleParams](raw)
	if err != nil {
		return nil, err
	}
	w, err := c.enabledWorkload(ctx)
	if err != nil {
		return nil, err
	}
	hpa, err := e.hpaFor(ctx, w.meta.Namespace, w.kind, w.meta.Name)
	if err != nil {
		return nil, err
	}
	if hpa != nil {
		return nil, e.scaleThroughHPA(ctx, c, p, hpa.Name)
	}
	ns, name := w.meta.Namespace, w.meta.Name
	return nil, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		s, err := e.getScale(ctx, w.kind, ns, name)
		if err != nil {
			return err
		}
		before := s.Spec.Replicas
		after := desiredReplicas(before, p)
		if after == before {
			return nil // already there: nothing to write
		}
		s.Spec.Replicas = after
		if err := e.updateScale(ctx, w.kind, ns, s, c.update()); err != nil {
			return err
		}
		c.changes = nil // a retried attempt replaces the conflicting one's
		c.changed("%s spec.replicas %d → %d", w, before, after)
		return nil
	})
}

func (e *Executor) scaleThroughHPA(ctx context.Context, c *call, p *ScaleParams, hpaName string) error {
	ns := c.t.Namespace
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		h, err := e.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, hpaName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("getting horizontalpodautoscaler %s/%s: %w", ns, hpaName, err)
		}
		minR := int32(1)
		if h.Spec.MinReplicas != nil {
			minR = *h.Spec.MinReplicas
		}
		if p.HPA == "refuse" {
			return fmt.Errorf("%s %s/%s is scaled by horizontalpodautoscaler %s (min %d, max %d) and hpa=refuse",
				c.t.Kind, ns, c.t.Name, hpaName, minR, h.Spec.MaxReplicas)
		}
		current := max(h.Status.CurrentReplicas, minR)
		want := desiredReplicas(current, p)
		// The HPA's maximum is its owner's decision; the floor is raised at
		// most to it.
		want = min(want, h.Spec.MaxReplicas)
		if want <= minR {
			return nil // the HPA already keeps at least that many
		}
		h.Spec.MinReplicas = &want
		if _, err := e.client.AutoscalingV2().HorizontalPodAutoscalers(ns).Update(ctx, h, c.update()); err != nil {
			return err
		}
		c.changes = nil
		c.changed("horizontalpodautoscaler %s/%s spec.minReplicas %d → %d (it scales %s %s; max %d)", ns, hpaName, minR, want, c.t.Kind, c.t.Name, h.Spec.MaxReplicas)
		return nil
	})
}

func (e *Executor) getScale(ctx context.Context, kind, ns, name string) (*autoscalingv1.Scale, error) {
	var s *autoscalingv1.Scale
	var err error
	switch kind {
	case KindDeployment:
		s, err = e.client.AppsV1().Deployments(ns).GetScale(ctx, name, metav1.GetOptions{})
	case KindStatefulSet:
		s, err = e.client.AppsV1().StatefulSets(ns).GetScale(ctx, name, metav1.GetOptions{})
	default:
		return nil, fmt.Errorf("%s has no scale subresource here", kind)
	}
	if err != nil {
		return nil, fmt.Errorf("getting the scale of %s %s/%s: %w", kind, ns, name, err)
	}
	return s, nil
}

func (e *Executor) updateScale(ctx context.Context, kind, ns string, s *autoscalingv1.Scale, opts metav1.UpdateOptions) error {
	var err error
	switch kind {
	case KindDeployment:
		_, err = e.client.AppsV1().Deployments(ns).UpdateScale(ctx, s.Name, s, opts)
	case KindStatefulSet:
		_, err = e.client.AppsV1().StatefulSets(ns).UpdateScale(ctx, s.Name, s, opts)
	}
	if err != nil {
		return fmt.Errorf("updating the scale of %s %s/%s: %w", kind, ns, s.Name, err)
	}
	return nil
}
