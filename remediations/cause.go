package remediations

import "context"

type causeKey struct{}

// WithCause returns ctx carrying why an action runs (the alert, runbook and
// option that led to it), for backends that leave a trace on the target,
// such as a Kubernetes Event.
func WithCause(ctx context.Context, cause string) context.Context {
	return context.WithValue(ctx, causeKey{}, cause)
}

// CauseFrom is the cause WithCause set, or "".
func CauseFrom(ctx context.Context) string {
	s, _ := ctx.Value(causeKey{}).(string)
	return s
}

// TargetResolver is implemented by an executor that can look its targets up
// before they are decided on: find the workload that owns an alert's pod and
// fill in the observed facts (replicas, labels, annotations, HPA) that
// policy reads. a is the action about to be decided on or run.
type TargetResolver interface {
	ResolveTarget(ctx context.Context, a Action, t Target) (Target, error)
}
