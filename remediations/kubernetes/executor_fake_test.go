package kubernetes_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

const fkCause = "alert HighLatency (fingerprint 0f1e), runbook web-latency option 1"

// fkCheckResolution checks a resolution's error (wantErr "" means none, else a
// substring), its changes (exactly, each "before → after") and the Event it
// recorded: exactly one, in eventNS, on a change; none when nothing changed.
func fkCheckResolution(t *testing.T, cs *fake.Clientset, action remediations.Action, res remediations.Result, err error, wantErr string, wantChanges []string, eventNS string) {
	t.Helper()
	switch {
	case wantErr == "" && err != nil:
		t.Fatalf("unexpected error: %v", err)
	case wantErr != "" && err == nil:
		t.Fatalf("no error, want one containing %q (changes %q)", wantErr, res.Changes)
	case wantErr != "" && !strings.Contains(err.Error(), wantErr):
		t.Fatalf("error %q, want it to contain %q", err, wantErr)
	}
	if res.DryRun {
		t.Errorf("Execute returned DryRun=true")
	}
	if !slices.Equal(res.Changes, wantChanges) {
		t.Errorf("changes:\n  %q\nwant:\n  %q", res.Changes, wantChanges)
	}
	for _, c := range res.Changes {
		// A removed pod is said so; every other change reads before → after.
		if !strings.HasSuffix(c, ") deleted") && !strings.HasSuffix(c, ") evicted") && !strings.Contains(c, " → ") {
			t.Errorf("change %q does not read before → after", c)
		}
	}
	evs := fkEvents(t, cs, "") // every namespace
	if len(wantChanges) == 0 || wantErr != "" {
		if len(evs) != 0 {
			t.Errorf("nothing changed, yet %d Event(s) recorded: %+v", len(evs), evs)
		}
		return
	}
	if len(evs) != 1 {
		t.Fatalf("%d Events recorded, want 1: %+v", len(evs), evs)
	}
	ev := evs[0]
	if ev.Namespace != eventNS {
		t.Errorf("Event in namespace %q, want %q", ev.Namespace, eventNS)
	}
	if want := k8s.EventReason(action.Spec().Name); ev.Reason != want {
		t.Errorf("Event reason %q, want %q", ev.Reason, want)
	}
	if !strings.HasPrefix(ev.Reason, "Remediation") || ev.Action != strings.TrimPrefix(ev.Reason, "Remediation") {
		t.Errorf("Event reason %q, action %q", ev.Reason, ev.Action)
	}
	if !strings.HasPrefix(ev.Note, action.Spec().Name+": "+fkCause+": ") {
		t.Errorf("Event note %q does not start with the action and the cause", ev.Note)
	}
	for _, c := range wantChanges {
		if !strings.Contains(ev.Note, c) {
			t.Errorf("Event note %q lacks the change %q", ev.Note, c)
		}
	}
	if ev.Type != corev1.EventTypeNormal || ev.ReportingController != k8s.ReportingController || ev.ReportingInstance != "remediator-test-0" {
		t.Errorf("Event type %q, reportingController %q, reportingInstance %q", ev.Type, ev.ReportingController, ev.ReportingInstance)
	}
	if ev.EventTime.IsZero() {
		t.Errorf("Event has no eventTime")
	}
}

func fkCtx(t *testing.T) context.Context {
	return remediations.WithCause(t.Context(), fkCause)
}

func TestScale(t *testing.T) {
	hpa := func(minR *int32, maxR, current int32) runtime.Object {
		return fkHPA(fkNS, "web-hpa", "Deployment", "web", minR, maxR, current)
	}
	for _, tc := range []struct {
		name        string
		objs        []runtime.Object
		target      remediations.Target
		params      P
		wantErr     string
		wantChanges []string
		// wantReplicas is the workload's spec.replicas afterwards.
		wantReplicas string
		// wantHPAMin is web-hpa's minReplicas afterwards ("" = no HPA).
		wantHPAMin string
	}{
		{
			name: "deployment 2 → 4 by step 2", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(2)))},
			target: fkTarget("Deployment", "web"), params: P{"step": 2, "max_replicas": 10},
			wantChanges: []string{"Deployment shop/web spec.replicas 2 → 4"}, wantReplicas: "4",
		},
		{
			name: "capped by max_replicas", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(2)))},
			target: fkTarget("Deployment", "web"), params: P{"step": 5, "max_replicas": 3},
			wantChanges: []string{"Deployment shop/web spec.replicas 2 → 3"}, wantReplicas: "3",
		},
		{
			name: "factor rounds up", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(3)))},
			target: fkTarget("Deployment", "web"), params: P{"factor": 1.5},
			wantChanges: []string{"Deployment shop/web spec.replicas 3 → 5"}, wantReplicas: "5",
		},
		{
			name: "absolute count", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(2)))},
			target: fkTarget("Deployment", "web"), params: P{"replicas": 6},
			wantChanges: []string{"Deployment shop/web spec.replicas 2 → 6"}, wantReplicas: "6",
		},
		{
			name: "unset replicas count as 1", objs: []runtime.Object{fkDeployment(fkNS, "web", nil)},
			target: fkTarget("Deployment", "web"), params: P{"step": 1},
			wantChanges: []string{"Deployment shop/web spec.replicas 1 → 2"}, wantReplicas: "2",
		},
		{
			name: "already at the absolute count: no change", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(4)))},
			target: fkTarget("Deployment", "web"), params: P{"replicas": 4}, wantReplicas: "4",
		},
		{
			name: "already at max_replicas: no change", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(4)))},
			target: fkTarget("Deployment", "web"), params: P{"step": 2, "max_replicas": 4}, wantReplicas: "4",
		},
		{
			name: "scale down never below 1", objs: []runtime.Object{fkDeployment(fkNS, "web", new(int32(2)))},
			target: fkTarget("Deployment", "web"), params: P{"step": -5},
			wantChanges: []string{"Deployment shop/web spec.replicas 2 → 1"}, wantReplicas: "1",
		},
		{
			name: "statefulset", objs: []runtime.Object{fkStatefulSet(fkNS, "kafka", 3)},
			target: fkTarget("StatefulSet", "kafka"), params: P{"step": 2},
			wantChanges: []string{"StatefulSet shop/kafka spec.replicas 3 → 5"}, wantReplicas: "5",
		},
		{
			name:   "HPA: its minReplicas is raised, not the deployment",
			objs:   []runtime.Object{fkDeployment(fkNS, "web", new(int32(3))), hpa(new(int32(2)), 10, 3)},
			target: fkTarget("Deployment", "web"), params: P{"step": 2},
			wantChanges:  []string{"horizontalpodautoscaler shop/web-hpa spec.minReplicas 2 → 5 (it scales Deployment web; max 10)"},
			wantReplicas: "3", wantHPAMin: "5",
		},
		{
			name:   "HPA: raised at most to its maxReplicas",
			objs:   []runtime.Object{fkDeployment(fkNS, "web", new(int32(3))), hpa(new(int32(2)), 6, 3)},
			target: fkTarget("Deployment", "web"), params: P{"step": 10, "max_replicas": 20},
			wantChanges:  []string{"horizontalpodautoscaler shop/web-hpa spec.minReplicas 2 → 6 (it scales Deployment web; max 6)"},
			wantReplicas: "3", wantHPAMin: "6",
		},
		{
			name:   "HPA without minReplicas counts from 1",
			objs:   []runtime.Object{fkDeployment(fkNS, "web", new(int32(1))), hpa(nil, 8, 0)},
			target: fkTarget("Deployment", "web"), params: P{"step": 2},
			wantChanges:  []string{"horizontalpodautoscaler shop/web-hpa spec.minReplicas 1 → 3 (it scales Deployment web; max 8)"},
			wantReplicas: "1", wantHPAMin: "3",
		},
		{
			name:   "HPA already at its maximum: no change",
			objs:   []runtime.Object{fkDeployment(fkNS, "web", new(int32(5))), hpa(new(int32(5)), 5, 5)},
			target: fkTarget("Deployment", "web"), params: P{"step": 2},
			wantReplicas: "5", wantHPAMin: "5",
		},
		{
			name:   "HPA floor never lowered",
			objs:   []runtime.Object{fkDeployment(fkNS, "web", new(int32(4))), hpa(new(int32(4)), 10, 4)},
			target: fkTarget("Deployment", "web"), params: P{"replicas": 2},
			wantReplicas: "4", wantHPAMin: "4",
		},
		{
			name:   "hpa=refuse",
			objs:   []runtime.Object{fkDeployment(fkNS, "web", new(int32(3))), hpa(new(int32(2)), 10, 3)},
			target: fkTarget("Deployment", "web"), params: P{"step": 2, "hpa": "refuse"},
			wantErr:      "Deployment shop/web is scaled by horizontalpodautoscaler web-hpa (min 2, max 10) and hpa=refuse",
			wantReplicas: "3", wantHPAMin: "2",
		},
		{
			name: "an HPA of another workload is not this one's",
			objs: []runtime.Object{
				fkDeployment(fkNS, "web", new(int32(2))), fkDeployment(fkNS, "other", new(int32(2))),
				fkHPA(fkNS, "other-hpa", "Deployment", "other", new(int32(2)), 10, 2),
				fkHPA(fkNS, "web-sts-hpa", "StatefulSet", "web", new(int32(2)), 10, 2),
			},
			target: fkTarget("Deployment", "web"), params: P{"step": 1},
			wantChanges: []string{"Deployment shop/web spec.replicas 2 → 3"}, wantReplicas: "3",
		},
		{
			name: "missing deployment", objs: nil,
			target: fkTarget("Deployment", "web"), params: P{"step": 1},
			wantErr: `getting deployment shop/web: deployments.apps "web" not found (the object does not exist)`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(append([]runtime.Object{fkNamespace(fkNS, nil)}, tc.objs...)...)
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.Scale, tc.target, tc.params)
			fkCheckResolution(t, cs, k8s.Scale, res, err, tc.wantErr, tc.wantChanges, fkNS)
			if len(tc.wantChanges) == 0 {
				if w := fkWrites(cs); len(w) != 0 {
					t.Errorf("nothing to change, yet wrote %q", w)
				}
			}
			if tc.wantReplicas != "" {
				var got *int32
				if tc.target.Kind == "StatefulSet" {
					got = fkGetStatefulSet(t, cs, fkNS, tc.target.Name).Spec.Replicas
				} else {
					got = fkGetDeployment(t, cs, fkNS, tc.target.Name).Spec.Replicas
				}
				if fkReplicas(got) != tc.wantReplicas {
					t.Errorf("spec.replicas = %s, want %s", fkReplicas(got), tc.wantReplicas)
				}
			}
			if tc.wantHPAMin != "" {
				if got := fkGetHPA(t, cs, fkNS, "web-hpa").Spec.MinReplicas; fkReplicas(got) != tc.wantHPAMin {
					t.Errorf("HPA minReplicas = %s, want %s", fkReplicas(got), tc.wantHPAMin)
				}
			}
		})
	}
}

