package daemon

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/state"
)

// DefaultStateHealthInterval is how often the daemon pings its state store.
const DefaultStateHealthInterval = 2 * time.Second

// OpenState opens the state store cfg selects: Redis when cfg.State names a
// URL, memory otherwise. It does not need Redis to be up: the daemon starts
// not ready and becomes ready when Redis answers. The returned func closes it.
func OpenState(ctx context.Context, cfg *config.Config, log *slog.Logger) (state.Store, func(), error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !cfg.State.Redis() {
		log.Info("state in memory: one replica only; rate limits and cooldowns restart with the process (set REMEDIATOR_STATE_REDIS_URL to share state)")
		return state.NewMemory(nil), func() {}, nil
	}
	url, err := cfg.State.URL(os.Getenv)
	if err != nil {
		return nil, nil, err
	}
	r, err := state.NewRedis(state.RedisOptions{
		URL: url, Prefix: cfg.State.Prefix, LockTTL: cfg.State.LockTTL, CallTimeout: cfg.State.CallTimeout,
		Logger: log.With("component", "state"),
	})
	if err != nil {
		return nil, nil, err
	}
	if err := r.Ping(ctx); err != nil {
		log.Warn("state store unreachable at start; not ready (alerts are answered 503) until it is back", "addr", r.Addr(), "err", err)
	} else {
		log.Info("state in redis", "addr", r.Addr(), "prefix", r.Prefix())
	}
	return r, func() {
		if err := r.Close(); err != nil {
			log.Warn("closing the state store", "err", err)
		}
	}, nil
}

// checkState pings the store once and records the result; it logs changes.
func (d *Daemon) checkState(ctx context.Context) {
	timeout := max(d.healthEvery, time.Second)
	ctx, cancel := context.WithTimeout(ctx, timeout)
	err := d.state.Ping(ctx)
	cancel()
	up := err == nil
	was := d.stateUp.Swap(up)
	if up {
		d.stateUpGauge.Set(1)
	} else {
		d.stateUpGauge.Set(0)
	}
	switch {
	case was && !up:
		d.log.Error("state store unreachable: no actions, alerts answered 503, not ready, until it is back", "err", err)
	case !was && up && d.stateChecked:
		d.log.Info("state store reachable again: ready")
	}
	d.stateChecked = true
}

// watchState pings the store every healthEvery until ctx ends.
func (d *Daemon) watchState(ctx context.Context) {
	t := time.NewTicker(d.healthEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			d.checkState(ctx)
		}
	}
}
