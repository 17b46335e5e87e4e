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
	"unicode/utf8"

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

// Limits bound what one alert may carry. Alertmanager sends a 16-hex-digit
// fingerprint and, from real rules, a few dozen short labels and a handful of
// annotations; the defaults leave ample room for that and none for a sender
// that puts request IDs or documents in them. Every alert queued is held in
// memory until a worker takes it, so these are what make the queue's byte
// bound meaningful per alert.
type Limits struct {
	// MaxLabels and MaxAnnotations cap how many an alert may have.
	MaxLabels      int
	MaxAnnotations int
	// MaxNameBytes caps each label and annotation name.
	MaxNameBytes int
	// MaxLabelValueBytes caps each label value.
	MaxLabelValueBytes int
	// MaxAnnotationBytes caps each annotation value and the generatorURL.
	MaxAnnotationBytes int
}

// Defaults of Limits (and of the receiver's config settings of the same names).
const (
	DefaultMaxLabels          = 64
	DefaultMaxAnnotations     = 32
	DefaultMaxNameBytes       = 256
	DefaultMaxLabelValueBytes = 2048
	DefaultMaxAnnotationBytes = 16 << 10
)

// Fixed limits of notification-level fields: a group key is built from the
// route's matchers and the group's labels, a receiver is a name from
// Alertmanager's config. Neither is worth a setting.
const (
	maxGroupKeyBytes = 16 << 10
	maxReceiverBytes = 1 << 10
)

// DefaultLimits returns the default Limits.
func DefaultLimits() Limits {
	return Limits{
		MaxLabels:          DefaultMaxLabels,
		MaxAnnotations:     DefaultMaxAnnotations,
		MaxNameBytes:       DefaultMaxNameBytes,
		MaxLabelValueBytes: DefaultMaxLabelValueBytes,
		MaxAnnotationBytes: DefaultMaxAnnotationBytes,
	}
}

// withDefaults fills the zero fields of l with the defaults.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxLabels <= 0 {
		l.MaxLabels = d.MaxLabels
	}
	if l.MaxAnnotations <= 0 {
		l.MaxAnnotations = d.MaxAnnotations
	}
	if l.MaxNameBytes <= 0 {
		l.MaxNameBytes = d.MaxNameBytes
	}
	if l.MaxLabelValueBytes <= 0 {
		l.MaxLabelValueBytes = d.MaxLabelValueBytes
	}
	if l.MaxAnnotationBytes <= 0 {
		l.MaxAnnotationBytes = d.MaxAnnotationBytes
	}
	return l
}