// The scale is written through the subresource with the field manager, and
// nothing else about the Deployment is written.
func TestScaleWritesTheScaleSubresource(t *testing.T) {
	cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(2))))
	if _, err := fkExecutor(cs).Execute(fkCtx(t), k8s.Scale, fkTarget("Deployment", "web"), P{"step": 2}); err != nil {
		t.Fatal(err)
	}
	want := []string{"update deployments/scale shop/web", fmt.Sprintf("create events shop/web.%x", fkBase.UnixNano())}
	if got := fkWrites(cs); !slices.Equal(got, want) {
		t.Errorf("writes %q, want %q", got, want)
	}
	for _, a := range cs.Actions() {
		if u, ok := a.(k8stesting.UpdateActionImpl); ok {
			if u.UpdateOptions.FieldManager != k8s.FieldManager || len(u.UpdateOptions.DryRun) != 0 {
				t.Errorf("update options %+v, want field manager %q and no dry run", u.UpdateOptions, k8s.FieldManager)
			}
		}
	}
}

func TestScaleRetriesAConflict(t *testing.T) {
	for _, tc := range []struct {
		name, resource, subresource string
		objs                        []runtime.Object
		wantChange                  string
		check                       func(t *testing.T, cs *fake.Clientset)
	}{
		{
			name: "scale subresource", resource: "deployments", subresource: "scale",
			objs:       []runtime.Object{fkDeployment(fkNS, "web", new(int32(2)))},
			wantChange: "Deployment shop/web spec.replicas 2 → 4",
			check: func(t *testing.T, cs *fake.Clientset) {
				if got := fkGetDeployment(t, cs, fkNS, "web").Spec.Replicas; fkReplicas(got) != "4" {
					t.Errorf("spec.replicas = %s, want 4", fkReplicas(got))
				}
			},
		},
		{
			name: "HPA", resource: "horizontalpodautoscalers",
			objs:       []runtime.Object{fkDeployment(fkNS, "web", new(int32(2))), fkHPA(fkNS, "web-hpa", "Deployment", "web", new(int32(2)), 10, 2)},
			wantChange: "horizontalpodautoscaler shop/web-hpa spec.minReplicas 2 → 4 (it scales Deployment web; max 10)",
			check: func(t *testing.T, cs *fake.Clientset) {
				if got := fkGetHPA(t, cs, fkNS, "web-hpa").Spec.MinReplicas; fkReplicas(got) != "4" {
					t.Errorf("HPA minReplicas = %s, want 4", fkReplicas(got))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(append([]runtime.Object{fkNamespace(fkNS, nil)}, tc.objs...)...)
			conflicts := fkConflictOnce(cs, tc.resource, tc.subresource)
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.Scale, fkTarget("Deployment", "web"), P{"step": 2})
			fkCheckResolution(t, cs, k8s.Scale, res, err, "", []string{tc.wantChange}, fkNS)
			if conflicts() != 1 {
				t.Fatalf("%d conflicts injected, want 1", conflicts())
			}
			updates := 0
			for _, a := range cs.Actions() {
				if a.GetVerb() == "update" && a.GetResource().Resource == tc.resource && a.GetSubresource() == tc.subresource {
					updates++
				}
			}
			if updates != 2 {
				t.Errorf("%d updates of %s, want 2 (the conflicting one and its retry)", updates, tc.resource)
			}
			tc.check(t, cs)
		})
	}
}

// Every resolution refuses a target whose object or namespace is annotated
// remediator.io/disabled=true, before writing anything.
func TestDisabledTargetsAreNotTouched(t *testing.T) {
	for _, tc := range []struct {
		action remediations.Action
		target remediations.Target
		params P
	}{
		{k8s.Scale, fkTarget("Deployment", "web"), P{"step": 1}},
		{k8s.Scale, fkTarget("StatefulSet", "db"), P{"step": 1}},
		{k8s.SetResources, fkTarget("Deployment", "web"), P{"resource": "cpu", "value": "2"}},
		{k8s.SetResources, fkTarget("StatefulSet", "db"), P{"resource": "cpu", "value": "2"}},
		{k8s.RolloutRestart, fkTarget("Deployment", "web"), P{}},
		{k8s.SetEnv, fkTarget("Deployment", "web"), P{"name": "X", "value": "1"}},
		{k8s.DeletePod, remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-c"}, P{}},
		{k8s.DeletePods, fkTarget("Deployment", "web"), P{"selector": "app=web"}},
		{k8s.RolloutUndo, fkTarget("Deployment", "web"), P{}},
		{k8s.ScaleNamespace, remediations.Target{Kind: "Namespace", Name: fkNS}, P{"replicas": 1}},
		{k8s.RestoreNamespace, remediations.Target{Kind: "Namespace", Name: fkNS}, P{}},
	} {
		for _, where := range []string{"object", "namespace"} {
			if where == "object" && tc.target.Kind == "Namespace" {
				continue // the namespace is the object
			}
			t.Run(tc.action.Spec().Name+" "+tc.target.Kind+" disabled on its "+where, func(t *testing.T) {
				db := fkStatefulSet(fkNS, "db", 2)
				web, objs := fkShop(db)
				web.Annotations[k8s.PreviousReplicasAnnotation] = "3" // restore_namespace would have work
				if where == "namespace" {
					objs[0].(*corev1.Namespace).Annotations = fkDisabled()
				} else {
					web.Annotations[k8s.DisabledAnnotation] = "true"
					db.Annotations = fkDisabled()
				}
				cs := fkClient(objs...)
				res, err := fkExecutor(cs).Execute(fkCtx(t), tc.action, tc.target, tc.params)
				if !errors.Is(err, k8s.ErrDisabled) {
					t.Fatalf("error %v, want one wrapping ErrDisabled", err)
				}
				if !strings.Contains(err.Error(), "remediator.io/disabled=true") {
					t.Errorf("error %q does not name the annotation", err)
				}
				if w := fkWrites(cs); len(w) != 0 {
					t.Errorf("wrote %q to a disabled target", w)
				}
				if len(res.Changes) != 0 {
					t.Errorf("changes %q", res.Changes)
				}
			})
		}
	}
}

// The Event of a change: what, why, on which object, by whom, when.
func TestEventOfAChange(t *testing.T) {
	cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(2))))
	e := fkExecutor(cs)
	if _, err := e.Execute(fkCtx(t), k8s.Scale, fkTarget("Deployment", "web"), P{"step": 2}); err != nil {
		t.Fatal(err)
	}
	evs := fkEvents(t, cs, fkNS)
	if len(evs) != 1 {
		t.Fatalf("%d Events, want 1", len(evs))
	}
	ev := evs[0]
	want := eventsv1.Event{
		Reason: "RemediationScale", Action: "Scale", Type: "Normal",
		Note:                "kubernetes.scale: " + fkCause + ": Deployment shop/web spec.replicas 2 → 4",
		ReportingController: "remediator.io/remediator", ReportingInstance: "remediator-test-0",
		Regarding: corev1.ObjectReference{Kind: "Deployment", APIVersion: "apps/v1", Namespace: fkNS, Name: "web", UID: "uid-web", ResourceVersion: "7"},
	}
	if ev.Reason != want.Reason || ev.Action != want.Action || ev.Type != want.Type || ev.Note != want.Note ||
		ev.ReportingController != want.ReportingController || ev.ReportingInstance != want.ReportingInstance || ev.Regarding != want.Regarding {
		t.Errorf("Event\n  %+v\nwant\n  %+v", ev, want)
	}
	if !ev.EventTime.Time.Equal(fkBase) {
		t.Errorf("eventTime %v, want the injected clock's %v", ev.EventTime, fkBase)
	}
	if !strings.HasPrefix(ev.Name, "web.") || ev.Namespace != fkNS {
		t.Errorf("Event %s/%s", ev.Namespace, ev.Name)
	}
	for _, a := range cs.Actions() {
		if c, ok := a.(k8stesting.CreateActionImpl); ok && a.GetResource() == fkEventsGVR {
			if c.CreateOptions.FieldManager != k8s.FieldManager {
				t.Errorf("Event created with field manager %q", c.CreateOptions.FieldManager)
			}
		}
	}
}

