// Package receiver accepts Alertmanager webhook notifications, validates them,
// drops the ones already seen and hands the rest to the dispatcher's queue.
//
// It does nothing else: the HTTP response must not wait on remediation, or
// Alertmanager's notification pipeline would stall behind it.
package receiver

import (
	"bytes"
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

// Decode reads one webhook notification from r and validates it.
//
// Unknown fields are accepted, since Alertmanager adds fields over time; an
// empty or null body, anything but whitespace after the object, a version
// other than "4", no alerts, or an alert without a valid status, fingerprint,
// startsAt or alertname label is rejected. Every error is a *DecodeError; a
// failure to read r (such as *http.MaxBytesError) is wrapped in it.
func Decode(r io.Reader) (*Message, error) {
	// The whole body is read before decoding (json.Decoder would buffer it
	// all too) so that an invalid alert can be located afterwards.
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &DecodeError{Reason: reasonRead, Err: err}
	}
	return decode(data)
}

// decode is Decode on a body already read.
func decode(data []byte) (*Message, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &DecodeError{Reason: "empty body"}
	}
	// Decoding into a pointer leaves it nil for a JSON null, which is how a
	// null body is told apart from an empty object.
	var m *Message
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, describeUnmarshalError(data, err)
	}
	if m == nil {
		return nil, &DecodeError{Reason: "body is null"}
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return m, nil
}

// describeUnmarshalError turns a json.Unmarshal error into a DecodeError that
// says where the problem is. It runs only on failure, so it may decode again.
func describeUnmarshalError(data []byte, err error) *DecodeError {
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		// Unmarshal rejects data after the value as a syntax error too.
		// That one is worth its own message: a payload is one notification,
		// and a second value means a broken sender.
		var first json.RawMessage
		if json.NewDecoder(bytes.NewReader(data)).Decode(&first) == nil {
			return &DecodeError{Reason: "unexpected data after the JSON object"}
		}
		return &DecodeError{Reason: "malformed JSON", Err: err}
	}
	// Well-formed JSON of the wrong shape (a number for a label, a startsAt
	// that is not a time). encoding/json does not report the index of the
	// failing array element, so look for the first alert that does not
	// decode on its own.
	var probe struct {
		Alerts []json.RawMessage `json:"alerts"`
	}
	if json.Unmarshal(data, &probe) == nil {
		for i, raw := range probe.Alerts {
			var a template.Alert
			if aerr := json.Unmarshal(raw, &a); aerr != nil {
				return &DecodeError{Field: fmt.Sprintf("alerts[%d]", i), Reason: "invalid alert", Err: aerr}
			}
		}
	}
	return &DecodeError{Reason: "invalid payload", Err: err}
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

// Queued converts the message into the queue's unit of work, one per alert,
// each recording the notification it came in and when it was received.
func (m *Message) Queued(receivedAt time.Time) []alert.Alert {
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
