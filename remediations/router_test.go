package remediations_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/pgtest"
	"github.com/remediator/remediator/internal/redistest"
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

// TestRouter: a configured backend target acts; an unconfigured target and
// a backend without an executor plan; in global dry-run, on a configured
// target, an investigation runs and a resolution is previewed (read-only,
// with evidence), while unconfigured targets still plan. Real PostgreSQL and
// Redis executors, so "acts" means a real report came back.
func TestRouter(t *testing.T) {
	ctx := context.Background()
	pg, err := postgres.NewExecutor(ctx, map[string]postgres.TargetConfig{
		remediations.DefaultConnection: {DSNFile: secretFile(t, pgtest.AdminDSN())},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Close)
	rd, err := redis.NewExecutor(ctx, map[string]redis.TargetConfig{
		"cache": {URLFile: secretFile(t, "redis://"+redistest.Addr()+"/0")},
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

	// A pattern no key matches: the preview must find nothing to count.
	noKeys := remediations.Params{"pattern": "remediator-router-test:none:*", "max_keys": 10}

	tests := []struct {
		name   string
		router *remediations.Router
		action remediations.Action
		target remediations.Target
		params remediations.Params
		plans  bool // Plans(): nothing will change
		dryRun bool // Result.DryRun
		// evidence: the executor read the target (a run or a preview),
		// rather than the router planning without I/O.
		evidence any
	}{
		{"configured postgres target acts", acting, postgres.ConnectionReport, pgDefault, nil, false, false, &postgres.Report{}},
		{"unconfigured postgres target plans", acting, postgres.ConnectionReport, pgOther, nil, true, true, nil},
		{"configured redis target acts", acting, redis.CacheReport, cache, nil, false, false, &redis.CacheReportEvidence{}},
		{"redis default not configured plans", acting, redis.CacheReport, cacheDefault, nil, true, true, nil},
		{"backend without an executor plans", acting, kubernetes.Scale, deploy, remediations.Params{"step": 1, "max_replicas": 3}, true, true, nil},
		{"global dry-run previews a resolution on a configured postgres target", dry, postgres.TerminateIdle, pgDefault,
			remediations.Params{"idle_seconds": 600}, true, true, &postgres.TerminateOutcome{}},
		{"global dry-run previews a resolution on a configured redis target", dry, redis.DeleteKeys, cache, noKeys, true, true, &redis.DeleteKeysPreview{}},
		{"global dry-run runs an investigation on a configured postgres target", dry, postgres.ConnectionReport, pgDefault, nil, true, false, &postgres.Report{}},
		{"global dry-run runs an investigation on a configured redis target", dry, redis.CacheReport, cache, nil, true, false, &redis.CacheReportEvidence{}},
		{"global dry-run plans an unconfigured postgres target", dry, postgres.TerminateIdle, pgOther, remediations.Params{"idle_seconds": 600}, true, true, nil},
		{"global dry-run plans an investigation on an unconfigured redis target", dry, redis.CacheReport, cacheDefault, nil, true, true, nil},
		{"global dry-run plans a backend without an executor", dry, kubernetes.Scale, deploy, remediations.Params{"step": 1, "max_replicas": 3}, true, true, nil},
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
			if res.DryRun != tc.dryRun {
				t.Errorf("Result.DryRun = %v, want %v", res.DryRun, tc.dryRun)
			}
			if res.Plan.Action != tc.action.Spec().Name || len(res.Plan.Calls) == 0 {
				t.Errorf("plan = %+v", res.Plan)
			}
			if got, want := fmt.Sprintf("%T", res.Evidence), fmt.Sprintf("%T", tc.evidence); got != want {
				t.Errorf("evidence %T (%v), want %s", res.Evidence, res.Evidence, want)
			}
			if len(res.Changes) != 0 {
				t.Errorf("changes %q", res.Changes)
			}
		})
	}

	// The previews changed nothing and said what they would do.
	res, err := dry.Execute(ctx, postgres.TerminateIdle, pgDefault, remediations.Params{"idle_seconds": 1, "max_sessions": 1})
	if err != nil {
		t.Fatal(err)
	}
	if out := res.Evidence.(*postgres.TerminateOutcome); !out.Preview || len(out.Terminated) != 0 {
		t.Errorf("terminate_idle preview: %+v", out)
	}
	res, err = dry.Execute(ctx, redis.DeleteKeys, cache, noKeys)
	if err != nil {
		t.Fatal(err)
	}
	if pv := res.Evidence.(*redis.DeleteKeysPreview); pv.WouldDelete != 0 || pv.Matched != 0 || pv.Scans == 0 {
		t.Errorf("delete_keys preview: %+v", pv)
	}
}

// previewer is a recorder that can preview, and claims changes it must not
// be credited with.
type previewer struct {
	recorder
	previews []string
}

func (p *previewer) Preview(_ context.Context, a remediations.Action, t remediations.Target, _ remediations.Params) (remediations.Result, error) {
	p.previews = append(p.previews, a.Spec().Name+" "+t.String())
	return remediations.Result{Evidence: "previewed", Changes: []string{"bogus"}}, nil
}

// TestRouterDryRunSemantics: which executor method global dry-run calls, by
// action kind and by whether the backend can preview.
func TestRouterDryRunSemantics(t *testing.T) {
	pg := &previewer{recorder: recorder{configured: map[string]bool{"": true}}}
	rd := &recorder{configured: map[string]bool{"": true}} // no Preview
	r := remediations.NewRouter(true, map[string]remediations.Backend{"postgres": pg, "redis": rd})
	ctx := context.Background()
	pgT := remediations.Target{Kind: postgres.KindPostgres, Database: "orders"}
	rdT := remediations.Target{Kind: redis.KindRedis, Instance: "c:6379"}

	// An investigation runs for real.
	res, err := r.Execute(ctx, postgres.ConnectionReport, pgT, nil)
	if err != nil || res.DryRun || res.Evidence != "ran" {
		t.Errorf("investigation: %+v, %v; want a real run", res, err)
	}
	// A resolution is previewed: a dry-run, whatever the backend claims.
	res, err = r.Execute(ctx, postgres.TerminateIdle, pgT, remediations.Params{"idle_seconds": 600})
	if err != nil || !res.DryRun || res.Evidence != "previewed" || res.Changes != nil {
		t.Errorf("resolution with a previewer: %+v, %v; want a preview with no changes", res, err)
	}
	// A resolution on a backend that cannot preview is planned, without calling it.
	res, err = r.Execute(ctx, redis.DeleteKeys, rdT, remediations.Params{"pattern": "x:*"})
	if err != nil || !res.DryRun || res.Evidence != nil || len(res.Plan.Calls) == 0 {
		t.Errorf("resolution without a previewer: %+v, %v; want a plan", res, err)
	}
	if want := []string{"postgres.connection_report PostgreSQL orders"}; !slices.Equal(pg.calls, want) {
		t.Errorf("postgres Execute calls %q, want %q", pg.calls, want)
	}
	if want := []string{"postgres.terminate_idle PostgreSQL orders"}; !slices.Equal(pg.previews, want) {
		t.Errorf("postgres Preview calls %q, want %q", pg.previews, want)
	}
	if len(rd.calls) != 0 {
		t.Errorf("redis Execute calls %q, want none", rd.calls)
	}
	for _, a := range []remediations.Action{postgres.ConnectionReport, postgres.TerminateIdle} {
		if !r.Plans(a, pgT) {
			t.Errorf("Plans(%s) = false in global dry-run", a.Spec().Name)
		}
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
