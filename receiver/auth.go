package receiver

import "net/http"

// Authenticator admits or refuses a webhook request before its body is read.
// The daemon's is the alerts role's httpauth.Guard, the same authentication
// that guards the history API and /metrics; the handler answers and counts
// the refusals itself, so that they show in remediator_webhook_requests_total
// and reach Alertmanager as the webhook's JSON errors.
type Authenticator interface {
	// Admit reports whether r may be served. When it may not, Admit has set
	// any WWW-Authenticate challenges on w and returns the status to answer
	// (401, or 403 for a credential of another role) and a reason that is
	// safe to show and log.
	Admit(w http.ResponseWriter, r *http.Request) (code int, reason string, ok bool)
}
