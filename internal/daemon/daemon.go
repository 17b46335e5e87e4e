// Package daemon assembles remediator's long-running process: the webhook
// receiver, queue, dispatcher, policy engine, state, metrics and the HTTP
// server that exposes them, with a graceful shutdown.
package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/remediator/remediator/internal/alert"
	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/httpauth"
	"github.com/remediator/remediator/internal/queue"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/policies"
	"github.com/remediator/remediator/receiver"
	"github.com/remediator/remediator/remediations"
)

// Options are the parts of a daemon that do not come from the config file.
type Options struct {
	// Auth authenticates the webhook (alerts role), the history API and
	// /metrics (read role); nil means no authentication.
	Auth *httpauth.Authenticator
	// InsecureNoAuth allows no authentication on a non-loopback address.
	InsecureNoAuth bool
	// Executor runs actions; nil means dry-run for every backend.
	Executor remediations.Executor
	// State is the state store (see OpenState); nil means memory.
	State state.Store
	// Audit is the audit history (see OpenAudit); nil means one in memory.
	Audit *audit.Store
	// StateHealthInterval is how often the state store is pinged for
	// /readyz and remediator_state_up (DefaultStateHealthInterval when 0).
	StateHealthInterval time.Duration
	Logger              *slog.Logger
}

// Daemon is one running remediator.
type Daemon struct {
	cfg      *config.Config
	opts     Options
	log      *slog.Logger
	registry *prometheus.Registry
	policy   *policies.Engine
	queue    *queue.Queue[alert.Alert]
	audit    *audit.Store
	disp     *dispatch.Dispatcher
	handler  http.Handler
	ready    atomic.Bool

	auditMetrics auditMetrics

	state        state.Store
	healthEvery  time.Duration
	stateUp      atomic.Bool
	stateUpGauge prometheus.Gauge
	stateChecked bool // only touched by checkState, which runs in one goroutine at a time
}

// New builds a daemon. It refuses a configuration that would expose an
// unauthenticated receiver beyond loopback.
func New(ctx context.Context, cfg *config.Config, opts Options) (*Daemon, error) {
	if !opts.Auth.Has(httpauth.Alerts) && !opts.InsecureNoAuth && !IsLoopback(cfg.ListenAddress) {
		return nil, fmt.Errorf("refusing to listen on %s without authentication: set REMEDIATOR_AUTH_TOKEN, --auth-token-file or basic auth, or pass --insecure-no-auth", cfg.ListenAddress)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if opts.Executor == nil {
		opts.Executor = remediations.DryRun{}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("remediator"),
	)

	popts := []policies.Option{policies.WithLogger(log), policies.WithRegisterer(reg), policies.WithOwnNamespace(cfg.Policy.OwnNamespace)}
	if cfg.Policy.Dir != "" {
		popts = append(popts, policies.WithDir(cfg.Policy.Dir))
	}
	if !cfg.BundledPolicy() {
		popts = append(popts, policies.WithoutBundled())
	}
	engine, err := policies.New(ctx, popts...)
	if err != nil {
		return nil, fmt.Errorf("loading policy: %w", err)
	}

	q := queue.NewSized(cfg.Receiver.QueueSize, cfg.Receiver.QueueMaxBytes, alert.Size)
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "remediator_queue_depth", Help: "Alerts waiting for a worker."},
			func() float64 { return float64(q.Len()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "remediator_queue_capacity", Help: "Capacity of the alert queue, in alerts."},
			func() float64 { return float64(q.Cap()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "remediator_queue_bytes", Help: "Estimated memory held by the alerts waiting for a worker."},
			func() float64 { return float64(q.Bytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "remediator_queue_max_bytes", Help: "Capacity of the alert queue, in bytes (receiver.queue_max_bytes)."},
			func() float64 { return float64(q.MaxBytes()) }),
	)
	st := opts.State
	if st == nil {
		st = state.NewMemory(nil)
	}
	backend := "memory"
	if _, ok := st.(*state.Redis); ok {
		backend = "redis"
	}
	upGauge := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "remediator_state_up", Help: "1 when the state store answers its health check, 0 when it does not (no actions, alerts answered 503).",
		ConstLabels: prometheus.Labels{"backend": backend},
	})
	reg.MustRegister(upGauge)
	if lost, ok := st.(interface{ LocksLost() uint64 }); ok {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "remediator_state_locks_lost_total",
			Help: "Target locks found lost (expired or taken over) while held: another replica may have acted on the target too.",
		}, func() float64 { return float64(lost.LocksLost()) }))
	}
	history := opts.Audit
	if history == nil {
		history, err = audit.Open(ctx, audit.Memory, audit.Options{Instance: cfg.AuditInstance(), Logger: log})
		if err != nil {
			return nil, err
		}
	}
	d := &Daemon{
		cfg: cfg, opts: opts, log: log, registry: reg, policy: engine, queue: q, audit: history, auditMetrics: newAuditMetrics(reg),
		state: st, healthEvery: cmp.Or(opts.StateHealthInterval, DefaultStateHealthInterval), stateUpGauge: upGauge,
		disp: &dispatch.Dispatcher{
			Processor: &dispatch.Processor{
				Runbooks: cfg.RunbookSet, Policy: engine, State: st, Executor: opts.Executor,
				DryRun: cfg.DryRun, ActionTimeout: cfg.Dispatcher.ActionTimeout, Log: log,
				Metrics: dispatch.NewMetrics(reg), Journal: history,
			},
			Recorder: history,
			Workers:  cfg.Dispatcher.Workers,
			Log:      log,
			Dedupe:   st,
		},
	}
	runbooks := cfg.RunbookSet
	names := make([]string, len(runbooks.Runbooks))
	for i, rb := range runbooks.Runbooks {
		names[i] = rb.Name
	}
	rcvOpts := receiver.Options{
		MaxBodyBytes: cfg.Receiver.MaxBodyBytes, MaxInflightBytes: cfg.Receiver.MaxInflightBytes,
		MaxAlertsPerNotification: cfg.Receiver.MaxAlertsPerNotification, Limits: cfg.Receiver.Limits(),
		DedupeTTL: cfg.Receiver.ResolvedDedupeTTL, FiringDedupeTTL: cfg.Receiver.FiringDedupeTTL,
		Runbook: func(ls map[string]string) string {
			if rb, err := runbooks.Match(ls); err == nil {
				return rb.Name
			}
			return ""
		},
		Runbooks: names,
		Logger:   log, Metrics: receiver.NewMetrics(reg),
	}
	// The receiver takes the alerts role's guard rather than being wrapped
	// in the middleware: it answers and counts its refusals itself.
	if opts.Auth != nil {
		rcvOpts.Auth = opts.Auth.Guard(httpauth.Alerts)
	}
	rcv := receiver.New(q, st, rcvOpts)
	d.handler = d.routes(rcv)
	return d, nil
}