// Without a cause the note is the action and the change; an overlong note is
// cut to the API's 1 kB, on a rune boundary.
func TestEventNote(t *testing.T) {
	for _, tc := range []struct {
		name, cause string
		want        func(note string) bool
	}{
		{"no cause", "", func(n string) bool { return n == "kubernetes.scale: Deployment shop/web spec.replicas 2 → 4" }},
		{"long cause", strings.Repeat("é", 600), func(n string) bool {
			return len(n) <= 1024 && strings.HasSuffix(n, "é…") && strings.HasPrefix(n, "kubernetes.scale: éé")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(2))))
			ctx := t.Context()
			if tc.cause != "" {
				ctx = remediations.WithCause(ctx, tc.cause)
			}
			if _, err := fkExecutor(cs).Execute(ctx, k8s.Scale, fkTarget("Deployment", "web"), P{"step": 2}); err != nil {
				t.Fatal(err)
			}
			evs := fkEvents(t, cs, fkNS)
			if len(evs) != 1 {
				t.Fatalf("%d Events, want 1", len(evs))
			}
			if !tc.want(evs[0].Note) {
				t.Errorf("note (%d bytes) %q", len(evs[0].Note), evs[0].Note)
			}
		})
	}
}

// An Event that cannot be written does not fail a change that was made; it
// is logged.
func TestEventFailureIsLoggedNotReturned(t *testing.T) {
	cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(2))))
	cs.PrependReactor("create", "events", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "events.k8s.io", Resource: "events"}, "", errors.New("no"))
	})
	var log bytes.Buffer
	e := fkExecutor(cs, func(o *k8s.Options) { o.Log = slog.New(slog.NewTextHandler(&log, nil)) })
	res, err := e.Execute(fkCtx(t), k8s.Scale, fkTarget("Deployment", "web"), P{"step": 2})
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if want := []string{"Deployment shop/web spec.replicas 2 → 4"}; !slices.Equal(res.Changes, want) {
		t.Errorf("changes %q, want %q", res.Changes, want)
	}
	if !strings.Contains(log.String(), "recording the Kubernetes Event failed") || !strings.Contains(log.String(), "forbidden") {
		t.Errorf("log %q does not report the failed Event", log.String())
	}
}

func TestSetResources(t *testing.T) {
	api := func() *appsv1.Deployment {
		return fkDeployment(fkNS, "api", new(int32(2)), func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = []corev1.Container{
				{Name: "app", Resources: fkResources("500m", "1", "256Mi", "512Mi")},
				{Name: "sidecar", Resources: fkResources("100m", "200m", "", "")},
				{Name: "bare"},
			}
		})
	}
	target := fkTarget("Deployment", "api")
	withContainer := target
	withContainer.Container = "sidecar"
	for _, tc := range []struct {
		name        string
		target      remediations.Target
		params      P
		wantErr     string
		wantChanges []string
		// want are the containers' resources afterwards, as
		// "container: cpu req/lim, memory req/lim".
		want []string
	}{
		{
			name: "cpu by factor, first container", target: target, params: P{"resource": "cpu", "factor": 1.5},
			wantChanges: []string{
				"Deployment shop/api container app limits.cpu 1 → 1500m",
				"Deployment shop/api container app requests.cpu 500m → 750m",
			},
			want: []string{"app: 750m/1500m 256Mi/512Mi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "memory by factor, rounded to Mi", target: target, params: P{"resource": "memory", "factor": 1.3},
			wantChanges: []string{
				"Deployment shop/api container app limits.memory 512Mi → 666Mi",
				"Deployment shop/api container app requests.memory 256Mi → 333Mi",
			},
			want: []string{"app: 500m/1 333Mi/666Mi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "memory to a value", target: target, params: P{"resource": "memory", "value": "1Gi"},
			wantChanges: []string{"Deployment shop/api container app limits.memory 512Mi → 1Gi"},
			want:        []string{"app: 500m/1 256Mi/1Gi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "capped by max", target: target, params: P{"resource": "cpu", "factor": 2, "max": "1200m"},
			wantChanges: []string{
				"Deployment shop/api container app limits.cpu 1 → 1200m",
				"Deployment shop/api container app requests.cpu 500m → 1",
			},
			want: []string{"app: 1/1200m 256Mi/512Mi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "value capped by max", target: target, params: P{"resource": "memory", "value": "4Gi", "max": "768Mi"},
			wantChanges: []string{"Deployment shop/api container app limits.memory 512Mi → 768Mi"},
			want:        []string{"app: 500m/1 256Mi/768Mi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "container by param", target: target, params: P{"resource": "cpu", "factor": 2, "container": "sidecar"},
			wantChanges: []string{
				"Deployment shop/api container sidecar limits.cpu 200m → 400m",
				"Deployment shop/api container sidecar requests.cpu 100m → 200m",
			},
			want: []string{"app: 500m/1 256Mi/512Mi", "sidecar: 200m/400m -/-", "bare: -/- -/-"},
		},
		{
			name: "container of the target", target: withContainer, params: P{"resource": "cpu", "factor": 2},
			wantChanges: []string{
				"Deployment shop/api container sidecar limits.cpu 200m → 400m",
				"Deployment shop/api container sidecar requests.cpu 100m → 200m",
			},
			want: []string{"app: 500m/1 256Mi/512Mi", "sidecar: 200m/400m -/-", "bare: -/- -/-"},
		},
		{
			name: "param wins over the target's container", target: withContainer, params: P{"resource": "memory", "value": "1Gi", "container": "app"},
			wantChanges: []string{"Deployment shop/api container app limits.memory 512Mi → 1Gi"},
			want:        []string{"app: 500m/1 256Mi/1Gi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "value on a container without resources", target: target, params: P{"resource": "memory", "value": "1Gi", "container": "bare"},
			wantChanges: []string{"Deployment shop/api container bare limits.memory (unset) → 1Gi"},
			want:        []string{"app: 500m/1 256Mi/512Mi", "sidecar: 100m/200m -/-", "bare: -/- -/1Gi"},
		},
		{
			name: "value below the limit: no change", target: target, params: P{"resource": "memory", "value": "256Mi"},
			want: []string{"app: 500m/1 256Mi/512Mi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "max below the limit: the limit stays, the request rises to max", target: target, params: P{"resource": "cpu", "factor": 2, "max": "800m"},
			wantChanges: []string{"Deployment shop/api container app requests.cpu 500m → 800m"},
			want:        []string{"app: 800m/1 256Mi/512Mi", "sidecar: 100m/200m -/-", "bare: -/- -/-"},
		},
		{
			name: "unknown container", target: target, params: P{"resource": "cpu", "factor": 2, "container": "nope"},
			wantErr: `Deployment shop/api: no container "nope" in the pod template (containers: [app sidecar bare])`,
		},
		{
			name: "unknown container of the target", target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "api", Container: "gone"},
			params: P{"resource": "cpu", "factor": 2}, wantErr: `no container "gone" in the pod template`,
		},
		{
			name: "factor with no request or limit", target: target, params: P{"resource": "cpu", "factor": 2, "container": "bare"},
			wantErr: "Deployment shop/api container bare: has no cpu request or limit to multiply (use value)",
		},
		{
			name: "invalid value", target: target, params: P{"resource": "cpu", "value": "lots"},
			wantErr: `value "lots": `,
		},
		{
			name: "invalid max", target: target, params: P{"resource": "cpu", "factor": 2, "max": "2 cores"},
			wantErr: `max "2 cores": `,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(fkNamespace(fkNS, nil), api())
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.SetResources, tc.target, tc.params)
			fkCheckResolution(t, cs, k8s.SetResources, res, err, tc.wantErr, tc.wantChanges, fkNS)
			if len(tc.wantChanges) == 0 {
				if w := fkWrites(cs); len(w) != 0 {
					t.Errorf("nothing to change, yet wrote %q", w)
				}
			}
			if tc.want == nil {
				return
			}
			var got []string
			for _, c := range fkGetDeployment(t, cs, fkNS, "api").Spec.Template.Spec.Containers {
				got = append(got, c.Name+": "+fkQty(c.Resources.Requests, "cpu")+"/"+fkQty(c.Resources.Limits, "cpu")+" "+
					fkQty(c.Resources.Requests, "memory")+"/"+fkQty(c.Resources.Limits, "memory"))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("resources\n  %q\nwant\n  %q", got, tc.want)
			}
		})
	}
}

func fkQty(l corev1.ResourceList, name corev1.ResourceName) string {
	q, ok := l[name]
	if !ok {
		return "-"
	}
	return q.String()
}

func TestSetEnv(t *testing.T) {
	api := func() *appsv1.Deployment {
		return fkDeployment(fkNS, "api", new(int32(2)), func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers = []corev1.Container{
				{Name: "app", Env: []corev1.EnvVar{
					{Name: "POOL", Value: "50"},
					{Name: "DB_PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password",
					}}},
				}},
				{Name: "sidecar"},
			}
		})
	}
	for _, tc := range []struct {
		name        string
		target      remediations.Target
		params      P
		wantErr     string
		wantChanges []string
		// wantEnv is the env of container wantIn afterwards, NAME=value or
		// NAME<-ref.
		wantIn  string
		wantEnv []string
	}{
		{
			name: "add", target: fkTarget("Deployment", "api"), params: P{"name": "NEW", "value": "20"},
			wantChanges: []string{`Deployment shop/api container app env NEW (unset) → "20"`},
			wantIn:      "app", wantEnv: []string{"POOL=50", "DB_PASSWORD<-ref", "NEW=20"},
		},
		{
			name: "replace a value", target: fkTarget("Deployment", "api"), params: P{"name": "POOL", "value": "20"},
			wantChanges: []string{`Deployment shop/api container app env POOL "50" → "20"`},
			wantIn:      "app", wantEnv: []string{"POOL=20", "DB_PASSWORD<-ref"},
		},
		{
			name: "already set: idempotent", target: fkTarget("Deployment", "api"), params: P{"name": "POOL", "value": "50"},
			wantIn: "app", wantEnv: []string{"POOL=50", "DB_PASSWORD<-ref"},
		},
		{
			name: "replace a valueFrom", target: fkTarget("Deployment", "api"), params: P{"name": "DB_PASSWORD", "value": "x"},
			wantChanges: []string{`Deployment shop/api container app env DB_PASSWORD (from a reference) → "x"`},
			wantIn:      "app", wantEnv: []string{"POOL=50", "DB_PASSWORD=x"},
		},
		{
			name: "container by param", target: fkTarget("Deployment", "api"), params: P{"name": "POOL", "value": "50", "container": "sidecar"},
			wantChanges: []string{`Deployment shop/api container sidecar env POOL (unset) → "50"`},
			wantIn:      "sidecar", wantEnv: []string{"POOL=50"},
		},
		{
			name: "unknown container", target: fkTarget("Deployment", "api"), params: P{"name": "POOL", "value": "1", "container": "nope"},
			wantErr: `no container "nope" in the pod template (containers: [app sidecar])`,
		},
		{
			name: "statefulset", target: fkTarget("StatefulSet", "kafka"), params: P{"name": "HEAP", "value": "2g"},
			wantChanges: []string{`StatefulSet shop/kafka container app env HEAP (unset) → "2g"`},
			wantIn:      "app", wantEnv: []string{"HEAP=2g"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(fkNamespace(fkNS, nil), api(), fkStatefulSet(fkNS, "kafka", 3))
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.SetEnv, tc.target, tc.params)
			fkCheckResolution(t, cs, k8s.SetEnv, res, err, tc.wantErr, tc.wantChanges, fkNS)
			if len(tc.wantChanges) == 0 {
				if w := fkWrites(cs); len(w) != 0 {
					t.Errorf("nothing to change, yet wrote %q", w)
				}
			}
			if tc.wantIn == "" {
				return
			}
			var spec corev1.PodSpec
			if tc.target.Kind == "StatefulSet" {
				spec = fkGetStatefulSet(t, cs, fkNS, tc.target.Name).Spec.Template.Spec
			} else {
				spec = fkGetDeployment(t, cs, fkNS, tc.target.Name).Spec.Template.Spec
			}
			var got []string
			for _, c := range spec.Containers {
				if c.Name != tc.wantIn {
					continue
				}
				for _, e := range c.Env {
					if e.ValueFrom != nil {
						got = append(got, e.Name+"<-ref")
					} else {
						got = append(got, e.Name+"="+e.Value)
					}
				}
			}
			if !slices.Equal(got, tc.wantEnv) {
				t.Errorf("env of %s = %q, want %q", tc.wantIn, got, tc.wantEnv)
			}
		})
	}
}

