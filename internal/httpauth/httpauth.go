// Package httpauth authenticates remediator's HTTP endpoints by role: the
// webhook, the history API and /metrics all go through one Authenticator,
// so that which credential may do what is decided in one place.
//
// Each role has its own credentials (a bearer token, basic auth, or several
// with AnyOf). A request whose credential is valid for another role only is
// refused with 403; one without a valid credential with 401 and the
// WWW-Authenticate challenges of the role's credentials.
package httpauth

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
)

// Role is what a credential may do. It is a string rather than a bool so that
// roles can be added (an approve role for approving actions is planned)
// without changing what the existing ones mean.
type Role string

const (
	// Alerts posts alerts to the webhook: Alertmanager's credential.
	Alerts Role = "alerts"
	// Read reads the history API and /metrics: people, `remediator
	// history`, Prometheus. The history holds pod logs, session users and
	// client addresses, so the sender of alerts does not get it by default.
	Read Role = "read"
)

// known reports whether r is a role this package knows.
func (r Role) known() bool {
	switch r {
	case Alerts, Read:
		return true
	}
	return false
}

// fallback is the role whose credential also grants r when r has no
// credential of its own: with only an alerts credential, the quick start's
// one token, it reads as well. Roles added later (approve) have none: they
// must never be granted by a credential configured before they existed.
func (r Role) fallback() (Role, bool) {
	if r == Read {
		return Alerts, true
	}
	return "", false
}

// Authenticator holds the credentials of each role. A nil *Authenticator
// means no authentication: its Middleware serves every request.
type Authenticator struct {
	creds map[Role]Credential
}

// New returns an Authenticator for creds, one Credential per role (AnyOf
// combines several). Any credential needs an alerts one beside it: without
// it the webhook would take alerts from anyone while the rest is protected.
// One secret configured for two roles is refused, since it would make the
// separation void without saying so.
func New(creds map[Role]Credential) (*Authenticator, error) {
	if len(creds) == 0 {
		return nil, errors.New("authentication: no credentials (use a nil *Authenticator for none)")
	}
	for role, c := range creds {
		if !role.known() {
			return nil, fmt.Errorf("authentication: unknown role %q", role)
		}
		if c == nil {
			return nil, fmt.Errorf("authentication: the %s credential is nil", role)
		}
	}
	if creds[Alerts] == nil {
		return nil, fmt.Errorf("authentication: a %s credential needs an %s credential too, or the webhook would take alerts from anyone",
			slices.Sorted(maps.Keys(creds))[0], Alerts)
	}
	roles := slices.Sorted(maps.Keys(creds))
	for i, a := range roles {
		for _, b := range roles[i+1:] {
			if shareSecret(creds[a], creds[b]) {
				return nil, fmt.Errorf("authentication: the %s and %s credentials are the same secret; give each role its own", a, b)
			}
		}
	}
	return &Authenticator{creds: maps.Clone(creds)}, nil
}

// shareSecret reports whether a and b accept a common secret, as far as
// their ids tell.
func shareSecret(a, b Credential) bool {
	ia, ok := a.(identified)
	if !ok {
		return false
	}
	ib, ok := b.(identified)
	if !ok {
		return false
	}
	for _, x := range ia.ids() {
		for _, y := range ib.ids() {
			if x == y {
				return true
			}
		}
	}
	return false
}

// Has reports whether role has a credential of its own (rather than one it
// falls back to, or none).
func (a *Authenticator) Has(role Role) bool {
	return a != nil && a.creds[role] != nil
}

// Guard returns the authentication of role's endpoints; nil when a is nil.
func (a *Authenticator) Guard(role Role) *Guard {
	if a == nil {
		return nil
	}
	granting := role
	if a.creds[role] == nil {
		if fb, ok := role.fallback(); ok {
			granting = fb
		}
	}
	g := &Guard{role: role, grant: a.creds[granting]}
	for _, r := range slices.Sorted(maps.Keys(a.creds)) {
		if r != granting {
			g.others = append(g.others, a.creds[r])
		}
	}
	// A role nothing grants is refused to everyone; the challenges then
	// name the schemes in use, so a client still learns how to present one.
	challengers := []Credential{g.grant}
	if g.grant == nil {
		challengers = g.others
	}
	seen := make(map[string]bool)
	for _, c := range challengers {
		for _, ch := range challenges(c) {
			if !seen[ch] {
				seen[ch] = true
				g.challenges = append(g.challenges, ch)
			}
		}
	}
	g.forbidden = fmt.Sprintf("this credential does not have the %s role", role)
	return g
}

// Middleware returns next behind role's authentication (see Guard.Wrap).
// With a nil Authenticator it returns next: no authentication.
func (a *Authenticator) Middleware(role Role, next http.Handler) http.Handler {
	if a == nil {
		return next
	}
	return a.Guard(role).Wrap(next)
}

// Guard authenticates the requests of one role's endpoints. A nil *Guard
// admits every request, like a nil *Authenticator.
type Guard struct {
	role Role
	// grant is the credential that grants role: its own, or its
	// fallback's; nil when none does.
	grant Credential
	// others are the credentials that authenticate but do not grant role.
	others     []Credential
	challenges []string
	forbidden  string // the 403 reason, built once
}

// Reasons given with refusals.
const reasonUnauthenticated = "authentication required"

// Admit reports whether r may be served. When it may not, Admit has set the
// WWW-Authenticate challenges on w (for a 401) and returns the status to
// answer, 401 (no valid credential) or 403 (a credential of another role),
// and a reason that is safe to show and log: it never holds the credential.
// It reads no body, so callers authenticate before reading one.
func (g *Guard) Admit(w http.ResponseWriter, r *http.Request) (code int, reason string, ok bool) {
	if g == nil || (g.grant != nil && g.grant.Authenticate(r)) {
		return http.StatusOK, "", true
	}
	for _, c := range g.others {
		if c.Authenticate(r) {
			return http.StatusForbidden, g.forbidden, false
		}
	}
	for _, ch := range g.challenges {
		w.Header().Add("WWW-Authenticate", ch)
	}
	return http.StatusUnauthorized, reasonUnauthenticated, false
}

// Wrap returns next behind the guard: a refused request is answered with a
// JSON error of the history API's (and the webhook's) shape,
// {"status":"error","error":REASON}, and never reaches next.
func (g *Guard) Wrap(next http.Handler) http.Handler {
	if g == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		code, reason, ok := g.Admit(w, r)
		if !ok {
			writeError(w, code, reason)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeError(w http.ResponseWriter, code int, reason string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	// The status line is sent; an encoding error can only be a broken
	// connection, which there is nobody left to report to.
	_ = json.NewEncoder(w).Encode(struct {
		Status string `json:"status"`
		Error  string `json:"error"`
	}{"error", reason})
}
