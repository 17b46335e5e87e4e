package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
	"github.com/alecthomas/kingpin/v2"
	goredis "github.com/redis/go-redis/v9"

	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/httpauth"
	"github.com/remediator/remediator/internal/redisurl"
	"github.com/remediator/remediator/remediations/builtin"
	redisbackend "github.com/remediator/remediator/remediations/redis"
)

// defaultGCPercent is the GOGC serve uses when the environment sets none
// (docs/benchmarks.md: p99 of a decision 1.15 ms at 100, 0.30 ms at 400).
const defaultGCPercent = 400

type serveCmd struct {
	cmd            *kingpin.CmdClause
	configFile     string
	listenAddress  string
	policyDir      string
	noBundled      bool
	dryRun         bool
	insecureNoAuth bool
	alerts, read   *roleFlags
	tlsCert        string
	tlsKey         string
	state          string
	stateURLFile   string
	kubeconfig     string
	kubeContext    string
	audit          string
	auditRetention time.Duration
	memoryLimit    memorySize
	log            *logFlags
}

func newServeCmd(app *kingpin.Application) *serveCmd {
	c := &serveCmd{}
	c.cmd = app.Command("serve", "Run the daemon: receive Alertmanager webhooks on POST /api/v1/alerts, decide with OPA, remediate.\n\n"+
		"It runs on its embedded defaults: 127.0.0.1:9095, in-memory state, the bundled policy and runbooks.\n"+
		"A backend acts once a target is configured for it: a cluster by --kubeconfig, $KUBECONFIG or the in-cluster\n"+
		"ServiceAccount; postgres.targets and redis.targets in the config, or REMEDIATOR_POSTGRES_DSN /\n"+
		"REMEDIATOR_REDIS_URL for the target \"default\". Anything not configured only plans, and --dry-run plans\n"+
		"everything, whatever the environment configures. At start one line per backend and target says ACTING or\n"+
		"PLANNING, and why. SIGHUP reloads the policy; SIGTERM shuts down gracefully.\n\n"+
		"Credentials come from the environment or files, never from flag values:\n"+
		"  alerts role (POST /api/v1/alerts, Alertmanager): REMEDIATOR_AUTH_TOKEN (bearer) or --auth-token-file, and/or\n"+
		"    REMEDIATOR_BASIC_AUTH_USERNAME + REMEDIATOR_BASIC_AUTH_PASSWORD, or --basic-auth-username + --basic-auth-password-file\n"+
		"  read role (GET /api/v1/remediations, remediator history --url, GET /metrics): REMEDIATOR_READ_TOKEN or\n"+
		"    --read-token-file, and/or REMEDIATOR_READ_BASIC_AUTH_USERNAME + REMEDIATOR_READ_BASIC_AUTH_PASSWORD, or\n"+
		"    --read-basic-auth-username + --read-basic-auth-password-file\n"+
		"  REMEDIATOR_POSTGRES_DSN, REMEDIATOR_REDIS_URL, or the dsn_env/dsn_file, url_env/url_file of each target\n"+
		"  REMEDIATOR_STATE_REDIS_URL or --state-redis-url-file for shared state (--state takes a URL only without a password)\n"+
		"  REMEDIATOR_AUDIT_POSTGRES_DSN for a PostgreSQL audit history (--audit takes a DSN only without a password)\n\n"+
		"With only an alerts credential it also reads; once a read credential is set, each grants only its role (403\n"+
		"elsewhere). server.metrics_auth: none in the config leaves /metrics open. A secret that is set but empty, or set\n"+
		"both by a variable and by a file, stops the start.\n\n"+
		"The audit history (GET /api/v1/remediations, remediator history) is kept in an SQLite file by default:\n"+
		"$STATE_DIRECTORY/audit.db, else $XDG_STATE_HOME/remediator/audit.db, else ~/.local/state/remediator/audit.db.\n\n"+
		"Examples:\n"+
		"  remediator serve --dry-run\n"+
		"  REMEDIATOR_AUTH_TOKEN=s3cret remediator serve --listen-address=:9095 --config=remediator.yaml --policy-dir=./policies\n"+
		"  remediator serve --listen-address=:9095 --auth-token-file=/run/secrets/alerts-token --read-token-file=/run/secrets/read-token\n"+
		"  REMEDIATOR_AUDIT_POSTGRES_DSN=postgres://remediator:pw@db:5432/remediator remediator serve --config=remediator.yaml").Default()
	c.cmd.Flag("config", "YAML config file (settings and runbooks); defaults apply to anything it leaves out.").Short('c').Envar("REMEDIATOR_CONFIG").ExistingFileVar(&c.configFile)
	c.cmd.Flag("listen-address", "Address to listen on (default 127.0.0.1:9095, or listen_address from the config).").Envar("REMEDIATOR_LISTEN_ADDRESS").StringVar(&c.listenAddress)
	c.cmd.Flag("policy-dir", "Directory of Rego modules and data files loaded beside the bundled policy; watched for changes.").Envar("REMEDIATOR_POLICY_DIR").ExistingDirVar(&c.policyDir)
	c.cmd.Flag("no-bundled-policy", "Do not load the bundled policy: --policy-dir must define data.remediator.decision.").BoolVar(&c.noBundled)
	c.cmd.Flag("dry-run", "Plan every action, execute none, whatever backends are configured.").Envar("REMEDIATOR_DRY_RUN").BoolVar(&c.dryRun)
	c.cmd.Flag("insecure-no-auth", "Allow listening on a non-loopback address without authentication.").BoolVar(&c.insecureNoAuth)
	c.alerts = addRoleFlags(c.cmd, httpauth.Alerts, "File holding the bearer token of the alerts role, which Alertmanager sends to the webhook (else REMEDIATOR_AUTH_TOKEN).",
		"Basic auth user name of the alerts role (password from REMEDIATOR_BASIC_AUTH_PASSWORD or --basic-auth-password-file).")
	c.read = addRoleFlags(c.cmd, httpauth.Read, "File holding the bearer token of the read role: history API and /metrics (else REMEDIATOR_READ_TOKEN).",
		"Basic auth user name of the read role (password from REMEDIATOR_READ_BASIC_AUTH_PASSWORD or --read-basic-auth-password-file).")
	c.cmd.Flag("tls-cert-file", "TLS certificate; serve HTTPS when set with --tls-key-file.").Envar("REMEDIATOR_TLS_CERT_FILE").ExistingFileVar(&c.tlsCert)
	c.cmd.Flag("tls-key-file", "TLS private key.").Envar("REMEDIATOR_TLS_KEY_FILE").ExistingFileVar(&c.tlsKey)
	c.cmd.Flag("state", "Where state lives: memory (default, one replica) or redis://host:port/db without a password (shared by replicas; "+
		"a URL with a password goes in REMEDIATOR_STATE_REDIS_URL or --state-redis-url-file).").PlaceHolder("memory|redis://HOST:PORT/DB").StringVar(&c.state)
	c.cmd.Flag("kubeconfig", "Kubeconfig of the cluster Kubernetes actions act on (default: $KUBECONFIG, else the in-cluster ServiceAccount; "+
		"without either they only plan; ~/.kube/config is never picked up by itself).").ExistingFileVar(&c.kubeconfig)
	c.cmd.Flag("kube-context", "Kubeconfig context to use (default: its current context).").StringVar(&c.kubeContext)
	c.cmd.Flag("state-redis-url-file", "File holding the Redis URL of the shared state store.").Envar("REMEDIATOR_STATE_REDIS_URL_FILE").ExistingFileVar(&c.stateURLFile)
	c.cmd.Flag("audit", "Where the audit history lives: sqlite:///path/audit.db (default: under the state directory, see above), memory "+
		"(lost at exit), or postgres://user@host/db without a password (a DSN with a password goes in REMEDIATOR_AUDIT_POSTGRES_DSN).").
		Envar("REMEDIATOR_AUDIT").PlaceHolder("sqlite:///PATH|memory|postgres://...").StringVar(&c.audit)
	c.cmd.Flag("audit-retention", "Delete audit records older than this (default 2160h = 90 days, or audit.retention from the config).").
		Envar("REMEDIATOR_AUDIT_RETENTION").DurationVar(&c.auditRetention)
	c.cmd.Flag("memory-limit", "Go memory limit, e.g. 180MiB (units B, KiB, MiB, GiB): the garbage collector runs as often as it must "+
		"to keep Go's memory under it. Default: GOMEMLIMIT if set, else 70% of the container's cgroup memory limit, else none. "+
		"Set it about 70% of the container's limit: the process's memory runs some 40 MiB above Go's (mapped binary, SQLite).").
		Envar("REMEDIATOR_MEMORY_LIMIT").PlaceHolder("SIZE").SetValue(&c.memoryLimit)
	c.log = addLogFlags(c.cmd)
	return c
}

