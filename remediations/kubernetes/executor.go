package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/remediator/remediator/remediations"
)

// FieldManager is the field manager of every write, so that managedFields
// (and `kubectl get -o yaml --show-managed-fields`) name remediator as the
// owner of the fields it changed.
const FieldManager = "remediator"

// DisabledAnnotation on a workload or its namespace, set to "true", keeps
// remediator's hands off it. The default policy denies such targets; the
// executor refuses them as well, so a user policy that forgets the rule
// cannot override an operator's opt-out.
const DisabledAnnotation = "remediator.io/disabled"

// ErrDisabled is returned for a target whose object or namespace carries
// DisabledAnnotation.
var ErrDisabled = errors.New(DisabledAnnotation + "=true")

// Options configure an Executor.
type Options struct {
	// Metrics reads the metrics API (metrics.k8s.io); nil means top_pods
	// reports it as not available.
	Metrics metricsclient.Interface
	// Instance names this replica in the Events it records
	// (reportingInstance); default: the host name.
	Instance string
	Log      *slog.Logger
	// Now is the clock for restartedAt and Event times; default time.Now.
	Now func() time.Time
}

// Executor runs the Kubernetes actions on one cluster through client-go.
type Executor struct {
	handlers map[string]handler
	client   kubernetes.Interface
	metrics  metricsclient.Interface
	instance string
	log      *slog.Logger
	now      func() time.Time
}

// NewExecutor returns an executor for the cluster client talks to.
func NewExecutor(client kubernetes.Interface, opts Options) *Executor {
	e := &Executor{client: client, metrics: opts.Metrics, instance: opts.Instance, log: opts.Log, now: opts.Now}
	if e.instance == "" {
		e.instance, _ = os.Hostname()
	}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	e.handlers = e.handlerTable()
	return e
}

// Configured implements remediations.Backend: with a cluster, every
// Kubernetes target can be acted on.
func (e *Executor) Configured(t remediations.Target) bool {
	return slices.Contains(anyKubernetesTarget, t.Kind)
}

// Execute implements remediations.Executor.
func (e *Executor) Execute(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	return e.run(ctx, a, t, p, false)
}

// Preview implements remediations.Previewer: the resolution runs with
// server-side dry-run (dryRun=All) on every write, so the API server
// validates and admits the change and reports the object it would store, and
// nothing is persisted. The same code computes the change as a real run.
func (e *Executor) Preview(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	res, err := e.run(ctx, a, t, p, true)
	res.DryRun = true
	if len(res.Changes) > 0 {
		// What would change is evidence of the preview, not a change.
		res.Evidence = map[string]any{"wouldChange": res.Changes}
		res.Changes = nil
	}
	return res, err
}

// call is one run of an action: the target, whether writes are server-side
// dry-run, and what it changed.
type call struct {
	e       *Executor
	t       remediations.Target
	preview bool
	changes []string
	// regarding is the object the action's Event is about.
	regarding *eventRef
}

func (c *call) changed(format string, args ...any) {
	c.changes = append(c.changes, fmt.Sprintf(format, args...))
}

// dryRun is the DryRun field of every write's options.
func (c *call) dryRun() []string {
	if c.preview {
		return []string{metav1.DryRunAll}
	}
	return nil
}

func (c *call) update() metav1.UpdateOptions {
	return metav1.UpdateOptions{FieldManager: FieldManager, DryRun: c.dryRun()}
}

// handler runs one action; investigations return evidence, resolutions
// record their changes on c.
type handler func(ctx context.Context, c *call, p remediations.Params) (evidence any, err error)

// handlerTable maps each action to its handler; built once, in NewExecutor.
func (e *Executor) handlerTable() map[string]handler {
	return map[string]handler{
		Scale.Spec().Name:            e.scale,
		SetResources.Spec().Name:     e.setResources,
		RolloutRestart.Spec().Name:   e.rolloutRestart,
		DeletePod.Spec().Name:        e.deletePod,
		DeletePods.Spec().Name:       e.deletePods,
		RolloutUndo.Spec().Name:      e.rolloutUndo,
		SetEnv.Spec().Name:           e.setEnv,
		ScaleNamespace.Spec().Name:   e.scaleNamespace,
		RestoreNamespace.Spec().Name: e.restoreNamespace,

		PodStatus.Spec().Name:      e.podStatus,
		Logs.Spec().Name:           e.logs,
		Events.Spec().Name:         e.events,
		Endpoints.Spec().Name:      e.endpoints,
		TopPods.Spec().Name:        e.topPods,
		ConfigMapKeys.Spec().Name:  e.configMapKeys,
		RolloutHistory.Spec().Name: e.rolloutHistory,
	}
}

func (e *Executor) run(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params, preview bool) (remediations.Result, error) {
	spec := a.Spec()
	plan, err := a.Plan(t, p)
	if err != nil {
		return remediations.Result{DryRun: preview}, err
	}
	res := remediations.Result{DryRun: preview, Plan: plan}
	h, ok := e.handlers[spec.Name]
	if !ok {
		return res, fmt.Errorf("%s is not a Kubernetes action", spec.Name)
	}
	c := &call{e: e, t: t, preview: preview}
	evidence, err := h(ctx, c, p)
	res.Evidence, res.Changes = evidence, c.changes
	if err != nil {
		return res, fmt.Errorf("%s on %s: %w", spec.Name, t, describe(err))
	}
	if spec.Kind == remediations.Resolution && !preview && len(c.changes) > 0 && c.regarding != nil {
		// The change is made: an Event that cannot be written is logged,
		// not reported as a failed action (which would count against the
		// circuit breaker and invite a retry of a change that happened).
		if err := e.recordEvent(context.WithoutCancel(ctx), spec.Name, c); err != nil {
			e.log.Warn("recording the Kubernetes Event failed", "action", spec.Name, "target", t.String(), "err", err)
		}
	}
	return res, nil
}

// describe turns the API errors an operator meets into what to do about them.
func describe(err error) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%w (the ServiceAccount's role lacks this verb: see deploy/kubernetes/rbac.yaml)", err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("%w (the object does not exist)", err)
	}
	return err
}