// DecodeError is the error Decode returns for a body that is not a valid
// notification. Its text is safe to return to the client: it names the
// offending field, never a secret.
type DecodeError struct {
	// Field is where the problem is, as a JSON path such as "version";
	// empty when the body as a whole is unusable.
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

// Rejected is one alert of a valid notification that was refused on its own:
// Alertmanager never retries a 4xx and re-sends the same group, so one bad
// alert must not sink the others.
type Rejected struct {
	// Index is the alert's position in the notification's alerts.
	Index int `json:"index"`
	// Fingerprint is the alert's, when it is a valid one (an invalid one is
	// not echoed: it may be huge).
	Fingerprint string `json:"fingerprint,omitempty"`
	// Field is what is wrong, from a fixed set (see the Field* constants),
	// so that it can label a metric.
	Field string `json:"field"`
	// Reason says what is wrong and, for a limit, which.
	Reason string `json:"reason"`
}

// What a Rejected alert's Field names: a small fixed set.
const (
	FieldJSON            = "json"
	FieldUTF8            = "utf8"
	FieldStatus          = "status"
	FieldFingerprint     = "fingerprint"
	FieldStartsAt        = "startsAt"
	FieldAlertname       = "alertname"
	FieldLabels          = "labels"
	FieldLabelName       = "label_name"
	FieldLabelValue      = "label_value"
	FieldAnnotations     = "annotations"
	FieldAnnotationName  = "annotation_name"
	FieldAnnotationValue = "annotation_value"
	FieldGeneratorURL    = "generatorURL"
)

// RejectFields lists every Field a Rejected can have, for metrics present at
// zero from the start.
var RejectFields = []string{
	FieldJSON, FieldUTF8, FieldStatus, FieldFingerprint, FieldStartsAt, FieldAlertname,
	FieldLabels, FieldLabelName, FieldLabelValue, FieldAnnotations, FieldAnnotationName,
	FieldAnnotationValue, FieldGeneratorURL,
}

// Decode reads one webhook notification from r and validates it against lim
// (zero fields: the defaults).
//
// A body that is not a valid notification is an error (a *DecodeError; a
// failure to read r, such as *http.MaxBytesError, is wrapped in it): an
// empty or null body, malformed JSON, anything but whitespace after the
// object, a version other than "4", no alerts, an oversized groupKey or
// receiver. An alert that is invalid on its own (no valid status,
// fingerprint, startsAt or alertname, a field over a limit, text that is not
// UTF-8, a field of the wrong JSON type) is left out of the returned message
// and listed in rejected; the message may then hold no alerts. Unknown fields
// are accepted, since Alertmanager adds fields over time.
func Decode(r io.Reader, lim Limits) (msg *Message, rejected []Rejected, err error) {
	// The whole body is read before decoding (json.Decoder would buffer it
	// all too); the caller bounds its size.
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, &DecodeError{Reason: reasonRead, Err: err}
	}
	return decode(data, lim.withDefaults())
}

// envelope is a Message whose alerts are kept raw, so that each is decoded
// and judged on its own. The outer Alerts shadows Data.Alerts for
// encoding/json (the shallower field wins).
type envelope struct {
	Message
	Alerts *[]json.RawMessage `json:"alerts"`
}

// decode is Decode on a body already read.
func decode(data []byte, lim Limits) (*Message, []Rejected, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil, &DecodeError{Reason: "empty body"}
	}
	// Decoding into a pointer leaves it nil for a JSON null, which is how a
	// null body is told apart from an empty object.
	var env *envelope
	if err := json.Unmarshal(data, &env); err != nil {
		return nil, nil, describeUnmarshalError(data, err)
	}
	if env == nil {
		return nil, nil, &DecodeError{Reason: "body is null"}
	}
	m := &env.Message
	switch {
	case m.Version != Version:
		return nil, nil, &DecodeError{Field: "version", Reason: fmt.Sprintf("unsupported version %q, want %q", truncate(m.Version, 16), Version)}
	case env.Alerts == nil || len(*env.Alerts) == 0:
		return nil, nil, &DecodeError{Field: "alerts", Reason: "no alerts"}
	case len(m.GroupKey) > maxGroupKeyBytes:
		return nil, nil, &DecodeError{Field: "groupKey", Reason: fmt.Sprintf("longer than %d bytes", maxGroupKeyBytes)}
	case !utf8.ValidString(m.GroupKey):
		return nil, nil, &DecodeError{Field: "groupKey", Reason: "not valid UTF-8"}
	}
	if m.Data == nil {
		m.Data = &template.Data{}
	}
	if len(m.Receiver) > maxReceiverBytes {
		return nil, nil, &DecodeError{Field: "receiver", Reason: fmt.Sprintf("longer than %d bytes", maxReceiverBytes)}
	}
	raw := *env.Alerts
	m.Data.Alerts = make(template.Alerts, 0, len(raw))
	var rejected []Rejected
	for i, ra := range raw {
		a, field, reason := decodeAlert(ra, lim)
		if field != "" {
			rejected = append(rejected, Rejected{Index: i, Fingerprint: validFingerprintOrEmpty(a.Fingerprint), Field: field, Reason: reason})
			continue
		}
		m.Data.Alerts = append(m.Data.Alerts, a)
	}
	return m, rejected, nil
}

