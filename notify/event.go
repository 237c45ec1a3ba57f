package notify

import "time"

// EventKind names what happened. The pipeline's notification idempotency key
// is (incident, kind, …), so every kind that deserves its own chat message
// has its own value here.
type EventKind string

// The event kinds, as used in config `events:` filters.
const (
	IncidentOpened      EventKind = "incident_opened"
	IncidentEscalated   EventKind = "incident_escalated"
	StateChanged        EventKind = "state_changed"
	UnblockPossible     EventKind = "unblock_possible"
	DeadlineApproaching EventKind = "deadline_approaching"
	DeadlinePassed      EventKind = "deadline_passed"
	TriageFinished      EventKind = "triage_finished"
	WhitelistGranted    EventKind = "whitelist_granted"
	WhitelistRevoked    EventKind = "whitelist_revoked"
	WhitelistExpired    EventKind = "whitelist_expired"
	MailboxFailing      EventKind = "mailbox_failing"
	// MailUnrecognised asks a person to read a provider's mail that no
	// parser rule classified.
	MailUnrecognised EventKind = "mail_unrecognised"
	// MailNotKept is a mail over the keep limit: recorded, not kept, left
	// unflagged in its mailbox for a person to read.
	MailNotKept EventKind = "mail_not_kept"
	// IncidentUpdated is a burst digest: several notices folded into one message.
	IncidentUpdated EventKind = "incident_updated"
	// Contained and NotContained are an operator's containment verdicts
	// (abusewatch contain); Released is its undoing (abusewatch release).
	Contained    EventKind = "contained"
	NotContained EventKind = "not_contained"
	Released     EventKind = "released"
	// ProviderAuthFailed is a provider API that refused abusewatch's
	// credentials: its client makes no call until they are fixed and the
	// configuration reloaded.
	ProviderAuthFailed EventKind = "provider_auth_failed"
)

// Kinds lists every event kind, in the order an operator reads them in docs.
func Kinds() []EventKind {
	return []EventKind{
		IncidentOpened, IncidentEscalated, StateChanged, UnblockPossible,
		DeadlineApproaching, DeadlinePassed, TriageFinished,
		WhitelistGranted, WhitelistRevoked, WhitelistExpired,
		MailboxFailing, MailUnrecognised, MailNotKept, IncidentUpdated,
		Contained, NotContained, Released,
		ProviderAuthFailed,
	}
}

func validKind(k EventKind) bool {
	for _, v := range Kinds() {
		if v == k {
			return true
		}
	}
	return false
}

// Event is one thing worth telling the team about. The pipeline fills it from
// the incident, its latest notice and its latest provider state.
type Event struct {
	Kind       EventKind
	IncidentID int64
	// Severity is the notice kind: rescue|block|attack|complaint|status, or ""
	// for operational events (mailbox_failing, whitelist_*).
	Severity string
	Provider string
	Attack   string
	IP       string
	Service  string
	Case     string
	Deadline time.Time
	// What the provider did, from the latest server state snapshot.
	Blocked, Locked, Rescue, Hacked bool
	// Count is the number of notices folded into this message (burst aggregation).
	Count int
	// Unverified is set when DKIM did not pass: the message must say so.
	Unverified bool
	// Repeat is set when the watcher that was sending this message stopped
	// before recording the outcome: the team may have it already, and the
	// message must say so.
	Repeat bool
	// Findings are triage findings, one line each.
	Findings []string
	// Detail is free text: mailbox name and error, whitelist source and
	// expiry, a state change description…
	Detail string
	At     time.Time
}
