// Package redisurl parses Redis connection URLs for go-redis and keeps their
// credentials out of every message: net/url and go-redis both echo the URL,
// or parts of it, in their errors. The Redis backend and the Redis state
// store share it.
package redisurl

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// HasPassword reports whether a connection URL carries a password (or
// userinfo that may be one). Such a URL must not be given as a flag value,
// where `ps` and shell history would show it.
func HasPassword(raw string) bool {
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		if _, ok := u.User.Password(); ok {
			return true
		}
		// redis://secret@host: go-redis takes a lone userinfo as the password.
		return u.User.Username() != ""
	}
	return rawUserinfo(raw) != ""
}

// redacted replaces a secret wherever it would otherwise be shown.
const redacted = "xxxxx"

// Secrets holds the strings of one connection URL that must never be shown:
// the URL itself, its userinfo and its password in every spelling the URL
// parser or go-redis could echo. Errors are passed through scrub before they
// leave the package, because go-redis and net/url both put the URL (or parts
// of it) into their error messages.
type Secrets []string

func NewSecrets(raw string) Secrets {
	s := Secrets{raw}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		s = append(s, u.User.String())
		if pw, ok := u.User.Password(); ok && pw != "" {
			s = append(s, pw, url.QueryEscape(pw), url.PathEscape(pw))
		} else if !ok {
			// redis://secret@host: go-redis takes a lone userinfo as the
			// password. (A user name beside a password is not secret, and
			// redacting it would garble messages that name, say, "default".)
			s = append(s, u.User.Username())
		}
	}
	if ui := rawUserinfo(raw); ui != "" {
		s = append(s, ui)
		if _, pw, ok := strings.Cut(ui, ":"); ok && pw != "" {
			s = append(s, pw)
			if un, err := url.PathUnescape(pw); err == nil && un != "" {
				s = append(s, un)
			}
		}
	}
	s = slices.DeleteFunc(s, func(v string) bool { return v == "" })
	// Longest first, so a password is replaced as a whole and not left
	// half-shown after a shorter spelling of it matched first.
	slices.SortFunc(s, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(s)
}

// rawUserinfo is the text between "://" and the last "@" of the authority,
// found without url.Parse so it also works on a URL that does not parse.
func rawUserinfo(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		// A password may itself contain '/', '?' or '#' when it was not
		// escaped; then the last '@' of the whole string ends the userinfo.
		if at := strings.LastIndex(rest, "@"); at > i {
			return rest[:at]
		}
		rest = rest[:i]
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		return rest[:at]
	}
	return ""
}

func (s Secrets) Scrub(msg string) string {
	for _, v := range s {
		msg = strings.ReplaceAll(msg, v, redacted)
	}
	return msg
}

// ScrubErr returns err unchanged when its message holds no secret, and
// otherwise an error with the secret replaced. The replacement keeps
// context.Canceled and context.DeadlineExceeded visible to errors.Is but
// drops the rest of the chain: an unwrapped inner error would show the
// secret again.
func (s Secrets) ScrubErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := s.Scrub(msg)
	if clean == msg {
		return err
	}
	r := &redactedError{msg: clean}
	switch {
	case errors.Is(err, context.Canceled):
		r.cause = context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		r.cause = context.DeadlineExceeded
	}
	return r
}

type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }

// urlForm is how the URL should look, said in errors instead of the URL.
const urlForm = "redis://[user:password@]host:port/db"

// Parse turns a connection URL into go-redis options. Its errors never
// contain the URL or its password: net/url echoes the whole URL in a parse
// error and go-redis echoes parts of it.
func Parse(raw string, sec Secrets) (*goredis.Options, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("empty URL (want %s)", urlForm)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) && rawUserinfo(raw) == "" {
			// Without userinfo there is no password to leak, so the
			// parser's reason helps more than it risks.
			return nil, fmt.Errorf("invalid URL: %w", uerr.Err)
		}
		// A reason such as `invalid URL escape "%zz"` can quote part of
		// the password, so say only where to look.
		return nil, fmt.Errorf("invalid URL (not shown, it may contain a password; want %s)", urlForm)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("invalid URL scheme %q (want %s, or rediss:// for TLS)", u.Scheme, urlForm)
	}
	opt, err := goredis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", sec.ScrubErr(err))
	}
	return opt, nil
}

// DisplayAddr names a connection in logs and errors: host:port/db, never the
// credentials.
func DisplayAddr(opt *goredis.Options) string {
	return fmt.Sprintf("%s/%d", opt.Addr, opt.DB)
}

// Bound makes every phase of a call on opt's client end within timeout, and
// honours the call's context deadline too (ContextTimeoutEnabled), so an
// unreachable or stalled Redis yields an error within the timeout instead of
// a hang. One dial attempt per try and one retry (0 would mean go-redis's
// default of 3) keep a refused connection from turning into a burst of dials:
// the next alert or health check is the retry that matters. Maintenance
// notifications are for managed clusters that move slots; in auto mode the
// handshake would probe for them on every new connection, an extra round trip
// that buys nothing here.
func Bound(opt *goredis.Options, timeout time.Duration) {
	opt.DialTimeout = timeout
	opt.ReadTimeout = timeout
	opt.WriteTimeout = timeout
	opt.PoolTimeout = timeout
	opt.ContextTimeoutEnabled = true
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
}
