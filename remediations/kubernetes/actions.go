// Package kubernetes declares the Kubernetes investigations and resolutions:
// their parameters, validation and plans. The client-go executor that runs
// them lives beside these declarations.
package kubernetes

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/remediator/remediator/remediations"
)

// Target kinds these actions accept.
const (
	KindDeployment  = "Deployment"
	KindStatefulSet = "StatefulSet"
	KindNamespace   = "Namespace"
)

var workloads = []string{KindDeployment, KindStatefulSet}

// Actions returns every Kubernetes action.
func Actions() []remediations.Action {
	return []remediations.Action{
		Scale, SetResources, RolloutRestart, DeletePod, DeletePods, RolloutUndo, SetEnv,
		ScaleNamespace, RestoreNamespace,
		PodStatus, Logs, Events, Endpoints, TopPods, ConfigMapKeys, RolloutHistory,
	}
}

func workloadRef(t remediations.Target) (string, error) {
	switch {
	case t.Namespace != "" && t.Name != "":
		return fmt.Sprintf("apps/v1 %ss %s/%s", strings.ToLower(t.Kind), t.Namespace, t.Name), nil
	case t.Namespace != "" && t.Pod != "":
		// Resolved through the pod's ownerReferences when a cluster is
		// configured; a plan without one can only say so.
		return fmt.Sprintf("apps/v1 <owner of pod %s/%s>", t.Namespace, t.Pod), nil
	}
	return "", errors.New("target needs a namespace and a name (or a pod to resolve to its owner)")
}

// ScaleParams are the parameters of kubernetes.scale.
type ScaleParams struct {
	Replicas    *int32  `json:"replicas,omitempty" doc:"absolute replica count (instead of step/factor)"`
	Step        int32   `json:"step,omitempty" doc:"replicas to add to the current count"`
	Factor      float64 `json:"factor,omitempty" doc:"multiply the current count (rounded up)"`
	MaxReplicas int32   `json:"max_replicas,omitempty" doc:"never scale above this (policy caps it)"`
	MinReplicas int32   `json:"min_replicas,omitempty" doc:"never scale below this (default 1)"`
	AllowZero   bool    `json:"allow_zero,omitempty" doc:"allow scaling to 0 replicas"`
	HPA         string  `json:"hpa,omitempty" doc:"when an HPA owns the workload: raise_min (default) or refuse"`
}

// Validate implements remediations.Validator.
func (p *ScaleParams) Validate() error {
	set := 0
	if p.Replicas != nil {
		set++
		if *p.Replicas < 0 || (*p.Replicas == 0 && !p.AllowZero) {
			return fmt.Errorf("replicas %d is below 1 (set allow_zero to scale to 0)", *p.Replicas)
		}
	}
	if p.Step != 0 {
		set++
	}
	if p.Factor != 0 {
		set++
		if p.Factor <= 0 {
			return fmt.Errorf("factor %v must be positive", p.Factor)
		}
	}
	if set != 1 {
		return errors.New("exactly one of replicas, step or factor is required")
	}
	if p.MaxReplicas < 0 || p.MinReplicas < 0 {
		return errors.New("min_replicas and max_replicas must not be negative")
	}
	if p.Replicas != nil && p.MaxReplicas > 0 && *p.Replicas > p.MaxReplicas {
		return fmt.Errorf("replicas %d is above max_replicas %d", *p.Replicas, p.MaxReplicas)
	}
	if p.MaxReplicas > 0 && p.MinReplicas > p.MaxReplicas {
		return fmt.Errorf("min_replicas %d is above max_replicas %d", p.MinReplicas, p.MaxReplicas)
	}
	switch p.HPA {
	case "", "raise_min", "refuse":
	default:
		return fmt.Errorf("hpa must be raise_min or refuse, not %q", p.HPA)
	}
	return nil
}

func (p *ScaleParams) desired() string {
	var s string
	switch {
	case p.Replicas != nil:
		s = strconv.Itoa(int(*p.Replicas))
	case p.Step != 0:
		s = fmt.Sprintf("current%+d", p.Step)
	default:
		s = fmt.Sprintf("ceil(current×%g)", p.Factor)
	}
	bounds := []string{}
	if p.MinReplicas > 0 {
		bounds = append(bounds, fmt.Sprintf("min %d", p.MinReplicas))
	}
	if p.MaxReplicas > 0 {
		bounds = append(bounds, fmt.Sprintf("max %d", p.MaxReplicas))
	}
	if len(bounds) > 0 {
		s += " (" + strings.Join(bounds, ", ") + ")"
	}
	return s
}