// decodeAlert decodes and validates one raw alert; field is "" when it is
// valid, else it and reason say what is wrong.
func decodeAlert(raw []byte, lim Limits) (a template.Alert, field, reason string) {
	// encoding/json silently replaces invalid UTF-8 with U+FFFD, which would
	// turn two different label values into one: refuse instead.
	if !utf8.Valid(raw) {
		return a, FieldUTF8, "text is not valid UTF-8"
	}
	if err := json.Unmarshal(raw, &a); err != nil {
		return template.Alert{}, FieldJSON, "invalid alert: " + err.Error()
	}
	field, reason = validateAlert(a, lim)
	return a, field, reason
}

// validateAlert returns what is wrong with a ("" if nothing is). The first
// checks are the fields the dedupe key and the dispatcher's routing depend
// on; the rest bound what an alert may hold.
func validateAlert(a template.Alert, lim Limits) (field, reason string) {
	switch {
	case a.Status != alert.StatusFiring && a.Status != alert.StatusResolved:
		return FieldStatus, fmt.Sprintf("invalid status %q, want %q or %q", truncate(a.Status, 16), alert.StatusFiring, alert.StatusResolved)
	case a.Fingerprint == "":
		return FieldFingerprint, "missing fingerprint"
	case !validFingerprint(a.Fingerprint):
		return FieldFingerprint, "fingerprint is not 16 hex digits"
	case a.StartsAt.IsZero():
		return FieldStartsAt, "missing startsAt"
	case a.Labels["alertname"] == "":
		return FieldAlertname, "missing alertname label"
	case len(a.Labels) > lim.MaxLabels:
		return FieldLabels, fmt.Sprintf("%d labels, more than max_labels %d", len(a.Labels), lim.MaxLabels)
	case len(a.Annotations) > lim.MaxAnnotations:
		return FieldAnnotations, fmt.Sprintf("%d annotations, more than max_annotations %d", len(a.Annotations), lim.MaxAnnotations)
	case len(a.GeneratorURL) > lim.MaxAnnotationBytes:
		return FieldGeneratorURL, fmt.Sprintf("generatorURL longer than max_annotation_bytes %d", lim.MaxAnnotationBytes)
	}
	if f, r := checkKV(a.Labels, "label", FieldLabelName, FieldLabelValue, lim.MaxNameBytes, lim.MaxLabelValueBytes, "max_label_value_bytes"); f != "" {
		return f, r
	}
	return checkKV(a.Annotations, "annotation", FieldAnnotationName, FieldAnnotationValue, lim.MaxNameBytes, lim.MaxAnnotationBytes, "max_annotation_bytes")
}

// checkKV checks the names and values of labels or annotations against
// their limits. The offending name is quoted only when it is short.
func checkKV(kv template.KV, what, nameField, valueField string, maxName, maxValue int, valueSetting string) (field, reason string) {
	for k, v := range kv {
		switch {
		case k == "":
			return nameField, "empty " + what + " name"
		case len(k) > maxName:
			return nameField, fmt.Sprintf("%s name longer than max_label_name_bytes %d", what, maxName)
		case len(v) > maxValue:
			return valueField, fmt.Sprintf("%s %q: value of %d bytes, more than %s %d", what, k, len(v), valueSetting, maxValue)
		}
	}
	return "", ""
}

// validFingerprint reports whether fp is what Alertmanager sends: the
// alert's 64-bit label hash as 16 lower-case hex digits.
func validFingerprint(fp string) bool {
	if len(fp) != 16 {
		return false
	}
	for i := range len(fp) {
		c := fp[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func validFingerprintOrEmpty(fp string) string {
	if validFingerprint(fp) {
		return fp
	}
	return ""
}

// truncate shortens s for an error message that quotes client input.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	// Back off to a rune boundary so that the message stays valid UTF-8.
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// describeUnmarshalError turns a json.Unmarshal error of the envelope into a
// DecodeError that says where the problem is. It runs only on failure, so it
// may decode again.
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
	return &DecodeError{Reason: "invalid payload", Err: err}
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
