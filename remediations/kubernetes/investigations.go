package kubernetes

import (
	"cmp"
	"errors"
	"fmt"

	"github.com/remediator/remediator/remediations"
)

var anyKubernetesTarget = []string{KindDeployment, KindStatefulSet, KindNamespace}

func needNamespace(t remediations.Target) (string, error) {
	ns := t.Namespace
	if ns == "" && t.Kind == KindNamespace {
		ns = t.Name
	}
	if ns == "" {
		return "", errors.New("target needs a namespace")
	}
	return ns, nil
}

// PodStatus collects pod phases, conditions, container states, restarts and
// last termination reasons.
var PodStatus = remediations.Define(remediations.Spec{
	Name:        "kubernetes.pod_status",
	Description: "Pod status, conditions, container states, restart counts and last termination reasons (e.g. OOMKilled).",
	Kind:        remediations.Investigation,
	TargetKinds: anyKubernetesTarget,
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	if t.Pod != "" {
		return []string{fmt.Sprintf("GET v1 pods %s/%s", ns, t.Pod)}, nil
	}
	if t.Kind == KindNamespace {
		return []string{"LIST v1 pods " + ns}, nil
	}
	return []string{fmt.Sprintf("LIST v1 pods %s owned by %s %s", ns, t.Kind, t.Name)}, nil
})

// LogsParams are the parameters of kubernetes.logs.
type LogsParams struct {
	Lines    int64 `json:"lines,omitempty" doc:"last N lines (default 100)"`
	MaxBytes int64 `json:"max_bytes,omitempty" doc:"byte cap per container (default 64 KiB)"`
}

// Validate implements remediations.Validator.
func (p *LogsParams) Validate() error {
	if p.Lines < 0 || p.MaxBytes < 0 {
		return errors.New("lines and max_bytes must not be negative")
	}
	return nil
}

// limits are the line count and byte cap, defaults applied.
func (p *LogsParams) limits() (lines, maxBytes int64) {
	return cmp.Or(p.Lines, 100), cmp.Or(p.MaxBytes, 64<<10)
}

// Logs tails the affected container's log (and the previous container's).
var Logs = remediations.Define(remediations.Spec{
	Name:        "kubernetes.logs",
	Description: "Last N log lines of the affected container, and of the previous container when it restarted.",
	Kind:        remediations.Investigation,
	TargetKinds: workloads,
	Example:     remediations.Params{"lines": 100},
}, func(t remediations.Target, p *LogsParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	lines, limit := p.limits()
	pod := t.Pod
	if pod == "" {
		pod = "<first pod of " + t.Name + ">"
	}
	return []string{fmt.Sprintf("GET v1 pods/log %s/%s tailLines=%d limitBytes=%d (and previous=true if restarted)", ns, pod, lines, limit)}, nil
})

// EventsParams are the parameters of kubernetes.events.
type EventsParams struct {
	Limit int64 `json:"limit,omitempty" doc:"most recent N events (default 20)"`
}

// Validate implements remediations.Validator.
func (p *EventsParams) Validate() error {
	if p.Limit < 0 {
		return errors.New("limit must not be negative")
	}
	return nil
}

// Events lists the events of the target, newest last.
var Events = remediations.Define(remediations.Spec{
	Name:        "kubernetes.events",
	Description: "Events for the target object, sorted by time.",
	Kind:        remediations.Investigation,
	TargetKinds: anyKubernetesTarget,
	Example:     remediations.Params{"limit": 20},
}, func(t remediations.Target, p *EventsParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	limit := p.Limit
	if limit == 0 {
		limit = 20
	}
	if t.Kind == KindNamespace {
		return []string{fmt.Sprintf("LIST events.k8s.io/v1 events %s (newest %d)", ns, limit)}, nil
	}
	return []string{fmt.Sprintf("LIST events.k8s.io/v1 events %s regarding %s/%s (newest %d)", ns, t.Kind, t.Name, limit)}, nil
})

// Endpoints reports the service's ready and not-ready endpoints.
var Endpoints = remediations.Define(remediations.Spec{
	Name:        "kubernetes.endpoints",
	Description: "Ready and not-ready endpoints of the target's Service (EndpointSlices).",
	Kind:        remediations.Investigation,
	TargetKinds: workloads,
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("LIST discovery.k8s.io/v1 endpointslices %s labelSelector=kubernetes.io/service-name=%s", ns, t.Name)}, nil
})

// TopPods reads CPU and memory from the metrics API.
var TopPods = remediations.Define(remediations.Spec{
	Name:        "kubernetes.top_pods",
	Description: "CPU and memory of the target's pods from the metrics API (metrics.k8s.io), when it is served.",
	Kind:        remediations.Investigation,
	TargetKinds: anyKubernetesTarget,
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	return []string{"LIST metrics.k8s.io/v1beta1 pods " + ns + " (\"metrics API not available\" when it is not served)"}, nil
})

// ConfigMapKeys lists the keys (never the values) of the service's ConfigMap.
var ConfigMapKeys = remediations.Define(remediations.Spec{
	Name:        "kubernetes.configmap_keys",
	Description: "Keys (never values) of the <name>-config ConfigMap.",
	Kind:        remediations.Investigation,
	TargetKinds: workloads,
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("GET v1 configmaps %s/%s-config (keys only)", ns, t.Name)}, nil
})

// RolloutHistory lists a Deployment's revisions and their images.
var RolloutHistory = remediations.Define(remediations.Spec{
	Name:        "kubernetes.rollout_history",
	Description: "The Deployment's rollout history: revisions and their images.",
	Kind:        remediations.Investigation,
	TargetKinds: []string{KindDeployment},
	Example:     remediations.Params{},
}, func(t remediations.Target, _ *remediations.NoParams) ([]string, error) {
	ns, err := needNamespace(t)
	if err != nil {
		return nil, err
	}
	return []string{fmt.Sprintf("LIST apps/v1 replicasets %s owned by deployment %s (revision, images)", ns, t.Name)}, nil
})
