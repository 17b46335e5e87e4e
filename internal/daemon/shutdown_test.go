package daemon_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/blackhole"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/internal/state"
	"github.com/remediator/remediator/remediations/builtin"
)

// shutdownConfig: the Redis backend's "default" connection is a black hole
// that accepts and never answers, with a call_timeout far beyond the
// shutdown timeout, so that only the shutdown ends the calls. CacheFlush acts
// at once (its action is what blocks); the shipped RedisCacheMaintenance
// investigates first (its investigation blocks).
const shutdownConfig = `
server:
  shutdown_timeout: 1s
dispatcher:
  workers: 2
redis:
  targets:
    default: {url_file: URL_FILE, call_timeout: 30s}
runbooks:
  - name: CacheFlush
    match: ['alertname="CacheFlush"']
    target:
      kind: Redis
      instance: [instance]
    resolve:
      - action: redis.delete_keys
        params: {pattern: "expired:*", max_keys: 10000, batch_size: 500, pause_ms: 10}
`

func shutdownCfg(t *testing.T, redisAddr string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	urlFile := filepath.Join(dir, "redis-url")
	if err := os.WriteFile(urlFile, []byte("redis://"+redisAddr+"/0\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "remediator.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(shutdownConfig, "URL_FILE", urlFile, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	catalog, err := builtin.Catalog()
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path, catalog)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Policy.OwnNamespace = "remediator"
	return cfg
}

// cacheAlert is the shipped cache sample as alertname, with its own
// fingerprint and Redis instance (so its own target).
func cacheAlert(t *testing.T, alertname, fp, instance string) []byte {
	t.Helper()
	b := sample(t, "redis-cache-maintenance.json")
	b = bytes.ReplaceAll(b, []byte("a1b2c3d4e5f60009"), []byte(fp))
	b = bytes.ReplaceAll(b, []byte("redis-cache-0:6379"), []byte(instance))
	return bytes.ReplaceAll(b, []byte("RedisCacheMaintenance"), []byte(alertname))
}

// TestShutdownLosesNothing (issue 12): alerts accepted while the backend
// never answers, then a shutdown. Serve returns by shutdown_timeout + 1s;
// every accepted alert has exactly one record, none denied: those whose
// action had started are failed (and never re-run: a re-send is a
// duplicate), the others dropped with the reason and their dedupe keys
// released, so that after a restart on the same state their re-sends are
// accepted and processed.
func TestShutdownLosesNothing(t *testing.T) {
	stores := []struct {
		name string
		open func(t *testing.T) state.Store
	}{
		{"memory state", func(*testing.T) state.Store { return state.NewMemory(nil) }},
		{"redis state", func(t *testing.T) state.Store {
			prefix := redistest.Prefix()
			st, err := state.NewRedis(state.RedisOptions{URL: redistest.URL(), Prefix: prefix})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				_ = st.Close()
				cleanupRedisPrefix(t, prefix)
			})
			return st
		}},
	}
	for _, sc := range stores {
		t.Run(sc.name, func(t *testing.T) {
			bh := blackhole.Start(t)
			cfg := shutdownCfg(t, bh.Addr())
			// The backends' start-up check would wait call_timeout.
			startCtx, cancelStart := context.WithTimeout(context.Background(), 200*time.Millisecond)
			router, closeBackends, err := daemon.Backends(startCtx, cfg, nil)
			cancelStart()
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(closeBackends)
			st := sc.open(t)
			history, err := audit.Open(context.Background(), audit.Memory, audit.Options{})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = history.Close() })
			h := serveDaemon(t, cfg, daemon.Options{Executor: router, State: st, Audit: history}, true)

			// Two CacheFlush alerts take both workers into their actions,
			// each waiting on its own connection to the black hole.
			conns := bh.Accepted()
			type posted struct {
				fp, alertname, instance string
			}
			var alerts []posted
			post := func(alertname string, i int) {
				t.Helper()
				a := posted{fmt.Sprintf("5d%04x%010x", len(alertname), i), alertname, fmt.Sprintf("cache-%d:6379", i)}
				r := h.post(cacheAlert(t, a.alertname, a.fp, a.instance), "Bearer "+token)
				if r.code != http.StatusOK || r.body["accepted"] != float64(1) {
					t.Fatalf("post %s: %d %v", a.fp, r.code, r.body)
				}
				alerts = append(alerts, a)
			}
			post("CacheFlush", 0)
			post("CacheFlush", 1)
			waitFor(t, "both actions waiting on the backend", func() bool { return bh.Accepted() >= conns+2 })
			// Queued behind them: some that act at once, some that
			// investigate first.
			for i := 2; i < 12; i++ {
				post("CacheFlush", i)
			}
			for i := 12; i < 20; i++ {
				post("RedisCacheMaintenance", i)
			}

			stopped := time.Now()
			if err := h.stop(); err != nil {
				t.Fatalf("Serve: %v", err)
			}
			took := time.Since(stopped)
			limit := cfg.Server.ShutdownTimeout + time.Second
			t.Logf("Serve returned %v after the shutdown began (shutdown_timeout %v)", took.Round(time.Millisecond), cfg.Server.ShutdownTimeout)
			if took > limit {
				t.Errorf("Serve returned %v after the shutdown began, want within shutdown_timeout + 1s = %v", took, limit)
			}

			var failed, dropped []string
			for _, a := range alerts {
				outs := h.outcomesFor(a.fp, "")
				if len(outs) != 1 {
					t.Errorf("%s (%s): %d records, want 1", a.fp, a.alertname, len(outs))
					continue
				}
				o := outs[0]
				switch o.Status {
				case dispatch.StatusFailed:
					failed = append(failed, a.fp)
					if o.Chosen != 1 || !strings.Contains(o.Error, "interrupted: shutdown") {
						t.Errorf("%s: failed, chosen %d, error %q; want option 1, interrupted by the shutdown", a.fp, o.Chosen, o.Error)
					}
				case dispatch.StatusDropped:
					dropped = append(dropped, a.fp)
					if !strings.Contains(o.Error, "shutdown") || o.Chosen != 0 {
						t.Errorf("%s: dropped, chosen %d, error %q; want nothing chosen and the shutdown as the reason", a.fp, o.Chosen, o.Error)
					}
					for _, opt := range o.Options {
						if opt.IntentID != "" || opt.Result != nil {
							t.Errorf("%s: dropped, yet option %d ran: %+v", a.fp, opt.Option, opt)
						}
					}
				default:
					t.Errorf("%s (%s): %s (%s), want failed or dropped", a.fp, a.alertname, o.Status, o.Error)
				}
			}
			t.Logf("%d of %d accepted alerts recorded: %d failed (actions started), %d dropped", len(failed)+len(dropped), len(alerts), len(failed), len(dropped))
			if len(failed) != 2 {
				t.Errorf("failed %v, want the two actions that had started", failed)
			}

			// Restart on the same state and history, with a backend that
			// answers (dry-run): the re-sends of the dropped alerts are
			// accepted and processed; those of the failed ones are
			// duplicates (never run twice).
			h2 := serveDaemon(t, cfg, daemon.Options{State: st, Audit: history}, true)
			for _, a := range alerts {
				r := h2.post(cacheAlert(t, a.alertname, a.fp, a.instance), "Bearer "+token)
				wantAccepted := float64(1)
				if slices.Contains(failed, a.fp) {
					wantAccepted = 0
				}
				if r.code != http.StatusOK || r.body["accepted"] != wantAccepted {
					t.Errorf("re-send of %s after the restart: %d %v, want accepted %v", a.fp, r.code, r.body, wantAccepted)
				}
			}
			waitFor(t, "the re-sends processed", func() bool { return len(h2.outcomes()) == len(alerts)+len(dropped) })
			for _, fp := range dropped {
				outs := h2.outcomesFor(fp, "")
				if o := outs[len(outs)-1]; o.Status != dispatch.StatusPlanned || o.Chosen != 1 {
					t.Errorf("re-send of dropped %s: %s chosen %d (%s), want option 1 planned", fp, o.Status, o.Chosen, o.Error)
				}
			}
			// Positive control: nothing stuck, so this one shuts down in
			// time, without dropping anything.
			if err := h2.stop(); err != nil {
				t.Fatalf("Serve after the restart: %v", err)
			}
			if n := len(h2.outcomes()); n != len(alerts)+len(dropped) {
				t.Errorf("%d records after the second shutdown, want %d", n, len(alerts)+len(dropped))
			}
		})
	}
}
