package clustertest_test

import (
	"context"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/remediator/remediator/internal/k8stest"
	"github.com/remediator/remediator/remediations"
	k8s "github.com/remediator/remediator/remediations/kubernetes"
)

func target(ns, name string) remediations.Target {
	return remediations.Target{Kind: k8s.KindDeployment, Namespace: ns, Name: name}
}

func TestScaleThroughSubresource(t *testing.T) {
	ns := env.NewNamespace(t)
	deployment(t, ns, "web", 2, "example.invalid/web:v1")
	e := executor(env.Clientset())

	res := execute(t, e, k8s.Scale, target(ns, "web"), remediations.Params{"step": 2, "max_replicas": 3})
	if want := "Deployment " + ns + "/web spec.replicas 2 → 3"; len(res.Changes) != 1 || res.Changes[0] != want {
		t.Fatalf("changes %q, want [%q] (step 2 capped at max_replicas 3)", res.Changes, want)
	}
	d, err := env.Clientset().AppsV1().Deployments(ns).Get(context.Background(), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *d.Spec.Replicas != 3 {
		t.Fatalf("spec.replicas %d, want 3", *d.Spec.Replicas)
	}
	if !managedBy(d, k8s.FieldManager, "scale") {
		t.Errorf("managedFields %+v name no %q manager of the scale subresource", d.ManagedFields, k8s.FieldManager)
	}
	readyPods(t, ns, "app=web", 3)
	if notes := eventsFor(t, ns, "web", "RemediationScale"); len(notes) != 1 || !containsAll(notes[0], "spec.replicas 2 → 3", "clustertest") {
		t.Fatalf("events %q, want one RemediationScale saying what and why", notes)
	}

	// Again: already at the cap, nothing written, no second Event.
	res = execute(t, e, k8s.Scale, target(ns, "web"), remediations.Params{"step": 2, "max_replicas": 3})
	if len(res.Changes) != 0 {
		t.Fatalf("changes %q, want none at the cap", res.Changes)
	}
	if notes := eventsFor(t, ns, "web", "RemediationScale"); len(notes) != 1 {
		t.Fatalf("%d events after a no-op, want still 1", len(notes))
	}
}

func TestScaleRaisesHPAFloor(t *testing.T) {
	ns := env.NewNamespace(t)
	deployment(t, ns, "api", 2, "example.invalid/api:v1")
	cs := env.Clientset()
	ctx := context.Background()
	hpa := &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "api"},
			MinReplicas:    ptr(int32(2)), MaxReplicas: 5,
		},
	}
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(ctx, hpa, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	e := executor(cs)

	tg, err := e.ResolveTarget(ctx, k8s.Scale, target(ns, "api"))
	if err != nil {
		t.Fatal(err)
	}
	if tg.HPA["name"] != "api" || tg.HPA["maxReplicas"] != 5 {
		t.Fatalf("resolved HPA %v, want api with maxReplicas 5", tg.HPA)
	}
	if _, err := e.Execute(ctx, k8s.Scale, tg, remediations.Params{"step": 2, "hpa": "refuse"}); err == nil || !strings.Contains(err.Error(), "horizontalpodautoscaler api") {
		t.Fatalf("hpa=refuse: err %v, want a refusal naming the HPA", err)
	}
	res := execute(t, e, k8s.Scale, tg, remediations.Params{"step": 5})
	if len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "spec.minReplicas 2 → 5") {
		t.Fatalf("changes %q, want the HPA floor raised to its max 5", res.Changes)
	}
	got, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "api", metav1.GetOptions{})
	if err != nil || *got.Spec.MinReplicas != 5 {
		t.Fatalf("HPA minReplicas %v, %v; want 5", got.Spec.MinReplicas, err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "api", metav1.GetOptions{})
	if err != nil || *d.Spec.Replicas != 2 {
		t.Fatalf("deployment replicas %v, %v; want 2 (the HPA, not remediator, scales it)", d.Spec.Replicas, err)
	}
}

// conflictOnce makes a real conflict: before the first PUT to the
// deployment passes, another writer changes the object, so the API server
// answers 409 to remediator's stale resourceVersion.
type conflictOnce struct {
	next  http.RoundTripper
	fired atomic.Bool
	bump  func()
}

func (c *conflictOnce) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/deployments/") && c.fired.CompareAndSwap(false, true) {
		c.bump()
	}
	return c.next.RoundTrip(r)
}

