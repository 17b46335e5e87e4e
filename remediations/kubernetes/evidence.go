package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/remediator/remediator/remediations"
)

// targetPods are the pods an investigation looks at: the alert's pod when it
// names one, else the workload's pods, else (a Namespace target) every pod
// of the namespace.
func (c *call) targetPods(ctx context.Context) ([]corev1.Pod, error) {
	ns, err := needNamespace(c.t)
	if err != nil {
		return nil, err
	}
	if c.t.Pod != "" {
		p, err := c.e.client.CoreV1().Pods(ns).Get(ctx, c.t.Pod, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("getting pod %s/%s: %w", ns, c.t.Pod, err)
		}
		return []corev1.Pod{*p}, nil
	}
	if c.t.Kind == KindNamespace {
		list, err := c.e.client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return nil, fmt.Errorf("listing pods in %s: %w", ns, err)
		}
		return list.Items, nil
	}
	w, err := c.getWorkload(ctx)
	if err != nil {
		return nil, err
	}
	return c.e.workloadPods(ctx, w)
}

// PodEvidence is one pod as kubernetes.pod_status reports it.
type PodEvidence struct {
	Name       string              `json:"name"`
	Phase      string              `json:"phase"`
	Ready      bool                `json:"ready"`
	Node       string              `json:"node,omitempty"`
	Conditions map[string]string   `json:"conditions"`
	Containers []ContainerEvidence `json:"containers"`
}

// ContainerEvidence is one container's state.
type ContainerEvidence struct {
	Name     string `json:"name"`
	Ready    bool   `json:"ready"`
	Restarts int32  `json:"restarts"`
	// State is running, waiting (with its reason) or terminated (with its reason).
	State string `json:"state"`
	// LastTermination is why the previous container ended, e.g. OOMKilled.
	LastTermination *Termination `json:"lastTermination,omitempty"`
}

// Termination is a terminated container state.
type Termination struct {
	Reason   string    `json:"reason"`
	ExitCode int32     `json:"exitCode"`
	Finished time.Time `json:"finishedAt"`
}

func (e *Executor) podStatus(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	pods, err := c.targetPods(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PodEvidence, 0, len(pods))
	for i := range pods {
		p := &pods[i]
		pe := PodEvidence{Name: p.Name, Phase: string(p.Status.Phase), Ready: podReady(p), Node: p.Spec.NodeName, Conditions: map[string]string{}}
		for _, cond := range p.Status.Conditions {
			pe.Conditions[string(cond.Type)] = string(cond.Status)
		}
		for _, cs := range p.Status.ContainerStatuses {
			ce := ContainerEvidence{Name: cs.Name, Ready: cs.Ready, Restarts: cs.RestartCount, State: stateString(cs.State)}
			if t := cs.LastTerminationState.Terminated; t != nil {
				ce.LastTermination = &Termination{Reason: t.Reason, ExitCode: t.ExitCode, Finished: t.FinishedAt.UTC()}
			}
			pe.Containers = append(pe.Containers, ce)
		}
		out = append(out, pe)
	}
	return map[string]any{"pods": out}, nil
}

func stateString(s corev1.ContainerState) string {
	switch {
	case s.Running != nil:
		return "running"
	case s.Waiting != nil:
		return "waiting: " + s.Waiting.Reason
	case s.Terminated != nil:
		return "terminated: " + s.Terminated.Reason
	}
	return "unknown"
}

// LogEvidence is one container log tail.
type LogEvidence struct {
	Pod       string `json:"pod"`
	Container string `json:"container"`
	Previous  bool   `json:"previous"`
	Lines     string `json:"lines"`
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
}

func (e *Executor) logs(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[LogsParams](raw)
	if err != nil {
		return nil, err
	}
	lines, limit := p.limits()
	pods, err := c.targetPods(ctx)
	if err != nil {
		return nil, err
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("%s has no pods to read logs from", c.t)
	}
	pod := &pods[0]
	ct, err := pickContainer(&pod.Spec, "", c.t)
	if err != nil {
		return nil, fmt.Errorf("pod %s: %w", pod.Name, err)
	}
	out := []LogEvidence{e.tail(ctx, pod, ct.Name, false, lines, limit)}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == ct.Name && cs.RestartCount > 0 {
			// The previous container's last words are usually why it restarted.
			out = append(out, e.tail(ctx, pod, ct.Name, true, lines, limit))
		}
	}
	return map[string]any{"logs": out}, nil
}

// tail reads at most limit bytes of the container's last lines; an error is
// part of the evidence (a container that never started has no log).
func (e *Executor) tail(ctx context.Context, pod *corev1.Pod, container string, previous bool, lines, limit int64) LogEvidence {
	le := LogEvidence{Pod: pod.Name, Container: container, Previous: previous}
	// One byte more than the cap tells whether the cap cut the log.
	req := e.client.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &lines, LimitBytes: new(limit + 1),
	})
	rc, err := req.Stream(ctx)
	if err != nil {
		le.Error = err.Error()
		return le
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if err != nil {
		le.Error = err.Error()
	}
	if int64(len(b)) > limit {
		b, le.Truncated = b[:limit], true
	}
	le.Lines = strings.ToValidUTF8(string(b), "\uFFFD")
	return le
}

// EventEvidence is one Kubernetes event.
type EventEvidence struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Reason  string    `json:"reason"`
	Object  string    `json:"object"`
	Message string    `json:"message"`
	Count   int32     `json:"count,omitempty"`
}

