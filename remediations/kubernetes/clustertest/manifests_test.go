package clustertest_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/scheme"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/remediations/builtin"
)

// TestShippedManifests: every object in deploy/kubernetes is accepted by a
// real API server (server-side dry-run: validation and admission, nothing
// stored), and the shipped config loads and keeps its audit history on a
// writable volume of the read-only container.
func TestShippedManifests(t *testing.T) {
	ctx := context.Background()
	cs := env.Clientset()
	dry := metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}
	var (
		objs []runtime.Object
		dep  *appsv1.Deployment
		conf string
	)
	for _, file := range []string{"remediator.yaml", "rbac.yaml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "..", "deploy", "kubernetes", file))
		if err != nil {
			t.Fatal(err)
		}
		for doc := range strings.SplitSeq(string(raw), "\n---\n") {
			obj, _, err := scheme.Codecs.UniversalDeserializer().Decode([]byte(doc), nil, nil)
			if err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			objs = append(objs, obj)
		}
	}
	// The namespace really, so that its objects can be dry-run into it.
	for _, obj := range objs {
		if ns, ok := obj.(*corev1.Namespace); ok {
			if _, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
		}
	}
	for _, obj := range objs {
		var err error
		switch o := obj.(type) {
		case *corev1.Namespace:
		case *corev1.ServiceAccount:
			_, err = cs.CoreV1().ServiceAccounts(o.Namespace).Create(ctx, o, dry)
		case *corev1.ConfigMap:
			_, err = cs.CoreV1().ConfigMaps(o.Namespace).Create(ctx, o, dry)
			if o.Name == "remediator-config" {
				conf = o.Data["remediator.yaml"]
			}
		case *appsv1.Deployment:
			_, err = cs.AppsV1().Deployments(o.Namespace).Create(ctx, o, dry)
			dep = o
		case *corev1.Service:
			_, err = cs.CoreV1().Services(o.Namespace).Create(ctx, o, dry)
		case *rbacv1.ClusterRole:
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, o, dry)
		case *rbacv1.ClusterRoleBinding:
			_, err = cs.RbacV1().ClusterRoleBindings().Create(ctx, o, dry)
		default:
			t.Fatalf("the test does not know %T; add it", obj)
		}
		if err != nil {
			t.Fatalf("%T: %v", obj, err)
		}
	}
	if dep == nil || conf == "" {
		t.Fatal("no Deployment or remediator-config ConfigMap in deploy/kubernetes")
	}

	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "remediator.yaml")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, catalog)
	if err != nil {
		t.Fatalf("the shipped config does not load: %v", err)
	}
	c := dep.Spec.Template.Spec.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Fatal("the container's root filesystem is expected read-only")
	}
	db, ok := strings.CutPrefix(cfg.Audit.DSN, "sqlite://")
	if !ok {
		t.Fatalf("audit dsn %q: the shipped config keeps its history in SQLite", cfg.Audit.DSN)
	}
	writable := false
	for _, m := range c.VolumeMounts {
		if strings.HasPrefix(db, strings.TrimSuffix(m.MountPath, "/")+"/") && !m.ReadOnly {
			for _, v := range dep.Spec.Template.Spec.Volumes {
				writable = writable || (v.Name == m.Name && (v.EmptyDir != nil || v.PersistentVolumeClaim != nil))
			}
		}
	}
	if !writable {
		t.Fatalf("audit database %s is not on a writable volume of the container (mounts %+v): the daemon could not start", db, c.VolumeMounts)
	}
}
