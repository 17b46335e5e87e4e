package kubernetes_test

import (
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

// fkInvestigate runs an investigation and checks that it wrote nothing.
func fkInvestigate(t *testing.T, cs *fake.Clientset, e *k8s.Executor, a remediations.Action, target remediations.Target, p P) (any, error) {
	t.Helper()
	res, err := e.Execute(t.Context(), a, target, p)
	if res.DryRun || len(res.Changes) != 0 {
		t.Errorf("investigation result DryRun %v, changes %q", res.DryRun, res.Changes)
	}
	if w := fkWrites(cs); len(w) != 0 {
		t.Errorf("investigation %s wrote %q", a.Spec().Name, w)
	}
	return res.Evidence, err
}

func TestPodStatus(t *testing.T) {
	crashing := func(objs []runtime.Object) {
		p := objs[5].(*corev1.Pod) // web-1-a
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "app", Ready: false, RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}},
			LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
				Reason: "OOMKilled", ExitCode: 137, FinishedAt: metav1.NewTime(fkBase.Add(5 * time.Minute)),
			}},
		}}
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.ContainersReady, Status: corev1.ConditionFalse})
		objs[6].(*corev1.Pod).Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "app", Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}
	}
	for _, tc := range []struct {
		name     string
		target   remediations.Target
		wantErr  string
		wantPods []string
	}{
		{name: "the alert's pod", target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a"}, wantPods: []string{"web-1-a"}},
		{name: "the workload's pods", target: fkTarget("Deployment", "web"), wantPods: []string{"web-1-a", "web-1-b", "web-1-c"}},
		{name: "the namespace's pods", target: remediations.Target{Kind: "Namespace", Name: fkNS}, wantPods: []string{"db-0", "other-1-x", "web-1-a", "web-1-b", "web-1-c"}},
		{name: "a statefulset's pods", target: fkTarget("StatefulSet", "db"), wantPods: []string{"db-0"}},
		{name: "a missing pod", target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "gone"}, wantErr: `getting pod shop/gone: pods "gone" not found (the object does not exist)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := fkStatefulSet(fkNS, "db", 1)
			_, objs := fkShop(db, fkPod("db-0", db, "StatefulSet", true, 0))
			crashing(objs)
			cs := fkClient(objs...)
			evidence, err := fkInvestigate(t, cs, fkExecutor(cs), k8s.PodStatus, tc.target, nil)
			checkErr(t, fkWithoutPrefix(err), tc.wantErr)
			if tc.wantErr != "" {
				return
			}
			pods := evidence.(map[string]any)["pods"].([]k8s.PodEvidence)
			var names []string
			for _, p := range pods {
				names = append(names, p.Name)
			}
			if !slices.Equal(names, tc.wantPods) {
				t.Fatalf("pods %q, want %q", names, tc.wantPods)
			}
			for _, p := range pods {
				if p.Phase != "Running" || p.Node != "node-1" {
					t.Errorf("pod %s: phase %q, node %q", p.Name, p.Phase, p.Node)
				}
				if ready := p.Name != "web-1-c"; p.Ready != ready || p.Conditions["Ready"] != map[bool]string{true: "True", false: "False"}[ready] {
					t.Errorf("pod %s: ready %v, conditions %v", p.Name, p.Ready, p.Conditions)
				}
				switch p.Name {
				case "web-1-a":
					want := []k8s.ContainerEvidence{{
						Name: "app", Restarts: 3, State: "waiting: CrashLoopBackOff",
						LastTermination: &k8s.Termination{Reason: "OOMKilled", ExitCode: 137, Finished: fkBase.Add(5 * time.Minute)},
					}}
					if len(p.Containers) != 1 || p.Containers[0].LastTermination == nil || *p.Containers[0].LastTermination != *want[0].LastTermination ||
						p.Containers[0].Name != "app" || p.Containers[0].Restarts != 3 || p.Containers[0].State != want[0].State || p.Containers[0].Ready {
						t.Errorf("web-1-a containers %+v, want %+v", p.Containers, want)
					}
					if p.Conditions["ContainersReady"] != "False" {
						t.Errorf("web-1-a conditions %v", p.Conditions)
					}
					b, _ := json.Marshal(p)
					if !strings.Contains(string(b), `"lastTermination":{"reason":"OOMKilled","exitCode":137`) || !strings.Contains(string(b), `"restarts":3`) {
						t.Errorf("web-1-a as JSON: %s", b)
					}
				case "web-1-b":
					if len(p.Containers) != 1 || p.Containers[0].State != "running" || !p.Containers[0].Ready || p.Containers[0].LastTermination != nil {
						t.Errorf("web-1-b containers %+v", p.Containers)
					}
				}
			}
		})
	}
}

// fkWithoutPrefix drops the "action on target: " prefix Execute adds, for
// checkErr.
func fkWithoutPrefix(err error) error {
	if err == nil {
		return nil
	}
	_, rest, ok := strings.Cut(err.Error(), ": ")
	if !ok {
		return err
	}
	return errors.New(rest)
}

func TestLogs(t *testing.T) {
	withSidecar := func(restarts int32) func([]runtime.Object) {
		return func(objs []runtime.Object) {
			p := objs[5].(*corev1.Pod) // web-1-a
			p.Spec.Containers = []corev1.Container{{Name: "app"}, {Name: "sidecar"}}
			p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "app"}, {Name: "sidecar", RestartCount: restarts}}
		}
	}
	for _, tc := range []struct {
		name    string
		mod     func([]runtime.Object)
		react   func(*fake.Clientset)
		target  remediations.Target
		params  P
		wantErr string
		want    []k8s.LogEvidence
		// wantOpts are the log requests' options.
		wantOpts []corev1.PodLogOptions
	}{
		{
			name: "first pod, first container, defaults", target: fkTarget("Deployment", "web"),
			want:     []k8s.LogEvidence{{Pod: "web-1-a", Container: "app", Lines: "fake logs"}},
			wantOpts: []corev1.PodLogOptions{{Container: "app", TailLines: new(int64(100)), LimitBytes: new(int64(64<<10 + 1))}},
		},
		{
			name: "the alert's container restarted: its previous log too", mod: withSidecar(2),
			target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a", Container: "sidecar"}, params: P{"lines": 50},
			want: []k8s.LogEvidence{
				{Pod: "web-1-a", Container: "sidecar", Lines: "fake logs"},
				{Pod: "web-1-a", Container: "sidecar", Previous: true, Lines: "fake logs"},
			},
			wantOpts: []corev1.PodLogOptions{
				{Container: "sidecar", TailLines: new(int64(50)), LimitBytes: new(int64(64<<10 + 1))},
				{Container: "sidecar", Previous: true, TailLines: new(int64(50)), LimitBytes: new(int64(64<<10 + 1))},
			},
		},
		{
			name: "another container's restarts do not count", mod: withSidecar(2),
			target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a", Container: "app"},
			want:   []k8s.LogEvidence{{Pod: "web-1-a", Container: "app", Lines: "fake logs"}},
			wantOpts: []corev1.PodLogOptions{
				{Container: "app", TailLines: new(int64(100)), LimitBytes: new(int64(64<<10 + 1))},
			},
		},
		{
			name: "cut at max_bytes", target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-b"}, params: P{"max_bytes": 4, "lines": 7},
			want:     []k8s.LogEvidence{{Pod: "web-1-b", Container: "app", Lines: "fake", Truncated: true}},
			wantOpts: []corev1.PodLogOptions{{Container: "app", TailLines: new(int64(7)), LimitBytes: new(int64(5))}},
		},
		{
			name: "a log that cannot be read is evidence, not an error",
			react: func(cs *fake.Clientset) {
				cs.PrependReactor("get", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
					if a.GetSubresource() != "log" {
						return false, nil, nil
					}
					return true, nil, apierrors.NewBadRequest(`container "app" in pod "web-1-a" is waiting to start: ContainerCreating`)
				})
			},
			target:   remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a"},
			want:     []k8s.LogEvidence{{Pod: "web-1-a", Container: "app", Error: `container "app" in pod "web-1-a" is waiting to start: ContainerCreating`}},
			wantOpts: []corev1.PodLogOptions{{Container: "app", TailLines: new(int64(100)), LimitBytes: new(int64(64<<10 + 1))}},
		},
		{
			name: "no pods", target: fkTarget("Deployment", "lonely"),
			wantErr: "Deployment shop/lonely has no pods to read logs from",
		},
		{
			name: "unknown container", target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a", Container: "nope"},
			wantErr: `pod web-1-a: no container "nope" in the pod template (containers: [app])`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, objs := fkShop(fkDeployment(fkNS, "lonely", new(int32(1))))
			if tc.mod != nil {
				tc.mod(objs)
			}
			cs := fkClient(objs...)
			if tc.react != nil {
				tc.react(cs)
			}
			evidence, err := fkInvestigate(t, cs, fkExecutor(cs), k8s.Logs, tc.target, tc.params)
			if tc.wantErr != "" {
				if err == nil || !strings.HasSuffix(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one ending in %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := evidence.(map[string]any)["logs"].([]k8s.LogEvidence)
			for i := range got {
				// The fake's REST client wraps the error in the request's URL.
				if i < len(tc.want) && tc.want[i].Error != "" && strings.HasSuffix(got[i].Error, tc.want[i].Error) {
					got[i].Error = tc.want[i].Error
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("logs\n  %+v\nwant\n  %+v", got, tc.want)
			}
			var opts []corev1.PodLogOptions
			for _, a := range cs.Actions() {
				if g, ok := a.(k8stesting.GenericActionImpl); ok && a.GetSubresource() == "log" {
					if a.GetNamespace() != fkNS {
						t.Errorf("log read in namespace %q", a.GetNamespace())
					}
					opts = append(opts, *g.Value.(*corev1.PodLogOptions))
				}
			}
			if len(opts) != len(tc.wantOpts) {
				t.Fatalf("log requests %+v, want %+v", opts, tc.wantOpts)
			}
			for i := range opts {
				g, w := opts[i], tc.wantOpts[i]
				if g.Container != w.Container || g.Previous != w.Previous || *g.TailLines != *w.TailLines || *g.LimitBytes != *w.LimitBytes {
					t.Errorf("log request %d: container %q previous %v tail %d limit %d, want %q %v %d %d",
						i, g.Container, g.Previous, *g.TailLines, *g.LimitBytes, w.Container, w.Previous, *w.TailLines, *w.LimitBytes)
				}
			}
		})
	}
}

func TestEvents(t *testing.T) {
	at := func(m int) time.Time { return fkBase.Add(time.Duration(m) * time.Minute) }
	event := func(ns, name, kind, object, reason string, set func(*corev1.Event)) *corev1.Event {
		ev := &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(fkBase.Add(-time.Hour))},
			InvolvedObject: corev1.ObjectReference{Kind: kind, Namespace: ns, Name: object},
			Reason:         reason, Message: reason + " of " + object, Type: "Normal",
		}
		set(ev)
		return ev
	}
	last := func(m int) func(*corev1.Event) {
		return func(ev *corev1.Event) { ev.LastTimestamp, ev.Count = metav1.NewTime(at(m)), 2 }
	}
	eventTime := func(m int) func(*corev1.Event) {
		return func(ev *corev1.Event) { ev.EventTime = metav1.NewMicroTime(at(m)) }
	}
	created := func(m int) func(*corev1.Event) {
		return func(ev *corev1.Event) { ev.CreationTimestamp = metav1.NewTime(at(m)) }
	}
	events := []runtime.Object{
		event(fkNS, "e1", "Deployment", "web", "ScalingReplicaSet", last(5)),
		event(fkNS, "e2", "Pod", "web-1-a", "BackOff", eventTime(3)),
		event(fkNS, "e3", "Pod", "web-1-b", "Pulled", created(1)),
		event(fkNS, "e4", "Pod", "other-1-x", "Killing", last(4)),
		event(fkNS, "e5", "Deployment", "other", "ScalingReplicaSet", last(2)),
		event(fkNS, "e6", "Pod", "web-1-c", "Unhealthy", last(6)),
		event("elsewhere", "e7", "Deployment", "web", "ScalingReplicaSet", last(7)),
	}
	for _, tc := range []struct {
		name   string
		target remediations.Target
		params P
		want   []string
		// wantFieldSelector is the list's field selector.
		wantFieldSelector string
	}{
		{
			name: "the workload's and its pods', by time", target: fkTarget("Deployment", "web"),
			want: []string{"Pod/web-1-b Pulled @1", "Pod/web-1-a BackOff @3", "Deployment/web ScalingReplicaSet @5", "Pod/web-1-c Unhealthy @6"},
		},
		{
			name: "the newest N", target: fkTarget("Deployment", "web"), params: P{"limit": 2},
			want: []string{"Deployment/web ScalingReplicaSet @5", "Pod/web-1-c Unhealthy @6"},
		},
		{
			name: "the alert's pod only among the pods", target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a"},
			want: []string{"Pod/web-1-a BackOff @3", "Deployment/web ScalingReplicaSet @5"},
		},
		{
			name: "a namespace: all of it", target: remediations.Target{Kind: "Namespace", Name: fkNS},
			want: []string{
				"Pod/web-1-b Pulled @1", "Deployment/other ScalingReplicaSet @2", "Pod/web-1-a BackOff @3",
				"Pod/other-1-x Killing @4", "Deployment/web ScalingReplicaSet @5", "Pod/web-1-c Unhealthy @6",
			},
		},
		{
			name: "a workload without pods: by field selector", target: fkTarget("Deployment", "lonely"),
			want: []string{}, wantFieldSelector: "involvedObject.name=lonely",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, objs := fkShop(append([]runtime.Object{fkDeployment(fkNS, "lonely", new(int32(1)))}, events...)...)
			cs := fkClient(objs...)
			evidence, err := fkInvestigate(t, cs, fkExecutor(cs), k8s.Events, tc.target, tc.params)
			if err != nil {
				t.Fatal(err)
			}
			got := []string{}
			for _, ev := range evidence.(map[string]any)["events"].([]k8s.EventEvidence) {
				got = append(got, ev.Object+" "+ev.Reason+" @"+fkMinute(ev.Time))
				if !strings.HasSuffix(ev.Object, "/"+strings.TrimPrefix(ev.Message, ev.Reason+" of ")) || ev.Type != "Normal" {
					t.Errorf("event %+v", ev)
				}
				if ev.Time.Location() != time.UTC {
					t.Errorf("event time %v not in UTC", ev.Time)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("events\n  %q\nwant\n  %q", got, tc.want)
			}
			for _, a := range cs.Actions() {
				if l, ok := a.(k8stesting.ListActionImpl); ok && a.GetResource().Resource == "events" {
					if l.ListOptions.FieldSelector != tc.wantFieldSelector {
						t.Errorf("events listed with field selector %q, want %q", l.ListOptions.FieldSelector, tc.wantFieldSelector)
					}
				}
			}
		})
	}
}

// fkMinute is ts as minutes after fkBase.
func fkMinute(ts time.Time) string {
	return strconv.Itoa(int(ts.Sub(fkBase) / time.Minute))
}

func TestEndpoints(t *testing.T) {
	slice := func(name, service string, eps ...discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
		return &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Namespace: fkNS, Name: name, Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4, Endpoints: eps,
		}
	}
	ep := func(pod string, ready *bool, addrs ...string) discoveryv1.Endpoint {
		e := discoveryv1.Endpoint{Addresses: addrs, Conditions: discoveryv1.EndpointConditions{Ready: ready}}
		if pod != "" {
			e.TargetRef = &corev1.ObjectReference{Kind: "Pod", Namespace: fkNS, Name: pod}
		}
		return e
	}
	cs := fkClient(fkNamespace(fkNS, nil),
		slice("web-abc", "web", ep("web-1-a", new(true), "10.0.0.1"), ep("web-1-c", new(false), "10.0.0.2"), ep("", nil, "10.0.0.3", "10.0.0.4")),
		slice("web-def", "web", ep("web-1-b", new(true), "10.0.1.1")),
		slice("other-xyz", "other", ep("other-1-x", new(true), "10.0.2.1"), ep("other-1-y", new(false), "10.0.2.2")),
	)
	type evidence struct {
		Service  string   `json:"service"`
		Slices   int      `json:"slices"`
		Ready    []string `json:"ready"`
		NotReady []string `json:"notReady"`
		Note     string   `json:"note"`
	}
	for _, tc := range []struct {
		name string
		want evidence
	}{
		{"web", evidence{
			Service: "web", Slices: 2,
			Ready:    []string{"web-1-a (10.0.0.1)", "10.0.0.3,10.0.0.4", "web-1-b (10.0.1.1)"},
			NotReady: []string{"web-1-c (10.0.0.2)"},
		}},
		{"lonely", evidence{Service: "lonely", Ready: []string{}, NotReady: []string{}, Note: "no EndpointSlices for a Service of this name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs.ClearActions()
			raw, err := fkInvestigate(t, cs, fkExecutor(cs), k8s.Endpoints, fkTarget("Deployment", tc.name), nil)
			if err != nil {
				t.Fatal(err)
			}
			var got evidence
			fkEvidence(t, raw, &got)
			if got.Service != tc.want.Service || got.Slices != tc.want.Slices || got.Note != tc.want.Note ||
				!slices.Equal(got.Ready, tc.want.Ready) || !slices.Equal(got.NotReady, tc.want.NotReady) || got.Ready == nil || got.NotReady == nil {
				t.Errorf("evidence %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestConfigMapKeys(t *testing.T) {
	const secret = "s3cr3t-Value-7f2a9c"
	cs := fkClient(fkNamespace(fkNS, nil), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: fkNS, Name: "web-config", ResourceVersion: "42"},
		Data:       map[string]string{"zeta.yaml": "password: " + secret, "alpha": secret, "DB_URL": "postgres://u:" + secret + "@db/x"},
		BinaryData: map[string][]byte{"cert.der": []byte(secret)},
	})
	e := fkExecutor(cs)
	raw, err := fkInvestigate(t, cs, e, k8s.ConfigMapKeys, fkTarget("Deployment", "web"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		ConfigMap string   `json:"configMap"`
		Exists    bool     `json:"exists"`
		Keys      []string `json:"keys"`
	}
	fkEvidence(t, raw, &got)
	if want := []string{"DB_URL", "alpha", "cert.der", "zeta.yaml"}; got.ConfigMap != "web-config" || !got.Exists || !slices.Equal(got.Keys, want) {
		t.Errorf("evidence %+v, want web-config's keys %q", got, want)
	}
	res, err := e.Execute(t.Context(), k8s.ConfigMapKeys, fkTarget("Deployment", "web"), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), secret) || strings.Contains(string(b), "s3cr3t") {
		t.Errorf("a value leaked into the result: %s", b)
	}

	raw, err = fkInvestigate(t, cs, e, k8s.ConfigMapKeys, fkTarget("Deployment", "api"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var missing struct {
		ConfigMap string   `json:"configMap"`
		Exists    *bool    `json:"exists"`
		Keys      []string `json:"keys"`
	}
	fkEvidence(t, raw, &missing)
	if missing.ConfigMap != "api-config" || missing.Exists == nil || *missing.Exists || missing.Keys != nil {
		t.Errorf("missing configmap: evidence %+v", raw)
	}
}

func TestTopPods(t *testing.T) {
	usage := func(cpu, mem string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu), corev1.ResourceMemory: resource.MustParse(mem)}
	}
	podMetrics := func(ns, name string, cs ...metricsv1beta1.ContainerMetrics) *metricsv1beta1.PodMetrics {
		return &metricsv1beta1.PodMetrics{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Containers: cs}
	}
	metricsClient := func(t *testing.T) *metricsfake.Clientset {
		mc := metricsfake.NewSimpleClientset()
		// PodMetrics are served as metrics.k8s.io/v1beta1 "pods", which the
		// tracker cannot guess from the kind.
		gvr := metricsv1beta1.SchemeGroupVersion.WithResource("pods")
		for _, pm := range []*metricsv1beta1.PodMetrics{
			podMetrics(fkNS, "web-1-a", metricsv1beta1.ContainerMetrics{Name: "app", Usage: usage("100m", "100Mi")}, metricsv1beta1.ContainerMetrics{Name: "sidecar", Usage: usage("50m", "28Mi")}),
			podMetrics(fkNS, "web-1-b", metricsv1beta1.ContainerMetrics{Name: "app", Usage: usage("300m", "64Mi")}),
			podMetrics(fkNS, "other-1-x", metricsv1beta1.ContainerMetrics{Name: "app", Usage: usage("900m", "1Gi")}),
			podMetrics("elsewhere", "web-1-a", metricsv1beta1.ContainerMetrics{Name: "app", Usage: usage("2", "2Gi")}),
		} {
			if err := mc.Tracker().Create(gvr, pm, pm.Namespace); err != nil {
				t.Fatal(err)
			}
		}
		return mc
	}
	failing := func(err error) func(t *testing.T) *metricsfake.Clientset {
		return func(t *testing.T) *metricsfake.Clientset {
			mc := metricsClient(t)
			mc.PrependReactor("list", "pods", func(k8stesting.Action) (bool, runtime.Object, error) { return true, nil, err })
			return mc
		}
	}
	gr := schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}
	type usageOf struct {
		Pod         string `json:"pod"`
		CPUMilli    int64  `json:"cpuMillicores"`
		MemoryBytes int64  `json:"memoryBytes"`
	}
	type evidence struct {
		Available bool      `json:"available"`
		Note      string    `json:"note"`
		Pods      []usageOf `json:"pods"`
	}
	const mi = 1 << 20
	for _, tc := range []struct {
		name    string
		metrics func(t *testing.T) *metricsfake.Clientset
		target  remediations.Target
		wantErr string
		want    evidence
		// wantNote is a prefix of the note.
		wantNote string
	}{
		{
			name: "no metrics client", target: fkTarget("Deployment", "web"),
			want: evidence{Available: false}, wantNote: "metrics API not available (no metrics client)",
		},
		{
			name: "the workload's pods, busiest first", metrics: metricsClient, target: fkTarget("Deployment", "web"),
			want: evidence{Available: true, Pods: []usageOf{{"web-1-b", 300, 64 * mi}, {"web-1-a", 150, 128 * mi}}},
		},
		{
			name: "the alert's pod", metrics: metricsClient, target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a"},
			want: evidence{Available: true, Pods: []usageOf{{"web-1-a", 150, 128 * mi}}},
		},
		{
			name: "a namespace: every pod", metrics: metricsClient, target: remediations.Target{Kind: "Namespace", Name: fkNS},
			want: evidence{Available: true, Pods: []usageOf{{"other-1-x", 900, 1024 * mi}, {"web-1-b", 300, 64 * mi}, {"web-1-a", 150, 128 * mi}}},
		},
		{
			name: "a workload without pods", metrics: metricsClient, target: fkTarget("Deployment", "lonely"),
			want: evidence{Available: true, Pods: []usageOf{}},
		},
		{
			name: "metrics API not served", metrics: failing(apierrors.NewNotFound(gr, "")), target: fkTarget("Deployment", "web"),
			want: evidence{Available: false}, wantNote: "metrics API not available: ",
		},
		{
			name: "metrics API unavailable", metrics: failing(apierrors.NewServiceUnavailable("the server is currently unable to handle the request")), target: fkTarget("Deployment", "web"),
			want: evidence{Available: false}, wantNote: "metrics API not available: the server is currently unable",
		},
		{
			name: "forbidden is an error", metrics: failing(apierrors.NewForbidden(gr, "", errors.New("no"))), target: fkTarget("Deployment", "web"),
			wantErr: "listing pod metrics in shop: ",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, objs := fkShop(fkDeployment(fkNS, "lonely", new(int32(1))))
			cs := fkClient(objs...)
			var opts []func(*k8s.Options)
			if tc.metrics != nil {
				mc := tc.metrics(t)
				opts = append(opts, func(o *k8s.Options) { o.Metrics = mc })
			}
			raw, err := fkInvestigate(t, cs, fkExecutor(cs, opts...), k8s.TopPods, tc.target, nil)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), "rbac.yaml") {
					t.Fatalf("error %v, want one containing %q and pointing at rbac.yaml", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got evidence
			fkEvidence(t, raw, &got)
			if got.Available != tc.want.Available || !strings.HasPrefix(got.Note, tc.wantNote) || (tc.wantNote == "") != (got.Note == "") {
				t.Errorf("evidence %+v, want available %v and a note starting %q", got, tc.want.Available, tc.wantNote)
			}
			if !slices.Equal(got.Pods, tc.want.Pods) {
				t.Errorf("pods %+v, want %+v", got.Pods, tc.want.Pods)
			}
			if !tc.want.Available && !strings.Contains(got.Note, k8s.MetricsNotAvailable) {
				t.Errorf("note %q lacks %q", got.Note, k8s.MetricsNotAvailable)
			}
		})
	}
}

// The workload's pods are those it controls, through its ReplicaSets for a
// Deployment: a pod matching the selector but controlled by another
// ReplicaSet, or by none, is not the workload's.
func TestWorkloadPodsFollowOwnership(t *testing.T) {
	web, objs := fkShop()
	orphan := fkPod("orphan", nil, "", true, 9)
	orphan.Labels = map[string]string{"app": "web"}
	looseRS := fkReplicaSet(web, "web-loose", 0, "web:v0")
	looseRS.OwnerReferences = nil // not controlled by web
	loosePod := fkPod("loose-pod", looseRS, "ReplicaSet", true, 9)
	cs := fkClient(slices.Concat(objs, []runtime.Object{orphan, looseRS, loosePod})...)
	evidence, err := fkInvestigate(t, cs, fkExecutor(cs), k8s.PodStatus, fkTarget("Deployment", "web"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range evidence.(map[string]any)["pods"].([]k8s.PodEvidence) {
		names = append(names, p.Name)
	}
	if want := []string{"web-1-a", "web-1-b", "web-1-c"}; !slices.Equal(names, want) {
		t.Errorf("pods %q, want %q", names, want)
	}

	// An empty selector selects nothing rather than every pod.
	empty := fkDeployment(fkNS, "empty", new(int32(1)), func(d *appsv1.Deployment) { d.Spec.Selector = &metav1.LabelSelector{} })
	cs = fkClient(slices.Concat(objs, []runtime.Object{empty})...)
	_, err = fkInvestigate(t, cs, fkExecutor(cs), k8s.PodStatus, fkTarget("Deployment", "empty"), nil)
	if err == nil || !strings.Contains(err.Error(), "Deployment shop/empty has an empty selector; refusing to treat every pod as its own") {
		t.Errorf("error %v", err)
	}
}
