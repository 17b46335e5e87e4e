package kubernetes

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestDesiredReplicas(t *testing.T) {
	for _, tc := range []struct {
		name    string
		current int32
		p       ScaleParams
		want    int32
	}{
		{"step", 2, ScaleParams{Step: 2}, 4},
		{"step capped by max", 2, ScaleParams{Step: 5, MaxReplicas: 3}, 3},
		{"step at max", 3, ScaleParams{Step: 1, MaxReplicas: 3}, 3},
		{"negative step", 5, ScaleParams{Step: -2}, 3},
		{"negative step never below 1", 2, ScaleParams{Step: -5}, 1},
		{"negative step to zero with allow_zero", 2, ScaleParams{Step: -5, AllowZero: true}, 0},
		{"allow_zero does not override min_replicas", 5, ScaleParams{Step: -5, AllowZero: true, MinReplicas: 2}, 2},
		{"a step in never scales out to min_replicas", 2, ScaleParams{Step: -1, MinReplicas: 3}, 2},
		{"a step out above max_replicas never scales in", 8, ScaleParams{Step: 2, MaxReplicas: 5}, 8},
		{"a huge factor saturates at max_replicas", 10, ScaleParams{Factor: 1e18, MaxReplicas: 20}, 20},
		{"a huge factor without max saturates", 10, ScaleParams{Factor: 1e18}, math.MaxInt32},
		{"min_replicas raises a step", 1, ScaleParams{Step: 1, MinReplicas: 4}, 4},
		{"factor rounds up", 3, ScaleParams{Factor: 1.5}, 5},
		{"factor exact", 4, ScaleParams{Factor: 1.5}, 6},
		{"factor below 1 rounds up", 3, ScaleParams{Factor: 0.5}, 2},
		{"small factor never below 1", 3, ScaleParams{Factor: 0.1}, 1},
		{"factor of nothing is 1", 0, ScaleParams{Factor: 2}, 1},
		{"factor of nothing with allow_zero", 0, ScaleParams{Factor: 2, AllowZero: true}, 0},
		{"factor capped by max", 4, ScaleParams{Factor: 3, MaxReplicas: 10}, 10},
		{"absolute", 2, ScaleParams{Replicas: new(int32(7))}, 7},
		{"absolute capped by max", 2, ScaleParams{Replicas: new(int32(7)), MaxReplicas: 5}, 5},
		{"absolute zero without allow_zero", 2, ScaleParams{Replicas: new(int32(0))}, 1},
		{"absolute zero with allow_zero", 2, ScaleParams{Replicas: new(int32(0)), AllowZero: true}, 0},
		{"absolute below min_replicas", 2, ScaleParams{Replicas: new(int32(1)), MinReplicas: 2}, 2},
		{"absolute wins over step", 2, ScaleParams{Replicas: new(int32(3)), Step: 10}, 3},
		{"no overflow of a step", math.MaxInt32 - 1, ScaleParams{Step: 10}, math.MaxInt32},
		{"no overflow of a factor", math.MaxInt32 / 2, ScaleParams{Factor: 3}, math.MaxInt32},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := desiredReplicas(tc.current, &tc.p); got != tc.want {
				t.Errorf("desiredReplicas(%d, %+v) = %d, want %d", tc.current, tc.p, got, tc.want)
			}
		})
	}
}

