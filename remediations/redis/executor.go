package redis

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/remediator/remediator/internal/redisurl"
	"github.com/remediator/remediator/remediations"
)

// Defaults for a TargetConfig that leaves them out.
const (
	DefaultCallTimeout = 5 * time.Second
	// DefaultPoolSize is small on purpose: the daemon issues a handful of
	// commands per alert, and a Redis in trouble should not see a burst of
	// new connections from the tool meant to help it.
	DefaultPoolSize = 4
)

// TargetConfig is one named Redis connection of the config file. The URL
// (redis://[user:password@]host:port/db) holds the password, so it is read
// only from an environment variable or a file, never written in the config.
type TargetConfig struct {
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`
	// PoolSize is the most connections kept open (default 4).
	PoolSize int `yaml:"pool_size"`
	// CallTimeout bounds each command: dial, write and read (default 5s).
	// It replaces any dial_timeout, read_timeout or write_timeout in the
	// URL's query, so one setting says how long a call may take.
	CallTimeout time.Duration `yaml:"call_timeout"`
}

// Validate checks the settings that need no I/O (the config loader calls it
// too, so a bad target fails at start with its file and line).
func (c TargetConfig) Validate() error {
	switch {
	case c.URLEnv != "" && c.URLFile != "":
		return errors.New("set one of url_env and url_file, not both")
	case c.URLEnv == "" && c.URLFile == "":
		return errors.New("url_env or url_file is required (the URL holds the password, so it is not written in the config)")
	case c.PoolSize < 0:
		return fmt.Errorf("pool_size %d is negative", c.PoolSize)
	case c.CallTimeout < 0:
		return fmt.Errorf("call_timeout %s is negative", c.CallTimeout)
	}
	return nil
}

// url reads the connection URL from where the config says it is; Validate
// has checked that exactly one source is set.
func (c TargetConfig) url() (string, error) {
	if c.URLEnv != "" {
		v := strings.TrimSpace(os.Getenv(c.URLEnv))
		if v == "" {
			return "", fmt.Errorf("environment variable %s (url_env) is unset or empty", c.URLEnv)
		}
		return v, nil
	}
	b, err := os.ReadFile(c.URLFile)
	if err != nil {
		return "", fmt.Errorf("reading url_file: %w", err)
	}
	v := strings.TrimSpace(string(b))
	if v == "" {
		return "", fmt.Errorf("url_file %s is empty", c.URLFile)
	}
	return v, nil
}

// Executor runs the Redis actions against named connections.
type Executor struct {
	log   *slog.Logger
	conns map[string]*conn
}

// conn is one configured Redis.
type conn struct {
	name        string
	addr        string // host:port/db, safe to show
	client      *goredis.Client
	callTimeout time.Duration
	sec         redisurl.Secrets
}

// NewExecutor opens a client per target. A target that cannot be reached now
// is logged and kept: Redis may come back before the next alert, and each
// action then reports the failure itself. A config that cannot work (no URL,
// a malformed URL, negative sizes) is an error.
func NewExecutor(ctx context.Context, targets map[string]TargetConfig, log *slog.Logger) (*Executor, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Executor{log: log, conns: make(map[string]*conn, len(targets))}
	for _, name := range slices.Sorted(maps.Keys(targets)) {
		c, err := newConn(name, targets[name])
		if err != nil {
			_ = e.Close()
			return nil, fmt.Errorf("redis target %q: %w", name, err)
		}
		e.conns[name] = c
	}
	for _, name := range slices.Sorted(maps.Keys(e.conns)) {
		c := e.conns[name]
		if err := c.ping(ctx); err != nil {
			log.Warn("redis target unreachable at start; actions on it will fail until it is back",
				"connection", name, "addr", c.addr, "err", err)
			continue
		}
		log.Info("redis target ready", "connection", name, "addr", c.addr)
	}
	return e, nil
}

func newConn(name string, cfg TargetConfig) (*conn, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	raw, err := cfg.url()
	if err != nil {
		return nil, err
	}
	sec := redisurl.NewSecrets(raw)
	opt, err := redisurl.Parse(raw, sec)
	if err != nil {
		return nil, err
	}
	timeout := cmp.Or(cfg.CallTimeout, DefaultCallTimeout)
	// Named so that CLIENT LIST shows who holds the connection.
	opt.ClientName = cmp.Or(opt.ClientName, "remediator")
	// A pool_size in the URL's query is kept unless the config sets one.
	opt.PoolSize = cmp.Or(cfg.PoolSize, opt.PoolSize, DefaultPoolSize)
	redisurl.Bound(opt, timeout)
	return &conn{
		name:        name,
		addr:        redisurl.DisplayAddr(opt),
		client:      goredis.NewClient(opt),
		callTimeout: timeout,
		sec:         sec,
	}, nil
}

// Close closes every client.
func (e *Executor) Close() error {
	var errs []error
	for _, name := range slices.Sorted(maps.Keys(e.conns)) {
		c := e.conns[name]
		if err := c.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("closing redis connection %q: %w", name, c.sec.ScrubErr(err)))
		}
	}
	return errors.Join(errs...)
}

// Addr says where connection name goes, host:port/db (never the password);
// ok is false for a connection not configured. For the start-up log.
func (e *Executor) Addr(name string) (addr string, ok bool) {
	c, ok := e.conns[name]
	if !ok {
		return "", false
	}
	return c.addr, true
}

// Configured reports whether t's connection is configured, so a router can
// send the target here or plan only.
func (e *Executor) Configured(t remediations.Target) bool {
	_, ok := e.conns[t.ConnectionName()]
	return ok
}

// owns reports whether the executor runs the named action.
func owns(name string) bool {
	return slices.ContainsFunc(Actions(), func(a remediations.Action) bool { return a.Spec().Name == name })
}

// Execute runs a Redis action on t's connection. It implements
// remediations.Executor; dry-run is decided in front of it.
func (e *Executor) Execute(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	return e.run(ctx, a, t, p, false)
}

// Preview implements remediations.Previewer: a read-only run. delete_keys
// SCANs exactly as a real run (same MATCH, COUNT and cap) without UNLINK and
// reports a DeleteKeysPreview; cache_report only reads, so its preview is
// its run.
func (e *Executor) Preview(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params) (remediations.Result, error) {
	return e.run(ctx, a, t, p, true)
}

// run runs a, or previews it: then nothing is changed and the result is a
// dry-run.
func (e *Executor) run(ctx context.Context, a remediations.Action, t remediations.Target, p remediations.Params, preview bool) (remediations.Result, error) {
	name := a.Spec().Name
	if !owns(name) {
		return remediations.Result{}, fmt.Errorf("the redis executor does not run %s (it runs %s, %s)",
			name, CacheReport.Spec().Name, DeleteKeys.Spec().Name)
	}
	on := strings.TrimSpace(t.String()) // "Redis " when the target has no instance
	// Plan validates the params and the target kind, and the plan goes into
	// the result so the audit record shows what was meant next to what was
	// done.
	plan, err := a.Plan(t, p)
	if err != nil {
		return remediations.Result{}, fmt.Errorf("planning %s on %s: %w", name, on, err)
	}
	res := remediations.Result{DryRun: preview, Plan: plan}
	cn := t.ConnectionName()
	c, ok := e.conns[cn]
	if !ok {
		return res, fmt.Errorf("%s on %s: no redis connection %q is configured (configured: %s)",
			name, on, cn, e.configuredNames())
	}
	switch name {
	case CacheReport.Spec().Name:
		ev, err := c.cacheReport(ctx)
		if err != nil {
			return res, fmt.Errorf("%s on %s: %w", name, on, err)
		}
		res.Evidence = ev
		return res, nil
	default: // DeleteKeys; owns() has ruled out anything else
		params, err := remediations.Decode[DeleteKeysParams](p)
		if err != nil {
			return res, fmt.Errorf("%s on %s: %w", name, on, err)
		}
		if preview {
			pv, err := c.previewDeleteKeys(ctx, e.log, params)
			res.Evidence = pv
			if err != nil {
				return res, fmt.Errorf("%s on %s: %w", name, on, err)
			}
			return res, nil
		}
		ev, runErr := c.deleteKeys(ctx, e.log, params)
		res.Evidence = ev
		if ev.Deleted > 0 {
			// Reported even when the run failed part way, so the audit
			// record says what did change.
			res.Changes = []string{fmt.Sprintf("unlinked %d keys matching %q", ev.Deleted, params.Pattern)}
		}
		if runErr != nil {
			return res, fmt.Errorf("%s on %s: %w", name, on, runErr)
		}
		return res, nil
	}
}

func (e *Executor) configuredNames() string {
	if len(e.conns) == 0 {
		return "none"
	}
	return strings.Join(slices.Sorted(maps.Keys(e.conns)), ", ")
}

// call runs one command (or one pipeline) by the call timeout, and returns
// when ctx ends even if Redis does not answer (see redisurl.Call): a shutdown
// or a lost target lock stops the action at once.
func call[T any](ctx context.Context, c *conn, cmd func(context.Context) (T, error)) (T, error) {
	return redisurl.Call(ctx, c.callTimeout, cmd)
}

// callErr adds the connection and command to a command's error and removes
// any secret. parent is the context the call's own deadline was derived from:
// a deadline that expired while parent is still live was the call timeout,
// which the error says, since a bare "context deadline exceeded" does not
// tell a slow Redis from a run that was stopped.
func (c *conn) callErr(parent context.Context, what string, err error) error {
	err = c.sec.ScrubErr(err)
	if errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("redis connection %q (%s): %s: no answer within call_timeout %s: %w", c.name, c.addr, what, c.callTimeout, err)
	}
	return fmt.Errorf("redis connection %q (%s): %s: %w", c.name, c.addr, what, err)
}

func (c *conn) ping(ctx context.Context) error {
	if _, err := call(ctx, c, func(ctx context.Context) (string, error) { return c.client.Ping(ctx).Result() }); err != nil {
		return c.callErr(ctx, "PING", err)
	}
	return nil
}
