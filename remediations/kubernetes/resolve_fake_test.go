package kubernetes_test

import (
	"reflect"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

func TestResolveTarget(t *testing.T) {
	// shop holds web (pods web-1-*), other, the StatefulSet db (pod db-0),
	// a bare pod, a Job's pod, a pod of a ReplicaSet no Deployment
	// controls, and an HPA scaling web; batch is an opted-out namespace.
	fixture := func() []runtime.Object {
		web, objs := fkShop()
		web.Annotations["owner"] = "team-web"
		db := fkStatefulSet(fkNS, "db", 3)
		bare := fkPod("bare", nil, "", true, 0)
		job := fkPod("backup-x", nil, "", false, 0)
		job.OwnerReferences = []metav1.OwnerReference{fkControllerRef("Job", "backup", "uid-backup")}
		loose := fkReplicaSet(web, "loose", 0, "loose:v1")
		loose.OwnerReferences = nil
		objs[0].(*corev1.Namespace).Annotations = map[string]string{"contact": "shop@example.com"}
		return append(objs,
			db, fkPod("db-0", db, "StatefulSet", true, 0), bare, job, loose, fkPod("loose-a", loose, "ReplicaSet", true, 0),
			fkHPA(fkNS, "web-hpa", "Deployment", "web", new(int32(2)), 10, 3),
			fkNamespace("batch", fkDisabled()),
			fkDeployment("batch", "nightly", nil, func(d *appsv1.Deployment) { d.Labels, d.Annotations = nil, nil }),
		)
	}
	shopAnnotations := map[string]string{"contact": "shop@example.com"}
	for _, tc := range []struct {
		name    string
		target  remediations.Target
		want    remediations.Target
		wantErr string
	}{
		{
			name:   "pod → ReplicaSet → Deployment",
			target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Pod: "web-1-a", Container: "app"},
			want: remediations.Target{
				Kind: "Deployment", Namespace: fkNS, Name: "web", Pod: "web-1-a", Container: "app",
				CurrentReplicas: new(int32(2)),
				Labels:          map[string]string{"app": "web"},
				Annotations:     map[string]string{k8s.RevisionAnnotation: "1", "owner": "team-web"},
				HPA: map[string]any{
					"name": "web-hpa", "minReplicas": 2, "maxReplicas": 10, "currentReplicas": 3, "desiredReplicas": 3,
				},
				NamespaceAnnotations: shopAnnotations,
			},
		},
		{
			name:   "pod → StatefulSet, whatever kind the alert guessed",
			target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Pod: "db-0"},
			want: remediations.Target{
				Kind: "StatefulSet", Namespace: fkNS, Name: "db", Pod: "db-0",
				CurrentReplicas: new(int32(3)), Labels: map[string]string{"app": "db"}, Annotations: map[string]string{},
				NamespaceAnnotations: shopAnnotations,
			},
		},
		{
			name:   "named workload: no HPA of its own",
			target: remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "other"},
			want: remediations.Target{
				Kind: "Deployment", Namespace: fkNS, Name: "other",
				CurrentReplicas: new(int32(1)), Labels: map[string]string{"app": "web"}, Annotations: map[string]string{},
				NamespaceAnnotations: shopAnnotations,
			},
		},
		{
			name:   "unset replicas, no labels, an opted-out namespace",
			target: remediations.Target{Kind: "Deployment", Namespace: "batch", Name: "nightly"},
			want: remediations.Target{
				Kind: "Deployment", Namespace: "batch", Name: "nightly",
				CurrentReplicas: new(int32(1)), Labels: map[string]string{}, Annotations: map[string]string{},
				NamespaceAnnotations: fkDisabled(),
			},
		},
		{
			name:   "namespace by name",
			target: remediations.Target{Kind: "Namespace", Name: "batch"},
			want: remediations.Target{
				Kind: "Namespace", Name: "batch", Labels: map[string]string{"team": "shop-team"},
				Annotations: fkDisabled(), NamespaceAnnotations: fkDisabled(),
			},
		},
		{
			name:   "namespace by namespace",
			target: remediations.Target{Kind: "Namespace", Namespace: fkNS},
			want: remediations.Target{
				Kind: "Namespace", Namespace: fkNS, Labels: map[string]string{"team": "shop-team"},
				Annotations: shopAnnotations, NamespaceAnnotations: shopAnnotations,
			},
		},
		{
			name:   "not a Kubernetes target: as is",
			target: remediations.Target{Kind: "PostgreSQL", Database: "orders"},
			want:   remediations.Target{Kind: "PostgreSQL", Database: "orders"},
		},
		{
			name:    "a bare pod",
			target:  remediations.Target{Kind: "Deployment", Namespace: fkNS, Pod: "bare"},
			wantErr: "pod shop/bare has no controller (a bare pod): no workload to act on",
		},
		{
			name:    "a Job's pod",
			target:  remediations.Target{Kind: "Deployment", Namespace: fkNS, Pod: "backup-x"},
			wantErr: "pod shop/backup-x is controlled by a Job (backup), not a Deployment or StatefulSet",
		},
		{
			name:    "a pod of a ReplicaSet without Deployment",
			target:  remediations.Target{Kind: "Deployment", Namespace: fkNS, Pod: "loose-a"},
			wantErr: "pod shop/loose-a belongs to replicaset loose, which no Deployment controls",
		},
		{
			name:    "a missing pod",
			target:  remediations.Target{Kind: "Deployment", Namespace: fkNS, Pod: "gone"},
			wantErr: `resolving pod shop/gone to its owner: pods "gone" not found`,
		},
		{
			name:    "a missing deployment",
			target:  remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "gone"},
			wantErr: `getting deployment shop/gone: deployments.apps "gone" not found`,
		},
		{
			name:    "a missing namespace",
			target:  remediations.Target{Kind: "Namespace", Name: "gone"},
			wantErr: `getting namespace gone: namespaces "gone" not found`,
		},
		{
			name:    "neither name nor pod",
			target:  remediations.Target{Kind: "StatefulSet", Namespace: fkNS},
			wantErr: "a StatefulSet target needs a namespace and a name or a pod",
		},
		{
			name:    "a pod without namespace",
			target:  remediations.Target{Kind: "Deployment", Pod: "web-1-a"},
			wantErr: "a Deployment target needs a namespace and a name or a pod",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fkClient(fixture()...)
			got, err := fkExecutor(cs).ResolveTarget(t.Context(), k8s.Scale, tc.target)
			checkErr(t, err, tc.wantErr)
			if w := fkWrites(cs); len(w) != 0 {
				t.Errorf("resolving wrote %q", w)
			}
			if tc.wantErr != "" {
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("ResolveTarget =\n  %+v (replicas %s)\nwant\n  %+v (replicas %s)", got, fkReplicas(got.CurrentReplicas), tc.want, fkReplicas(tc.want.CurrentReplicas))
			}
			if tc.target.Kind == "PostgreSQL" && len(cs.Actions()) != 0 {
				t.Errorf("%d API calls for a target that is not Kubernetes'", len(cs.Actions()))
			}
		})
	}
}

// The facts are copies: policy or a caller changing them changes nothing in
// the next resolution.
func TestResolveTargetCopiesFacts(t *testing.T) {
	_, objs := fkShop()
	cs := fkClient(objs...)
	e := fkExecutor(cs)
	target := remediations.Target{Kind: "Deployment", Namespace: fkNS, Name: "web"}
	first, err := e.ResolveTarget(t.Context(), k8s.Scale, target)
	if err != nil {
		t.Fatal(err)
	}
	first.Labels["app"] = "changed"
	first.Annotations[k8s.DisabledAnnotation] = "true"
	second, err := e.ResolveTarget(t.Context(), k8s.Scale, target)
	if err != nil {
		t.Fatal(err)
	}
	if second.Labels["app"] != "web" || second.Annotations[k8s.DisabledAnnotation] != "" || second.NamespaceAnnotations == nil {
		t.Errorf("second resolution %+v", second)
	}
	if strings.Contains(fkGetDeployment(t, cs, fkNS, "web").Labels["app"], "changed") {
		t.Errorf("the stored deployment changed")
	}
}
