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
func Backends(ctx context.Context, cfg *config.Config, log *slog.Logger) (*remediations.Router, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.DryRun {
		log.Info("dry-run: nothing is changed (--dry-run or dry_run in the config); on configured targets investigations run "+
			"and resolutions are previewed read-only, elsewhere actions are planned",
			"postgres_targets", slices.Sorted(maps.Keys(cfg.Postgres.Targets)), "redis_targets", slices.Sorted(maps.Keys(cfg.Redis.Targets)))
	}
	backends := map[string]remediations.Backend{}
	var closers []func()
	closeAll := func() {
		for _, c := range slices.Backward(closers) {
			c()
		}
	}
	if len(cfg.Postgres.Targets) > 0 {
		pg, err := postgres.NewExecutor(ctx, cfg.Postgres.Targets, log.With("backend", "postgres"))
		if err != nil {
			return nil, nil, err
		}
		backends["postgres"] = pg
		closers = append(closers, pg.Close)
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
	}
	for _, b := range []struct {
		name, how string
		targets   []string
	}{
		{"postgres", "postgres.targets or " + config.EnvPostgresDSN, slices.Sorted(maps.Keys(cfg.Postgres.Targets))},
		{"redis", "redis.targets or " + config.EnvRedisURL, slices.Sorted(maps.Keys(cfg.Redis.Targets))},
	} {
		switch {
		case len(b.targets) > 0 && cfg.DryRun:
			log.Info(b.name+" is in dry-run: on its configured targets investigations run and resolutions are previewed, "+
				"nothing is changed; an alert naming another connection is planned only", "targets", b.targets)
		case len(b.targets) > 0:
			log.Info(b.name+" acts on its configured targets; an alert naming another connection is planned only", "targets", b.targets)
		default:
			log.Info(b.name + " is not configured: its actions are planned only (set " + b.how + ")")
		}
	}
	k8s, err := kubernetesBackend(ctx, cfg, log.With("backend", "kubernetes"))
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	if k8s != nil {
		backends["kubernetes"] = k8s
	}
	return remediations.NewRouter(cfg.DryRun, backends), closeAll, nil
}

// kubernetesBackend connects the cluster cfg names, if any (nil, nil when
// none: Kubernetes actions then only plan).
func kubernetesBackend(ctx context.Context, cfg *config.Config, log *slog.Logger) (*kubernetes.Executor, error) {
	cluster, err := kubernetes.LoadCluster(cfg.Kubernetes, os.Getenv)
	if err != nil {
		return nil, err
	}
	if cluster == nil {
		log.Info("kubernetes is not configured: its actions are planned only (set --kubeconfig, " + kubernetes.EnvKubeconfig + ", or run in a pod)")
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
		log.Error("the Kubernetes API server does not answer; actions will fail until it does", "cluster", cluster.Source, "host", cluster.Config.Host, "err", err)
	} else if json.Unmarshal(raw, &info) == nil {
		version = info.GitVersion
	}
	if cfg.DryRun {
		log.Info("kubernetes is in dry-run: investigations read the cluster, resolutions are previewed with server-side dry-run, nothing is changed",
			"cluster", cluster.Source, "host", cluster.Config.Host, "version", version)
	} else {
		log.Info("kubernetes acts on the cluster", "cluster", cluster.Source, "host", cluster.Config.Host, "version", version,
			"field_manager", kubernetes.FieldManager)
	}
	return kubernetes.NewExecutor(client, kubernetes.Options{Metrics: metrics, Log: log}), nil
}