// A write that conflicts is retried on a fresh read, and its change counted
// once.
func TestMutateWorkloadRetriesAConflict(t *testing.T) {
	cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(2))))
	conflicts := fkConflictOnce(cs, "deployments", "")
	res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.SetEnv, fkTarget("Deployment", "web"), P{"name": "POOL", "value": "20"})
	fkCheckResolution(t, cs, k8s.SetEnv, res, err, "", []string{`Deployment shop/web container app env POOL (unset) → "20"`}, fkNS)
	if conflicts() != 1 {
		t.Fatalf("%d conflicts injected, want 1", conflicts())
	}
	want := []string{"update deployments shop/web", "update deployments shop/web"}
	if got := fkWritesBesidesEvents(cs); !slices.Equal(got, want) {
		t.Errorf("writes %q, want %q", got, want)
	}
	d := fkGetDeployment(t, cs, fkNS, "web")
	if env := d.Spec.Template.Spec.Containers[0].Env; len(env) != 1 || env[0].Value != "20" {
		t.Errorf("env %+v", env)
	}
	for _, a := range cs.Actions() {
		if u, ok := a.(k8stesting.UpdateActionImpl); ok && u.UpdateOptions.FieldManager != k8s.FieldManager {
			t.Errorf("update with field manager %q, want %q", u.UpdateOptions.FieldManager, k8s.FieldManager)
		}
	}
}

func TestRolloutRestart(t *testing.T) {
	const now = "2026-05-04T10:00:00Z"
	for _, tc := range []struct {
		name       string
		workload   runtime.Object
		target     remediations.Target
		wantChange string
	}{
		{
			name: "deployment, first restart", workload: fkDeployment(fkNS, "web", new(int32(2))), target: fkTarget("Deployment", "web"),
			wantChange: "Deployment shop/web pod template annotation kubectl.kubernetes.io/restartedAt (unset) → " + now,
		},
		{
			name: "deployment restarted before",
			workload: fkDeployment(fkNS, "web", new(int32(2)), func(d *appsv1.Deployment) {
				d.Spec.Template.Annotations = map[string]string{k8s.RestartedAtAnnotation: "2026-05-01T08:00:00Z", "keep": "me"}
			}),
			target:     fkTarget("Deployment", "web"),
			wantChange: "Deployment shop/web pod template annotation kubectl.kubernetes.io/restartedAt 2026-05-01T08:00:00Z → " + now,
		},
		{
			name: "statefulset", workload: fkStatefulSet(fkNS, "kafka", 3), target: fkTarget("StatefulSet", "kafka"),
			wantChange: "StatefulSet shop/kafka pod template annotation kubectl.kubernetes.io/restartedAt (unset) → " + now,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(fkNamespace(fkNS, nil), tc.workload)
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.RolloutRestart, tc.target, P{})
			fkCheckResolution(t, cs, k8s.RolloutRestart, res, err, "", []string{tc.wantChange}, fkNS)
			var annotations map[string]string
			if tc.target.Kind == "StatefulSet" {
				annotations = fkGetStatefulSet(t, cs, fkNS, tc.target.Name).Spec.Template.Annotations
			} else {
				annotations = fkGetDeployment(t, cs, fkNS, tc.target.Name).Spec.Template.Annotations
			}
			if annotations[k8s.RestartedAtAnnotation] != now {
				t.Errorf("template annotations %v, want restartedAt %s", annotations, now)
			}
			if tc.name == "deployment restarted before" && annotations["keep"] != "me" {
				t.Errorf("other template annotations lost: %v", annotations)
			}
		})
	}
}

