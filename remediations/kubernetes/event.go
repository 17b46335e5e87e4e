package kubernetes

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/remediator/remediator/remediations"
)

// ReportingController is the Events' reportingController.
const ReportingController = "remediator.io/remediator"

// eventRef is the object an Event is about.
type eventRef struct {
	kind, apiVersion, namespace, name, uid, resourceVersion string
}

// noteLimit is the API server's limit on an Event's note.
const noteLimit = 1024

// EventReason is the Event reason of an action: "Remediation" and the
// action's name in CamelCase, e.g. RemediationScale, RemediationRolloutUndo.
func EventReason(action string) string {
	_, name, _ := strings.Cut(action, ".")
	var b strings.Builder
	b.WriteString("Remediation")
	for part := range strings.SplitSeq(name, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

// recordEvent writes an events.k8s.io/v1 Event on the object the action
// changed, so `kubectl describe` and `kubectl events` show what remediator
// did and why. It is written synchronously rather than through client-go's
// broadcaster: the broadcaster drops events silently on shutdown, and a
// remediation's trace on its target should not depend on the daemon living
// a little longer.
func (e *Executor) recordEvent(ctx context.Context, action string, c *call) error {
	r := c.regarding
	note := strings.Join(c.changes, "; ")
	if why := remediations.CauseFrom(ctx); why != "" {
		note = why + ": " + note
	}
	note = action + ": " + note
	if len(note) > noteLimit {
		cut := noteLimit - len("…")
		for cut > 0 && !utf8.RuneStart(note[cut]) {
			cut--
		}
		note = note[:cut] + "…"
	}
	now := e.now()
	ev := &eventsv1.Event{
		ObjectMeta: metav1.ObjectMeta{
			// Unique per change, like client-go's recorder names them.
			Name:      fmt.Sprintf("%s.%x", r.name, now.UnixNano()),
			Namespace: r.namespace,
		},
		EventTime:           metav1.NewMicroTime(now),
		ReportingController: ReportingController,
		ReportingInstance:   e.instance,
		Action:              EventReason(action)[len("Remediation"):],
		Reason:              EventReason(action),
		Type:                corev1.EventTypeNormal,
		Note:                note,
		Regarding: corev1.ObjectReference{
			Kind: r.kind, APIVersion: r.apiVersion, Namespace: r.namespace, Name: r.name,
			UID: types.UID(r.uid), ResourceVersion: r.resourceVersion,
		},
	}
	if r.namespace == "" {
		ev.Namespace = metav1.NamespaceDefault // Events about a cluster-scoped object live in default
	}
	if _, err := e.client.EventsV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{FieldManager: FieldManager}); err != nil {
		return fmt.Errorf("creating Event %s on %s %s/%s: %w", ev.Reason, r.kind, r.namespace, r.name, err)
	}
	return nil
}
