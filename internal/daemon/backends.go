package daemon

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/remediations"
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
	// No Kubernetes executor exists yet.
	log.Info("kubernetes actions are planned only (no Kubernetes executor yet)")
	return remediations.NewRouter(cfg.DryRun, backends), closeAll, nil
}