func TestMultiply(t *testing.T) {
	for _, tc := range []struct {
		name corev1.ResourceName
		q    string
		f    float64
		want string
	}{
		{corev1.ResourceCPU, "1", 1.5, "1500m"},
		{corev1.ResourceCPU, "500m", 1.5, "750m"},
		{corev1.ResourceCPU, "333m", 1.5, "500m"}, // 499.5 rounded up
		{corev1.ResourceCPU, "1m", 1.1, "2m"},     // whole millicores, up
		{corev1.ResourceCPU, "500m", 2, "1"},
		{corev1.ResourceCPU, "2", 1.25, "2500m"},
		{corev1.ResourceMemory, "512Mi", 1.5, "768Mi"},
		{corev1.ResourceMemory, "256Mi", 1.3, "333Mi"}, // 332.8 rounded up
		{corev1.ResourceMemory, "1Gi", 1.5, "1536Mi"},
		{corev1.ResourceMemory, "1Gi", 2, "2Gi"},
		{corev1.ResourceMemory, "1G", 1.5, "1431Mi"},   // 1.5e9 bytes is 1430.5Mi
		{corev1.ResourceMemory, "1000", 1.5, "1Mi"},    // never below a whole Mi
		{corev1.ResourceCPU, "100m", 1.1, "110m"},      // 110.00000000000001 is not 111
		{corev1.ResourceMemory, "100Mi", 1.1, "110Mi"}, // likewise
	} {
		t.Run(string(tc.name)+" "+tc.q, func(t *testing.T) {
			got := multiply(tc.name, resource.MustParse(tc.q), tc.f)
			if got.String() != tc.want {
				t.Errorf("multiply(%s, %s, %v) = %s, want %s", tc.name, tc.q, tc.f, got.String(), tc.want)
			}
		})
	}
}

func TestRaiseResources(t *testing.T) {
	q := func(s string) *resource.Quantity {
		if s == "" {
			return nil
		}
		v := resource.MustParse(s)
		return &v
	}
	str := func(q *resource.Quantity) string {
		if q == nil {
			return "-"
		}
		return q.String()
	}
	for _, tc := range []struct {
		name           string
		resource       corev1.ResourceName
		req, lim       string // "" unset
		factor         float64
		value, ceiling string
		wantReq        string // "-" left unset
		wantLim        string
		wantErr        string
	}{
		{name: "cpu factor both", resource: "cpu", req: "500m", lim: "1", factor: 1.5, wantReq: "750m", wantLim: "1500m"},
		{name: "cpu factor request only", resource: "cpu", req: "300m", factor: 1.5, wantReq: "450m", wantLim: "-"},
		{name: "cpu factor limit only", resource: "cpu", lim: "2", factor: 1.5, wantReq: "-", wantLim: "3"},
		{name: "memory factor rounded up to Mi", resource: "memory", req: "256Mi", lim: "512Mi", factor: 1.3, wantReq: "333Mi", wantLim: "666Mi"},
		{name: "factor capped by max", resource: "cpu", req: "500m", lim: "1", factor: 2, ceiling: "1500m", wantReq: "1", wantLim: "1500m"},
		{name: "factor capped: request kept ≤ limit", resource: "cpu", req: "1", lim: "1", factor: 2, ceiling: "1500m", wantReq: "1500m", wantLim: "1500m"},
		{name: "max below the limit: never lowered", resource: "cpu", req: "500m", lim: "2", factor: 2, ceiling: "1", wantReq: "1", wantLim: "2"},
		{name: "max below both: neither lowered", resource: "memory", req: "1Gi", lim: "2Gi", factor: 2, ceiling: "512Mi", wantReq: "1Gi", wantLim: "2Gi"},
		{name: "no request nor limit with factor", resource: "cpu", factor: 2, wantErr: "has no cpu request or limit to multiply (use value)"},
		{name: "no memory with factor", resource: "memory", factor: 2, wantErr: "has no memory request or limit to multiply (use value)"},
		{name: "value raises the limit", resource: "memory", req: "256Mi", lim: "512Mi", value: "1Gi", wantReq: "256Mi", wantLim: "1Gi"},
		{name: "value only raises", resource: "memory", req: "256Mi", lim: "2Gi", value: "1Gi", wantReq: "256Mi", wantLim: "2Gi"},
		{name: "value equal", resource: "cpu", req: "1", lim: "2", value: "2000m", wantReq: "1", wantLim: "2"},
		{name: "value capped by max", resource: "memory", lim: "512Mi", value: "4Gi", ceiling: "1Gi", wantReq: "-", wantLim: "1Gi"},
		{name: "value sets a missing limit", resource: "cpu", value: "2", wantReq: "-", wantLim: "2"},
		{name: "value keeps the request", resource: "cpu", req: "250m", value: "2", wantReq: "250m", wantLim: "2"},
		{name: "a new limit never lowers the request", resource: "memory", req: "2Gi", value: "1Gi", wantReq: "2Gi", wantLim: "2Gi"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var req, lim resource.Quantity
			if tc.req != "" {
				req = resource.MustParse(tc.req)
			}
			if tc.lim != "" {
				lim = resource.MustParse(tc.lim)
			}
			newReq, newLim, err := raiseResources(tc.resource, req, tc.req != "", lim, tc.lim != "", tc.factor, q(tc.value), q(tc.ceiling))
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if str(newReq) != tc.wantReq || str(newLim) != tc.wantLim {
				t.Errorf("request %s, limit %s; want %s, %s", str(newReq), str(newLim), tc.wantReq, tc.wantLim)
			}
			if newReq != nil && newLim != nil && newReq.Cmp(*newLim) > 0 {
				t.Errorf("request %s above limit %s", newReq, newLim)
			}
			// The inputs are never modified.
			if tc.req != "" {
				if orig := resource.MustParse(tc.req); req.String() != orig.String() {
					t.Errorf("request input changed to %s", req.String())
				}
			}
		})
	}
}

