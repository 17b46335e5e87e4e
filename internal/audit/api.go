package audit

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxParamLen bounds one query parameter's value.
const maxParamLen = 512

// ParseQuery decodes the query string of GET /api/v1/remediations (and the
// flags of `remediator history`) into a Filter: alertname, runbook, target,
// action, result, since, until, limit, cursor. since and until take an
// RFC 3339 time or a duration back from now ("24h"). Unknown or repeated
// parameters are errors, so a typo does not silently select everything.
func ParseQuery(q url.Values, now time.Time) (Filter, error) {
	var f Filter
	for k, vs := range q {
		if len(vs) != 1 {
			return Filter{}, fmt.Errorf("parameter %q given %d times", k, len(vs))
		}
		v := vs[0]
		if len(v) > maxParamLen || !utf8.ValidString(v) {
			return Filter{}, fmt.Errorf("parameter %q: too long or not UTF-8", k)
		}
		var err error
		switch k {
		case "alertname":
			f.Alertname = v
		case "runbook":
			f.Runbook = v
		case "target":
			f.Target = v
		case "action":
			f.Action = v
		case "result":
			f.Result = v
		case "since":
			f.Since, err = ParseTime(v, now)
		case "until":
			f.Until, err = ParseTime(v, now)
		case "limit":
			f.Limit, err = strconv.Atoi(v)
			if err == nil && (f.Limit < 1 || f.Limit > MaxLimit) {
				err = fmt.Errorf("want 1 to %d", MaxLimit)
			}
		case "cursor":
			f.Cursor = v
		default:
			return Filter{}, fmt.Errorf("unknown parameter %q (known: alertname, runbook, target, action, result, since, until, limit, cursor)", k)
		}
		if err != nil {
			return Filter{}, fmt.Errorf("parameter %q: %w", k, err)
		}
	}
	if err := f.Validate(); err != nil {
		return Filter{}, err
	}
	return f, nil
}

// ParseTime reads an RFC 3339 time or a positive duration back from now.
func ParseTime(v string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		if t.Year() < 1970 || t.Year() > 9999 {
			return time.Time{}, errors.New("time out of range")
		}
		return t, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return time.Time{}, errors.New("want an RFC 3339 time (2026-01-02T15:04:05Z) or a duration back from now (24h)")
	}
	t := now.Add(-d)
	if t.Year() < 1970 {
		return time.Time{}, errors.New("duration too long")
	}
	return t, nil
}

// API serves the history over HTTP:
//
//	GET /api/v1/remediations?alertname=&runbook=&target=&action=&result=&since=&until=&limit=&cursor=
//	GET /api/v1/remediations/{id}
//
// Authentication is the caller's (the daemon wraps it like the webhook).
type API struct {
	Store *Store
	// Timeout bounds one request's queries (default 10s).
	Timeout time.Duration
	Log     *slog.Logger
	Now     func() time.Time
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux, wrap func(http.Handler) http.Handler) {
	mux.Handle("GET /api/v1/remediations", wrap(http.HandlerFunc(a.list)))
	mux.Handle("GET /api/v1/remediations/{id}", wrap(http.HandlerFunc(a.get)))
}

type apiError struct {
	Status string `json:"status"`
	Error  string `json:"error"`
}

func (a *API) context(r *http.Request) (context.Context, context.CancelFunc) {
	t := a.Timeout
	if t <= 0 {
		t = 10 * time.Second
	}
	return context.WithTimeout(r.Context(), t)
}

func (a *API) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	f, err := ParseQuery(r.URL.Query(), a.now())
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{Status: "error", Error: err.Error()})
		return
	}
	ctx, cancel := a.context(r)
	defer cancel()
	page, err := a.Store.List(ctx, f)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, page)
}

func (a *API) get(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if id == "" || len(id) > 64 || strings.Trim(id, "0123456789abcdef") != "" {
		writeJSON(w, http.StatusNotFound, apiError{Status: "error", Error: "no such record"})
		return
	}
	ctx, cancel := a.context(r)
	defer cancel()
	d, err := a.Store.Get(ctx, id)
	if errors.Is(err, ErrNotFound) {
		writeJSON(w, http.StatusNotFound, apiError{Status: "error", Error: "no such record"})
		return
	}
	if err != nil {
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusInternalServerError
	if errors.Is(err, context.DeadlineExceeded) {
		code = http.StatusServiceUnavailable
	}
	if a.Log != nil {
		a.Log.Error("audit API query failed", "path", r.URL.Path, "err", err)
	}
	writeJSON(w, code, apiError{Status: "error", Error: "reading the audit history failed"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
