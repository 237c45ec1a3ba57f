package parser

import "strings"

// SpamCop (spamcop.net) mails a report to the abuse contact of each network
// its users' spam came through: From <id>@reports.spamcop.net, subject
// "[SpamCop (A.B.C.D) id:7234567890]<the spam's subject>" for the host that
// sent the spam, "[SpamCop (http://site.example/) id:…]" for the web host of
// a site the spam advertised. The body is a short banner ("- SpamCop V5.4.1
// -", "Email from A.B.C.D / <date>") over the offending message.

// spamcopDomains send SpamCop's reports.
var spamcopDomains = []string{"spamcop.net"}

// spamcopTag is the opening of the subject's tag.
const spamcopTag = "[SpamCop ("

func matchSpamCop(m *mail) bool {
	return domainIn(m.fromDomain, spamcopDomains) && strings.Contains(m.subject, spamcopTag)
}

// parseSpamCop reads the report's one notice: the IP of the tag, else (a
// spamvertised site) the first host address the banner above the
// offending message names.
func parseSpamCop(m *mail) ([]Notice, string) {
	tag := m.subject[strings.Index(m.subject, spamcopTag)+len(spamcopTag):]
	target, rest, ok := strings.Cut(tag, ")")
	if !ok {
		return nil, "SpamCop subject without the closing bracket of its tag"
	}
	n := Notice{Kind: KindComplaint, Attack: AttackSpam, Reporter: "SpamCop", Events: []Event{}}
	if id, ok := strings.CutPrefix(strings.TrimSpace(rest), "id:"); ok {
		n.Case, _, _ = strings.Cut(id, "]")
	}
	if n.IP = firstIP(target); n.IP == "" {
		n.Attack = AttackSpamvertised // the tag names a site, not a sender
		banner, _, _ := strings.Cut(m.text[:min(len(m.text), 4<<10)], "[ Offending message ]")
		n.IP = firstHostIP(banner)
	}
	m.note("spamcop: target ", target, "; ip ", orNothing(n.IP))
	return []Notice{n}, ""
}
