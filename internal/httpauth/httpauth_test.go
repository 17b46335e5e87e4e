package httpauth

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func mustBearer(t *testing.T, tok string) Credential {
	t.Helper()
	c, err := BearerToken(tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustBasic(t *testing.T, user, pass string) Credential {
	t.Helper()
	c, err := BasicAuth(user, pass)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustAny(t *testing.T, creds ...Credential) Credential {
	t.Helper()
	c, err := AnyOf(creds...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func mustNew(t *testing.T, creds map[Role]Credential) *Authenticator {
	t.Helper()
	a, err := New(creds)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// readSpy is a request body that records whether anything read it.
type readSpy struct{ read bool }

func (s *readSpy) Read([]byte) (int, error) { s.read = true; return 0, io.EOF }
func (s *readSpy) Close() error             { return nil }

const (
	bearerChallenge = `Bearer realm="remediator"`
	basicChallenge  = `Basic realm="remediator", charset="UTF-8"`
)

// TestMiddlewareRoles (finding 7): once a read credential is configured, each
// credential grants its own role only: Alertmanager's token cannot read the
// history (pod logs, session users, client addresses) or /metrics, and the
// token Prometheus scrapes with cannot post alerts (trigger remediations).
// Positive controls: each credential works for its own role, and with only an
// alerts credential (the quick start) that one reads too.
func TestMiddlewareRoles(t *testing.T) {
	alerts, read := mustBearer(t, "alerts-token"), mustBearer(t, "read-token")
	both := mustNew(t, map[Role]Credential{Alerts: alerts, Read: read})
	alertsOnly := mustNew(t, map[Role]Credential{Alerts: alerts})
	mixed := mustNew(t, map[Role]Credential{
		Alerts: mustAny(t, alerts, mustBearer(t, "rotated-alerts-token")),
		Read:   mustBasic(t, "prometheus", "scrape-pw"),
	})

	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(u, p string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(u, p) }
	}
	none := func(*http.Request) {}

	tests := []struct {
		name       string
		auth       *Authenticator
		role       Role
		set        func(*http.Request)
		want       int
		challenges []string // on a 401
	}{
		{"alerts token posts", both, Alerts, bearer("alerts-token"), 200, nil},
		{"alerts token reads: forbidden", both, Read, bearer("alerts-token"), 403, nil},
		{"read token reads", both, Read, bearer("read-token"), 200, nil},
		{"read token posts: forbidden", both, Alerts, bearer("read-token"), 403, nil},
		{"no credential, alerts", both, Alerts, none, 401, []string{bearerChallenge}},
		{"no credential, read", both, Read, none, 401, []string{bearerChallenge}},
		{"wrong token, alerts", both, Alerts, bearer("alerts-tokeN"), 401, []string{bearerChallenge}},
		{"wrong token, read", both, Read, bearer("read-token2"), 401, []string{bearerChallenge}},
		{"read token as basic password: no", both, Read, basic("x", "read-token"), 401, []string{bearerChallenge}},

		{"alerts only: posts", alertsOnly, Alerts, bearer("alerts-token"), 200, nil},
		{"alerts only: reads too", alertsOnly, Read, bearer("alerts-token"), 200, nil},
		{"alerts only: no credential reads nothing", alertsOnly, Read, none, 401, []string{bearerChallenge}},
		{"alerts only: a read token is just wrong", alertsOnly, Read, bearer("read-token"), 401, []string{bearerChallenge}},

		{"mixed: rotated alerts token posts", mixed, Alerts, bearer("rotated-alerts-token"), 200, nil},
		{"mixed: rotated alerts token reads: forbidden", mixed, Read, bearer("rotated-alerts-token"), 403, nil},
		{"mixed: basic reads", mixed, Read, basic("prometheus", "scrape-pw"), 200, nil},
		{"mixed: basic posts: forbidden", mixed, Alerts, basic("prometheus", "scrape-pw"), 403, nil},
		{"mixed: read challenges are basic", mixed, Read, none, 401, []string{basicChallenge}},
		{"mixed: alerts challenges are bearer", mixed, Alerts, basic("prometheus", "wrong"), 401, []string{bearerChallenge}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			served := 0
			h := tt.auth.Middleware(tt.role, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				served++
				_, _ = io.Copy(io.Discard, r.Body)
				w.WriteHeader(http.StatusOK)
			}))
			body := &readSpy{}
			r := httptest.NewRequest(http.MethodPost, "/", nil)
			r.Body = body
			tt.set(r)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tt.want {
				t.Fatalf("code %d, want %d (body %s)", w.Code, tt.want, w.Body)
			}
			if got := w.Header().Values("WWW-Authenticate"); !slices.Equal(got, tt.challenges) {
				t.Errorf("WWW-Authenticate = %q, want %q", got, tt.challenges)
			}
			if tt.want == http.StatusOK {
				if served != 1 || !body.read {
					t.Errorf("admitted request: served %d times, body read %v", served, body.read)
				}
				return
			}
			// What must not happen: the refused request reaches the handler,
			// or its body is read.
			if served != 0 || body.read {
				t.Errorf("refused request: served %d times, body read %v", served, body.read)
			}
			var resp struct{ Status, Error string }
			if err := json.Unmarshal(w.Body.Bytes(), &resp); err != nil || resp.Status != "error" || resp.Error == "" {
				t.Errorf("refusal body %q: %v", w.Body, err)
			}
			if tt.want == http.StatusForbidden && !strings.Contains(resp.Error, string(tt.role)) {
				t.Errorf("403 reason %q does not name the role %s", resp.Error, tt.role)
			}
			if strings.Contains(w.Body.String(), "token") {
				t.Errorf("refusal body %q echoes a credential", w.Body)
			}
		})
	}
}

// TestGuardAdmit: the receiver's view of the same decision (it answers and
// counts refusals itself).
func TestGuardAdmit(t *testing.T) {
	a := mustNew(t, map[Role]Credential{Alerts: mustBearer(t, "a"), Read: mustBearer(t, "r")})
	g := a.Guard(Alerts)
	for _, tc := range []struct {
		tok    string
		code   int
		ok     bool
		reason string
	}{
		{"a", 200, true, ""},
		{"r", 403, false, "this credential does not have the alerts role"},
		{"", 401, false, "authentication required"},
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", nil)
		if tc.tok != "" {
			r.Header.Set("Authorization", "Bearer "+tc.tok)
		}
		w := httptest.NewRecorder()
		code, reason, ok := g.Admit(w, r)
		if code != tc.code || ok != tc.ok || reason != tc.reason {
			t.Errorf("token %q: Admit = %d %q %v, want %d %q %v", tc.tok, code, reason, ok, tc.code, tc.reason, tc.ok)
		}
		if w.Code != http.StatusOK || w.Body.Len() != 0 {
			t.Errorf("token %q: Admit wrote a response (%d %q); the caller answers", tc.tok, w.Code, w.Body)
		}
	}
}

// TestNoAuthenticator: nil means no authentication, the loopback quick start
// without a token (the daemon refuses it elsewhere).
func TestNoAuthenticator(t *testing.T) {
	var a *Authenticator
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusTeapot) })
	w := httptest.NewRecorder()
	a.Middleware(Read, next).ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusTeapot {
		t.Errorf("code %d", w.Code)
	}
	if a.Has(Alerts) || a.Guard(Alerts) != nil {
		t.Error("a nil Authenticator has credentials")
	}
	if _, _, ok := a.Guard(Alerts).Admit(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/", nil)); !ok {
		t.Error("a nil Guard refused")
	}
}