func (d *Daemon) routes(rcv http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/alerts", rcv)
	var metrics http.Handler = promhttp.HandlerFor(d.registry, promhttp.HandlerOpts{Registry: d.registry, Timeout: 5 * time.Second})
	if d.cfg.Server.MetricsAuth != config.MetricsAuthNone {
		metrics = d.opts.Auth.Middleware(httpauth.Read, metrics)
	}
	mux.Handle("GET /metrics", metrics)
	api := &audit.API{Store: d.audit, Timeout: d.cfg.Server.WriteTimeout / 2, Log: d.log}
	api.Register(mux, func(h http.Handler) http.Handler { return d.opts.Auth.Middleware(httpauth.Read, h) })
	// Probes stay unauthenticated: kubelets cannot present credentials, and
	// they reveal nothing but up/ready.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !d.ready.Load() {
			writeText(w, http.StatusServiceUnavailable, "not ready\n")
			return
		}
		if !d.stateUp.Load() {
			writeText(w, http.StatusServiceUnavailable, "not ready: state store unreachable\n")
			return
		}
		writeText(w, http.StatusOK, "ready\n")
	})
	return mux
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// Handler is the daemon's HTTP handler (for tests and embedding).
func (d *Daemon) Handler() http.Handler { return d.handler }

// History is the audit history.
func (d *Daemon) History() *audit.Store { return d.audit }

// Registry is the daemon's metrics registry.
func (d *Daemon) Registry() *prometheus.Registry { return d.registry }

// ReloadPolicy reloads the policy (SIGHUP); a failed reload keeps the old one.
func (d *Daemon) ReloadPolicy(ctx context.Context) error { return d.policy.Reload(ctx) }

// stopBackstop bounds Serve's wait for the dispatcher once the shutdown
// timeout has passed and its work is cancelled. The dispatcher stops within
// its StopGrace (dispatch.DefaultStopGrace) by itself; this only guards
// against a call that ignores cancellation, so that the process still exits
// by shutdown_timeout + 1s (what it left unrecorded is then logged, not
// recorded).
const stopBackstop = 900 * time.Millisecond