func TestConflictIsRetried(t *testing.T) {
	ns := env.NewNamespace(t)
	deployment(t, ns, "cart", 1, "example.invalid/cart:v1")
	admin := env.Clientset()
	var puts atomic.Int32
	cfg := rest.CopyConfig(env.Config())
	ct := &conflictOnce{bump: func() {
		// Another writer labels the object meanwhile.
		if _, err := admin.AppsV1().Deployments(ns).Patch(context.Background(), "cart", types.MergePatchType,
			[]byte(`{"metadata":{"labels":{"touched":"by-someone-else"}}}`), metav1.PatchOptions{FieldManager: "someone-else"}); err != nil {
			t.Errorf("concurrent write: %v", err)
		}
	}}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		ct.next = rt
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			if r.Method == http.MethodPut {
				puts.Add(1)
			}
			return ct.RoundTrip(r)
		})
	})
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	res := execute(t, executor(cs), k8s.SetEnv, target(ns, "cart"), remediations.Params{"name": "POOL_SIZE", "value": "20"})
	if len(res.Changes) != 1 {
		t.Fatalf("changes %q, want one", res.Changes)
	}
	if puts.Load() != 2 {
		t.Fatalf("%d PUTs, want 2: the first conflicted, the retry passed", puts.Load())
	}
	d, err := admin.AppsV1().Deployments(ns).Get(context.Background(), "cart", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Labels["touched"] != "by-someone-else" || d.Spec.Template.Spec.Containers[0].Env[0].Value != "20" {
		t.Fatalf("labels %v env %v: want both writers' changes kept", d.Labels, d.Spec.Template.Spec.Containers[0].Env)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// Two real revisions made by the real deployment controller, then undo.
func TestRolloutUndoOverRealRevisions(t *testing.T) {
	ns := env.NewNamespace(t)
	cs := env.Clientset()
	ctx := context.Background()
	deployment(t, ns, "shop", 1, "example.invalid/shop:v1")
	e := executor(cs)

	if _, err := e.Execute(ctx, k8s.RolloutUndo, target(ns, "shop"), remediations.Params{}); err == nil || !strings.Contains(err.Error(), "no previous revision") {
		t.Fatalf("undo of a first revision: err %v, want a clean refusal", err)
	}

	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, "shop", types.StrategicMergePatchType,
		[]byte(`{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"example.invalid/shop:v2"}]}}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	waitRevision(t, ns, "shop", "2")
	hist, err := e.Execute(ctx, k8s.RolloutHistory, target(ns, "shop"), remediations.Params{})
	if err != nil {
		t.Fatal(err)
	}
	if s := jsonString(t, hist.Evidence); !containsAll(s, `"revision":1`, `"revision":2`, "shop:v1", "shop:v2") {
		t.Fatalf("history %s, want revisions 1 (v1) and 2 (v2)", s)
	}

	res := execute(t, e, k8s.RolloutUndo, target(ns, "shop"), remediations.Params{})
	if len(res.Changes) != 1 || !containsAll(res.Changes[0], "revision 2", "revision 1", "shop:v2", "shop:v1") {
		t.Fatalf("changes %q, want revision 2 → 1 with images", res.Changes)
	}
	// kubectl's semantics: the old template becomes the newest revision.
	waitRevision(t, ns, "shop", "3")
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "shop", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "example.invalid/shop:v1" {
		t.Fatalf("image %s after undo, want v1", img)
	}
	if _, ok := d.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey]; ok {
		t.Fatalf("template labels %v carry the ReplicaSet's pod-template-hash", d.Spec.Template.Labels)
	}
	if notes := eventsFor(t, ns, "shop", "RemediationRolloutUndo"); len(notes) != 1 {
		t.Fatalf("events %q, want one RemediationRolloutUndo", notes)
	}
}

func waitRevision(t *testing.T, ns, name, rev string) {
	t.Helper()
	k8stest.Eventually(t, wait, "deployment "+name+" at revision "+rev, func(ctx context.Context) (bool, error) {
		d, err := env.Clientset().AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		return err == nil && d.Annotations[k8s.RevisionAnnotation] == rev, err
	})
}

func TestTemplateActionsAreAccepted(t *testing.T) {
	ns := env.NewNamespace(t)
	deployment(t, ns, "pay", 1, "example.invalid/pay:v1")
	cs := env.Clientset()
	e := executor(cs)
	tg := target(ns, "pay")

	execute(t, e, k8s.SetResources, tg, remediations.Params{"resource": "memory", "factor": 1.5, "max": "4Gi"})
	execute(t, e, k8s.SetResources, tg, remediations.Params{"resource": "cpu", "value": "500m", "max": "2"})
	execute(t, e, k8s.SetEnv, tg, remediations.Params{"name": "SPRING_DATASOURCE_HIKARI_MAXIMUM_POOL_SIZE", "value": "20"})
	execute(t, e, k8s.RolloutRestart, tg, remediations.Params{})

	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "pay", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	got := map[string]string{
		"memory request": c.Resources.Requests.Memory().String(), "memory limit": c.Resources.Limits.Memory().String(),
		"cpu request": c.Resources.Requests.Cpu().String(), "cpu limit": c.Resources.Limits.Cpu().String(),
	}
	want := map[string]string{"memory request": "192Mi", "memory limit": "384Mi", "cpu request": "100m", "cpu limit": "500m"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s %s, want %s", k, got[k], w)
		}
	}
	if len(c.Env) != 1 || c.Env[0].Value != "20" {
		t.Errorf("env %v, want the pool size", c.Env)
	}
	if d.Spec.Template.Annotations[k8s.RestartedAtAnnotation] == "" {
		t.Errorf("template annotations %v, want %s", d.Spec.Template.Annotations, k8s.RestartedAtAnnotation)
	}
	if !managedBy(d, k8s.FieldManager, "") {
		t.Errorf("managedFields name no %q manager", k8s.FieldManager)
	}
	for _, reason := range []string{"RemediationSetResources", "RemediationSetEnv", "RemediationRolloutRestart"} {
		if len(eventsFor(t, ns, "pay", reason)) == 0 {
			t.Errorf("no %s Event", reason)
		}
	}
}

// Preview goes through the API server's admission with dryRun=All: the
// change is validated and reported, and nothing is stored.
func TestPreviewWritesNothing(t *testing.T) {
	ns := env.NewNamespace(t)
	deployment(t, ns, "docs", 2, "example.invalid/docs:v1")
	cs := env.Clientset()
	ctx := context.Background()
	before, err := cs.AppsV1().Deployments(ns).Get(ctx, "docs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e := executor(cs)
	for _, tc := range []struct {
		a remediations.Action
		p remediations.Params
	}{
		{k8s.Scale, remediations.Params{"replicas": 5}},
		{k8s.SetResources, remediations.Params{"resource": "cpu", "factor": 2}},
		{k8s.RolloutRestart, remediations.Params{}},
		{k8s.DeletePods, remediations.Params{"selector": "app=docs", "max_pods": 1}},
	} {
		res, err := e.Preview(ctx, tc.a, target(ns, "docs"), tc.p)
		if err != nil {
			t.Fatalf("preview %s: %v", tc.a.Spec().Name, err)
		}
		if !res.DryRun || len(res.Changes) != 0 || !strings.Contains(jsonString(t, res.Evidence), "wouldChange") {
			t.Fatalf("preview %s: %+v, want dry-run with what would change as evidence", tc.a.Spec().Name, res)
		}
	}
	after, err := cs.AppsV1().Deployments(ns).Get(ctx, "docs", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The controllers still update status meanwhile, so the spec's
	// generation is what must not move.
	if after.Generation != before.Generation || !equality.Semantic.DeepEqual(after.Spec, before.Spec) {
		t.Fatalf("generation %d → %d: a preview stored a change", before.Generation, after.Generation)
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=docs"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			t.Fatalf("pod %s is being deleted after a preview", p.Name)
		}
	}
	if n := len(eventsFor(t, ns, "docs", "RemediationScale")); n != 0 {
		t.Fatalf("%d Events after previews, want none", n)
	}
}

func TestDeletePodKeepsReadyPods(t *testing.T) {
	ns := env.NewNamespace(t)
	deployment(t, ns, "queue", 2, "example.invalid/queue:v1")
	cs := env.Clientset()
	ctx := context.Background()
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=queue"})
	if err != nil || len(pods.Items) != 2 {
		t.Fatalf("pods %v, %v", pods, err)
	}
	victim := pods.Items[0].Name
	e := executor(cs)
	// The alert names only namespace and pod: resolve it to its Deployment.
	tg, err := e.ResolveTarget(ctx, k8s.DeletePod, remediations.Target{Kind: k8s.KindDeployment, Namespace: ns, Pod: victim})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Name != "queue" || *tg.CurrentReplicas != 2 {
		t.Fatalf("resolved %+v, want Deployment queue with 2 replicas", tg)
	}
	if _, err := e.Execute(ctx, k8s.DeletePod, tg, remediations.Params{"min_ready": 2}); err == nil || !strings.Contains(err.Error(), "below min_ready 2") {
		t.Fatalf("min_ready 2 of 2: err %v, want a refusal", err)
	}
	res := execute(t, e, k8s.DeletePod, tg, remediations.Params{"min_ready": 1})
	if len(res.Changes) != 1 || !strings.Contains(res.Changes[0], victim+" (ready) deleted") {
		t.Fatalf("changes %q, want %s deleted", res.Changes, victim)
	}
	k8stest.Eventually(t, wait, "the deleted pod replaced", func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().Pods(ns).Get(ctx, victim, metav1.GetOptions{})
		list, lerr := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=queue"})
		return err != nil && lerr == nil && len(list.Items) == 2, lerr
	})
}

func TestStatefulSet(t *testing.T) {
	ns := env.NewNamespace(t)
	cs := env.Clientset()
	ctx := context.Background()
	labels := map[string]string{"app": "db"}
	ss := &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec: appsv1.StatefulSetSpec{
			Replicas: ptr(int32(2)), Selector: &metav1.LabelSelector{MatchLabels: labels},
			PodManagementPolicy: appsv1.ParallelPodManagement,
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "example.invalid/db:v1"}}},
			},
		},
	}
	if _, err := cs.AppsV1().StatefulSets(ns).Create(ctx, ss, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	readyPods(t, ns, "app=db", 2)
	e := executor(cs)
	tg, err := e.ResolveTarget(ctx, k8s.Scale, remediations.Target{Kind: k8s.KindDeployment, Namespace: ns, Pod: "db-1"})
	if err != nil {
		t.Fatal(err)
	}
	if tg.Kind != k8s.KindStatefulSet || tg.Name != "db" {
		t.Fatalf("pod db-1 resolved to %s %s, want StatefulSet db", tg.Kind, tg.Name)
	}
	execute(t, e, k8s.Scale, tg, remediations.Params{"step": 1})
	execute(t, e, k8s.SetResources, tg, remediations.Params{"resource": "memory", "value": "1Gi"})
	execute(t, e, k8s.RolloutRestart, tg, remediations.Params{})
	res := execute(t, e, k8s.DeletePod, tg, remediations.Params{"min_ready": 1})
	if len(res.Changes) != 1 || !strings.Contains(res.Changes[0], "db-1") {
		t.Fatalf("delete_pod changes %q, want db-1", res.Changes)
	}
	got, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "db", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if *got.Spec.Replicas != 3 || got.Spec.Template.Spec.Containers[0].Resources.Limits.Memory().String() != "1Gi" ||
		got.Spec.Template.Annotations[k8s.RestartedAtAnnotation] == "" {
		t.Fatalf("statefulset spec %+v: want 3 replicas, 1Gi limit, restartedAt", got.Spec)
	}
}

func TestScaleNamespaceAndRestore(t *testing.T) {
	ns := env.NewNamespace(t)
	cs := env.Clientset()
	ctx := context.Background()
	deployment(t, ns, "a", 3, "example.invalid/a:v1")
	deployment(t, ns, "b", 1, "example.invalid/b:v1")
	deployment(t, ns, "c", 2, "example.invalid/c:v1", func(d *appsv1.Deployment) {
		d.Annotations = map[string]string{k8s.DisabledAnnotation: "true"}
	})
	e := executor(cs)
	nsTarget := remediations.Target{Kind: k8s.KindNamespace, Name: ns, Namespace: ns}

	execute(t, e, k8s.ScaleNamespace, nsTarget, remediations.Params{"replicas": 1})
	replicas := func() map[string]int32 {
		list, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int32{}
		for _, d := range list.Items {
			out[d.Name] = *d.Spec.Replicas
		}
		return out
	}
	if got := replicas(); got["a"] != 1 || got["b"] != 1 || got["c"] != 2 {
		t.Fatalf("replicas after scale-down %v, want a:1 b:1 c:2 (disabled)", got)
	}
	if n := len(eventsFor(t, metav1.NamespaceDefault, ns, "RemediationScaleNamespace")); n != 1 {
		t.Fatalf("%d RemediationScaleNamespace Events on the namespace, want 1", n)
	}
	execute(t, e, k8s.RestoreNamespace, nsTarget, remediations.Params{})
	if got := replicas(); got["a"] != 3 || got["b"] != 1 || got["c"] != 2 {
		t.Fatalf("replicas after restore %v, want a:3 b:1 c:2", got)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, "a", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := d.Annotations[k8s.PreviousReplicasAnnotation]; ok {
		t.Fatalf("annotation %s left after restore", k8s.PreviousReplicasAnnotation)
	}
}

func TestDisabledNamespaceIsNeverTouched(t *testing.T) {
	ns := env.NewNamespace(t)
	cs := env.Clientset()
	ctx := context.Background()
	deployment(t, ns, "web", 1, "example.invalid/web:v1")
	if _, err := cs.CoreV1().Namespaces().Patch(ctx, ns, types.MergePatchType,
		[]byte(`{"metadata":{"annotations":{"remediator.io/disabled":"true"}}}`), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
	e := executor(cs)
	tg, err := e.ResolveTarget(ctx, k8s.Scale, target(ns, "web"))
	if err != nil {
		t.Fatal(err)
	}
	if tg.NamespaceAnnotations[k8s.DisabledAnnotation] != "true" {
		t.Fatalf("namespace annotations %v, want the opt-out visible to policy", tg.NamespaceAnnotations)
	}
	before, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	for _, a := range []remediations.Action{k8s.Scale, k8s.RolloutRestart, k8s.DeletePods} {
		p := remediations.Params{"step": 1}
		switch a {
		case k8s.RolloutRestart:
			p = remediations.Params{}
		case k8s.DeletePods:
			p = remediations.Params{"selector": "app=web"}
		}
		if _, err := e.Execute(ctx, a, tg, p); err == nil || !strings.Contains(err.Error(), k8s.DisabledAnnotation) {
			t.Fatalf("%s in a disabled namespace: err %v, want a refusal", a.Spec().Name, err)
		}
	}
	after, _ := cs.AppsV1().Deployments(ns).Get(ctx, "web", metav1.GetOptions{})
	// Judged by the spec: the controllers may still update the status.
	if before.Generation != after.Generation || !equality.Semantic.DeepEqual(before.Spec, after.Spec) {
		t.Fatal("the deployment changed in a disabled namespace")
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil {
			t.Fatalf("pod %s deleted in a disabled namespace", p.Name)
		}
	}
}

func TestInvestigations(t *testing.T) {
	ns := env.NewNamespace(t)
	cs := env.Clientset()
	ctx := context.Background()
	deployment(t, ns, "web", 2, "example.invalid/web:v1")
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "web-config"},
		Data:       map[string]string{"DB_URL": "postgres://secret-value@db", "LOG_LEVEL": "debug"},
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, err := metricsclient.NewForConfig(env.Config())
	if err != nil {
		t.Fatal(err)
	}
	e := k8s.NewExecutor(cs, k8s.Options{Metrics: mc})
	tg := target(ns, "web")
	evidence := func(a remediations.Action) string {
		t.Helper()
		res, err := e.Execute(ctx, a, tg, remediations.Params{})
		if err != nil {
			t.Fatalf("%s: %v", a.Spec().Name, err)
		}
		return jsonString(t, res.Evidence)
	}
	if s := evidence(k8s.PodStatus); strings.Count(s, `"phase":"Running"`) != 2 {
		t.Errorf("pod_status %s, want 2 running pods", s)
	}
	if s := evidence(k8s.ConfigMapKeys); !containsAll(s, "DB_URL", "LOG_LEVEL") || strings.Contains(s, "secret-value") {
		t.Errorf("configmap_keys %s, want keys and no values", s)
	}
	if s := evidence(k8s.TopPods); !containsAll(s, `"available":false`, k8s.MetricsNotAvailable) {
		t.Errorf("top_pods %s, want the metrics API reported as not available", s)
	}
	// The controller writes its events asynchronously: wait for them.
	k8stest.Eventually(t, wait, "the deployment controller's ScalingReplicaSet in the events evidence", func(context.Context) (bool, error) {
		return strings.Contains(evidence(k8s.Events), "ScalingReplicaSet"), nil
	})
	if s := evidence(k8s.Endpoints); !containsAll(s, `"slices":0`, "no EndpointSlices") {
		t.Errorf("endpoints %s, want none found", s)
	}
}