func TestDescribe(t *testing.T) {
	gr := schema.GroupResource{Group: "apps", Resource: "deployments"}
	plain := errors.New("boom")
	conflict := apierrors.NewConflict(gr, "web", errors.New("modified"))
	for _, tc := range []struct {
		name string
		err  error
		want string // substring; "" means returned as is
		is   func(error) bool
	}{
		{"forbidden", apierrors.NewForbidden(gr, "web", errors.New("no")), "(the ServiceAccount's role lacks this verb: see deploy/kubernetes/rbac.yaml)", apierrors.IsForbidden},
		{"wrapped forbidden", errors.Join(errors.New("getting deployment"), apierrors.NewForbidden(gr, "web", errors.New("no"))), "deploy/kubernetes/rbac.yaml", apierrors.IsForbidden},
		{"not found", apierrors.NewNotFound(gr, "web"), `deployments.apps "web" not found (the object does not exist)`, apierrors.IsNotFound},
		{"conflict", conflict, "", apierrors.IsConflict},
		{"other", plain, "", func(err error) bool { return err == plain }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := describe(tc.err)
			if tc.want == "" {
				if got != tc.err {
					t.Errorf("describe(%v) = %v, want it unchanged", tc.err, got)
				}
			} else if !strings.Contains(got.Error(), tc.want) || !strings.HasPrefix(got.Error(), tc.err.Error()) {
				t.Errorf("describe(%v) = %q, want the error and %q", tc.err, got, tc.want)
			}
			if !tc.is(got) {
				t.Errorf("describe(%v) = %v no longer is the original error", tc.err, got)
			}
		})
	}
	if describe(nil) != nil {
		t.Errorf("describe(nil) != nil")
	}
}

func TestPodReadyAndCountReady(t *testing.T) {
	pod := func(status corev1.ConditionStatus, terminating bool) corev1.Pod {
		p := corev1.Pod{}
		if status != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.ContainersReady, Status: corev1.ConditionTrue}, {Type: corev1.PodReady, Status: status}}
		}
		if terminating {
			p.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)}
		}
		return p
	}
	pods := []corev1.Pod{pod(corev1.ConditionTrue, false), pod(corev1.ConditionFalse, false), pod("", false), pod(corev1.ConditionUnknown, false), pod(corev1.ConditionTrue, true)}
	want := []bool{true, false, false, false, true}
	for i := range pods {
		if got := podReady(&pods[i]); got != want[i] {
			t.Errorf("podReady(pod %d) = %v, want %v", i, got, want[i])
		}
	}
	if got := countReady(pods); got != 1 {
		t.Errorf("countReady = %d, want 1 (a terminating pod does not count)", got)
	}
}
