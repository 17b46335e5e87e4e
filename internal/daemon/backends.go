package daemon

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/remediations"
	"github.com/remediator/remediator/remediations/kubernetes"
	"github.com/remediator/remediator/remediations/postgres"
	"github.com/remediator/remediator/remediations/redis"
)

// Backends connects the backends cfg configures and routes actions to them;
// a backend or target that is not configured only plans. In dry-run the
// configured backends are connected too, so that investigations read and
// resolutions preview (see remediations.Router), but nothing is changed. The
// returned func closes the backends.
//
// It logs one line per backend, and per target of the backends that have
// targets, saying mode=ACTING (and on what) or mode=PLANNING and why: the
// operator must be able to tell from the start-up log alone whether this
// process can change anything.
func Backends(ctx context.Context, cfg *config.Config, log *slog.Logger) (*remediations.Router, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	backends := map[string]remediations.Backend{}
	var closers []func()
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	// Why a configured target only plans: "" when it acts.
	planning := ""
	if cfg.DryRun {
		planning = reasonDryRun
	}
	if len(cfg.Postgres.Targets) > 0 {
		pg, err := postgres.NewExecutor(ctx, cfg.Postgres.Targets, log.With("backend", "postgres"))
		if err != nil {
			return nil, nil, err
		}
		backends["postgres"] = pg
		closers = append(closers, pg.Close)
		for _, name := range pg.Targets() {
			addr, from, _ := pg.Addr(name)
			logMode(log, "postgres", name, planning, "connection", addr, "dsn_from", from)
		}
	} else {
		logMode(log, "postgres", "", "no target configured (set postgres.targets or "+config.EnvPostgresDSN+")")
	}
	if len(cfg.Redis.Targets) > 0 {
		rd, err := redis.NewExecutor(ctx, cfg.Redis.Targets, log.With("backend", "redis"))
		if err != nil {
			closeAll()
			return nil, nil, err
		}
		backends["redis"] = rd
		closers = append(closers, func() {
			if err := rd.Close(); err != nil {
				log.Warn("closing the redis backend", "err", err)
			}
		})
		for _, name := range slices.Sorted(maps.Keys(cfg.Redis.Targets)) {
			addr, _ := rd.Addr(name)
			logMode(log, "redis", name, planning, "connection", addr)
		}
	} else {
		logMode(log, "redis", "", "no target configured (set redis.targets or "+config.EnvRedisURL+")")
	}
	k8s, err := kubernetesBackend(ctx, cfg, log, planning)
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if k8s != nil {
		backends["kubernetes"] = k8s
	}
	return remediations.NewRouter(cfg.DryRun, backends), closeAll, nil
}

// reasonDryRun is the PLANNING reason of a configured target in dry-run.
// REMEDIATOR_DRY_RUN is --dry-run's environment variable.
const reasonDryRun = "--dry-run (or dry_run: true in the config)"

// logMode logs the start-up line of a backend, or of one of its targets
// when target is not empty: ACTING when reason is empty, else PLANNING and
// the reason. attrs say what it acts on.
func logMode(log *slog.Logger, backend, target, reason string, attrs ...any) {
	head := []any{"backend", backend}
	if target != "" {
		head = append(head, "target", target)
	}
	if reason == "" {
		log.Info(backend+" ACTING: the resolutions policy allows are executed", append(append(head, "mode", "ACTING"), attrs...)...)
		return
	}
	msg := backend + " PLANNING: investigations read, resolutions are previewed, nothing is changed"
	if len(attrs) == 0 {
		msg = backend + " PLANNING: its actions are planned only, nothing is called"
	}
	log.Info(msg, append(append(head, "mode", "PLANNING", "reason", reason), attrs...)...)
}

// actingBackends is the listening line's acting_backends: the backends whose
// resolutions can change something; none in dry-run. An executor other than
// the Router or the planner (an embedder's, a test's) is taken to act.
func actingBackends(e remediations.Executor, dryRun bool) []string {
	acting := []string{} // logged as [], not null
	if dryRun {
		return acting
	}
	switch e := e.(type) {
	case *remediations.Router:
		// A backend is given to the router only once it has a target.
		if !e.GlobalDryRun() {
			acting = append(acting, e.Backends()...)
		}
		return acting
	case remediations.DryRun:
		return acting
	}
	return append(acting, "executor")
}

// kubernetesBackend connects the cluster cfg names, if any (nil, nil when
// none: Kubernetes actions then only plan), and logs its start-up line;
// planning is the reason it only plans, "" when it acts.
func kubernetesBackend(ctx context.Context, cfg *config.Config, log *slog.Logger, planning string) (*kubernetes.Executor, error) {
	cluster, err := kubernetes.LoadCluster(cfg.Kubernetes, os.Getenv)
	if err != nil {
		return nil, err
	}
	if cluster == nil {
		logMode(log, "kubernetes", "", "no cluster configured (set --kubeconfig, "+kubernetes.EnvKubeconfig+", or run in a pod)")
		return nil, nil
	}
	client, metrics, err := cluster.Clients()
	if err != nil {
		return nil, err
	}
	// Reachability is reported, not required: a daemon restarted during an
	// API server outage should come up and fail its actions (closed, and
	// recorded) rather than crash-loop.
	vctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	version := "unknown"
	var info struct {
		GitVersion string `json:"gitVersion"`
	}
	if raw, err := client.Discovery().RESTClient().Get().AbsPath("/version").Do(vctx).Raw(); err != nil {
		log.Error("the Kubernetes API server does not answer; actions will fail until it does", "backend", "kubernetes",
			"cluster", cluster.Config.Host, "source", cluster.Source, "err", err)
	} else if json.Unmarshal(raw, &info) == nil {
		version = info.GitVersion
	}
	attrs := []any{"cluster", cluster.Config.Host}
	if cluster.Kubeconfig != "" {
		attrs = append(attrs, "context", cluster.Context, "kubeconfig", cluster.Kubeconfig)
	} else {
		attrs = append(attrs, "source", cluster.Source)
	}
	attrs = append(attrs, "version", version)
	if planning == "" {
		attrs = append(attrs, "field_manager", kubernetes.FieldManager)
	}
	logMode(log, "kubernetes", "", planning, attrs...)
	return kubernetes.NewExecutor(client, kubernetes.Options{Metrics: metrics, Log: log.With("backend", "kubernetes")}), nil
}
