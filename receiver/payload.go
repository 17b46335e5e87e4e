// Package receiver accepts Alertmanager webhook notifications, validates them,
// drops the ones already seen and hands the rest to the dispatcher's queue.
//
// It does nothing else: the HTTP response must not wait on remediation, or
// Alertmanager's notification pipeline would stall behind it.
package receiver

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/prometheus/alertmanager/template"

	"github.com/remediator/remediator/internal/alert"
)

// Version is the only webhook payload version this receiver understands.
const Version = "4"

// Message is the body of an Alertmanager webhook notification.
//
// It mirrors webhook.Message of github.com/prometheus/alertmanager/notify/webhook
// field for field. It is redeclared here because importing that package pulls
// in Alertmanager's whole notifier stack; webhook_compat_test.go fails if the
// two types ever diverge.
type Message struct {
	*template.Data

	// The protocol version.
	Version         string `json:"version"`
	GroupKey        string `json:"groupKey"`
	TruncatedAlerts uint64 `json:"truncatedAlerts"`
}

// DecodeError is the single error type returned by Decode. Its text is safe to
// return to the client: it names the offending field, never a secret.
type DecodeError struct {
	// Field is where the problem is, as a JSON path such as "alerts[2]" or
	// "version"; empty when the body as a whole is unusable.
	Field string
	// Reason says what is wrong with Field.
	Reason string
	// Err is the underlying error, if any (a JSON syntax error, a read error
	// such as *http.MaxBytesError, ...).
	Err error
}

// Error implements error.
func (e *DecodeError) Error() string {
	msg := e.Reason
	if e.Field != "" {
		msg = e.Field + ": " + msg
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap returns the underlying error so that callers can tell a body that was
// too large (*http.MaxBytesError) from a malformed one.
func (e *DecodeError) Unwrap() error { return e.Err }

const reasonRead = "reading body"

// errRecorder remembers the first read error other than io.EOF, because
// json.Decoder returns such errors bare and they would otherwise be
// indistinguishable from the body's own faults.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// Decode reads one webhook notification from r and validates it.
//
// Unknown fields are accepted, since Alertmanager adds fields over time; an
// empty or null body, anything but whitespace after the object, a version
// other than "4", no alerts, or an alert without a valid status, fingerprint,
// startsAt or alertname label is rejected. Every error is a *DecodeError.
func Decode(r io.Reader) (*Message, error) {
	rec := &errRecorder{r: r}
	dec := json.NewDecoder(rec)
	// Decoding into a pointer leaves it nil for a JSON null, which is how a
	// null body is told apart from an empty object.
	var m *Message
	if err := dec.Decode(&m); err != nil {
		switch {
		case rec.err != nil:
			return nil, &DecodeError{Reason: reasonRead, Err: rec.err}
		case errors.Is(err, io.EOF):
			return nil, &DecodeError{Reason: "empty body"}
		default:
			return nil, &DecodeError{Reason: "malformed JSON", Err: err}
		}
	}
	if m == nil {
		return nil, &DecodeError{Reason: "body is null"}
	}
	// A second value, or garbage, after the object is an error: a payload
	// is one notification, and silently ignoring the rest would hide a
	// broken sender.
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if rec.err != nil {
			return nil, &DecodeError{Reason: reasonRead, Err: rec.err}
		}
		return nil, &DecodeError{Reason: "unexpected data after the JSON object"}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// Validate checks the rules Decode enforces on a well-formed message. The
// returned error, if any, is a *DecodeError.
func (m *Message) Validate() error {
	if m.Version != Version {
		return &DecodeError{Field: "version", Reason: fmt.Sprintf("unsupported version %q, want %q", m.Version, Version)}
	}
	if m.Data == nil || len(m.Data.Alerts) == 0 {
		return &DecodeError{Field: "alerts", Reason: "no alerts"}
	}
	for i, a := range m.Data.Alerts {
		if reason := validateAlert(a); reason != "" {
			return &DecodeError{Field: fmt.Sprintf("alerts[%d]", i), Reason: reason}
		}
	}
	return nil
}

// validateAlert returns what is wrong with a, or "" if nothing is. These are
// the fields the dedupe key and the dispatcher's routing depend on.
func validateAlert(a template.Alert) string {
	switch {
	case a.Status != alert.StatusFiring && a.Status != alert.StatusResolved:
		return fmt.Sprintf("invalid status %q, want %q or %q", a.Status, alert.StatusFiring, alert.StatusResolved)
	case a.Fingerprint == "":
		return "missing fingerprint"
	case a.StartsAt.IsZero():
		return "missing startsAt"
	case a.Labels["alertname"] == "":
		return "missing alertname label"
	}
	return ""
}

// Alerts converts the message into the queue's unit of work, one per alert,
// each recording the notification it came in and when it was received.
func (m *Message) Alerts(receivedAt time.Time) []alert.Alert {
	if m.Data == nil {
		return nil
	}
	out := make([]alert.Alert, len(m.Data.Alerts))
	for i, a := range m.Data.Alerts {
		out[i] = alert.Alert{
			Alert:      a,
			Receiver:   m.Data.Receiver,
			GroupKey:   m.GroupKey,
			ReceivedAt: receivedAt,
		}
	}
	return out
}
