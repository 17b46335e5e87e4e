package state

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"
)

// redisURLForm is how a state URL should look, said in errors instead of the
// URL itself.
const redisURLForm = "redis://[user:password@]host:port/db"

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

// secrets are the spellings of a URL's credentials that must never be shown:
// the URL itself, its userinfo and its password, raw and escaped. go-redis and
// net/url both echo them in error messages.
type secrets []string

func newSecrets(raw string) secrets {
	s := secrets{raw}
	if u, err := url.Parse(raw); err == nil && u.User != nil {
		s = append(s, u.User.String(), u.User.Username())
		if pw, ok := u.User.Password(); ok {
			s = append(s, pw, url.QueryEscape(pw), url.PathEscape(pw))
		}
	}
	if ui := rawUserinfo(raw); ui != "" {
		s = append(s, ui)
		if _, pw, ok := strings.Cut(ui, ":"); ok {
			s = append(s, pw)
			if un, err := url.PathUnescape(pw); err == nil {
				s = append(s, un)
			}
		}
	}
	s = slices.DeleteFunc(s, func(v string) bool { return v == "" })
	// Longest first, so a password is replaced whole, not half-shown after a
	// shorter spelling matched first.
	slices.SortFunc(s, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	return slices.Compact(s)
}

// rawUserinfo is the text between "://" and the last "@" of the authority,
// found without url.Parse so that it also works on a URL that does not parse.
func rawUserinfo(raw string) string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return ""
	}
	if i := strings.IndexAny(rest, "/?#"); i >= 0 {
		// An unescaped password may contain '/', '?' or '#'.
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

// scrubErr returns err unchanged when its message shows no secret, and
// otherwise an error with the secrets replaced that still matches
// context.Canceled and context.DeadlineExceeded with errors.Is.
func (s secrets) scrubErr(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	clean := msg
	for _, v := range s {
		clean = strings.ReplaceAll(clean, v, "xxxxx")
	}
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

// parseRedisURL turns a URL into go-redis options; its errors never show the
// URL or its password.
func parseRedisURL(raw string, sec secrets) (*goredis.Options, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, fmt.Errorf("empty URL (want %s)", redisURLForm)
	}
	u, err := url.Parse(raw)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) && rawUserinfo(raw) == "" {
			return nil, fmt.Errorf("invalid URL: %w", uerr.Err)
		}
		return nil, fmt.Errorf("invalid URL (not shown, it may contain a password; want %s)", redisURLForm)
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("invalid URL scheme %q (want %s, or rediss:// for TLS)", u.Scheme, redisURLForm)
	}
	opt, err := goredis.ParseURL(raw)
	if err != nil {
		return nil, fmt.Errorf("invalid URL: %w", sec.scrubErr(err))
	}
	return opt, nil
}
