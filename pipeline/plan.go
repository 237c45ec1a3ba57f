package pipeline

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// Task kinds of the durable queue.
const (
	taskState  = "state"  // read the provider's state of the incident's IP
	taskTriage = "triage" // run the triage jobs on the incident's host
	taskNotify = "notify" // deliver one chat message to one channel
	taskExpire = "expire" // revoke a whitelist grant that ran out
)

// Event kinds a notify task carries (the notify package renders them).
const (
	eventOpened      = "incident_opened"
	eventEscalated   = "incident_escalated"
	eventUpdated     = "incident_updated"
	eventApproaching = "deadline_approaching"
	eventPassed      = "deadline_passed"
)

// notifyPayload is what a notify task needs beyond its incident.
type notifyPayload struct {
	Event   string    `json:"event"`
	Channel string    `json:"channel_id"`    // config.Channel.ID
	From    time.Time `json:"from,omitzero"` // digest window: notices received in [From, To)
	To      time.Time `json:"to,omitzero"`
	Detail  string    `json:"detail,omitempty"`
	// Severity is what an opening or escalation message announces: the
	// incident's severity when it was planned, not when it is sent, so
	// that an opening sent after a quick escalation does not announce the
	// escalation too (BLOCK, then "ESCALATED to BLOCK").
	Severity int `json:"severity,omitempty"`
}

// planner decides, inside the ingest transaction, what follows from a notice.
// Every key is derived from stored facts only (never the clock), so planning
// the same change again, as reparse does, enqueues nothing new.
type planner struct {
	// channels returns the chat channels that want an event about the change.
	channels func(event string, ch store.IncidentChange) []string
	// triage is true when any triage job or the kit is configured.
	triage bool
	// inventory reports whether an IP is one of the inventory's hosts.
	inventory       func(netip.Addr) bool
	burstWindow     time.Duration
	deadlineWarning time.Duration
	// now only sets when a digest of old mail goes out: never before the
	// opening message. Keys never depend on it.
	now func() time.Time
}

func (pl *planner) plan(ch store.IncidentChange) []store.NewTask {
	var tasks []store.NewTask
	n := ch.Notice
	// A service without an IP is resolved to one by the state task.
	if n.IP != "" || n.Service != "" {
		tasks = append(tasks, store.NewTask{
			Kind: taskState, Key: fmt.Sprintf("state:%d:%d", ch.IncidentID, ch.NoticeID),
			IncidentID: ch.IncidentID,
		})
	}
	// Mail is untrusted: only a trusted notice may make abusewatch touch a
	// server (trust.go). Unverified ones are stored and shown.
	tasks = append(tasks, pl.planTriage(ch)...)
	switch {
	case ch.Opened || ch.Reopened:
		tasks = append(tasks, pl.notify(ch, eventOpened, fmt.Sprintf("n%d", ch.NoticeID), time.Time{}, notifyPayload{Severity: ch.NewSeverity})...)
	case ch.Escalated:
		tasks = append(tasks, pl.notify(ch, eventEscalated, fmt.Sprintf("sev%d", ch.NewSeverity), time.Time{}, escalationPayload(ch))...)
	default:
		// A burst of notices becomes one message per window, sent when the
		// window closes. The window comes from the mail's date so that the
		// key is stable across reparses.
		from := n.Date.Truncate(pl.burstWindow)
		to := from.Add(pl.burstWindow)
		sendAt := to
		if soon := pl.now().Add(time.Second); sendAt.Before(soon) {
			sendAt = soon
		}
		tasks = append(tasks, pl.notify(ch, eventUpdated, fmt.Sprintf("w%d", from.Unix()), sendAt, notifyPayload{From: from, To: to})...)
	}
	return append(tasks, pl.deadlineTasks(ch)...)
}

// escalationPayload says what raised the incident: the notice that did.
func escalationPayload(ch store.IncidentChange) notifyPayload {
	return notifyPayload{
		Severity: ch.NewSeverity,
		Detail:   fmt.Sprintf("raised from %s by a %s notice", severityName(ch.OldSeverity), ch.Notice.Kind),
	}
}

// deadlineTasks plans the reminders of a notice's deadline. A reminder
// whose time has already come when the mail is stored (old mail, a short
// deadline) is not planned: it would go out at once, before the opening or
// update message, which states the deadline itself (and that it passed).
func (pl *planner) deadlineTasks(ch store.IncidentChange) []store.NewTask {
	d := ch.Notice.Deadline
	if d.IsZero() {
		return nil
	}
	now := pl.now()
	var tasks []store.NewTask
	if warnAt := d.Add(-pl.deadlineWarning); warnAt.After(now) {
		tasks = append(tasks, pl.notify(ch, eventApproaching, fmt.Sprintf("d%d", d.Unix()), warnAt, notifyPayload{})...)
	}
	if d.After(now) {
		tasks = append(tasks, pl.notify(ch, eventPassed, fmt.Sprintf("d%d", d.Unix()), d, notifyPayload{})...)
	}
	return tasks
}

// notify plans one delivery task per channel that wants the event.
func (pl *planner) notify(ch store.IncidentChange, event, discriminator string, runAt time.Time, p notifyPayload) []store.NewTask {
	if pl.channels == nil {
		return nil
	}
	var tasks []store.NewTask
	for _, c := range pl.channels(event, ch) {
		p.Event, p.Channel = event, c
		payload, _ := json.Marshal(p) // plain struct, always marshals
		tasks = append(tasks, store.NewTask{
			Kind:       taskNotify,
			Key:        fmt.Sprintf("notify:%d:%s:%s:c-%s", ch.IncidentID, event, discriminator, c),
			Payload:    payload,
			RunAt:      runAt,
			IncidentID: ch.IncidentID,
		})
	}
	return tasks
}