func TestDeletePod(t *testing.T) {
	pdbRefuses := func(cs *fake.Clientset) {
		cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
			if a.GetSubresource() != "eviction" {
				return false, nil, nil
			}
			return true, nil, apierrors.NewTooManyRequests("Cannot evict pod as it would violate the pod's disruption budget.", 0)
		})
	}
	terminating := func() runtime.Object {
		_, objs := fkShop() // for web's ReplicaSet (its UID is fixed)
		p := fkPod("web-1-d", objs[2].(*appsv1.ReplicaSet), "ReplicaSet", true, 4)
		p.DeletionTimestamp = &metav1.Time{Time: fkBase}
		p.Finalizers = []string{"example.com/hold"}
		return p
	}
	web := remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a"}
	for _, tc := range []struct {
		name        string
		extra       []runtime.Object
		react       func(*fake.Clientset)
		target      remediations.Target
		params      P
		wantErr     string
		wantChanges []string
		wantNote    string
		// wantWrite is the pod write issued ("" none).
		wantWrite string
		// gone are the pods that no longer exist afterwards.
		gone []string
	}{
		{
			name: "the alert's pod", target: web, params: P{"min_ready": 1},
			wantChanges: []string{"pod shop/web-1-a (ready) deleted"}, wantWrite: "delete pods shop/web-1-a", gone: []string{"web-1-a"},
		},
		{
			name: "pod param wins over the alert's pod", target: web, params: P{"pod": "web-1-b"},
			wantChanges: []string{"pod shop/web-1-b (ready) deleted"}, wantWrite: "delete pods shop/web-1-b", gone: []string{"web-1-b"},
		},
		{
			name: "refused below min_ready", target: web, params: P{"min_ready": 2},
			wantErr: "deleting ready pod web-1-a would leave 1 ready pods of Deployment shop/web, below min_ready 2",
		},
		{
			name: "a not-ready pod may go whatever min_ready", target: web, params: P{"pod": "web-1-c", "min_ready": 5},
			wantChanges: []string{"pod shop/web-1-c (not ready) deleted"}, wantWrite: "delete pods shop/web-1-c", gone: []string{"web-1-c"},
		},
		{
			name: "a pod of another workload sharing the selector", target: web, params: P{"pod": "other-1-x"},
			wantErr: "pod shop/other-1-x is not one of Deployment shop/web's pods; refusing to delete it",
		},
		{
			name: "a bare pod", extra: []runtime.Object{fkPod("bare", nil, "", true, 0)}, target: web, params: P{"pod": "bare"},
			wantErr: "pod shop/bare is not one of Deployment shop/web's pods",
		},
		{
			name: "already gone", target: web, params: P{"pod": "web-1-zzz"},
			wantNote: "pod already gone; nothing to delete",
		},
		{
			name: "already terminating", extra: []runtime.Object{terminating()}, target: web, params: P{"pod": "web-1-d"},
			wantNote: "pod is already terminating",
		},
		{
			name: "evicted", target: web, params: P{"evict": true, "min_ready": 1},
			wantChanges: []string{"pod shop/web-1-a (ready) evicted"}, wantWrite: "create pods/eviction shop/web-1-a",
		},
		{
			name: "eviction refused by a PodDisruptionBudget", react: pdbRefuses, target: web, params: P{"evict": true},
			wantErr: "evicting pod shop/web-1-a: refused by a PodDisruptionBudget", wantWrite: "create pods/eviction shop/web-1-a",
		},
		{
			name:   "statefulset pod",
			extra:  []runtime.Object{fkStatefulSet(fkNS, "db", 2)},
			target: remediations.Target{Kind: "StatefulSet", Namespace: fkNS, Name: "db", Pod: "db-0"}, params: P{"min_ready": 1},
			wantChanges: []string{"pod shop/db-0 (ready) deleted"}, wantWrite: "delete pods shop/db-0", gone: []string{"db-0"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, objs := fkShop(tc.extra...)
			for _, o := range tc.extra {
				if s, ok := o.(*appsv1.StatefulSet); ok {
					objs = append(objs, fkPod("db-0", s, "StatefulSet", true, 0), fkPod("db-1", s, "StatefulSet", true, 1))
				}
			}
			cs := fkClient(objs...)
			if tc.react != nil {
				tc.react(cs)
			}
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.DeletePod, tc.target, tc.params)
			fkCheckResolution(t, cs, k8s.DeletePod, res, err, tc.wantErr, tc.wantChanges, fkNS)
			var want []string
			if tc.wantWrite != "" {
				want = []string{tc.wantWrite}
			}
			if got := fkWritesBesidesEvents(cs); !slices.Equal(got, want) {
				t.Errorf("writes %q, want %q", got, want)
			}
			if tc.wantNote != "" {
				var ev struct{ Note string }
				fkEvidence(t, res.Evidence, &ev)
				if ev.Note != tc.wantNote {
					t.Errorf("evidence %v, want note %q", res.Evidence, tc.wantNote)
				}
			}
			for _, p := range []string{"web-1-a", "web-1-b", "web-1-c", "other-1-x"} {
				if gone := !fkPodExists(t, cs, fkNS, p); gone != slices.Contains(tc.gone, p) {
					t.Errorf("pod %s gone = %v", p, gone)
				}
			}
			// The pod removed is pinned to the UID that was checked.
			for _, a := range cs.Actions() {
				var opts *metav1.DeleteOptions
				var name string
				switch a := a.(type) {
				case k8stesting.DeleteActionImpl:
					opts, name = &a.DeleteOptions, a.Name
				case k8stesting.CreateActionImpl:
					if ev, ok := a.Object.(*policyv1.Eviction); ok {
						opts, name = ev.DeleteOptions, ev.Name
					}
				}
				if name == "" {
					continue
				}
				if opts == nil || opts.Preconditions == nil || opts.Preconditions.UID == nil || string(*opts.Preconditions.UID) != "uid-"+name {
					t.Errorf("removal of %s without a UID precondition: %+v", name, opts)
				}
				if len(opts.DryRun) != 0 {
					t.Errorf("removal of %s is a dry run", name)
				}
			}
		})
	}
}

func TestDeletePods(t *testing.T) {
	// The pods of batch's ReplicaSet, and pods its selector matches that
	// are not its own: another Deployment's (opted out) with the same
	// label must never be reached through the selector.
	batch := fkDeployment(fkNS, "batch", new(int32(4)))
	rs := fkReplicaSet(batch, "batch-rs", 1, "batch:v1")
	other := fkDeployment(fkNS, "other", new(int32(1)), func(d *appsv1.Deployment) { d.Annotations = fkDisabled() })
	otherRS := fkReplicaSet(other, "other-rs", 1, "other:v1")
	pod := func(name string, ready bool, minute int, mods ...func(*corev1.Pod)) *corev1.Pod {
		p := fkPod(name, rs, "ReplicaSet", ready, minute)
		p.Labels = map[string]string{"app": "batch"}
		for _, m := range mods {
			m(p)
		}
		return p
	}
	objs := func() []runtime.Object {
		foreign := fkPod("foreign", otherRS, "ReplicaSet", false, -3)
		foreign.Labels = map[string]string{"app": "batch"}
		return []runtime.Object{
			fkNamespace(fkNS, nil), batch, rs, other, otherRS, foreign,
			pod("old-ready", true, 0), pod("mid-notready", false, 1), pod("new-ready", true, 2), pod("late-notready", false, 3),
			pod("terminating", false, -1, func(p *corev1.Pod) {
				p.DeletionTimestamp, p.Finalizers = &metav1.Time{Time: fkBase}, []string{"example.com/hold"}
			}),
			pod("unrelated", false, -2, func(p *corev1.Pod) { p.Labels["app"] = "other" }),
		}
	}
	type evidence struct {
		Matched         int      `json:"matched"`
		Deleted         []string `json:"deleted"`
		KeptForMinReady []string `json:"keptForMinReady"`
	}
	for _, tc := range []struct {
		name         string
		params       P
		wantErr      string
		want         evidence
		wantDeleteOf []string
	}{
		{
			name:   "not-ready first, then oldest, at most max_pods",
			params: P{"selector": "app=batch", "max_pods": 3, "min_ready": 1},
			want:   evidence{Matched: 4, Deleted: []string{"mid-notready", "late-notready", "old-ready"}},
		},
		{
			name:   "all but min_ready",
			params: P{"selector": "app=batch", "min_ready": 1},
			want:   evidence{Matched: 4, Deleted: []string{"mid-notready", "late-notready", "old-ready"}, KeptForMinReady: []string{"new-ready"}},
		},
		{
			name:   "min_ready keeps every ready pod",
			params: P{"selector": "app=batch", "min_ready": 2},
			want:   evidence{Matched: 4, Deleted: []string{"mid-notready", "late-notready"}, KeptForMinReady: []string{"old-ready", "new-ready"}},
		},
		{
			name:   "max_pods 1",
			params: P{"selector": "app=batch", "max_pods": 1},
			want:   evidence{Matched: 4, Deleted: []string{"mid-notready"}},
		},
		{
			name:   "set-based selector",
			params: P{"selector": "app in (batch, other), app!=other"},
			want:   evidence{Matched: 4, Deleted: []string{"mid-notready", "late-notready", "old-ready", "new-ready"}},
		},
		{
			name:   "nothing matches",
			params: P{"selector": "app=none"},
			want:   evidence{Matched: 0},
		},
		{name: "empty selector", params: P{"selector": ""}, wantErr: "selector is required"},
		{name: "blank selector", params: P{"selector": "  "}, wantErr: "selector is required"},
		{name: "invalid selector", params: P{"selector": "app in ("}, wantErr: `selector "app in (": `},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(objs()...)
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.DeletePods, fkTarget("Deployment", "batch"), tc.params)
			var wantChanges []string
			for _, p := range tc.want.Deleted {
				state := "not ready"
				if strings.HasSuffix(p, "-ready") && !strings.HasSuffix(p, "notready") {
					state = "ready"
				}
				wantChanges = append(wantChanges, "pod shop/"+p+" ("+state+") deleted")
			}
			fkCheckResolution(t, cs, k8s.DeletePods, res, err, tc.wantErr, wantChanges, fkNS)
			var wantWrites []string
			for _, p := range tc.want.Deleted {
				wantWrites = append(wantWrites, "delete pods shop/"+p)
			}
			if got := fkWritesBesidesEvents(cs); !slices.Equal(got, wantWrites) {
				t.Errorf("writes %q, want %q", got, wantWrites)
			}
			if tc.wantErr != "" {
				return
			}
			var got evidence
			fkEvidence(t, res.Evidence, &got)
			if got.Matched != tc.want.Matched || !slices.Equal(got.Deleted, tc.want.Deleted) || !slices.Equal(got.KeptForMinReady, tc.want.KeptForMinReady) {
				t.Errorf("evidence %+v, want %+v", got, tc.want)
			}
			for _, p := range []string{"terminating", "unrelated", "foreign"} {
				if !fkPodExists(t, cs, fkNS, p) {
					t.Errorf("pod %s deleted", p)
				}
			}
		})
	}
}

