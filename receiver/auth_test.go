package receiver

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/remediator/remediator/internal/httpauth"
)

// alertsAuth is the daemon's webhook authentication with only an alerts
// credential: a bearer token, basic auth, or both ("" leaves one out).
func alertsAuth(tb testing.TB, token, user, pass string) Authenticator {
	tb.Helper()
	var creds []httpauth.Credential
	if token != "" {
		c, err := httpauth.BearerToken(token)
		if err != nil {
			tb.Fatal(err)
		}
		creds = append(creds, c)
	}
	if user != "" {
		c, err := httpauth.BasicAuth(user, pass)
		if err != nil {
			tb.Fatal(err)
		}
		creds = append(creds, c)
	}
	c, err := httpauth.AnyOf(creds...)
	if err != nil {
		tb.Fatal(err)
	}
	a, err := httpauth.New(map[httpauth.Role]httpauth.Credential{httpauth.Alerts: c})
	if err != nil {
		tb.Fatal(err)
	}
	return a.Guard(httpauth.Alerts)
}

// rolesAuth is the webhook authentication with an alerts and a read token.
func rolesAuth(tb testing.TB, alerts, read string) Authenticator {
	tb.Helper()
	a, err := httpauth.BearerToken(alerts)
	if err != nil {
		tb.Fatal(err)
	}
	r, err := httpauth.BearerToken(read)
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := httpauth.New(map[httpauth.Role]httpauth.Credential{httpauth.Alerts: a, httpauth.Read: r})
	if err != nil {
		tb.Fatal(err)
	}
	return auth.Guard(httpauth.Alerts)
}

// bodySpy is a request body that fails the test when read.
type bodySpy struct {
	tb   testing.TB
	read bool
}

func (b *bodySpy) Read(p []byte) (int, error) {
	b.read = true
	b.tb.Error("the body of a refused request was read")
	return 0, http.ErrBodyReadAfterClose
}

func (b *bodySpy) Close() error { return nil }

// TestRefusedBeforeBody: a request without the alerts role is refused before
// a byte of its body is read (the attack: an unauthenticated client, or one
// holding only the read credential, streams a body to make the daemon read
// and decode it), and the refusal is counted by code. Positive control: the
// alerts credential's request is read and queued.
func TestRefusedBeforeBody(t *testing.T) {
	auth := rolesAuth(t, "alerts-token", "read-token")
	for _, tc := range []struct {
		name  string
		token string
		want  int
	}{
		{"no credential", "", http.StatusUnauthorized},
		{"wrong token", "guess", http.StatusUnauthorized},
		{"read token", "read-token", http.StatusForbidden},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 4, Options{Auth: auth})
			spy := &bodySpy{tb: t}
			r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", nil)
			r.Body, r.ContentLength = spy, 1<<30
			if tc.token != "" {
				r.Header.Set("Authorization", "Bearer "+tc.token)
			}
			w := httptest.NewRecorder()
			e.h.ServeHTTP(w, r)
			if w.Code != tc.want || spy.read || e.q.Len() != 0 {
				t.Fatalf("code %d (want %d), body read %v, queued %d", w.Code, tc.want, spy.read, e.q.Len())
			}
			decodeResponse(t, w)
			if got := testutil.ToFloat64(e.m.requests.WithLabelValues(strconv.Itoa(tc.want))); got != 1 {
				t.Errorf("webhook_requests_total{code=%d} = %v, want 1", tc.want, got)
			}
		})
	}
	e := newEnv(t, 4, Options{Auth: auth})
	if w := e.post(t, readTestdata(t, "firing_high_cpu.json"), bearerHeader("alerts-token")); w.Code != http.StatusOK || e.q.Len() != 1 {
		t.Fatalf("alerts token: code %d, queued %d", w.Code, e.q.Len())
	}
}