// Scale changes a workload's replica count through the scale subresource.
var Scale = remediations.Define(remediations.Spec{
	Name:        "kubernetes.scale",
	Description: "Scale a Deployment or StatefulSet through its scale subresource (raises an owning HPA's minReplicas instead).",
	Kind:        remediations.Resolution,
	TargetKinds: workloads,
	Example:     remediations.Params{"step": 2, "max_replicas": 10},
}, func(t remediations.Target, p *ScaleParams) ([]string, error) {
	ref, err := workloadRef(t)
	if err != nil {
		return nil, err
	}
	hpa := "raise its minReplicas to the same count"
	if p.HPA == "refuse" {
		hpa = "refuse"
	}
	return []string{
		fmt.Sprintf("GET %s/scale", ref),
		fmt.Sprintf("GET autoscaling/v2 horizontalpodautoscalers %s targeting it; if one exists, %s", t.Namespace, hpa),
		fmt.Sprintf("PATCH %s/scale spec.replicas=%s", ref, p.desired()),
	}, nil
})

// SetResourcesParams are the parameters of kubernetes.set_resources.
type SetResourcesParams struct {
	Container string  `json:"container,omitempty" doc:"container name (default: the target's container, else the first)"`
	Resource  string  `json:"resource" doc:"cpu or memory"`
	Factor    float64 `json:"factor,omitempty" doc:"multiply the current request and limit"`
	Value     string  `json:"value,omitempty" doc:"set the limit to this quantity (requests kept ≤ limits)"`
	Max       string  `json:"max,omitempty" doc:"never raise above this quantity (policy caps it)"`
}

// Validate implements remediations.Validator.
func (p *SetResourcesParams) Validate() error {
	if p.Resource != "cpu" && p.Resource != "memory" {
		return fmt.Errorf("resource must be cpu or memory, not %q", p.Resource)
	}
	if (p.Factor == 0) == (p.Value == "") {
		return errors.New("exactly one of factor or value is required")
	}
	if p.Factor != 0 && p.Factor <= 1 {
		return fmt.Errorf("factor %v must be above 1 (this action only raises)", p.Factor)
	}
	return nil
}

// SetResources raises a container's CPU or memory requests and limits.
var SetResources = remediations.Define(remediations.Spec{
	Name:        "kubernetes.set_resources",
	Description: "Raise a container's CPU or memory requests/limits by a factor or to a value, capped, keeping requests ≤ limits.",
	Kind:        remediations.Resolution,
	TargetKinds: workloads,
	Example:     remediations.Params{"resource": "cpu", "factor": 1.5, "max": "2"},
}, func(t remediations.Target, p *SetResourcesParams) ([]string, error) {
	ref, err := workloadRef(t)
	if err != nil {
		return nil, err
	}
	change := fmt.Sprintf("×%g", p.Factor)
	if p.Value != "" {
		change = "=" + p.Value
	}
	if p.Max != "" {
		change += " (max " + p.Max + ")"
	}
	return []string{
		"GET " + ref,
		fmt.Sprintf("PATCH %s container %s resources.{requests,limits}.%s%s", ref, containerName(p.Container, t), p.Resource, change),
	}, nil
})

func containerName(param string, t remediations.Target) string {
	switch {
	case param != "":
		return strconv.Quote(param)
	case t.Container != "":
		return strconv.Quote(t.Container)
	default:
		return "<first>"
	}
}

// RolloutRestart restarts a workload's pods the way `kubectl rollout restart` does.
var RolloutRestart = remediations.Define(remediations.Spec{
	Name:        "kubernetes.rollout_restart",
	Description: "Restart a workload's pods by setting the pod-template annotation kubectl rollout restart sets.",
	Kind:        remediations.Resolution,
	TargetKinds: workloads,
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ref, err := workloadRef(t)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf(`PATCH %s spec.template.metadata.annotations["kubectl.kubernetes.io/restartedAt"]=<now>`, ref)}, nil
})

// DeletePodParams are the parameters of kubernetes.delete_pod.
type DeletePodParams struct {
	Pod      string `json:"pod,omitempty" doc:"pod name (default: the alert's pod label)"`
	MinReady int32  `json:"min_ready,omitempty" doc:"refuse if fewer ready pods would remain"`
	Evict    bool   `json:"evict,omitempty" doc:"use the eviction API (respects PodDisruptionBudgets)"`
}

