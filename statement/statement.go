// Package statement drafts an incident's answer to the provider from what
// abusewatch recorded (the provider's notice, the triage evidence and
// suspects, the timeline of what was done) and sends it: as a threaded
// reply over SMTP, or through the OVH API for support tickets.
//
// A draft claims nothing the incident does not back: each line comes from
// a notice, a piece of evidence, a timeline entry or a grant. It is built
// from findings and summaries, never from raw output, and a redaction pass
// masks what looks like a credential in the final text.
package statement

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// Facts is what a draft may use.
type Facts struct {
	Incident store.Incident
	// Notice is the provider's notice being answered.
	Notice   store.NoticeRecord
	Timeline []store.TimelineEntry
	Evidence []store.Evidence
	Runs     []store.TriageRunRecord
	// Grants are the whitelist windows opened on the incident's IP.
	Grants []store.Grant
	// Secrets are values known to be secret (read from evidence output and
	// the incident's mails): the draft never shows them.
	Secrets []string
	// Signature closes the statement (the sender's address or team).
	Signature string
}

// Draft is a drafted statement.
type Draft struct {
	Lang string
	Body string
	// Redacted counts the secrets the redaction pass masked.
	Redacted int
}

// timeLayout is UTC to the minute, the same in every language.
const timeLayout = "2006-01-02 15:04 UTC"

func stamp(t time.Time) string { return t.UTC().Format(timeLayout) }

// Build drafts the statement in lang (en, fr, de).
func Build(f Facts, lang string) (Draft, error) {
	tb, err := lookup(lang)
	if err != nil {
		return Draft{}, err
	}
	var b strings.Builder
	// Values come from mail and evidence: each stays on its line, so that
	// none can forge a line of the statement.
	line := func(format string, args ...any) {
		for i, a := range args {
			if s, ok := a.(string); ok {
				args[i] = oneLine(s)
			}
		}
		fmt.Fprintf(&b, format+"\n", args...)
	}
	n := f.Notice
	line("%s", tb.Greeting)
	line("")
	when := n.Date
	if when.IsZero() {
		when = n.ReceivedAt
	}
	about := n.IP
	if about == "" {
		about = f.Incident.IP
	}
	if about == "" {
		about = n.Service
	}
	caseID := n.Case
	if caseID == "" {
		caseID = n.Subject
	}
	line(tb.Regarding, caseID, stamp(when), about)
	if n.Attack != "" && n.Attack != "unknown" {
		line(tb.Reported, n.Attack)
	}
	if n.Rate != "" {
		line(tb.Rate, n.Rate)
	}
	if count, first, last := eventSpan(n.Events); count > 0 {
		line(tb.Events, count, stamp(first), stamp(last))
	}

	line("")
	line("%s", tb.FoundHead)
	found := false
	if len(f.Runs) > 0 {
		last := f.Runs[len(f.Runs)-1]
		for _, s := range last.Suspects {
			line(tb.Suspect, kindName(tb, s.Kind), s.Name, s.Host, suspectDetail(s))
			found = true
		}
	}
	for _, e := range f.Evidence {
		if e.Status != "ok" || len(e.Findings) == 0 {
			continue
		}
		for _, fd := range e.Findings {
			line(tb.Finding, fd)
		}
		sum := sha256.Sum256(e.Output)
		line(tb.EvidenceLine, e.Job, e.Host, stamp(e.StartedAt), hex.EncodeToString(sum[:]))
		found = true
	}
	if !found {
		line("%s", tb.NothingFound)
	}

	actions := f.actions(tb)
	if len(actions) > 0 {
		line("")
		line("%s", tb.DoneHead)
		for _, a := range actions {
			line(tb.Action, stamp(a.at), a.text)
		}
	}
	if prevent := f.prevention(tb); len(prevent) > 0 {
		line("")
		line("%s", tb.PreventHead)
		for _, p := range prevent {
			line("%s", p)
		}
	}
	line("")
	line("%s", tb.Closing)
	if f.Signature != "" {
		line("%s", f.Signature)
	}
	body, redacted := Redact(b.String(), f.Secrets)
	return Draft{Lang: lang, Body: body, Redacted: redacted}, nil
}

