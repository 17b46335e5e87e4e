package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/remediator/remediator/remediations"
)

// deletePod deletes (or evicts) the alert's pod, after checking that it
// belongs to the target workload and that enough ready pods remain.
func (e *Executor) deletePod(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[DeletePodParams](raw)
	if err != nil {
		return nil, err
	}
	name := p.Pod
	if name == "" {
		name = c.t.Pod
	}
	w, pods, err := c.enabledWorkloadPods(ctx)
	if err != nil {
		return nil, err
	}
	i := slices.IndexFunc(pods, func(p corev1.Pod) bool { return p.Name == name })
	if i < 0 {
		// Gone already (deleted, replaced) or never the workload's: either
		// way there is nothing this action may delete.
		_, err := e.client.CoreV1().Pods(w.meta.Namespace).Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return map[string]any{"pod": name, "note": "pod already gone; nothing to delete"}, nil
		case err != nil:
			return nil, fmt.Errorf("getting pod %s/%s: %w", w.meta.Namespace, name, err)
		}
		return nil, fmt.Errorf("pod %s/%s is not one of %s's pods; refusing to delete it", w.meta.Namespace, name, w)
	}
	pod := &pods[i]
	if pod.DeletionTimestamp != nil {
		return map[string]any{"pod": name, "note": "pod is already terminating"}, nil
	}
	ready := countReady(pods)
	if podReady(pod) && ready-1 < int(p.MinReady) {
		return nil, fmt.Errorf("deleting ready pod %s would leave %d ready pods of %s, below min_ready %d", name, ready-1, w, p.MinReady)
	}
	if _, err := e.removePod(ctx, c, pod, p.Evict); err != nil {
		return nil, err
	}
	return nil, nil
}

// deletePods deletes pods by selector: not-ready ones first (they serve
// nothing), then the oldest, at most max_pods, never leaving fewer than
// min_ready ready pods among those the selector matches.
func (e *Executor) deletePods(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[DeletePodsParams](raw)
	if err != nil {
		return nil, err
	}
	sel, err := labels.Parse(p.Selector)
	if err != nil {
		return nil, fmt.Errorf("selector %q: %w", p.Selector, err)
	}
	if sel.Empty() {
		return nil, fmt.Errorf("selector %q selects every pod; refusing", p.Selector)
	}
	// Only the target workload's own pods: a selector that also matches
	// another workload's pods (one perhaps opted out) must not reach them.
	_, pods, err := c.enabledWorkloadPods(ctx)
	if err != nil {
		return nil, err
	}
	var live []corev1.Pod
	for _, pod := range pods {
		if pod.DeletionTimestamp == nil && sel.Matches(labels.Set(pod.Labels)) {
			live = append(live, pod)
		}
	}
	slices.SortStableFunc(live, func(a, b corev1.Pod) int {
		if ra, rb := podReady(&a), podReady(&b); ra != rb {
			if !ra {
				return -1
			}
			return 1
		}
		return a.CreationTimestamp.Compare(b.CreationTimestamp.Time)
	})
	ready := countReady(live)
	var deleted, skipped []string
	for i := range live {
		pod := &live[i]
		if p.MaxPods > 0 && len(deleted) >= int(p.MaxPods) {
			break
		}
		if podReady(pod) && ready-1 < int(p.MinReady) {
			skipped = append(skipped, pod.Name)
			continue
		}
		gone, err := e.removePod(ctx, c, pod, p.Evict)
		if err != nil {
			return map[string]any{"deleted": deleted}, err
		}
		if !gone {
			continue // deleted meanwhile by someone else
		}
		if podReady(pod) {
			ready--
		}
		deleted = append(deleted, pod.Name)
	}
	return map[string]any{"matched": len(live), "deleted": deleted, "keptForMinReady": skipped}, nil
}

func countReady(pods []corev1.Pod) int {
	n := 0
	for i := range pods {
		if pods[i].DeletionTimestamp == nil && podReady(&pods[i]) {
			n++
		}
	}
	return n
}

// removePod deletes or evicts one pod, pinned to the UID that was checked so
// that a replacement pod of the same name (StatefulSets) is never hit. It
// reports whether this call removed it (false: it was already gone).
func (e *Executor) removePod(ctx context.Context, c *call, pod *corev1.Pod, evict bool) (bool, error) {
	uid := pod.UID
	opts := metav1.DeleteOptions{DryRun: c.dryRun(), Preconditions: &metav1.Preconditions{UID: &uid}}
	state := "not ready"
	if podReady(pod) {
		state = "ready"
	}
	verb := "deleted"
	var err error
	if evict {
		verb = "evicted"
		err = e.client.CoreV1().Pods(pod.Namespace).EvictV1(ctx, &policyv1.Eviction{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, Namespace: pod.Namespace}, DeleteOptions: &opts,
		})
	} else {
		err = e.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, opts)
	}
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case evict && apierrors.IsTooManyRequests(err):
		return false, fmt.Errorf("evicting pod %s/%s: refused by a PodDisruptionBudget: %w", pod.Namespace, pod.Name, err)
	case err != nil:
		return false, fmt.Errorf("removing pod %s/%s (%s): %w", pod.Namespace, pod.Name, strings.TrimSuffix(verb, "ed")+"ion", err)
	}
	c.changed("pod %s/%s (%s) %s", pod.Namespace, pod.Name, state, verb)
	return true, nil
}