func TestRolloutUndo(t *testing.T) {
	// web is at revision 3; its ReplicaSets are revisions 1, 2 and 3, plus
	// one not yet numbered; a ReplicaSet of another Deployment with the same
	// labels is at revision 4.
	fixture := func(current int, revs ...int) []runtime.Object {
		web := fkDeployment(fkNS, "web", new(int32(2)), func(d *appsv1.Deployment) {
			d.Annotations[k8s.RevisionAnnotation] = strconv.Itoa(current)
			d.Spec.Template.Spec.Containers[0].Image = "web:v" + strconv.Itoa(current)
		})
		objs := []runtime.Object{fkNamespace(fkNS, nil), web}
		for _, r := range revs {
			objs = append(objs, fkReplicaSet(web, "web-"+strconv.Itoa(r), r, "web:v"+strconv.Itoa(r)))
		}
		objs = append(objs, fkReplicaSet(web, "web-new", 0, "web:v9"))
		other := fkDeployment(fkNS, "other", new(int32(1)), func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels = map[string]string{"app": "web"} })
		foreign := fkReplicaSet(other, "other-4", 4, "other:v4")
		foreign.Labels["app"] = "web"
		return append(objs, other, foreign)
	}
	type evidence struct {
		FromRevision int64 `json:"fromRevision"`
		ToRevision   int64 `json:"toRevision"`
	}
	for _, tc := range []struct {
		name        string
		objs        []runtime.Object
		params      P
		wantErr     string
		wantChanges []string
		wantImage   string
		want        evidence
	}{
		{
			name: "to the previous revision", objs: fixture(3, 1, 2, 3), params: P{},
			wantChanges: []string{"Deployment shop/web pod template of revision 3 → that of revision 2 (images [web:v3] → [web:v2])"},
			wantImage:   "web:v2", want: evidence{3, 2},
		},
		{
			name: "revisions listed out of order", objs: fixture(3, 3, 1, 2), params: P{},
			wantChanges: []string{"Deployment shop/web pod template of revision 3 → that of revision 2 (images [web:v3] → [web:v2])"},
			wantImage:   "web:v2", want: evidence{3, 2},
		},
		{
			name: "to_revision 1", objs: fixture(3, 1, 2, 3), params: P{"to_revision": 1},
			wantChanges: []string{"Deployment shop/web pod template of revision 3 → that of revision 1 (images [web:v3] → [web:v1])"},
			wantImage:   "web:v1", want: evidence{3, 1},
		},
		{
			name: "previous revision missing: the one before", objs: fixture(3, 1, 3), params: P{},
			wantChanges: []string{"Deployment shop/web pod template of revision 3 → that of revision 1 (images [web:v3] → [web:v1])"},
			wantImage:   "web:v1", want: evidence{3, 1},
		},
		{
			name: "to the current revision: nothing to do", objs: fixture(3, 1, 2, 3), params: P{"to_revision": 3},
			wantImage: "web:v3", want: evidence{3, 3},
		},
		{
			name: "no previous revision", objs: fixture(1, 1), params: P{},
			wantErr: "Deployment shop/web has no previous revision to roll back to (current 1, revisions: [1])", wantImage: "web:v1",
		},
		{
			name: "another deployment's revision is not web's", objs: fixture(3, 1, 2, 3), params: P{"to_revision": 4},
			wantErr: "Deployment shop/web has no revision 4 (revisions: [1 2 3])", wantImage: "web:v3",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(tc.objs...)
			res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.RolloutUndo, fkTarget("Deployment", "web"), tc.params)
			fkCheckResolution(t, cs, k8s.RolloutUndo, res, err, tc.wantErr, tc.wantChanges, fkNS)
			if len(tc.wantChanges) == 0 {
				if w := fkWrites(cs); len(w) != 0 {
					t.Errorf("nothing to change, yet wrote %q", w)
				}
			}
			d := fkGetDeployment(t, cs, fkNS, "web")
			if img := d.Spec.Template.Spec.Containers[0].Image; img != tc.wantImage {
				t.Errorf("image %q, want %q", img, tc.wantImage)
			}
			if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
				t.Errorf("template labels %v carry the pod-template-hash", d.Spec.Template.Labels)
			}
			if d.Spec.Template.Labels["app"] != "web" {
				t.Errorf("template labels %v lost app=web", d.Spec.Template.Labels)
			}
			if tc.wantErr != "" {
				return
			}
			var got evidence
			fkEvidence(t, res.Evidence, &got)
			if got != tc.want {
				t.Errorf("evidence %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestRolloutHistory(t *testing.T) {
	web := fkDeployment(fkNS, "web", new(int32(2)), func(d *appsv1.Deployment) { d.Annotations[k8s.RevisionAnnotation] = "2" })
	other := fkDeployment(fkNS, "other", new(int32(1)), func(d *appsv1.Deployment) { d.Spec.Selector.MatchLabels = map[string]string{"app": "web"} })
	foreign := fkReplicaSet(other, "other-1", 1, "other:v1")
	foreign.Labels["app"] = "web"
	cs := fkClient(fkNamespace(fkNS, nil), web, other, foreign,
		fkReplicaSet(web, "web-b", 2, "web:v2"), fkReplicaSet(web, "web-a", 1, "web:v1"), fkReplicaSet(web, "web-x", 0, "web:v0"))
	res, err := fkExecutor(cs).Execute(t.Context(), k8s.RolloutHistory, fkTarget("Deployment", "web"), nil)
	if err != nil {
		t.Fatal(err)
	}
	type rev struct {
		Revision   int64    `json:"revision"`
		ReplicaSet string   `json:"replicaSet"`
		Images     []string `json:"images"`
		Replicas   int32    `json:"replicas"`
		Created    string   `json:"created"`
		Current    bool     `json:"current"`
	}
	var got struct {
		Deployment string `json:"deployment"`
		Revisions  []rev  `json:"revisions"`
	}
	fkEvidence(t, res.Evidence, &got)
	if got.Deployment != "web" || len(got.Revisions) != 2 {
		t.Fatalf("evidence %+v, want web's revisions 1 and 2", got)
	}
	want := []rev{
		{Revision: 1, ReplicaSet: "web-a", Images: []string{"web:v1"}, Replicas: 1, Created: "2026-05-04T10:01:00Z"},
		{Revision: 2, ReplicaSet: "web-b", Images: []string{"web:v2"}, Replicas: 2, Created: "2026-05-04T10:02:00Z", Current: true},
	}
	for i := range want {
		g, w := got.Revisions[i], want[i]
		if g.Revision != w.Revision || g.ReplicaSet != w.ReplicaSet || !slices.Equal(g.Images, w.Images) || g.Replicas != w.Replicas || g.Created != w.Created || g.Current != w.Current {
			t.Errorf("revision %d: %+v, want %+v", i, g, w)
		}
	}
	if w := fkWrites(cs); len(w) != 0 {
		t.Errorf("an investigation wrote %q", w)
	}
}

func TestScaleNamespaceAndRestore(t *testing.T) {
	const ns = "batch"
	dep := func(name string, replicas *int32, annotations map[string]string) *appsv1.Deployment {
		return fkDeployment(ns, name, replicas, func(d *appsv1.Deployment) {
			for k, v := range annotations {
				d.Annotations[k] = v
			}
		})
	}
	cs := fkClient(
		fkNamespace(ns, nil),
		dep("big", new(int32(5)), nil),
		dep("small", new(int32(1)), nil),
		dep("unset", nil, nil),
		dep("optout", new(int32(6)), fkDisabled()),
		dep("scaled", new(int32(4)), nil),
		fkHPA(ns, "scaled-hpa", "Deployment", "scaled", new(int32(2)), 10, 4),
		// Elsewhere: never touched.
		fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(5))),
	)
	e := fkExecutor(cs)
	nsTarget := remediations.Target{Kind: "Namespace", Namespace: ns, Name: ns}
	replicas := func() map[string]string {
		out := map[string]string{}
		for _, n := range []string{"big", "small", "unset", "optout", "scaled"} {
			d := fkGetDeployment(t, cs, ns, n)
			out[n] = fkReplicas(d.Spec.Replicas)
			if prev, ok := d.Annotations[k8s.PreviousReplicasAnnotation]; ok {
				out[n] += " (previous " + prev + ")"
			}
		}
		return out
	}
	type skipped struct {
		Deployments int               `json:"deployments"`
		Skipped     map[string]string `json:"skipped"`
	}
	wantSkipped := map[string]string{"optout": "remediator.io/disabled=true", "scaled": "scaled by horizontalpodautoscaler scaled-hpa"}
	steps := []struct {
		name        string
		action      remediations.Action
		params      P
		wantChanges []string
		want        map[string]string
	}{
		{
			name: "only_reduce caps at 2", action: k8s.ScaleNamespace, params: P{"replicas": 2, "only_reduce": true},
			wantChanges: []string{"Deployment batch/big spec.replicas 5 → 2 (previous count kept in remediator.io/previous-replicas)"},
			want:        map[string]string{"big": "2 (previous 5)", "small": "1", "unset": "<nil>", "optout": "6", "scaled": "4"},
		},
		{
			name: "second scale-down keeps the first previous count", action: k8s.ScaleNamespace, params: P{"replicas": 1},
			wantChanges: []string{"Deployment batch/big spec.replicas 2 → 1 (previous count kept in remediator.io/previous-replicas)"},
			want:        map[string]string{"big": "1 (previous 5)", "small": "1", "unset": "<nil>", "optout": "6", "scaled": "4"},
		},
		{
			name: "to zero: every deployment", action: k8s.ScaleNamespace, params: P{"replicas": 0, "allow_zero": true},
			wantChanges: []string{
				"Deployment batch/big spec.replicas 1 → 0 (previous count kept in remediator.io/previous-replicas)",
				"Deployment batch/small spec.replicas 1 → 0 (previous count kept in remediator.io/previous-replicas)",
				"Deployment batch/unset spec.replicas 1 → 0 (previous count kept in remediator.io/previous-replicas)",
			},
			want: map[string]string{"big": "0 (previous 5)", "small": "0 (previous 1)", "unset": "0 (previous 1)", "optout": "6", "scaled": "4"},
		},
		{
			name: "restore", action: k8s.RestoreNamespace, params: P{},
			wantChanges: []string{
				"Deployment batch/big spec.replicas 0 → 5 (restored from remediator.io/previous-replicas)",
				"Deployment batch/small spec.replicas 0 → 1 (restored from remediator.io/previous-replicas)",
				"Deployment batch/unset spec.replicas 0 → 1 (restored from remediator.io/previous-replicas)",
			},
			want: map[string]string{"big": "5", "small": "1", "unset": "1", "optout": "6", "scaled": "4"},
		},
		{
			name: "restore again: nothing to do", action: k8s.RestoreNamespace, params: P{},
			want: map[string]string{"big": "5", "small": "1", "unset": "1", "optout": "6", "scaled": "4"},
		},
	}
	for i, step := range steps {
		eventsBefore := len(fkEvents(t, cs, ""))
		res, err := e.Execute(fkCtx(t), step.action, nsTarget, step.params)
		if err != nil {
			t.Fatalf("step %d (%s): %v", i, step.name, err)
		}
		if !slices.Equal(res.Changes, step.wantChanges) {
			t.Errorf("step %d (%s): changes\n  %q\nwant\n  %q", i, step.name, res.Changes, step.wantChanges)
		}
		if got := replicas(); !maps.Equal(got, step.want) {
			t.Errorf("step %d (%s): replicas %v, want %v", i, step.name, got, step.want)
		}
		evs := fkEvents(t, cs, "")
		wantEvents := eventsBefore
		if len(step.wantChanges) > 0 {
			wantEvents++
		}
		if len(evs) != wantEvents {
			t.Fatalf("step %d (%s): %d Events, want %d", i, step.name, len(evs), wantEvents)
		}
		if len(step.wantChanges) > 0 {
			// An Event about the (cluster-scoped) Namespace lives in default.
			// The newest is this step's (the clock steps).
			ev := &evs[0]
			for j := range evs {
				if evs[j].EventTime.After(ev.EventTime.Time) {
					ev = &evs[j]
				}
			}
			if ev.Namespace != "default" || ev.Regarding.Kind != "Namespace" || ev.Regarding.Name != ns || ev.Regarding.Namespace != "" ||
				ev.Reason != k8s.EventReason(step.action.Spec().Name) || !strings.Contains(ev.Note, step.wantChanges[0]) {
				t.Errorf("step %d (%s): Event %+v", i, step.name, ev)
			}
		}
		if step.action == k8s.ScaleNamespace {
			var got skipped
			fkEvidence(t, res.Evidence, &got)
			if got.Deployments != 5 || !maps.Equal(got.Skipped, wantSkipped) {
				t.Errorf("step %d (%s): evidence %+v, want 5 deployments and skipped %v", i, step.name, got, wantSkipped)
			}
		}
	}
	if got := fkGetDeployment(t, cs, fkNS, "web").Spec.Replicas; fkReplicas(got) != "5" {
		t.Errorf("a deployment of another namespace was scaled to %s", fkReplicas(got))
	}
}