// TestNewRefuses: configurations that would silently weaken the separation.
func TestNewRefuses(t *testing.T) {
	a, r := mustBearer(t, "alerts-token"), mustBearer(t, "read-token")
	tests := []struct {
		name  string
		creds map[Role]Credential
		want  string
	}{
		{"nothing", nil, "no credentials"},
		{"unknown role", map[Role]Credential{Alerts: a, "approve": r}, `unknown role "approve"`},
		{"nil credential", map[Role]Credential{Alerts: a, Read: nil}, "read credential is nil"},
		{"read without alerts", map[Role]Credential{Read: r}, "needs an alerts credential"},
		{"same token for both", map[Role]Credential{Alerts: a, Read: mustBearer(t, "alerts-token")}, "same secret"},
		{"same basic for both", map[Role]Credential{Alerts: mustBasic(t, "u", "p"), Read: mustBasic(t, "u", "p")}, "same secret"},
		{"read token among rotated alerts tokens", map[Role]Credential{Alerts: mustAny(t, a, mustBearer(t, "read-token")), Read: r}, "same secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := New(tt.creds)
			if err == nil || got != nil {
				t.Fatalf("New = %v, %v; want an error", got, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not say %q", err, tt.want)
			}
		})
	}
	// Positive controls: different secrets, or one string used as a token
	// by one role and as a password by another, are fine.
	for name, creds := range map[string]map[Role]Credential{
		"distinct tokens":         {Alerts: a, Read: r},
		"token and password":      {Alerts: mustBearer(t, "x"), Read: mustBasic(t, "prometheus", "x")},
		"same user, distinct pws": {Alerts: mustBasic(t, "u", "p1"), Read: mustBasic(t, "u", "p2")},
	} {
		if _, err := New(creds); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