// Validate implements remediations.Validator.
func (p *DeletePodParams) Validate() error {
	if p.MinReady < 0 {
		return errors.New("min_ready must not be negative")
	}
	return nil
}

func deleteVerb(evict bool) string {
	if evict {
		return "CREATE v1 pods/eviction"
	}
	return "DELETE v1 pods"
}

// DeletePod deletes (or evicts) the pod named in the alert.
var DeletePod = remediations.Define(remediations.Spec{
	Name:        "kubernetes.delete_pod",
	Description: "Delete or evict the pod named in the alert so its controller replaces it, keeping a minimum of ready pods.",
	Kind:        remediations.Resolution,
	TargetKinds: workloads,
	Example:     remediations.Params{"min_ready": 1},
}, func(t remediations.Target, p *DeletePodParams) ([]string, error) {
	pod := p.Pod
	if pod == "" {
		pod = t.Pod
	}
	if t.Namespace == "" || pod == "" {
		return nil, errors.New("needs a namespace and a pod (the alert's pod label or the pod param)")
	}
	return []string{
		fmt.Sprintf("LIST v1 pods %s owned by %s %s; refuse if fewer than %d ready would remain", t.Namespace, t.Kind, t.Name, p.MinReady),
		fmt.Sprintf("%s %s/%s", deleteVerb(p.Evict), t.Namespace, pod),
	}, nil
})

// DeletePodsParams are the parameters of kubernetes.delete_pods.
type DeletePodsParams struct {
	Selector string `json:"selector" doc:"label selector of the pods to delete, e.g. app=checkout"`
	MaxPods  int32  `json:"max_pods,omitempty" doc:"delete at most this many per run (policy caps it)"`
	MinReady int32  `json:"min_ready,omitempty" doc:"never leave fewer ready pods than this"`
	Evict    bool   `json:"evict,omitempty" doc:"use the eviction API (respects PodDisruptionBudgets)"`
}

// Validate implements remediations.Validator.
func (p *DeletePodsParams) Validate() error {
	if strings.TrimSpace(p.Selector) == "" {
		return errors.New("selector is required (deleting every pod of a namespace is never intended)")
	}
	if p.MaxPods < 0 || p.MinReady < 0 {
		return errors.New("max_pods and min_ready must not be negative")
	}
	return nil
}

// DeletePods deletes pods by label selector, a bounded number per run.
var DeletePods = remediations.Define(remediations.Spec{
	Name:        "kubernetes.delete_pods",
	Description: "Delete or evict pods matching a label selector, at most max_pods per run, keeping min_ready ready pods.",
	Kind:        remediations.Resolution,
	TargetKinds: workloads,
	Example:     remediations.Params{"selector": "app=checkout", "max_pods": 2, "min_ready": 1},
}, func(t remediations.Target, p *DeletePodsParams) ([]string, error) {
	if t.Namespace == "" {
		return nil, errors.New("target needs a namespace")
	}
	max := "all matching"
	if p.MaxPods > 0 {
		max = fmt.Sprintf("at most %d", p.MaxPods)
	}
	return []string{
		fmt.Sprintf("LIST v1 pods %s labelSelector=%q", t.Namespace, p.Selector),
		fmt.Sprintf("%s %s: %s, not-ready first, keeping ≥ %d ready", deleteVerb(p.Evict), t.Namespace, max, p.MinReady),
	}, nil
})

// RolloutUndoParams are the parameters of kubernetes.rollout_undo.
type RolloutUndoParams struct {
	ToRevision int64 `json:"to_revision,omitempty" doc:"revision to roll back to (default: the previous one)"`
}

// Validate implements remediations.Validator.
func (p *RolloutUndoParams) Validate() error {
	if p.ToRevision < 0 {
		return errors.New("to_revision must not be negative")
	}
	return nil
}