// scale_namespace scales up too, unless only_reduce.
func TestScaleNamespaceRaises(t *testing.T) {
	cs := fkClient(fkNamespace("batch", nil), fkDeployment("batch", "small", new(int32(1))))
	res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.ScaleNamespace, remediations.Target{Kind: "Namespace", Name: "batch"}, P{"replicas": 3})
	fkCheckResolution(t, cs, k8s.ScaleNamespace, res, err, "", []string{
		"Deployment batch/small spec.replicas 1 → 3 (previous count kept in remediator.io/previous-replicas)",
	}, "default")
}

func TestRestoreNamespaceInvalidAnnotation(t *testing.T) {
	cs := fkClient(fkNamespace("batch", nil),
		fkDeployment("batch", "bad", new(int32(1)), func(d *appsv1.Deployment) { d.Annotations[k8s.PreviousReplicasAnnotation] = "many" }),
		fkDeployment("batch", "good", new(int32(1)), func(d *appsv1.Deployment) { d.Annotations[k8s.PreviousReplicasAnnotation] = "3" }),
	)
	res, err := fkExecutor(cs).Execute(fkCtx(t), k8s.RestoreNamespace, remediations.Target{Kind: "Namespace", Name: "batch"}, P{})
	if err == nil || !strings.Contains(err.Error(), "remediator.io/previous-replicas holds no replica count on map[bad:many]; left as is") {
		t.Fatalf("error %v", err)
	}
	if want := []string{"Deployment batch/good spec.replicas 1 → 3 (restored from remediator.io/previous-replicas)"}; !slices.Equal(res.Changes, want) {
		t.Errorf("changes %q, want %q", res.Changes, want)
	}
	bad := fkGetDeployment(t, cs, "batch", "bad")
	if bad.Annotations[k8s.PreviousReplicasAnnotation] != "many" || fkReplicas(bad.Spec.Replicas) != "1" {
		t.Errorf("invalid annotation touched: %v, replicas %s", bad.Annotations, fkReplicas(bad.Spec.Replicas))
	}
	if got := fkWritesBesidesEvents(cs); !slices.Equal(got, []string{"update deployments batch/good"}) {
		t.Errorf("writes %q", got)
	}
}