func (c *serveCmd) run(chosen string, _, stderr io.Writer) (int, bool) {
	if chosen != c.cmd.FullCommand() {
		return 0, false
	}
	log, err := c.log.logger(stderr)
	if err != nil {
		fmt.Fprintln(stderr, "remediator:", err)
		return 2, true
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := c.serve(ctx, log); err != nil {
		log.Error("remediator stopped", "err", err)
		return 1, true
	}
	return 0, true
}

func (c *serveCmd) serve(ctx context.Context, log *slog.Logger) error {
	// First, so that everything after it, the policy compiled at start-up
	// included, runs under the limit.
	applyMemoryLimit(log, int64(c.memoryLimit), os.Getenv("GOMEMLIMIT"), memlimit.FromCgroup)
	// The daemon's live heap is a few MB, and with Go's default GOGC=100 a
	// collection runs every ~100 policy decisions; its pauses set the decision
	// latency's tail on small machines. Trading some memory for fewer
	// collections is the better default here; GOGC in the environment wins.
	// The memory limit set above bounds the heap whatever GOGC is.
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
		log.Debug("GOGC not set; using a larger GC target for steadier latency", "gogc", defaultGCPercent)
	}
	// go-redis reports failed dials through a process-wide logger that writes
	// plain lines to stderr; route them through ours.
	goredis.SetLogger(redisbackend.GoRedisLogger{Log: log})
	catalog, err := builtin.Catalog()
	if err != nil {
		return err
	}
	cfg, err := config.Load(c.configFile, catalog)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings {
		log.Warn("config: " + w)
	}
	if err := c.applyFlags(cfg); err != nil {
		return err
	}
	auth, err := c.authenticator()
	if err != nil {
		return err
	}
	router, closeBackends, err := daemon.Backends(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeBackends()
	st, closeState, err := daemon.OpenState(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeState()
	history, closeAudit, err := daemon.OpenAudit(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeAudit()
	d, err := daemon.New(ctx, cfg, daemon.Options{Auth: auth, InsecureNoAuth: c.insecureNoAuth, Logger: log, Executor: router, State: st, Audit: history})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.ListenAddress)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading policy")
				_ = d.ReloadPolicy(ctx) // logged and counted by the engine
			}
		}
	}()
	return d.Serve(ctx, ln)
}

