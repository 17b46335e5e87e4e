package httpauth

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Realm is the protection space named in WWW-Authenticate challenges.
const Realm = "remediator"

// Credential decides whether a request carries one configured credential
// (or, built with AnyOf, one of several).
type Credential interface {
	Authenticate(r *http.Request) bool
}

// Challenger is implemented by Credentials that know which WWW-Authenticate
// challenges to send with a 401. A Bearer challenge is sent for Credentials
// that do not implement it.
type Challenger interface {
	Challenges() []string
}

// identified is implemented by this package's Credentials. ids names their
// secrets by digests of scheme and secret (never the secrets), so that New
// can refuse one secret configured for two roles.
type identified interface {
	ids() []digest
}

// digest is a SHA-256 of a secret. Comparing digests rather than the secrets
// themselves makes the comparison constant-time regardless of length: a plain
// subtle.ConstantTimeCompare returns early when the lengths differ, which
// would leak the secret's length.
type digest [sha256.Size]byte

func digestOf(s string) digest { return sha256.Sum256([]byte(s)) }

// equal compares two digests in constant time.
func (d *digest) equal(o *digest) bool { return subtle.ConstantTimeCompare(d[:], o[:]) == 1 }

type bearerAuth struct{ token, id digest }

// BearerToken returns a Credential that accepts requests carrying
// "Authorization: Bearer <token>", as Alertmanager's http_config
// authorization (or bearer_token) sends it. The token must not be empty or
// have surrounding whitespace (which the header format cannot carry).
func BearerToken(token string) (Credential, error) {
	if token == "" {
		return nil, errors.New("bearer token auth: empty token")
	}
	if strings.TrimSpace(token) != token {
		return nil, errors.New("bearer token auth: token has leading or trailing whitespace")
	}
	return &bearerAuth{token: digestOf(token), id: digestOf("bearer\x00" + token)}, nil
}

// Authenticate implements Credential.
func (b *bearerAuth) Authenticate(r *http.Request) bool {
	got, ok := bearerToken(r)
	if !ok {
		return false
	}
	d := digestOf(got)
	return b.token.equal(&d)
}

// Challenges implements Challenger.
func (b *bearerAuth) Challenges() []string { return []string{`Bearer realm="` + Realm + `"`} }

func (b *bearerAuth) ids() []digest { return []digest{b.id} }

// bearerToken extracts the token of an Authorization: Bearer header. The
// scheme is case-insensitive (RFC 9110, section 11.1).
func bearerToken(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	const scheme = "bearer "
	if len(h) < len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) {
		return "", false
	}
	tok := strings.TrimSpace(h[len(scheme):])
	return tok, tok != ""
}

type basicAuth struct{ user, pass, id digest }

// BasicAuth returns a Credential that accepts HTTP basic auth with this
// username and password, as Alertmanager's http_config basic_auth sends it.
// Neither may be empty, and the username may not contain a colon (basic auth
// cannot carry one).
func BasicAuth(username, password string) (Credential, error) {
	switch {
	case username == "":
		return nil, errors.New("basic auth: empty username")
	case password == "":
		return nil, errors.New("basic auth: empty password")
	case strings.Contains(username, ":"):
		return nil, errors.New("basic auth: username contains a colon")
	}
	// The username has no colon, so "user:pass" names the pair unambiguously.
	return &basicAuth{user: digestOf(username), pass: digestOf(password), id: digestOf("basic\x00" + username + ":" + password)}, nil
}

// Authenticate implements Credential.
func (b *basicAuth) Authenticate(r *http.Request) bool {
	user, pass, ok := r.BasicAuth()
	if !ok {
		return false
	}
	u, p := digestOf(user), digestOf(pass)
	// Both comparisons always run, so the timing does not tell whether the
	// username alone was right.
	userOK := subtle.ConstantTimeCompare(b.user[:], u[:])
	passOK := subtle.ConstantTimeCompare(b.pass[:], p[:])
	return userOK&passOK == 1
}

// Challenges implements Challenger.
func (b *basicAuth) Challenges() []string {
	return []string{`Basic realm="` + Realm + `", charset="UTF-8"`}
}

func (b *basicAuth) ids() []digest { return []digest{b.id} }

type anyAuth []Credential

// AnyOf returns a Credential that accepts a request when any of creds does,
// so that credentials can be rotated (old and new token both valid for a
// while) or several Alertmanagers configured differently. It needs at least
// one Credential and no nil ones.
func AnyOf(creds ...Credential) (Credential, error) {
	if len(creds) == 0 {
		return nil, errors.New("any-of auth: no credentials")
	}
	for i, c := range creds {
		if c == nil {
			return nil, fmt.Errorf("any-of auth: credential %d is nil", i)
		}
	}
	return anyAuth(append([]Credential(nil), creds...)), nil
}

// Authenticate implements Credential.
func (as anyAuth) Authenticate(r *http.Request) bool {
	for _, a := range as {
		if a.Authenticate(r) {
			return true
		}
	}
	return false
}

// Challenges implements Challenger: the distinct challenges of all members.
func (as anyAuth) Challenges() []string {
	var out []string
	seen := make(map[string]bool)
	for _, a := range as {
		for _, c := range challenges(a) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

func (as anyAuth) ids() []digest {
	var out []digest
	for _, a := range as {
		if id, ok := a.(identified); ok {
			out = append(out, id.ids()...)
		}
	}
	return out
}

// challenges returns the WWW-Authenticate challenges for a.
func challenges(a Credential) []string {
	if c, ok := a.(Challenger); ok {
		if cs := c.Challenges(); len(cs) > 0 {
			return cs
		}
	}
	return []string{`Bearer realm="` + Realm + `"`}
}
