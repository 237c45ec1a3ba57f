package notify

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/abusewatch/abusewatch/internal/safetext"
)

// Mail is untrusted input, and most of an event's strings come from mail (a
// case id, a service name, a subject quoted in a detail) or from a host
// (triage findings). Before they reach a chat service they are escaped for
// it, so that a notice cannot ping the whole channel (`<!channel>`, `@here`),
// plant a link (`[x](http://evil)`), restyle the message or break its lines.
// The escaper of a channel is chosen from its shoutrrr URL.

// Length caps. A field is a case id or a service name: far shorter in every
// real notice. Messages stay under every service's limit (Discord: 2,000).
const (
	fieldCap   = 200
	detailCap  = 800
	findingCap = 300
	maxFinding = 20
	messageCap = 4000
	discordCap = 2000
)

// escaper makes mail-derived text inert for one chat service.
type escaper struct {
	// mentions defuses @here, @channel, @room, @everyone and @user mentions.
	mentions bool
	// entities writes & < > as HTML entities: Slack, Mattermost (its Slack
	// compatibility expands <!channel> and <url|text> before Markdown), Teams,
	// Telegram's HTML mode.
	entities bool
	// markdown backslash-escapes Markdown (CommonMark, Discord).
	markdown bool
	// mrkdwn breaks Slack's *bold* _italic_ ~strike~ `code`, which have no
	// escape, with zero-width spaces.
	mrkdwn bool
	// limit is the longest message the service takes, in runes.
	limit int
}

// escaperFor picks the escaper of a shoutrrr URL by its service.
func escaperFor(u *url.URL) escaper {
	base, _, _ := strings.Cut(strings.ToLower(u.Scheme), "+")
	switch base {
	case "generic", "logger", "smtp", "notifiarr", "opsgenie", "pagerduty":
		// Not chat: a program or a mail reads it. Controls and links only.
		return escaper{limit: messageCap}
	case "slack", "googlechat":
		return escaper{mentions: true, entities: true, mrkdwn: true, limit: messageCap}
	case "mattermost", "teams":
		return escaper{mentions: true, entities: true, markdown: true, limit: messageCap}
	case "discord":
		return escaper{mentions: true, markdown: true, limit: discordCap}
	case "rocketchat", "zulip":
		return escaper{mentions: true, markdown: true, limit: messageCap}
	case "telegram":
		// shoutrrr sends HTML when a title is set and escapes it itself.
		switch mode := strings.ToLower(u.Query().Get("parsemode")); {
		case mode == "html":
			return escaper{mentions: true, entities: true, limit: messageCap}
		case strings.HasPrefix(mode, "markdown"):
			return escaper{mentions: true, markdown: true, limit: messageCap}
		}
	}
	// Plain-text chat (Matrix sends m.text bodies, clients still linkify and
	// notify on @room) and push services.
	return escaper{mentions: true, limit: messageCap}
}

// event returns ev with every free-text string escaped and capped. The
// vocabulary fields (kind, severity) are ours; provider, attack and IP are
// validated by the parser but escaped too, as they cost nothing to escape.
func (e escaper) event(ev Event) Event {
	ev.Severity = e.field(ev.Severity, fieldCap)
	ev.Provider = e.field(ev.Provider, fieldCap)
	ev.Attack = e.field(ev.Attack, fieldCap)
	ev.IP = e.field(ev.IP, fieldCap)
	ev.Service = e.field(ev.Service, fieldCap)
	ev.Case = e.field(ev.Case, fieldCap)
	ev.Detail = e.field(ev.Detail, detailCap)
	findings := ev.Findings
	if len(findings) > maxFinding {
		findings = append(findings[:maxFinding:maxFinding], fmt.Sprintf("(%d more findings)", len(ev.Findings)-maxFinding))
	}
	ev.Findings = make([]string, len(findings))
	for i, f := range findings {
		ev.Findings[i] = e.field(f, findingCap)
	}
	return ev
}

// field makes one string safe for the service, on one line.
func (e escaper) field(s string, limit int) string {
	s = safetext.Shorten(safetext.Visible(s), limit)
	s = defangLinks(s)
	if e.mentions {
		// A full-width at sign reads the same and mentions nobody.
		s = strings.ReplaceAll(s, "@", "＠")
	}
	if e.entities {
		s = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
	}
	switch {
	case e.markdown:
		s = escapeMarkdown(s, !e.entities)
	case e.mrkdwn:
		s = breakMrkdwn(s)
	}
	return s
}

// markdownSpecial is what CommonMark and Discord give a meaning to inline:
// emphasis, code, links and images, autolinks and HTML, tables, spoilers.
const markdownSpecial = "\\`*_~[]|"

// escapeMarkdown backslash-escapes Markdown. Without HTML entities (Discord
// shows them verbatim) < and > are escaped the same way. A field that starts
// a line is escaped as a block start too (# heading, > quote, - list). An
// underscore inside a word styles nothing and stays, so that
// ntp_amplification reads as itself in a phone notification.
func escapeMarkdown(s string, angles bool) string {
	var b strings.Builder
	for i, r := range s {
		special := strings.ContainsRune(markdownSpecial, r) && !(r == '_' && intraword(s, i)) ||
			angles && (r == '<' || r == '>') || i == 0 && strings.ContainsRune("#>-+=", r)
		if special {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// breakMrkdwn puts zero-width spaces around Slack's style markers, which
// then touch no word and style nothing (an underscore inside a word styles
// nothing already).
func breakMrkdwn(s string) string {
	var b strings.Builder
	for i, r := range s {
		if strings.ContainsRune("*_~`", r) && !(r == '_' && intraword(s, i)) {
			b.WriteString("\u200b" + string(r) + "\u200b")
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// intraword reports whether the byte at i has a letter or digit on each side.
func intraword(s string, i int) bool {
	return i > 0 && i+1 < len(s) && isWordByte(s[i-1]) && isWordByte(s[i+1])
}

// linkPattern finds what chat services turn into links by themselves.
var linkPattern = regexp.MustCompile(`(?i)\b([a-z][a-z0-9+.-]*)://|\bwww\.`)

// defangLinks writes URLs the way abuse desks quote them: "hxxp://evil",
// "hxxps://evil", "ftp[:]//evil", "www[.]evil" — readable, not clickable.
func defangLinks(s string) string {
	return linkPattern.ReplaceAllStringFunc(s, func(m string) string {
		scheme, ok := strings.CutSuffix(m, "://")
		switch {
		case !ok:
			return m[:3] + "[.]"
		case strings.EqualFold(scheme, "http"), strings.EqualFold(scheme, "https"):
			return "hxxp" + scheme[4:] + "://"
		}
		return scheme + "[:]//"
	})
}

// shorten cuts a whole message to the service's limit at a line break, so
// that no escape sequence or entity is split, and says it did.
func (e escaper) shorten(text string) string {
	if utf8.RuneCountInString(text) <= e.limit {
		return text
	}
	const mark = "\n…(message shortened)"
	budget := e.limit - utf8.RuneCountInString(mark)
	lines := strings.Split(text, "\n")
	var b strings.Builder
	used := 0
	for _, l := range lines {
		n := utf8.RuneCountInString(l) + 1
		if used+n > budget {
			break
		}
		b.WriteString(l)
		b.WriteByte('\n')
		used += n
	}
	if used == 0 {
		// One line longer than the limit (a template of the operator's):
		// cut it between runes, away from any escape.
		return strings.TrimRight(safetext.Shorten(lines[0], budget), "\\&") + mark
	}
	return strings.TrimSuffix(b.String(), "\n") + mark
}
