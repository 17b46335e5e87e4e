package remediations_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/kubernetes"
	"github.com/remediator/remediator/remediations/postgres"
	"github.com/remediator/remediator/remediations/redis"
)

// recorder is a Backend that records what it is asked to run.
type recorder struct {
	configured map[string]bool // by connection
	calls      []string
}

func (r *recorder) Configured(t remediations.Target) bool { return r.configured[t.Connection] }

func (r *recorder) Execute(_ context.Context, a remediations.Action, t remediations.Target, _ remediations.Params) (remediations.Result, error) {
	r.calls = append(r.calls, a.Spec().Name+" "+t.String())
	return remediations.Result{Evidence: "ran"}, nil
}

func secretFile(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func redisAddr() string {
	if a := os.Getenv("REMEDIATOR_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// TestRouter: a configured backend target acts; an unconfigured target, a
// backend without an executor, and global dry-run plan. Real PostgreSQL and
// Redis executors, so "acts" means a real report came back.
func TestRouter(t *testing.T) {
	ctx := context.Background()
	pg, err := postgres.NewExecutor(ctx, map[string]postgres.TargetConfig{
		postgres.DefaultTarget: {DSNFile: secretFile(t, pgtest.AdminDSN())},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	rd, err := redis.NewExecutor(ctx, map[string]redis.TargetConfig{
		"cache": {URLFile: secretFile(t, "redis://"+redisAddr()+"/0")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rd.Close() })
	backends := map[string]remediations.Backend{"postgres": pg, "redis": rd}
	acting := remediations.NewRouter(false, backends)
	dry := remediations.NewRouter(true, backends)

	pgDefault := remediations.Target{Kind: postgres.KindPostgres, Database: "postgres"}
	pgOther := remediations.Target{Kind: postgres.KindPostgres, Database: "postgres", Connection: "billing"}
	cache := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0:6379", Connection: "cache"}
	cacheDefault := remediations.Target{Kind: redis.KindRedis, Instance: "cache-0:6379"}
	deploy := remediations.Target{Kind: "Deployment", Namespace: "shop", Name: "cart"}

	tests := []struct {
		name   string
		router *remediations.Router
		action remediations.Action
		target remediations.Target
		params remediations.Params
		plans  bool
	}{
		{"configured postgres target acts", acting, postgres.ConnectionReport, pgDefault, nil, false},
		{"unconfigured postgres target plans", acting, postgres.ConnectionReport, pgOther, nil, true},
		{"configured redis target acts", acting, redis.CacheReport, cache, nil, false},
		{"redis default not configured plans", acting, redis.CacheReport, cacheDefault, nil, true},
		{"backend without an executor plans", acting, kubernetes.Scale, deploy, remediations.Params{"step": 1, "max_replicas": 3}, true},
		{"global dry-run plans a configured postgres target", dry, postgres.TerminateIdle, pgDefault, remediations.Params{"idle_seconds": 600}, true},
		{"global dry-run plans a configured redis target", dry, redis.CacheReport, cache, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.router.Plans(tc.action, tc.target); got != tc.plans {
				t.Errorf("Plans = %v, want %v", got, tc.plans)
			}
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			res, err := tc.router.Execute(ctx, tc.action, tc.target, tc.params)
			if err != nil {
				t.Fatalf("Execute: %v", err)
			}
			if res.DryRun != tc.plans {
				t.Errorf("Result.DryRun = %v, want %v", res.DryRun, tc.plans)
			}
			if res.Plan.Action != tc.action.Spec().Name || len(res.Plan.Calls) == 0 {
				t.Errorf("plan = %+v", res.Plan)
			}
			if acted := res.Evidence != nil; acted == tc.plans {
				t.Errorf("evidence %v: acted = %v, want %v", res.Evidence, acted, !tc.plans)
			}
		})
	}
}

// TestRouterForwards: the router hands the action to its backend's executor
// unchanged, and never calls an executor it plans around.
func TestRouterForwards(t *testing.T) {
	pg := &recorder{configured: map[string]bool{"": true}}
	k8s := &recorder{configured: map[string]bool{}}
	r := remediations.NewRouter(false, map[string]remediations.Backend{"postgres": pg, "kubernetes": k8s, "redis": nil})
	ctx := context.Background()
	target := remediations.Target{Kind: postgres.KindPostgres, Database: "orders"}
	if _, err := r.Execute(ctx, postgres.ConnectionReport, target, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Execute(ctx, kubernetes.Scale, remediations.Target{Kind: "Deployment", Namespace: "a", Name: "b"},
		remediations.Params{"step": 1, "max_replicas": 3}); err != nil {
		t.Fatal(err)
	}
	res, err := r.Execute(ctx, redis.CacheReport, remediations.Target{Kind: redis.KindRedis, Instance: "c:6379"}, nil)
	if err != nil || !res.DryRun {
		t.Fatalf("nil redis backend: %+v, %v; want a plan", res, err)
	}
	if len(pg.calls) != 1 || pg.calls[0] != "postgres.connection_report PostgreSQL orders" || len(k8s.calls) != 0 {
		t.Errorf("postgres calls %q, kubernetes calls %q", pg.calls, k8s.calls)
	}
	if got := r.Backends(); len(got) != 2 || got[0] != "kubernetes" || got[1] != "postgres" {
		t.Errorf("Backends() = %v", got)
	}
	// A plan error (bad params) is reported, not executed.
	if _, err := r.Execute(ctx, kubernetes.Scale, remediations.Target{Kind: "Deployment", Namespace: "a", Name: "b"}, remediations.Params{"step": "x"}); err == nil {
		t.Error("planning with invalid params succeeded")
	}
	if r.GlobalDryRun() || !remediations.NewRouter(true, nil).GlobalDryRun() {
		t.Error("GlobalDryRun")
	}
}

func TestBackendOf(t *testing.T) {
	for action, want := range map[string]string{
		"postgres.terminate_idle": "postgres", "redis.delete_keys": "redis", "kubernetes.scale": "kubernetes",
		"kubernetes.a.b": "kubernetes", "nodot": "nodot", "": "",
	} {
		if got := remediations.BackendOf(action); got != want {
			t.Errorf("BackendOf(%q) = %q, want %q", action, got, want)
		}
	}
}