// oneLine turns control characters (line breaks included) into spaces.
func oneLine(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029 {
			return ' '
		}
		return r
	}, s)
}

func kindName(tb *table, kind string) string {
	if k, ok := tb.Kinds[kind]; ok {
		return k
	}
	return kind
}

// suspectDetail names what identifies a suspect beyond its name.
func suspectDetail(s store.Suspect) string {
	var parts []string
	if s.PID != 0 {
		parts = append(parts, fmt.Sprintf("pid %d", s.PID))
	}
	if s.User != "" {
		parts = append(parts, "user "+s.User)
	}
	if s.Container != "" && s.Container != s.Name {
		parts = append(parts, "container "+s.Container)
	}
	if s.VM != "" && s.VM != s.Name {
		parts = append(parts, "vm "+s.VM)
	}
	if s.Exe != "" {
		parts = append(parts, s.Exe)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// eventSpan counts a notice's log lines and their first and last time.
func eventSpan(raw json.RawMessage) (n int, first, last time.Time) {
	var events []struct {
		Time time.Time `json:"time"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &events) != nil {
		return 0, first, last
	}
	for _, e := range events {
		if e.Time.IsZero() {
			continue
		}
		if first.IsZero() || e.Time.Before(first) {
			first = e.Time
		}
		if e.Time.After(last) {
			last = e.Time
		}
		n++
	}
	return n, first, last
}

type action struct {
	at   time.Time
	text string
}

// containKinds are the timeline kinds of a containment and its undoing,
// whose text (written by abusewatch itself) says what was done.
var containKinds = map[string]bool{"contain": true, "containment": true, "contained": true, "release": true, "released": true}

// actions are the timeline entries that record something done about the
// incident, and the whitelist windows, in time order.
func (f Facts) actions(tb *table) []action {
	var out []action
	inspected := false
	for _, e := range f.Timeline {
		switch {
		case containKinds[e.Kind]:
			out = append(out, action{e.At, e.Text})
		case e.Kind == "evidence" && !inspected:
			// One line for the inspection; what it found is said above.
			out = append(out, action{e.At, tb.Inspected})
			inspected = true
		case e.Kind == "state" && strings.Contains(e.Text, " no longer "):
			out = append(out, action{e.At, tb.Lifted})
		case e.Kind == "unblock" && strings.Contains(e.Text, " requested from "):
			// Written by `abusewatch unblock` once the provider took the request.
			out = append(out, action{e.At, tb.UnblockAsked})
		}
	}
	for _, g := range f.Grants {
		if g.ServerIP != f.Incident.IP || g.CreatedAt.Before(f.Incident.FirstSeen) {
			continue
		}
		out = append(out, action{g.CreatedAt, fmt.Sprintf(tb.Window, stamp(g.ExpiresAt))})
	}
	// Stable: entries of one millisecond keep the timeline's order.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].at.Before(out[j-1].at); j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// PreventionKind is the timeline kind of a prevention measure an operator
// recorded; its text starts with the measure's name and a colon.
const PreventionKind = "prevention"

// prevention lists the measures the incident backs: those recorded on the
// timeline, and the audit when a Lynis job's evidence shows one ran.
func (f Facts) prevention(tb *table) []string {
	done := map[string]bool{}
	for _, e := range f.Timeline {
		if e.Kind != PreventionKind {
			continue
		}
		name, _, _ := strings.Cut(e.Text, ":")
		done[strings.TrimSpace(name)] = true
	}
	for _, e := range f.Evidence {
		if strings.Contains(strings.ToLower(e.Job), "lynis") && e.Status == "ok" && e.ExitCode == 0 {
			done["audit"] = true
		}
	}
	var out []string
	for _, m := range Measures {
		if done[m] {
			out = append(out, tb.Prevent[m])
		}
	}
	return out
}

// Sum is the hex sha256 of a statement's text, its identity in the store.
func Sum(body string) string {
	s := sha256.Sum256([]byte(body))
	return hex.EncodeToString(s[:])
}
