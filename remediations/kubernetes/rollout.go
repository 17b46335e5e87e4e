package kubernetes

import (
	"context"
	"fmt"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/remediator/remediator/remediations"
)

// RevisionAnnotation is where the deployment controller numbers a
// Deployment's revisions, on the Deployment and on each of its ReplicaSets.
const RevisionAnnotation = "deployment.kubernetes.io/revision"

// revision is one of a Deployment's ReplicaSets, by revision number.
type revision struct {
	number int64
	rs     *appsv1.ReplicaSet
}

// revisions lists the Deployment's ReplicaSets that carry a revision,
// oldest first.
func (e *Executor) revisions(ctx context.Context, w *workload) ([]revision, error) {
	sel, err := metav1.LabelSelectorAsSelector(w.selector)
	if err != nil {
		return nil, fmt.Errorf("%s selector: %w", w, err)
	}
	rss, err := e.ownedReplicaSets(ctx, w.meta, sel)
	if err != nil {
		return nil, err
	}
	var revs []revision
	for i := range rss {
		n, err := strconv.ParseInt(rss[i].Annotations[RevisionAnnotation], 10, 64)
		if err != nil {
			continue // not (yet) numbered by the controller
		}
		revs = append(revs, revision{number: n, rs: &rss[i]})
	}
	slices.SortFunc(revs, func(a, b revision) int { return int(a.number - b.number) })
	return revs, nil
}

// rolloutUndo does what `kubectl rollout undo` does: it finds the
// ReplicaSet of the previous revision (or to_revision) and copies its pod
// template, without the pod-template-hash label the controller added, into
// the Deployment. The deployment controller then rolls out that template as
// a new revision.
func (e *Executor) rolloutUndo(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[RolloutUndoParams](raw)
	if err != nil {
		return nil, err
	}
	var from, to int64
	err = c.mutateWorkload(ctx, func(w *workload) ([]string, error) {
		d := w.obj.(*appsv1.Deployment)
		current, _ := strconv.ParseInt(d.Annotations[RevisionAnnotation], 10, 64)
		revs, err := e.revisions(ctx, w)
		if err != nil {
			return nil, err
		}
		var target *revision
		for i := range revs {
			r := &revs[i]
			switch {
			case p.ToRevision > 0 && r.number == p.ToRevision:
				target = r
			case p.ToRevision == 0 && r.number < current:
				target = r // the highest below the current one, as revs ascend
			}
		}
		if target == nil {
			if p.ToRevision > 0 {
				return nil, fmt.Errorf("%s has no revision %d (revisions: %v)", w, p.ToRevision, revisionNumbers(revs))
			}
			return nil, fmt.Errorf("%s has no previous revision to roll back to (current %d, revisions: %v)", w, current, revisionNumbers(revs))
		}
		tmpl := target.rs.Spec.Template.DeepCopy()
		delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
		from, to = current, target.number
		if apiequality.Semantic.DeepEqual(d.Spec.Template, *tmpl) {
			return nil, nil // already running that template
		}
		beforeImages, afterImages := images(d.Spec.Template.Spec.Containers), images(tmpl.Spec.Containers)
		d.Spec.Template = *tmpl
		return []string{fmt.Sprintf("%s pod template of revision %d → that of revision %d (images %v → %v)", w, current, target.number, beforeImages, afterImages)}, nil
	})
	if err != nil {
		return nil, err
	}
	return map[string]any{"fromRevision": from, "toRevision": to}, nil
}

func revisionNumbers(revs []revision) []int64 {
	out := make([]int64, len(revs))
	for i, r := range revs {
		out[i] = r.number
	}
	return out
}

// rolloutHistory lists the Deployment's revisions with their images, like
// `kubectl rollout history`.
func (e *Executor) rolloutHistory(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	w, err := c.getWorkload(ctx)
	if err != nil {
		return nil, err
	}
	revs, err := e.revisions(ctx, w)
	if err != nil {
		return nil, err
	}
	type rev struct {
		Revision   int64    `json:"revision"`
		ReplicaSet string   `json:"replicaSet"`
		Images     []string `json:"images"`
		Replicas   int32    `json:"replicas"`
		Created    string   `json:"created"`
		Current    bool     `json:"current"`
	}
	current := w.meta.Annotations[RevisionAnnotation]
	out := make([]rev, 0, len(revs))
	for _, r := range revs {
		out = append(out, rev{
			Revision: r.number, ReplicaSet: r.rs.Name, Images: images(r.rs.Spec.Template.Spec.Containers),
			Replicas: r.rs.Status.Replicas, Created: r.rs.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z"),
			Current: strconv.FormatInt(r.number, 10) == current,
		})
	}
	return map[string]any{"deployment": w.meta.Name, "revisions": out}, nil
}
