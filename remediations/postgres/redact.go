package postgres

import (
	"cmp"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// redacted stands in for a password in every message remediator writes.
const redacted = "xxxxx"

// kvPassword finds password=... in keyword/value DSNs and URL query strings.
var kvPassword = regexp.MustCompile(`password\s*=\s*('(?:[^'\\]|\\.)*'|[^\s&]*)`)

// minGuessed is the shortest password secretsOf reports from guessing at a
// malformed DSN: a shorter guess is more likely a fragment of something else,
// and scrubbing it would garble every message.
const minGuessed = 4

// secretsOf returns the password a DSN carries, in each spelling an error
// message might echo it (as written, URL-decoded, unquoted). It works on
// malformed DSNs too: those are exactly the ones whose parse errors echo them.
func secretsOf(dsn string) []string {
	var found []string
	add := func(s string, minLen int) {
		if len(s) < minLen {
			return
		}
		found = append(found, s)
		if u, err := url.PathUnescape(s); err == nil && len(u) >= minLen {
			found = append(found, u)
		}
		if u, err := url.QueryUnescape(s); err == nil && len(u) >= minLen {
			found = append(found, u)
		}
	}
	for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
		v := m[1]
		add(v, 1)
		if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
			add(strings.ReplaceAll(v[1:len(v)-1], `\'`, `'`), 1)
		}
	}
	// A URL's userinfo ends at its last '@': a password may hold an
	// unescaped '/', '#' or '@' that makes the DSN malformed, so guess with
	// and without the query string.
	if _, rest, ok := strings.Cut(dsn, "://"); ok {
		noQuery, _, _ := strings.Cut(rest, "?")
		for _, r := range []string{noQuery, rest} {
			if at := strings.LastIndex(r, "@"); at >= 0 {
				if _, pw, ok := strings.Cut(r[:at], ":"); ok {
					add(pw, minGuessed)
				}
			}
		}
	}
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if pw, ok := u.User.Password(); ok {
			add(pw, 1)
		}
	}
	// Longest first, so that a password containing another is replaced whole.
	slices.SortFunc(found, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return slices.Compact(found)
}

// scrub replaces every secret in s.
func scrub(s string, secrets []string) string {
	for _, sec := range secrets {
		s = strings.ReplaceAll(s, sec, redacted)
	}
	return s
}

// redactedError is an error whose message had secrets removed. It still
// unwraps to the original so that callers can test for context deadlines and
// SQLSTATEs; only its message is ever shown.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// redactErr returns err with secrets removed from its message (err itself
// when its message holds none).
func redactErr(err error, secrets []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if clean := scrub(msg, secrets); clean != msg {
		return &redactedError{msg: clean, cause: err}
	}
	return err
}

// parseError describes why a DSN does not parse without quoting the DSN:
// pgx's ParseConfigError keeps the raw DSN (its message masks passwords only
// "on a best-effort basis"), and net/url's errors quote the URL verbatim. The
// result carries no cause, so nothing down the chain can leak it either.
func parseError(err error, secrets []string) error {
	reason := "cannot parse it"
	var pce *pgconn.ParseConfigError
	if errors.As(err, &pce) {
		msg := pce.Error()
		// "cannot parse `DSN`: reason (cause)": keep what follows the DSN.
		if i := strings.LastIndex(msg, "`: "); i >= 0 {
			reason = msg[i+len("`: "):]
		}
		var ue *url.Error
		if errors.As(pce, &ue) {
			// net/url's reasons quote pieces of the URL ("invalid port
			// \":pa\" after host" for a password holding a '/'): name the
			// problem without them.
			reason = "not a valid URL: " + urlProblem(ue.Err) +
				" (percent-encode special characters in the user name and password)"
		}
	}
	return errors.New("invalid DSN: " + scrub(reason, secrets))
}

// urlProblem names a net/url parse error without the text it quotes.
func urlProblem(err error) string {
	msg := err.Error()
	for _, p := range []string{"invalid port", "invalid URL escape", "invalid character", "missing protocol scheme",
		"first path segment in URL cannot contain colon", "invalid control character"} {
		if strings.HasPrefix(msg, p) {
			return p
		}
	}
	return "malformed"
}