// Preview runs the same code with dryRun=All on every write: the result is
// a dry run whose would-be changes are evidence, and no Event is recorded.
// (The fake's tracker does not honour dryRun, so what it stores afterwards
// says nothing; the options of the writes are what is checked.)
func TestPreview(t *testing.T) {
	for _, tc := range []struct {
		name       string
		action     remediations.Action
		target     remediations.Target
		params     P
		wantWrites []string
		wouldBe    string
	}{
		{
			name: "scale", action: k8s.Scale, target: fkTarget("Deployment", "web"), params: P{"step": 2},
			wantWrites: []string{"update deployments/scale shop/web"}, wouldBe: "Deployment shop/web spec.replicas 2 → 4",
		},
		{
			name: "scale through the HPA", action: k8s.Scale, target: fkTarget("Deployment", "api"), params: P{"step": 2},
			wantWrites: []string{"update horizontalpodautoscalers shop/api-hpa"}, wouldBe: "spec.minReplicas 2 → 4",
		},
		{
			name: "set_env", action: k8s.SetEnv, target: fkTarget("Deployment", "web"), params: P{"name": "POOL", "value": "2"},
			wantWrites: []string{"update deployments shop/web"}, wouldBe: `env POOL (unset) → "2"`,
		},
		{
			name: "delete_pod", action: k8s.DeletePod, target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-c"}, params: P{},
			wantWrites: []string{"delete pods shop/web-1-c"}, wouldBe: "pod shop/web-1-c (not ready) deleted",
		},
		{
			name: "delete_pod by eviction", action: k8s.DeletePod, target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-c"}, params: P{"evict": true},
			wantWrites: []string{"create pods/eviction shop/web-1-c"}, wouldBe: "pod shop/web-1-c (not ready) evicted",
		},
		{
			name: "scale_namespace", action: k8s.ScaleNamespace, target: remediations.Target{Kind: "Namespace", Name: fkNS}, params: P{"replicas": 1, "only_reduce": true},
			wantWrites: []string{"update deployments shop/web"}, wouldBe: "Deployment shop/web spec.replicas 2 → 1",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, objs := fkShop(fkDeployment(fkNS, "api", new(int32(2))), fkHPA(fkNS, "api-hpa", "Deployment", "api", new(int32(2)), 10, 2))
			cs := fkClient(objs...)
			res, err := fkExecutor(cs).Preview(fkCtx(t), tc.action, tc.target, tc.params)
			if err != nil {
				t.Fatalf("Preview: %v", err)
			}
			if !res.DryRun || len(res.Changes) != 0 {
				t.Errorf("Preview = DryRun %v, changes %q; want a dry run without changes", res.DryRun, res.Changes)
			}
			if res.Plan.Action != tc.action.Spec().Name || len(res.Plan.Calls) == 0 {
				t.Errorf("plan %+v", res.Plan)
			}
			var ev struct {
				WouldChange []string `json:"wouldChange"`
			}
			fkEvidence(t, res.Evidence, &ev)
			if len(ev.WouldChange) != 1 || !strings.Contains(ev.WouldChange[0], tc.wouldBe) {
				t.Errorf("evidence %+v, want wouldChange containing %q", res.Evidence, tc.wouldBe)
			}
			if got := fkWrites(cs); !slices.Equal(got, tc.wantWrites) {
				t.Errorf("writes %q, want %q (and no Event)", got, tc.wantWrites)
			}
			for _, a := range cs.Actions() {
				var dryRun []string
				switch a := a.(type) {
				case k8stesting.UpdateActionImpl:
					dryRun = a.UpdateOptions.DryRun
				case k8stesting.DeleteActionImpl:
					dryRun = a.DeleteOptions.DryRun
				case k8stesting.CreateActionImpl:
					if e, ok := a.Object.(*policyv1.Eviction); ok && e.DeleteOptions != nil {
						dryRun = e.DeleteOptions.DryRun
					} else {
						dryRun = a.CreateOptions.DryRun
					}
				default:
					continue
				}
				if !slices.Equal(dryRun, []string{metav1.DryRunAll}) {
					t.Errorf("%s %s/%s issued with dryRun %q, want [All]", a.GetVerb(), a.GetResource().Resource, a.GetSubresource(), dryRun)
				}
			}
		})
	}
}

// A preview of an action that would change nothing says so by its empty
// evidence, and previews of investigations are the investigations.
func TestPreviewWithoutChange(t *testing.T) {
	cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(4))))
	res, err := fkExecutor(cs).Preview(t.Context(), k8s.Scale, fkTarget("Deployment", "web"), P{"replicas": 4})
	if err != nil {
		t.Fatal(err)
	}
	if !res.DryRun || res.Changes != nil || res.Evidence != nil {
		t.Errorf("Preview = %+v, want a dry run with neither changes nor evidence", res)
	}
	if w := fkWrites(cs); len(w) != 0 {
		t.Errorf("wrote %q", w)
	}
	res, err = fkExecutor(cs).Preview(t.Context(), k8s.ConfigMapKeys, fkTarget("Deployment", "web"), nil)
	if err != nil || !res.DryRun {
		t.Fatalf("Preview(configmap_keys) = %+v, %v", res, err)
	}
	var ev struct{ Exists *bool }
	fkEvidence(t, res.Evidence, &ev)
	if ev.Exists == nil || *ev.Exists {
		t.Errorf("evidence %+v, want exists=false", res.Evidence)
	}
}

// API errors are explained: a Forbidden one points at the shipped RBAC,
// a NotFound one says the object does not exist; both stay API errors.
func TestAPIErrorsAreDescribed(t *testing.T) {
	for _, tc := range []struct {
		name  string
		react func(*fake.Clientset)
		want  string
		is    func(error) bool
	}{
		{
			name: "forbidden",
			react: func(cs *fake.Clientset) {
				cs.PrependReactor("get", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
					return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "web",
						errors.New(`User "system:serviceaccount:remediator:remediator" cannot get resource "deployments"`))
				})
			},
			want: "(the ServiceAccount's role lacks this verb: see deploy/kubernetes/rbac.yaml)",
			is:   apierrors.IsForbidden,
		},
		{
			name:  "not found",
			react: func(*fake.Clientset) {},
			want:  `deployments.apps "missing" not found (the object does not exist)`,
			is:    apierrors.IsNotFound,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(fkNamespace(fkNS, nil), fkDeployment(fkNS, "web", new(int32(2))))
			tc.react(cs)
			name := "web"
			if tc.name == "not found" {
				name = "missing"
			}
			_, err := fkExecutor(cs).Execute(t.Context(), k8s.SetEnv, fkTarget("Deployment", name), P{"name": "A", "value": "1"})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "kubernetes.set_env on Deployment shop/"+name+": ") {
				t.Errorf("error %q does not name the action and target", err)
			}
			if !tc.is(err) {
				t.Errorf("error %v no longer is the API error", err)
			}
		})
	}
}

func TestExecutorRefusesOtherActions(t *testing.T) {
	foreign := remediations.Define(remediations.Spec{
		Name: "postgres.kill_idle", Kind: remediations.Resolution, TargetKinds: []string{"Deployment"}, Example: P{},
	}, func(remediations.Target, *remediations.NoParams) ([]string, error) { return []string{"SELECT 1"}, nil })
	cs := fkClient(fkNamespace(fkNS, nil))
	_, err := fkExecutor(cs).Execute(t.Context(), foreign, fkTarget("Deployment", "web"), nil)
	if err == nil || err.Error() != "postgres.kill_idle is not a Kubernetes action" {
		t.Errorf("error %v", err)
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("%d API calls for a foreign action", n)
	}
	// An invalid plan fails before any call.
	_, err = fkExecutor(cs).Execute(t.Context(), k8s.Scale, fkTarget("Deployment", "web"), P{"step": 1, "replicas": 2})
	if err == nil || !strings.Contains(err.Error(), "exactly one of replicas, step or factor is required") {
		t.Errorf("error %v", err)
	}
	if n := len(cs.Actions()); n != 0 {
		t.Errorf("%d API calls for an invalid plan", n)
	}
}

func TestConfigured(t *testing.T) {
	e := fkExecutor(fkClient())
	for kind, want := range map[string]bool{"Deployment": true, "StatefulSet": true, "Namespace": true, "Pod": false, "PostgreSQL": false, "Redis": false} {
		if got := e.Configured(remediations.Target{Kind: kind}); got != want {
			t.Errorf("Configured(%s) = %v, want %v", kind, got, want)
		}
	}
}

func TestEventReason(t *testing.T) {
	for action, want := range map[string]string{
		"kubernetes.scale":             "RemediationScale",
		"kubernetes.rollout_undo":      "RemediationRolloutUndo",
		"kubernetes.scale_namespace":   "RemediationScaleNamespace",
		"kubernetes.restore_namespace": "RemediationRestoreNamespace",
		"kubernetes.delete_pods":       "RemediationDeletePods",
		"postgres.kill__idle_":         "RemediationKillIdle",
	} {
		if got := k8s.EventReason(action); got != want {
			t.Errorf("EventReason(%q) = %q, want %q", action, got, want)
		}
	}
	for _, a := range k8s.Actions() {
		if a.Spec().Kind != remediations.Resolution {
			continue
		}
		r := k8s.EventReason(a.Spec().Name)
		if len(r) > 128 || strings.ContainsAny(r, "._ ") || r == "Remediation" {
			t.Errorf("EventReason(%q) = %q is no valid CamelCase reason", a.Spec().Name, r)
		}
	}
}
