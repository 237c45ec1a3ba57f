package notify

import (
	"fmt"
	"strings"
	"text/template"
	"time"
)

// templateData is what a channel template sees: the event's fields, plus
// the default text for templates that only wrap or shorten it.
type templateData struct {
	Event
	Default string
	// Link is the incident's dashboard page, "" when http.public_url is
	// not set or the event has no incident.
	Link string
}

func templateFuncs() template.FuncMap {
	return template.FuncMap{
		// Any value, not only strings: .Kind is an EventKind, and the
		// example's `upper .Kind` failed on every message.
		"upper": func(v any) string { return strings.ToUpper(fmt.Sprint(v)) },
		"lower": func(v any) string { return strings.ToLower(fmt.Sprint(v)) },
		"join":  func(sep string, s []string) string { return strings.Join(s, sep) },
		"time":  formatTime,
	}
}

// formatTime is UTC with minutes: deadlines are given by providers to the
// minute, and a team across time zones needs one reference.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04 UTC")
}

func severityIcon(sev string) string {
	switch strings.ToLower(sev) {
	case "rescue":
		return "🚨"
	case "block":
		return "🔴"
	case "attack":
		return "🟠"
	case "complaint":
		return "🟡"
	case "status":
		return "🔵"
	}
	return "⚪"
}

// headline is the start of the first line: an icon a phone shows in the
// notification preview, then words that still make sense without it.
func headline(ev Event) string {
	sev := strings.ToUpper(ev.Severity)
	withSev := func(icon, words string) string {
		return strings.TrimSpace(icon + " " + words + " " + sev)
	}
	switch ev.Kind {
	case IncidentOpened:
		if sev == "" {
			return severityIcon(ev.Severity) + " NEW INCIDENT"
		}
		return severityIcon(ev.Severity) + " " + sev
	case IncidentEscalated:
		return withSev("⏫", "ESCALATED to")
	case IncidentUpdated:
		return withSev(severityIcon(ev.Severity), "UPDATE")
	case StateChanged:
		return "🔄 STATE CHANGED"
	case UnblockPossible:
		return "🟢 UNBLOCK POSSIBLE"
	case DeadlineApproaching:
		return "⏰ DEADLINE SOON"
	case DeadlinePassed:
		return "⛔ DEADLINE PASSED"
	case TriageFinished:
		return "🔎 TRIAGE DONE"
	case WhitelistGranted:
		return "🔓 WHITELIST GRANTED"
	case WhitelistRevoked:
		return "🔒 WHITELIST REVOKED"
	case WhitelistExpired:
		return "⌛ WHITELIST EXPIRED"
	case MailboxFailing:
		return "⚠️ MAILBOX FAILING"
	case MailUnrecognised:
		return "❓ UNRECOGNISED MAIL"
	case MailNotKept:
		return "📦 MAIL TOO LARGE TO KEEP"
	case Contained:
		return "🧊 CONTAINED"
	case NotContained:
		return "🚨 NOT CONTAINED"
	case Released:
		return "▶️ RELEASED"
	case ProviderAuthFailed:
		return "🔑 PROVIDER LOGIN REFUSED"
	}
	return "ℹ️ " + strings.ToUpper(strings.ReplaceAll(string(ev.Kind), "_", " "))
}

// providerActions says what the provider did to the server, in words.
func providerActions(ev Event) []string {
	var did []string
	if ev.Blocked {
		did = append(did, "IP blocked")
	}
	if ev.Locked {
		did = append(did, "server locked")
	}
	if ev.Rescue {
		did = append(did, "rescue mode")
	}
	if ev.Hacked {
		did = append(did, "flagged as hacked")
	}
	return did
}

// defaultText is the built-in message: a few short lines that read well in
// a phone notification, the most important first.
func defaultText(ev Event, link string) string {
	var lines []string

	first := []string{headline(ev)}
	for _, f := range []string{ev.Provider, ev.Attack, ev.IP} {
		if f != "" {
			first = append(first, f)
		}
	}
	line := strings.Join(first, " ")
	if ev.Count > 1 {
		line += fmt.Sprintf(" (%d notices)", ev.Count)
	}
	lines = append(lines, line)

	if ev.Unverified {
		lines = append(lines, "⚠ unverified sender: DKIM did not pass")
	}
	if ev.Repeat {
		lines = append(lines, "↻ may repeat an earlier message: the watcher sending it stopped before recording it")
	}
	if ev.Service != "" {
		lines = append(lines, "service: "+ev.Service)
	}
	if did := providerActions(ev); len(did) > 0 {
		lines = append(lines, "provider did: "+strings.Join(did, ", "))
	} else if ev.Kind == StateChanged || ev.Kind == UnblockPossible {
		lines = append(lines, "provider did: nothing in force (no block, lock or rescue)")
	}
	var cd []string
	if ev.Case != "" {
		cd = append(cd, "case "+ev.Case)
	}
	if !ev.Deadline.IsZero() {
		dl := "deadline " + formatTime(ev.Deadline)
		if !ev.At.IsZero() && !ev.Deadline.After(ev.At) && ev.Kind != DeadlinePassed {
			dl += " (passed)"
		}
		cd = append(cd, dl)
	}
	if len(cd) > 0 {
		lines = append(lines, strings.Join(cd, ", "))
	}
	if ev.Detail != "" {
		lines = append(lines, ev.Detail)
	}
	if len(ev.Findings) > 0 {
		lines = append(lines, "findings:")
		for _, f := range ev.Findings {
			lines = append(lines, "- "+f)
		}
	}
	switch {
	case link != "":
		lines = append(lines, fmt.Sprintf("incident %d: %s", ev.IncidentID, link))
	case ev.IncidentID > 0:
		lines = append(lines, fmt.Sprintf("incident %d: abusewatch incidents show %d", ev.IncidentID, ev.IncidentID))
		if ev.Kind == DeadlineApproaching || ev.Kind == DeadlinePassed {
			// The provider waits for a statement: say how to give it.
			lines = append(lines, fmt.Sprintf("answer: abusewatch statement %d --send", ev.IncidentID))
		}
	}
	return strings.Join(lines, "\n")
}