// RolloutUndo rolls a Deployment back the way `kubectl rollout undo` does.
var RolloutUndo = remediations.Define(remediations.Spec{
	Name:        "kubernetes.rollout_undo",
	Description: "Roll a Deployment back to its previous revision (or to_revision), as kubectl rollout undo does.",
	Kind:        remediations.Resolution,
	TargetKinds: []string{KindDeployment},
	Example:     remediations.Params{},
}, func(t remediations.Target, p *RolloutUndoParams) ([]string, error) {
	ref, err := workloadRef(t)
	if err != nil {
		return nil, err
	}
	rev := "the previous revision"
	if p.ToRevision > 0 {
		rev = fmt.Sprintf("revision %d", p.ToRevision)
	}
	return []string{
		fmt.Sprintf("LIST apps/v1 replicasets %s owned by deployment %s", t.Namespace, t.Name),
		fmt.Sprintf("PATCH %s spec.template=<pod template of %s>; refuse if there is none", ref, rev),
	}, nil
})

// SetEnvParams are the parameters of kubernetes.set_env.
type SetEnvParams struct {
	Container string `json:"container,omitempty" doc:"container name (default: the target's container, else the first)"`
	Name      string `json:"name" doc:"environment variable name"`
	Value     string `json:"value" doc:"value to set"`
}

// Validate implements remediations.Validator.
func (p *SetEnvParams) Validate() error {
	if p.Name == "" {
		return errors.New("name is required")
	}
	if strings.ContainsAny(p.Name, "= \t\n") {
		return fmt.Errorf("invalid environment variable name %q", p.Name)
	}
	return nil
}

// SetEnv sets one environment variable on a container.
var SetEnv = remediations.Define(remediations.Spec{
	Name:        "kubernetes.set_env",
	Description: "Set one environment variable on a workload's container (e.g. shrink a connection pool).",
	Kind:        remediations.Resolution,
	TargetKinds: workloads,
	Example:     remediations.Params{"name": "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "value": "20"},
}, func(t remediations.Target, p *SetEnvParams) ([]string, error) {
	ref, err := workloadRef(t)
	if err != nil {
		return nil, err
	}
	return []string{
		"GET " + ref,
		fmt.Sprintf("PATCH %s container %s env %s=%q", ref, containerName(p.Container, t), p.Name, p.Value),
	}, nil
})

// ScaleNamespaceParams are the parameters of kubernetes.scale_namespace.
type ScaleNamespaceParams struct {
	Replicas   int32 `json:"replicas" doc:"replica count for every Deployment in the namespace"`
	OnlyReduce bool  `json:"only_reduce,omitempty" doc:"only scale Deployments that are above replicas (a cap)"`
	AllowZero  bool  `json:"allow_zero,omitempty" doc:"allow scaling to 0 replicas"`
}

// Validate implements remediations.Validator.
func (p *ScaleNamespaceParams) Validate() error {
	if p.Replicas < 0 || (p.Replicas == 0 && !p.AllowZero) {
		return fmt.Errorf("replicas %d is below 1 (set allow_zero to scale to 0)", p.Replicas)
	}
	return nil
}

// ScaleNamespace is the emergency scale-down of a whole namespace.
var ScaleNamespace = remediations.Define(remediations.Spec{
	Name:        "kubernetes.scale_namespace",
	Description: "Emergency scale-down: every Deployment in the namespace to replicas (or capped at it), remembering the previous counts.",
	Kind:        remediations.Resolution,
	TargetKinds: []string{KindNamespace},
	Example:     remediations.Params{"replicas": 1},
}, func(t remediations.Target, p *ScaleNamespaceParams) ([]string, error) {
	ns := t.Namespace
	if ns == "" {
		ns = t.Name
	}
	if ns == "" {
		return nil, errors.New("target needs a namespace")
	}
	which := "each Deployment"
	if p.OnlyReduce {
		which = fmt.Sprintf("each Deployment above %d", p.Replicas)
	}
	return []string{
		"LIST apps/v1 deployments " + ns,
		fmt.Sprintf(`PATCH %s: annotate remediator.io/previous-replicas=<current>, then PATCH its scale spec.replicas=%d`, which, p.Replicas),
	}, nil
})

// RestoreNamespace undoes kubernetes.scale_namespace.
var RestoreNamespace = remediations.Define(remediations.Spec{
	Name:        "kubernetes.restore_namespace",
	Description: "Put back the replica counts kubernetes.scale_namespace recorded.",
	Kind:        remediations.Resolution,
	TargetKinds: []string{KindNamespace},
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ns := t.Namespace
	if ns == "" {
		ns = t.Name
	}
	if ns == "" {
		return nil, errors.New("target needs a namespace")
	}
	return []string{
		"LIST apps/v1 deployments " + ns + " annotated remediator.io/previous-replicas",
		"PATCH each: scale spec.replicas=<previous>, remove the annotation",
	}, nil
})
