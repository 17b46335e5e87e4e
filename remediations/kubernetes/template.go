package kubernetes

import (
	"context"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/remediator/remediator/remediations"
)

// RestartedAtAnnotation is the pod-template annotation `kubectl rollout
// restart` sets; a changed template makes the controller roll the pods.
const RestartedAtAnnotation = "kubectl.kubernetes.io/restartedAt"

func (e *Executor) rolloutRestart(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	return nil, c.mutateWorkload(ctx, func(w *workload) ([]string, error) {
		before := w.template.Annotations[RestartedAtAnnotation]
		now := e.now().Format(time.RFC3339)
		if w.template.Annotations == nil {
			w.template.Annotations = map[string]string{}
		}
		w.template.Annotations[RestartedAtAnnotation] = now
		if before == "" {
			before = "(unset)"
		}
		return []string{fmt.Sprintf("%s pod template annotation %s %s → %s", w, RestartedAtAnnotation, before, now)}, nil
	})
}

func (e *Executor) setEnv(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[SetEnvParams](raw)
	if err != nil {
		return nil, err
	}
	return nil, c.mutateWorkload(ctx, func(w *workload) ([]string, error) {
		ct, err := pickContainer(&w.template.Spec, p.Container, c.t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w, err)
		}
		for i := range ct.Env {
			env := &ct.Env[i]
			if env.Name != p.Name {
				continue
			}
			if env.ValueFrom == nil && env.Value == p.Value {
				return nil, nil // already set: idempotent
			}
			before := fmt.Sprintf("%q", env.Value)
			if env.ValueFrom != nil {
				before = "(from a reference)"
			}
			env.Value, env.ValueFrom = p.Value, nil
			return []string{fmt.Sprintf("%s container %s env %s %s → %q", w, ct.Name, p.Name, before, p.Value)}, nil
		}
		ct.Env = append(ct.Env, corev1.EnvVar{Name: p.Name, Value: p.Value})
		return []string{fmt.Sprintf("%s container %s env %s (unset) → %q", w, ct.Name, p.Name, p.Value)}, nil
	})
}

func (e *Executor) setResources(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[SetResourcesParams](raw)
	if err != nil {
		return nil, err
	}
	name := corev1.ResourceName(p.Resource)
	var value, ceiling *resource.Quantity
	if p.Value != "" {
		q, err := resource.ParseQuantity(p.Value)
		if err != nil {
			return nil, fmt.Errorf("value %q: %w", p.Value, err)
		}
		value = &q
	}
	if p.Max != "" {
		q, err := resource.ParseQuantity(p.Max)
		if err != nil {
			return nil, fmt.Errorf("max %q: %w", p.Max, err)
		}
		ceiling = &q
	}
	return nil, c.mutateWorkload(ctx, func(w *workload) ([]string, error) {
		ct, err := pickContainer(&w.template.Spec, p.Container, c.t)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", w, err)
		}
		req, hasReq := ct.Resources.Requests[name]
		lim, hasLim := ct.Resources.Limits[name]
		newReq, newLim, err := raiseResources(name, req, hasReq, lim, hasLim, p.Factor, value, ceiling)
		if err != nil {
			return nil, fmt.Errorf("%s container %s: %w", w, ct.Name, err)
		}
		var changes []string
		if newLim != nil && (!hasLim || newLim.Cmp(lim) != 0) {
			if ct.Resources.Limits == nil {
				ct.Resources.Limits = corev1.ResourceList{}
			}
			ct.Resources.Limits[name] = *newLim
			changes = append(changes, fmt.Sprintf("%s container %s limits.%s %s → %s", w, ct.Name, name, quantityString(lim, hasLim), newLim.String()))
		}
		if newReq != nil && (!hasReq || newReq.Cmp(req) != 0) {
			if ct.Resources.Requests == nil {
				ct.Resources.Requests = corev1.ResourceList{}
			}
			ct.Resources.Requests[name] = *newReq
			changes = append(changes, fmt.Sprintf("%s container %s requests.%s %s → %s", w, ct.Name, name, quantityString(req, hasReq), newReq.String()))
		}
		return changes, nil
	})
}

func quantityString(q resource.Quantity, ok bool) string {
	if !ok {
		return "(unset)"
	}
	return q.String()
}

// raiseResources computes a container's new request and limit for one
// resource. With factor, both are multiplied (whichever are set); with
// value, the limit becomes value (and a request above it is lowered to it).
// Nothing is lowered below what it was except a request that would exceed
// its limit, nothing is raised above ceiling, and requests stay ≤ limits.
// A nil result means "leave unset".
func raiseResources(name corev1.ResourceName, req resource.Quantity, hasReq bool, lim resource.Quantity, hasLim bool,
	factor float64, value, ceiling *resource.Quantity,
) (newReq, newLim *resource.Quantity, err error) {
	capAt := func(q resource.Quantity) resource.Quantity {
		if ceiling != nil && q.Cmp(*ceiling) > 0 {
			return ceiling.DeepCopy()
		}
		return q
	}
	if factor != 0 {
		if !hasReq && !hasLim {
			return nil, nil, fmt.Errorf("has no %s request or limit to multiply (use value)", name)
		}
		if hasLim {
			q := capAt(multiply(name, lim, factor))
			if q.Cmp(lim) < 0 {
				q = lim // the ceiling is below what is there: never lower
			}
			newLim = &q
		}
		if hasReq {
			q := capAt(multiply(name, req, factor))
			if q.Cmp(req) < 0 {
				q = req
			}
			newReq = &q
		}
	} else {
		q := capAt(*value)
		if hasLim && q.Cmp(lim) <= 0 {
			q = lim // already at or above the value: this action only raises
		}
		if !hasLim && hasReq && q.Cmp(req) < 0 {
			// A new limit below the request would lower the request with
			// it: this action only raises.
			q = req
		}
		newLim = &q
		if hasReq {
			r := req
			newReq = &r
		}
	}
	if newReq != nil && newLim != nil && newReq.Cmp(*newLim) > 0 {
		r := newLim.DeepCopy()
		newReq = &r
	}
	return newReq, newLim, nil
}

// multiply scales q by f, rounded up: CPU to whole millicores, memory to
// whole MiB, so that 1.5 × 512Mi reads 768Mi rather than a byte count.
func multiply(name corev1.ResourceName, q resource.Quantity, f float64) resource.Quantity {
	if name == corev1.ResourceCPU {
		return *resource.NewMilliQuantity(int64(math.Ceil(roundOff(float64(q.MilliValue())*f))), resource.DecimalSI)
	}
	const mi = 1 << 20
	v := int64(math.Ceil(roundOff(float64(q.Value())*f/mi))) * mi
	return *resource.NewQuantity(v, resource.BinarySI)
}