// Serve serves on ln until ctx ends, then shuts down gracefully: /readyz
// fails, the listener stops accepting, in-flight requests finish, and the
// workers drain the queue, all within the shutdown timeout. When it expires,
// in-flight processing is cancelled: every accepted alert not processed by
// then is recorded as dropped (an action that had started, as failed), and
// Serve returns within a second.
func (d *Daemon) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           d.handler,
		ReadHeaderTimeout: d.cfg.Server.ReadTimeout,
		ReadTimeout:       d.cfg.Server.ReadTimeout,
		WriteTimeout:      d.cfg.Server.WriteTimeout,
		IdleTimeout:       d.cfg.Server.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(d.log.Handler(), slog.LevelWarn),
	}
	// Workers outlive ctx: they drain the queue during shutdown and are only
	// cancelled when the shutdown deadline passes.
	workCtx, cancelWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer cancelWork(nil)
	// Before any worker runs: the actions a previous incarnation left
	// unfinished are marked interrupted, and never re-run.
	d.reap(ctx)
	go d.maintainAudit(ctx)
	workersDone := make(chan struct{})
	go func() {
		defer close(workersDone)
		d.disp.Run(workCtx, d.queue.C())
	}()
	// The first check runs before the daemon reports ready, so /readyz never
	// says ready while the store is down.
	d.checkState(ctx)
	go d.watchState(ctx)
	go func() {
		if err := d.policy.Watch(ctx); err != nil {
			d.log.Error("policy directory is not watched; send SIGHUP to reload", "err", err)
		}
	}()

	serveErr := make(chan error, 1)
	go func() {
		var err error
		if d.cfg.Server.TLSCertFile != "" {
			err = srv.ServeTLS(ln, d.cfg.Server.TLSCertFile, d.cfg.Server.TLSKeyFile)
		} else {
			err = srv.Serve(ln)
		}
		serveErr <- err
	}()
	d.ready.Store(true)
	switch {
	case d.opts.Auth == nil:
		d.log.Warn("the webhook accepts unauthenticated requests; set REMEDIATOR_AUTH_TOKEN (or basic auth) before exposing it", "address", ln.Addr().String())
	case !d.opts.Auth.Has(httpauth.Read):
		// The quick start's one token: say once that it is not separated.
		d.log.Info("no read credential: the alerts credential also reads the history API and /metrics; set REMEDIATOR_READ_TOKEN (or read basic auth) to separate them")
	}
	d.log.Info("remediator listening", "address", ln.Addr().String(), "tls", d.cfg.Server.TLSCertFile != "",
		"auth", d.opts.Auth != nil, "metrics_auth", d.cfg.Server.MetricsAuth,
		// Whether anything at all can act: --dry-run, or no backend configured.
		"dry_run", len(actingBackends(d.opts.Executor, d.cfg.DryRun)) == 0, "acting_backends", actingBackends(d.opts.Executor, d.cfg.DryRun),
		"runbooks", len(d.cfg.RunbookSet.Runbooks),
		"workers", d.cfg.Dispatcher.Workers, "queue_size", d.cfg.Receiver.QueueSize)

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("http server: %w", err)
		}
	}
	d.ready.Store(false)
	d.log.Info("shutting down: no longer ready, finishing queued work", "queued", d.queue.Len(), "timeout", d.cfg.Server.ShutdownTimeout)
	deadline, cancel := context.WithTimeout(context.WithoutCancel(ctx), d.cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(deadline); err != nil {
		d.log.Warn("http server did not shut down cleanly", "err", err)
	}
	// No handler runs any more, so nothing can push: close the queue and let
	// the workers drain it.
	d.queue.Close()
	select {
	case <-workersDone:
		d.log.Info("shutdown complete")
	case <-deadline.Done():
		queued := d.queue.Len()
		// The cause is the reason the records of the alerts cut short
		// give.
		cancelWork(fmt.Errorf("shutdown: server.shutdown_timeout (%s) passed", d.cfg.Server.ShutdownTimeout))
		stuck := time.NewTimer(stopBackstop)
		defer stuck.Stop()
		select {
		case <-workersDone:
			d.log.Error("shutdown deadline passed; in-flight processing cancelled, unprocessed alerts recorded as dropped", "queued_alerts", queued)
		case <-stuck.C:
			d.log.Error("shutdown deadline passed and the workers did not stop when cancelled; exiting without them: alerts they hold may have no audit record", "queued_alerts", queued)
		}
	}
	return runErr
}

// IsLoopback reports whether a listen address only accepts local connections.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
