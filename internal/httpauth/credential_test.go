package httpauth

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
)

func TestAuthConstructorsRejectBadSecrets(t *testing.T) {
	ok, err := BearerToken("s3cr3t")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		make func() (Credential, error)
	}{
		{"empty token", func() (Credential, error) { return BearerToken("") }},
		{"token with whitespace", func() (Credential, error) { return BearerToken(" s3cr3t") }},
		{"empty username", func() (Credential, error) { return BasicAuth("", "pw") }},
		{"empty password", func() (Credential, error) { return BasicAuth("alertmanager", "") }},
		{"colon in username", func() (Credential, error) { return BasicAuth("alert:manager", "pw") }},
		{"any of nothing", func() (Credential, error) { return AnyOf() }},
		{"any of nil", func() (Credential, error) { return AnyOf(ok, nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := tt.make()
			if err == nil || a != nil {
				t.Fatalf("got %v, %v; want an error", a, err)
			}
		})
	}
}

func TestAuthenticate(t *testing.T) {
	bearer, err := BearerToken("s3cr3t-token")
	if err != nil {
		t.Fatal(err)
	}
	basic, err := BasicAuth("alertmanager", "pa55word")
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := BearerToken("new-token")
	if err != nil {
		t.Fatal(err)
	}
	anyAuth, err := AnyOf(bearer, basic, rotated)
	if err != nil {
		t.Fatal(err)
	}

	withHeader := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", v) }
	}
	withBasic := func(u, p string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(u, p) }
	}
	none := func(*http.Request) {}

	tests := []struct {
		name string
		auth Credential
		set  func(*http.Request)
		want bool
	}{
		{"bearer ok", bearer, withHeader("Bearer s3cr3t-token"), true},
		{"bearer scheme is case-insensitive", bearer, withHeader("bearer s3cr3t-token"), true},
		{"bearer extra spaces", bearer, withHeader("Bearer   s3cr3t-token "), true},
		{"bearer wrong token", bearer, withHeader("Bearer s3cr3t-tokeN"), false},
		{"bearer prefix of token", bearer, withHeader("Bearer s3cr3t"), false},
		{"bearer token extended", bearer, withHeader("Bearer s3cr3t-token2"), false},
		{"bearer empty token", bearer, withHeader("Bearer "), false},
		{"bearer no scheme", bearer, withHeader("s3cr3t-token"), false},
		{"bearer no header", bearer, none, false},
		{"bearer given basic", bearer, withBasic("alertmanager", "s3cr3t-token"), false},
		{"basic ok", basic, withBasic("alertmanager", "pa55word"), true},
		{"basic wrong password", basic, withBasic("alertmanager", "pa55wort"), false},
		{"basic wrong username", basic, withBasic("alertmanagr", "pa55word"), false},
		{"basic empty password", basic, withBasic("alertmanager", ""), false},
		{"basic no header", basic, none, false},
		{"basic given bearer", basic, withHeader("Bearer pa55word"), false},
		{"basic malformed base64", basic, withHeader("Basic !!!"), false},
		{"any bearer", anyAuth, withHeader("Bearer s3cr3t-token"), true},
		{"any rotated bearer", anyAuth, withHeader("Bearer new-token"), true},
		{"any basic", anyAuth, withBasic("alertmanager", "pa55word"), true},
		{"any wrong", anyAuth, withHeader("Bearer old-token"), false},
		{"any none", anyAuth, none, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", nil)
			tt.set(r)
			if got := tt.auth.Authenticate(r); got != tt.want {
				t.Errorf("Authenticate = %v, want %v", got, tt.want)
			}
		})
	}
}

// plainAuth is a Credential that does not implement Challenger.
type plainAuth struct{}

func (plainAuth) Authenticate(*http.Request) bool { return false }

func TestChallenges(t *testing.T) {
	bearer, _ := BearerToken("t")
	basic, _ := BasicAuth("u", "p")
	bearer2, _ := BearerToken("t2")
	both, _ := AnyOf(bearer, basic, bearer2)
	tests := []struct {
		name string
		auth Credential
		want []string
	}{
		{"bearer", bearer, []string{`Bearer realm="remediator"`}},
		{"basic", basic, []string{`Basic realm="remediator", charset="UTF-8"`}},
		{"any, deduplicated", both, []string{`Bearer realm="remediator"`, `Basic realm="remediator", charset="UTF-8"`}},
		{"custom falls back to bearer", plainAuth{}, []string{`Bearer realm="remediator"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := challenges(tt.auth); !slices.Equal(got, tt.want) {
				t.Errorf("challenges = %q, want %q", got, tt.want)
			}
		})
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	bearer, _ := BearerToken("s3cr3t-token")
	r := httptest.NewRequest(http.MethodPost, "/api/v1/alerts", nil)
	r.Header.Set("Authorization", "Bearer s3cr3t-token")
	b.ReportAllocs()
	for b.Loop() {
		if !bearer.Authenticate(r) {
			b.Fatal("rejected")
		}
	}
}