// applyFlags lets flags override the config file.
func (c *serveCmd) applyFlags(cfg *config.Config) error {
	if err := c.applyStateFlags(&cfg.State); err != nil {
		return err
	}
	if err := applyAuditFlag(&cfg.Audit, c.audit); err != nil {
		return err
	}
	if c.auditRetention < 0 {
		return errors.New("--audit-retention must be positive")
	}
	if c.auditRetention > 0 {
		cfg.Audit.Retention = c.auditRetention
	}
	if c.listenAddress != "" {
		cfg.ListenAddress = c.listenAddress
	}
	if c.policyDir != "" {
		cfg.Policy.Dir = c.policyDir
	}
	if c.noBundled {
		no := false
		cfg.Policy.Bundled = &no
	}
	if c.dryRun {
		cfg.DryRun = true
	}
	if c.tlsCert != "" {
		cfg.Server.TLSCertFile, cfg.Server.TLSKeyFile = c.tlsCert, c.tlsKey
	}
	if c.kubeconfig != "" {
		cfg.Kubernetes.Kubeconfig = c.kubeconfig
	}
	if c.kubeContext != "" {
		cfg.Kubernetes.Context = c.kubeContext
	}
	return nil
}

// applyStateFlags applies --state and --state-redis-url-file. A URL with a
// password is refused as a flag value: `ps` and shell history would show it.
func (c *serveCmd) applyStateFlags(s *config.State) error {
	if c.state != "" && c.stateURLFile != "" {
		return errors.New("--state and --state-redis-url-file are alternatives; use one")
	}
	switch {
	case c.stateURLFile != "":
		s.RedisURLEnv, s.RedisURLFile = "", c.stateURLFile
	case c.state == "memory":
		*s = config.State{}
	case strings.HasPrefix(c.state, "redis://") || strings.HasPrefix(c.state, "rediss://"):
		if redisurl.HasPassword(c.state) {
			return fmt.Errorf("--state: the URL has a password, which must not be on the command line; put the URL in %s or a file named by --state-redis-url-file", config.EnvStateRedisURL)
		}
		s.RedisURLEnv, s.RedisURLFile, s.RedisURL = "", "", c.state
	case c.state != "":
		return fmt.Errorf("--state %q: want memory or redis://host:port/db", c.state)
	}
	return nil
}

// applyAuditFlag applies --audit over the config. A DSN with a password is
// refused as a flag value: `ps` and shell history would show it.
func applyAuditFlag(a *config.Audit, dsn string) error {
	if dsn == "" {
		return nil
	}
	if config.HasPassword(dsn) {
		return fmt.Errorf("--audit: the DSN has a password, which must not be on the command line; put the DSN in %s", config.EnvAuditPostgresDSN)
	}
	a.DSN, a.DSNEnv, a.DSNFile = dsn, "", ""
	return nil
}

// authenticator builds the authentication of each role from the environment
// and secret files (see secretSource); nil when no credential is set, which
// daemon.New allows on loopback only.
func (c *serveCmd) authenticator() (*httpauth.Authenticator, error) {
	creds := make(map[httpauth.Role]httpauth.Credential)
	for _, f := range []*roleFlags{c.alerts, c.read} {
		cred, err := f.credential()
		if err != nil {
			return nil, err
		}
		if cred != nil {
			creds[f.role] = cred
		}
	}
	if len(creds) == 0 {
		return nil, nil
	}
	return httpauth.New(creds)
}
