package redis

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// redacted replaces a secret wherever it would otherwise be shown.
const redacted = "xxxxx"

// secrets holds the strings of one connection URL that must never be shown:
// the URL itself, its userinfo and its password in every spelling the URL
// parser or go-redis could echo. Errors are passed through scrub before they
// leave the package, because go-redis and net/url both put the URL (or parts
// of it) into their error messages.
type secrets []string

func newSecrets(raw string) secrets {
	s := secrets{raw}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		s = append(s, u.User.String())
		if pw, ok := u.User.Password(); ok && pw != "" {
			s = append(s, pw, url.QueryEscape(pw), url.PathEscape(pw))
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

func (s secrets) scrub(msg string) string {
	for _, v := range s {
		msg = strings.ReplaceAll(msg, v, redacted)
	}
	return msg
}

// scrubErr returns err unchanged when its message holds no secret, and
// otherwise an error with the secret replaced. The replacement keeps
// context.Canceled and context.DeadlineExceeded visible to errors.Is but
// drops the rest of the chain: an unwrapped inner error would show the
// secret again.
func (s secrets) scrubErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := s.scrub(msg)
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

// parseURL turns a connection URL into go-redis options. Its errors never
// contain the URL or its password: net/url echoes the whole URL in a parse
// error and go-redis echoes parts of it.
func parseURL(raw string, sec secrets) (*goredis.Options, error) {
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
		return nil, fmt.Errorf("invalid URL: %w", sec.scrubErr(err))
	}
	return opt, nil
}

// displayAddr names a connection in logs and errors: host:port/db, never the
// credentials.
func displayAddr(opt *goredis.Options) string {
	return fmt.Sprintf("%s/%d", opt.Addr, opt.DB)
}
