package daemon_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/remediator/remediator/internal/audit"
	"github.com/remediator/remediator/internal/config"
	"github.com/remediator/remediator/internal/daemon"
	"github.com/remediator/remediator/internal/dispatch"
	"github.com/remediator/remediator/internal/redistest"
	"github.com/remediator/remediator/internal/state"
)

// redisProxy forwards connections to the test Redis while up; while down it
// cuts the connections it forwarded and holds new ones without a word (the
// worst kind of outage: nothing refuses, nothing answers).
type redisProxy struct {
	ln      net.Listener
	backend string

	mu    sync.Mutex
	up    bool
	conns []net.Conn
}

func newRedisProxy(t *testing.T) *redisProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &redisProxy{ln: ln, backend: redistest.Addr()}
	t.Cleanup(func() {
		_ = ln.Close()
		p.setUp(false)
	})
	go p.serve()
	return p
}

func (p *redisProxy) addr() string { return p.ln.Addr().String() }

func (p *redisProxy) setUp(up bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = up
	if !up {
		for _, c := range p.conns {
			_ = c.Close()
		}
		p.conns = nil
	}
}

func (p *redisProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if !up {
			continue // held silently until the proxy goes up or down again
		}
		b, err := net.Dial("tcp", p.backend)
		if err != nil {
			_ = c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, b)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(b, c); _ = b.Close() }()
		go func() { _, _ = io.Copy(c, b); _ = c.Close() }()
	}
}

// TestRedisStateOutage: with the state store unreachable the daemon stays up,
// answers webhooks 503, reports not ready, and acts on nothing; when the
// store comes back it becomes ready and processes alerts by itself.
func TestRedisStateOutage(t *testing.T) {
	// The real Redis must be there for the recovery half: fail clearly if not.
	if c, err := net.DialTimeout("tcp", redistest.Addr(), 2*time.Second); err != nil {
		t.Fatalf("this test needs a real Redis at %s (set REMEDIATOR_TEST_REDIS_ADDR): %v", redistest.Addr(), err)
	} else {
		_ = c.Close()
	}
	proxy := newRedisProxy(t)
	st := proxiedRedis(t, proxy)

	h := startWith(t, nil, daemon.Options{State: st, StateHealthInterval: 100 * time.Millisecond}, false)

	// Down.
	if resp := h.get("/readyz", false); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("/readyz with the state store down: %d, want 503", resp.StatusCode)
	}
	if r := h.postFile("high-cpu.json"); r.code != http.StatusServiceUnavailable {
		t.Fatalf("webhook with the state store down: %d %v, want 503", r.code, r.body)
	}
	if m := h.metrics(); !strings.Contains(m, `remediator_state_up{backend="redis"} 0`) {
		t.Errorf("metrics with the store down lack remediator_state_up 0:\n%s", grepLines(m, "remediator_state"))
	}
	if p, err := h.d.History().List(context.Background(), audit.Filter{}); err != nil || len(p.Items) != 0 {
		n := len(p.Items)
		t.Fatalf("%d outcomes recorded while the store was down (%v), want none", n, err)
	}

	// Recovery, with nothing but the store coming back.
	proxy.setUp(true)
	waitFor(t, "ready after the store came back", func() bool { return h.get("/readyz", false).StatusCode == http.StatusOK })
	if m := h.metrics(); !strings.Contains(m, `remediator_state_up{backend="redis"} 1`) {
		t.Errorf("metrics after recovery lack remediator_state_up 1:\n%s", grepLines(m, "remediator_state"))
	}
	if r := h.postFile("high-cpu.json"); r.code != http.StatusOK || r.body["accepted"] != float64(1) {
		t.Fatalf("webhook after recovery: %d %v, want the retried alert accepted", r.code, r.body)
	}
	waitFor(t, "the alert processed", func() bool { return len(h.outcomesFor("a1b2c3d4e5f60001", "firing")) == 1 })
	if o := h.outcomesFor("a1b2c3d4e5f60001", "firing")[0]; o.Status != dispatch.StatusPlanned {
		t.Errorf("outcome after recovery: %s (%+v), want planned", o.Status, o)
	}
	// The action was counted in Redis, where another replica would see it.
	hist, err := st.History(context.Background(), "Deployment/shop/cart", "kubernetes.scale")
	if err != nil {
		t.Fatal(err)
	}
	if hist.GlobalActionsLastHour != 1 {
		t.Errorf("actions counted in Redis: %+v, want 1", hist)
	}

	// Down again while running: not ready again, and back.
	proxy.setUp(false)
	waitFor(t, "not ready after the store went away", func() bool {
		return h.get("/readyz", false).StatusCode == http.StatusServiceUnavailable
	})
	proxy.setUp(true)
	waitFor(t, "ready again", func() bool { return h.get("/readyz", false).StatusCode == http.StatusOK })
}

// TestMemoryStateReady: the memory store is always up.
func TestMemoryStateReady(t *testing.T) {
	h := start(t, nil)
	if m := h.metrics(); !strings.Contains(m, `remediator_state_up{backend="memory"} 1`) {
		t.Errorf("memory store not reported up:\n%s", grepLines(m, "remediator_state"))
	}
}

// TestOpenState covers the selection of the store from the configuration.
func TestOpenState(t *testing.T) {
	cfg := &config.Config{}
	st, closeSt, err := daemon.OpenState(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	closeSt()
	if _, ok := st.(*state.Memory); !ok {
		t.Fatalf("no state config: %T, want memory", st)
	}

	t.Setenv("REMEDIATOR_TEST_STATE_URL", "redis://:hunter2@"+redistest.Addr()+"/0")
	cfg.State = config.State{RedisURLEnv: "REMEDIATOR_TEST_STATE_URL", Prefix: "remediator-test-open:"}
	st, closeSt, err = daemon.OpenState(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSt()
	r, ok := st.(*state.Redis)
	if !ok || r.Prefix() != "remediator-test-open:" || strings.Contains(r.Addr(), "hunter2") {
		t.Fatalf("redis state: %T %+v", st, r)
	}

	cfg.State = config.State{RedisURLEnv: "REMEDIATOR_TEST_UNSET_URL"}
	if _, _, err := daemon.OpenState(context.Background(), cfg, nil); err == nil || !strings.Contains(err.Error(), "unset") {
		t.Errorf("unset URL variable: %v", err)
	}
}

// proxiedRedis is a Redis store reached through proxy, under a fresh prefix
// that is deleted when the test ends; a short call timeout makes a cut
// proxy fail its calls promptly.
func proxiedRedis(t *testing.T, proxy *redisProxy) *state.Redis {
	t.Helper()
	prefix := redistest.Prefix()
	st, err := state.NewRedis(state.RedisOptions{URL: "redis://" + proxy.addr() + "/0", Prefix: prefix, CallTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = st.Close()
		cleanupRedisPrefix(t, prefix)
	})
	return st
}

func cleanupRedisPrefix(t *testing.T, prefix string) {
	st, err := state.NewRedis(state.RedisOptions{URL: redistest.URL(), Prefix: prefix})
	if err != nil {
		t.Error(err)
		return
	}
	defer st.Close()
	if err := st.DeletePrefix(context.Background()); err != nil {
		t.Errorf("cleaning up %s*: %v", prefix, err)
	}
}

func grepLines(s, sub string) string {
	var out []string
	for l := range strings.Lines(s) {
		if strings.Contains(l, sub) {
			out = append(out, strings.TrimSpace(l))
		}
	}
	return strings.Join(out, "\n")
}