func (e *Executor) events(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	p, err := remediations.Decode[EventsParams](raw)
	if err != nil {
		return nil, err
	}
	limit := p.Limit
	if limit == 0 {
		limit = 20
	}
	ns, err := needNamespace(c.t)
	if err != nil {
		return nil, err
	}
	// The workload's own events and its pods' (where OOMKills, failed probes
	// and crash loops are reported), through the core API, which also
	// serves events.k8s.io events.
	names := map[string]bool{}
	var selector string
	if c.t.Kind != KindNamespace {
		names[c.t.Name] = true
		if c.t.Pod != "" {
			names[c.t.Pod] = true
		}
		if pods, err := c.targetPods(ctx); err == nil {
			for _, p := range pods {
				names[p.Name] = true
			}
		}
		if len(names) == 1 {
			selector = fields.OneTermEqualSelector("involvedObject.name", c.t.Name).String()
		}
	}
	list, err := e.client.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: selector})
	if err != nil {
		return nil, fmt.Errorf("listing events in %s: %w", ns, err)
	}
	var out []EventEvidence
	for _, ev := range list.Items {
		if len(names) > 0 && !names[ev.InvolvedObject.Name] {
			continue
		}
		out = append(out, EventEvidence{
			Time: eventTime(&ev), Type: ev.Type, Reason: ev.Reason, Object: ev.InvolvedObject.Kind + "/" + ev.InvolvedObject.Name,
			Message: ev.Message, Count: ev.Count,
		})
	}
	slices.SortStableFunc(out, func(a, b EventEvidence) int { return a.Time.Compare(b.Time) })
	if int64(len(out)) > limit {
		out = out[int64(len(out))-limit:] // the newest, still in time order
	}
	if out == nil {
		out = []EventEvidence{}
	}
	return map[string]any{"events": out}, nil
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.UTC()
	case !ev.EventTime.IsZero():
		return ev.EventTime.UTC()
	}
	return ev.CreationTimestamp.UTC()
}

func (e *Executor) endpoints(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	ns, err := needNamespace(c.t)
	if err != nil {
		return nil, err
	}
	list, err := e.client.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=" + c.t.Name})
	if err != nil {
		return nil, fmt.Errorf("listing endpointslices of service %s/%s: %w", ns, c.t.Name, err)
	}
	ready, notReady := []string{}, []string{}
	for _, s := range list.Items {
		for _, ep := range s.Endpoints {
			name := strings.Join(ep.Addresses, ",")
			if ep.TargetRef != nil {
				name = ep.TargetRef.Name + " (" + name + ")"
			}
			if ep.Conditions.Ready == nil || *ep.Conditions.Ready {
				ready = append(ready, name)
			} else {
				notReady = append(notReady, name)
			}
		}
	}
	ev := map[string]any{"service": c.t.Name, "slices": len(list.Items), "ready": ready, "notReady": notReady}
	if len(list.Items) == 0 {
		ev["note"] = "no EndpointSlices for a Service of this name"
	}
	return ev, nil
}

// MetricsNotAvailable is the top_pods evidence when the cluster serves no
// metrics API (no metrics-server).
const MetricsNotAvailable = "metrics API not available"

func (e *Executor) topPods(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	ns, err := needNamespace(c.t)
	if err != nil {
		return nil, err
	}
	if e.metrics == nil {
		return map[string]any{"available": false, "note": MetricsNotAvailable + " (no metrics client)"}, nil
	}
	list, err := e.metrics.MetricsV1beta1().PodMetricses(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		var status apierrors.APIStatus
		if apierrors.IsNotFound(err) || (errors.As(err, &status) && status.Status().Code == 503) {
			return map[string]any{"available": false, "note": MetricsNotAvailable + ": " + err.Error()}, nil
		}
		return nil, fmt.Errorf("listing pod metrics in %s: %w", ns, err)
	}
	var want map[string]bool
	if c.t.Kind != KindNamespace {
		want = map[string]bool{}
		if pods, err := c.targetPods(ctx); err == nil {
			for _, p := range pods {
				want[p.Name] = true
			}
		}
	}
	type usage struct {
		Pod         string `json:"pod"`
		CPUMilli    int64  `json:"cpuMillicores"`
		MemoryBytes int64  `json:"memoryBytes"`
	}
	out := []usage{}
	for _, pm := range list.Items {
		if want != nil && !want[pm.Name] {
			continue
		}
		u := usage{Pod: pm.Name}
		for _, ct := range pm.Containers {
			u.CPUMilli += ct.Usage.Cpu().MilliValue()
			u.MemoryBytes += ct.Usage.Memory().Value()
		}
		out = append(out, u)
	}
	slices.SortFunc(out, func(a, b usage) int { return int(b.CPUMilli - a.CPUMilli) })
	return map[string]any{"available": true, "pods": out}, nil
}

func (e *Executor) configMapKeys(ctx context.Context, c *call, raw remediations.Params) (any, error) {
	if _, err := remediations.Decode[remediations.NoParams](raw); err != nil {
		return nil, err
	}
	ns, err := needNamespace(c.t)
	if err != nil {
		return nil, err
	}
	name := c.t.Name + "-config"
	cm, err := e.client.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return map[string]any{"configMap": name, "exists": false}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("getting configmap %s/%s: %w", ns, name, err)
	}
	// Keys only: values may hold credentials and would end up in the audit
	// history.
	keys := make([]string, 0, len(cm.Data)+len(cm.BinaryData))
	for k := range cm.Data {
		keys = append(keys, k)
	}
	for k := range cm.BinaryData {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return map[string]any{"configMap": name, "exists": true, "keys": keys, "resourceVersion": cm.ResourceVersion}, nil
}

func images(cs []corev1.Container) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Image
	}
	return out
}
