package parser

import (
	"regexp"
	"slices"
	"strings"
	"time"
)

// hetznerSubject is what the subject of a Hetzner abuse mail says.
type hetznerSubject struct {
	id       string // "518908:22"
	category string // "NetscanOutLevel", "" when the subject names none
	text     string // the rest: "Netscan detected from 138.201.172.5 [Network-Normal]"
}

// hetznerSubjectPrefix is the tag of the subject; what stands before it
// ("Abuse Message", "Re:", a translation) does not matter.
const hetznerSubjectPrefix = "[AbuseID:"

// parseHetznerSubject reads "Abuse Message [AbuseID:518908:22]:
// NetscanOutLevel: Netscan detected from 138.201.172.5" anywhere in s, so
// that "Re:" and "Fwd:" prefixes pass. The first id part has any width (6 hex
// digits until 2024, 7 since 2025); follow-up subjects may name no category.
// It is a hand-written scan because it runs on every mail of a Hetzner sender.
func parseHetznerSubject(s string) (hetznerSubject, bool) {
	i := strings.Index(s, hetznerSubjectPrefix)
	if i < 0 {
		return hetznerSubject{}, false
	}
	rest := s[i+len(hetznerSubjectPrefix):]
	end := strings.IndexByte(rest, ']')
	if end < 0 {
		return hetznerSubject{}, false
	}
	id := rest[:end]
	if !isAbuseID(id) {
		return hetznerSubject{}, false
	}
	rest = strings.TrimSpace(strings.TrimPrefix(rest[end+1:], ":"))
	j := 0
	for j < len(rest) && ('a' <= rest[j]|0x20 && rest[j]|0x20 <= 'z') {
		j++
	}
	subj := hetznerSubject{id: id, text: rest}
	if j > 0 && j < len(rest) && rest[j] == ':' {
		subj.category, subj.text = rest[:j], strings.TrimSpace(rest[j+1:])
	}
	return subj, true
}

// statedAsFact reports whether a phrase of sig occurs in flat outside a
// condition: "we have not received a statement within the deadline" is
// news, "Sollten wir innerhalb dieser Frist keine Stellungnahme erhalten,
// kann die IP gesperrt werden" ("should we receive none …") a warning.
func statedAsFact(flat string, sig signal) bool {
	fact := false
	hetznerPhrases.each(flat, func(end int, found signalMask) bool {
		fact = found.has(sig) && !conditional(flat[sentenceStart(flat, end):end])
		return !fact
	})
	return fact
}

// sentenceStart is where the sentence that holds flat[:end] starts.
func sentenceStart(flat string, end int) int {
	start := 0
	for _, stop := range []string{". ", "! ", "? ", ": ", "; "} {
		if i := strings.LastIndex(flat[:end], stop); i >= 0 && i+len(stop) > start {
			start = i + len(stop)
		}
	}
	return start
}

// conditional reports whether a sentence (flattened) has one of
// conditionWords as a word.
func conditional(sentence string) bool {
	for _, w := range strings.FieldsFunc(sentence, func(r rune) bool { return r == ' ' || r == ',' || r == '(' }) {
		if hasName(conditionWords, w) {
			return true
		}
	}
	return false
}

// quotedHetznerSubject finds, in the first 8 KiB of text, the line of a
// forwarded Hetzner subject: "Subject: Abuse Message [AbuseID:…]: …" in the
// header block a client writes above a forward, or the subject alone on its
// line. What stands before the tag may be quote marks, one header label, reply
// or forward prefixes and at most three words ("Abuse Message"), never a
// quotation mark: a sentence that mentions a Hetzner subject ("We had "Abuse
// Message [AbuseID:…]" twice") is talk about a notice, not a notice.
func quotedHetznerSubject(text string) (line string, ok bool) {
	text = text[:min(len(text), 8<<10)]
	for off := 0; ; {
		i := strings.Index(text[off:], hetznerSubjectPrefix)
		if i < 0 {
			return "", false
		}
		i += off
		start := strings.LastIndexByte(text[:i], '\n') + 1
		end := strings.IndexByte(text[i:], '\n')
		if end < 0 {
			end = len(text) - i
		}
		if subjectLead(text[start:i]) {
			return text[i : i+end], true
		}
		off = i + len(hetznerSubjectPrefix)
	}
}

// subjectLead reports whether before can stand before a subject's tag on
// its line (see quotedHetznerSubject).
func subjectLead(before string) bool {
	before = strings.TrimSpace(unquote(before))
	if strings.ContainsAny(before, "\"“”„«»'") {
		return false
	}
	words := strings.Fields(before)
	// "Subject:", "Betreff:", "Objet :", and "Re:", "AW:", "Fwd:" prefixes.
	for len(words) > 0 {
		switch {
		case strings.HasSuffix(words[0], ":"):
			words = words[1:]
		case len(words) > 1 && words[1] == ":":
			words = words[2:]
		default:
			return len(words) <= 3
		}
	}
	return true
}

// isAbuseID reports whether s is "<hex>:<2 hex>", as "518908:22".
func isAbuseID(s string) bool {
	first, second, _ := strings.Cut(s, ":")
	return first != "" && len(second) == 2 && isHex(first) && isHex(second)
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; !('0' <= s[i] && s[i] <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// hetznerCategory is what a subject category means. An empty attack is read
// from the words of the complaint (AbuseNormal covers phishing, spam, …).
type hetznerCategory struct {
	kind   Kind
	attack Attack
}

var hetznerCategories = map[string]hetznerCategory{
	"netscanoutlevel":   {KindAttack, AttackNetscan},
	"netscaninlevel":    {KindAttack, AttackNetscan}, // sent to other networks about their hosts
	"abusenormal":       {KindComplaint, ""},
	"abuseblacklist":    {KindComplaint, AttackBlacklist},
	"abusespamvertised": {KindComplaint, AttackSpamvertised},
	// A third party's report forwarded for information: no statement due.
	"abuseinfo":              {KindComplaint, ""},
	"abusefblunitedinternet": {KindComplaint, AttackSpam}, // a mail provider's feedback loop
}

// categoryOf maps a subject category; an unknown one is still a complaint.
// known is false for a token never seen before (or none): the attack is
// then read from the words of the mail.
func categoryOf(category string) (c hetznerCategory, known bool) {
	if c, ok := hetznerCategories[strings.ToLower(category)]; ok {
		return c, true
	}
	return hetznerCategory{KindComplaint, ""}, false
}

// matchHetzner accepts the AbuseID header, the Hetzner sender domains and the
// AbuseID subject (a forward by a colleague). A colleague's forward that
// carries the Hetzner mail as an attachment is left to Parse, which opens it.
func matchHetzner(m *mail) bool {
	if m.header.has("X-Hetzner-AbuseID") || domainIn(m.fromDomain, hetznerDomains) {
		return true
	}
	if matchOVH(m) {
		return false // OVH's own mail, whatever it quotes
	}
	if !strings.Contains(m.subject, hetznerSubjectPrefix) {
		if _, quoted := quotedHetznerSubject(m.text); !quoted {
			return false
		}
	}
	_, attached := m.partOfType("message/rfc822")
	return !attached
}

// parseHetzner returns the notices of a Hetzner mail: one per IP for a lock,
// else one. Robot automation and support tickets hold none.
func parseHetzner(m *mail) ([]Notice, string) {
	subj, ok := parseHetznerSubject(m.subject)
	if !ok {
		// A forward whose subject lost the id may quote Hetzner's subject line.
		if line, quoted := quotedHetznerSubject(m.text); quoted {
			subj, _ = parseHetznerSubject(line)
		}
	}
	id := strings.TrimSpace(m.header.get("X-Hetzner-AbuseID"))
	if !isAbuseID(id) {
		id = subj.id
	}
	// What Hetzner says (lock, follow-up, deadline, who complained) opens
	// the mail; the logs and reports after it are read line by line.
	flat := flatten(m.text[:min(len(m.text), maxHetznerProse)])
	said, _ := hetznerPhrases.scan(flat[:min(len(flat), maxHetznerPhraseScan)])
	locked := said.has(sigHzLock)
	status := said.has(sigHzStatus) && statedAsFact(flat[:min(len(flat), maxHetznerPhraseScan)], sigHzStatus)
	// A "Re:"/"AW:" from Hetzner is its staff answering on a case: news on
	// it, unless it forwards a complaint with the notice's own opening
	// ("information regarding … from …").
	status = status || isReplySubject(m.subject) && domainIn(m.fromDomain, hetznerDomains) && !said.has(sigHzLead)
	if id == "" && !locked {
		reason, known := notAbuseReason(m, flat)
		if known {
			return nil, reason
		}
		return unrecognisedHetzner(m), reason
	}
	m.note("hetzner: case ", id, ", category ", orNothing(subj.category))

	// The attachment repeats the quoted log in full: read one source only,
	// the attachment when it has rows.
	var events []Event
	if att := m.attachmentText(isHetznerLogName); att != "" {
		events = scanHetznerLog(att, true).events
	}
	body := scanHetznerLog(m.text, len(events) == 0)
	if len(events) == 0 {
		events = body.events
	}
	if len(events) == 0 {
		// A third party's report forwarded as it came lays out its own
		// table, or pastes its auth log.
		events = pastedEvents(m.text)
	}

	n := Notice{Case: id, Events: events}
	cat, known := categoryOf(subj.category)
	n.Kind, n.Attack = cat.kind, cat.attack
	var topic, reporter string
	if said.has(sigHzLead) {
		topic, reporter = forwardedComplaint(m.text)
	}
	n.Reporter = reporter
	if !strings.EqualFold(subj.category, "AbuseInfo") {
		n.Deadline = readDeadline(flat, m.date) // AbuseInfo asks for nothing
	}
	if name := blacklistName(subj.text); name != "" {
		n.Reporter = name
	}
	// Hetzner's own template topic ("spam and/or abuse") names an attack
	// only when nothing else does: the subject, the report or the log
	// forwarded below it say more.
	generic := slices.Contains(hetznerGenericTopics, strings.ToLower(topic))
	if n.Attack == "" {
		words := subj.text + " " + subj.category
		if !generic {
			words = topic + " " + words
		}
		n.Attack = attackFromWords(words)
	}
	ipFrom := hetznerIPAndAttack(m, &n, subj, body, cat)
	if n.Attack == AttackUnknown && generic {
		n.Attack = attackFromWords(topic)
	}
	m.note("hetzner: ip ", orNothing(n.IP), " from the ", ipFrom, "; reporter ", orNothing(n.Reporter))
	unrecognised := ""
	if !known && n.Attack == AttackUnknown && !locked && !status {
		unrecognised = "category " + categoryName(subj.category) + " unknown and no words name the attack"
	}
	switch {
	case locked:
		return lockNotices(n, subj.category, body.locked), ""
	case status:
		n.Kind = KindStatus
	case ipFrom == "CSV attachment":
		return noticePerIP(n, csvSourceIPs(m)), unrecognised
	}
	return []Notice{n}, unrecognised
}

// hetznerIPAndAttack finds the notice's IP, and its attack when the
// words so far did not name it, in the order the sources are trusted: the
// subject, the log's banner and rows, the report Hetzner forwards, a CSV
// attachment, the reasons in a third party's table, then its own text. It
// returns the source of the IP for --explain.
func hetznerIPAndAttack(m *mail, n *Notice, subj hetznerSubject, body hetznerLog, cat hetznerCategory) (ipFrom string) {
	n.IP, ipFrom = firstIP(subj.text), "subject"
	if n.IP == "" {
		n.IP, ipFrom = body.host, "banner"
	}
	if n.IP == "" && len(n.Events) > 0 && cat.attack == AttackNetscan {
		if host, _ := splitHostPort(n.Events[0].Src); validIP(host) {
			n.IP, ipFrom = host, "log" // the scanning host is the one reported
		}
	}
	wordless := n.Attack == AttackUnknown && cat.attack == ""
	if n.IP != "" && !wordless {
		return ipFrom
	}
	ip, a := forwardedReport(m)
	if n.IP == "" && ip != "" {
		n.IP, ipFrom = ip, "forwarded report"
	}
	if wordless && a != "" {
		n.Attack = a
	}
	if n.IP == "" {
		if ips := csvSourceIPs(m); len(ips) > 0 {
			n.IP, ipFrom = ips[0], "CSV attachment"
		}
	}
	if n.IP != "" && n.Attack != AttackUnknown {
		return ipFrom
	}
	forwarded := forwardedText(m)
	if n.IP == "" {
		if ip := firstHostIP(forwarded); ip != "" {
			n.IP, ipFrom = ip, "forwarded text"
		}
	}
	if n.Attack == AttackUnknown {
		// A third party's table names its attack row by row, more exactly
		// than its prose (and, when nothing is quoted, Hetzner's template).
		n.Attack = attackFromReasons(n.Events)
	}
	if n.Attack == AttackUnknown {
		n.Attack = attackFromWords(forwarded[:min(len(forwarded), 2<<10)])
	}
	if n.IP == "" {
		// A notice about a dedicated server may name only its Robot server
		// number: it is the notice's service, which correlation joins and
		// the state task resolves to the server's main IP through Robot.
		if n.Service = robotServerNumber(subj.text + "\n" + m.text[:min(len(m.text), 8<<10)]); n.Service != "" {
			m.note("hetzner: no IP; Robot server ", n.Service)
		}
	}
	return ipFrom
}

// serverNumberRe finds a Robot server number as Hetzner writes it: "server
// #1234567", "Server 1234567", "server number: 1234567".
var serverNumberRe = regexp.MustCompile(`(?i)\bserver(?:[ \t]+(?:number|nr\.?|no\.?))?[ \t]*:?[ \t]*#?[ \t]*([0-9]{4,9})\b`)

// robotServerNumber returns the first Robot server number text names, "" for none.
func robotServerNumber(text string) string {
	if m := serverNumberRe.FindStringSubmatch(text); m != nil {
		return m[1]
	}
	return ""
}

// categoryName shows an empty category as "none".
func categoryName(s string) string {
	if s == "" {
		return "(none: free text)"
	}
	return s
}

// unrecognisedHetzner is the notice of a mail from Hetzner's abuse senders
// that no rule reads: complaint/unknown about the subject's first IP.
func unrecognisedHetzner(m *mail) []Notice {
	ip := firstIP(m.subject)
	if ip == "" {
		ip = firstIP(m.text[:min(len(m.text), 8<<10)])
	}
	return []Notice{{Kind: KindComplaint, Attack: AttackUnknown, IP: ip, Events: []Event{}}}
}

// forwardedText is the part of a Hetzner mail that a third party wrote: the
// quoted lines of the body and the text attachments.
func forwardedText(m *mail) string {
	var b strings.Builder
	for text := m.text; len(text) > 0 && b.Len() < 64<<10; {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		if strings.HasPrefix(line, ">") {
			b.WriteString(line[1:])
			b.WriteByte('\n')
		}
	}
	for _, p := range m.parts {
		if b.Len() >= 64<<10 {
			break
		}
		if (p.attachment || p.filename != "") && strings.HasPrefix(p.contentType, "text/") {
			b.Write(p.body[:min(len(p.body), 64<<10)])
			b.WriteByte('\n')
		}
	}
	if b.Len() == 0 {
		// Older mail pasted the report unquoted after a separator; AbuseInfo
		// puts the third party's table in the body unquoted.
		if i := strings.Index(m.text, "----- attachment"); i >= 0 {
			return m.text[i:]
		}
		return m.text
	}
	return b.String()
}

// csvSourceIPs reads the source addresses of a CSV attachment (CERT feeds
// list every affected system of the customer, a row each): the column
// whose header names an IP, else the first address of each row.
func csvSourceIPs(m *mail) []string {
	var ips []string
	for _, p := range m.parts {
		if !strings.HasSuffix(strings.ToLower(p.filename), ".csv") && p.contentType != "text/csv" {
			continue
		}
		text := string(p.body[:min(len(p.body), 64<<10)])
		head, rest, _ := strings.Cut(text, "\n")
		sep := ","
		if strings.Count(head, ";") > strings.Count(head, ",") {
			sep = ";"
		}
		col := -1
		for i, name := range strings.Split(strings.ToLower(head), sep) {
			name = strings.Trim(strings.TrimSpace(name), "\"")
			if name == "ip" || name == "src_ip" || name == "source_ip" || name == "sourceip" || name == "ip_address" || name == "source" {
				col = i
				break
			}
		}
		for len(rest) > 0 {
			var line string
			line, rest, _ = strings.Cut(rest, "\n")
			f := strings.Split(line, sep)
			if col >= 0 && col < len(f) {
				line = strings.Trim(f[col], "\" ")
			}
			if ip := firstIP(line); ip != "" && !slices.Contains(ips, ip) {
				ips = append(ips, ip)
			}
			if len(ips) == maxLockedIPs {
				return ips
			}
		}
		if len(ips) > 0 {
			return ips
		}
	}
	return nil
}

// notAbuseReason says why a Hetzner mail without an AbuseID is no notice;
// known is false when it comes from the abuse senders or is not known to be
// something else, so that a person reads it.
func notAbuseReason(m *mail, flat string) (reason string, known bool) {
	abuseSender := strings.Contains(strings.SplitN(m.from, "@", 2)[0], "abuse")
	switch {
	case strings.Contains(m.subject, "[Ticket#"):
		return "support ticket, not an abuse notice", true
	case !abuseSender && strings.HasPrefix(m.from, "noreply@"), strings.HasPrefix(m.from, "robot@"):
		return "Robot automation mail from " + m.from + ", not an abuse notice", true
	case !abuseSender && (strings.Contains(flat, "invoice") || strings.Contains(flat, "rechnung")):
		return "invoice, not an abuse notice", true
	case !abuseSender && (strings.Contains(flat, "newsletter") || strings.Contains(flat, "unsubscribe")):
		return "newsletter, not an abuse notice", true
	case abuseSender:
		return "mail from Hetzner's abuse senders without an AbuseID that no rule reads", false
	case attackFromWords(flat) == AttackUnknown:
		// Maintenance, status and account mail name servers and IPs too.
		return "service mail from " + m.from + " (not an abuse sender; no AbuseID, lock or attack named), not an abuse notice", true
	}
	return "no AbuseID in the header or the subject, and not known as Robot automation, a support ticket, an invoice or a newsletter", false
}

func isHetznerLogName(name string) bool {
	name = strings.ToLower(name)
	return strings.HasPrefix(name, "abuse message ") && strings.HasSuffix(name, ".txt")
}

func containsAny(s string, subs []string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}

// lockNotices makes one block notice per locked IP, each with its own log
// lines. The log of a lock is a netscan log, so that is the attack when the
// subject names no category.
func lockNotices(n Notice, category string, ips []string) []Notice {
	n.Kind = KindBlock
	if category == "" && len(n.Events) > 0 {
		n.Attack = AttackNetscan
	}
	return noticePerIP(n, ips)
}

// noticePerIP makes n one notice per IP, each with its own events; n
// itself when ips is empty.
func noticePerIP(n Notice, ips []string) []Notice {
	if len(ips) == 0 {
		return []Notice{n}
	}
	out := make([]Notice, 0, len(ips))
	for _, ip := range ips {
		c := n
		c.IP = ip
		c.Events = eventsOf(n.Events, ip)
		out = append(out, c)
	}
	return out
}

// eventsOf returns the events from or to ip.
func eventsOf(events []Event, ip string) []Event {
	out := []Event{}
	for _, e := range events {
		src, _ := splitHostPort(e.Src)
		dst, _ := splitHostPort(e.Dst)
		if src == ip || dst == ip {
			out = append(out, e)
		}
	}
	return out
}

// How much of a Hetzner mail is flattened, and how much of that the
// phrase table reads: Hetzner says what happened in its first paragraphs.
const (
	maxHetznerProse      = 4 << 10
	maxHetznerPhraseScan = 2 << 10
)

// maxLockedIPs bounds the notices of one lock mail (one per IP).
const maxLockedIPs = 256

// hetznerLog is what a line-by-line read of a Hetzner body or log finds.
type hetznerLog struct {
	events []Event
	host   string   // the "Netscan detected from host" banner
	locked []string // the "- A.B.C.D" lines of a lock notice
}

// scanHetznerLog reads both log table layouts (unless rows is false), the
// banner and the list of locked IPs, line by line with cheap checks first.
func scanHetznerLog(text string, rows bool) hetznerLog {
	var log hetznerLog
	inLockList := false
	for len(text) > 0 {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = unquote(line)
		switch {
		case isArrowLine(line):
			if !rows {
				break
			}
			if e, ok := hetznerRow(line); ok && len(log.events) < maxEvents {
				log.events = append(log.events, e)
			}
		case strings.HasPrefix(line, "- "):
			if !inLockList || len(log.locked) >= maxLockedIPs {
				break
			}
			if ip := firstIP(line); ip != "" && !slices.Contains(log.locked, ip) {
				log.locked = append(log.locked, ip)
			}
		case strings.Contains(line, "detected from host"):
			if log.host == "" {
				log.host = firstIP(line)
			}
		case strings.HasSuffix(strings.TrimRight(line, " \r"), ":") && containsAny(asciiLower(line), hetznerLockListPhrases):
			inLockList = true // the lead ends in a colon: only such lines are lowered
		case line != "" && len(log.locked) > 0:
			inLockList = false // the list ends at the first other line
		}
	}
	return log
}

// isArrowLine reports whether line has the "=>" or "->" of a log row.
func isArrowLine(line string) bool {
	i := strings.IndexByte(line, '>')
	return i > 0 && (line[i-1] == '=' || line[i-1] == '-')
}

// hetznerRow reads one row of either log table:
//
//	Tue Aug  7 09:30:21 2018 TCP   138.201.172.5 47307 =>    78.46.255.92 3022
//	2024-04-12 06:22:17  107.170.229.46 59547 ->    37.27.128.19 28015   64 TCP
//
// Both times are read as UTC: the newer table says so in its header, and the
// older one comes from the same network monitoring, which logs in UTC.
func hetznerRow(line string) (Event, bool) {
	var buf [12]string
	f := buf[:splitFields(line, buf[:])]
	var e Event
	var ok bool
	switch {
	case len(f) == 11 && f[8] == "=>":
		e.Time, ok = oldHetznerTime(f[:5])
		e.Proto = lowerProto(f[5])
		f = f[6:]
	case len(f) == 9 && f[4] == "->":
		e.Time, ok = newHetznerTime(f[0], f[1])
		e.Proto = lowerProto(f[8])
		e.Bytes = atoiOr(f[7], 0)
		f = f[2:]
	default:
		return Event{}, false
	}
	// f is now: src src-port arrow dst dst-port …. A Hetzner Cloud server
	// may be named by its host name instead of its address.
	if !ok || !isPort(f[1]) || !isPort(f[4]) || !validIP(f[0]) && !validIP(f[3]) ||
		!isRowHost(f[0]) || !isRowHost(f[3]) {
		return Event{}, false
	}
	e.Src = joinHostPort(f[0], f[1])
	e.Dst = joinHostPort(f[3], f[4])
	return e, true
}

// isRowHost accepts an address, or a host name with a letter in it (a
// broken address such as "107.170.229" is neither).
func isRowHost(s string) bool {
	if validIP(s) {
		return true
	}
	letter := false
	for i := 0; i < len(s); i++ {
		c := s[i] | 0x20
		letter = letter || 'a' <= c && c <= 'z'
	}
	return letter && isEndpoint(s+":0")
}

// Rows are many, so the times in the usual form are checked and written in
// RFC 3339 directly; the others go through time.Parse.

// oldHetznerTime reads the time columns "Tue Aug 7 09:30:21 2018".
func oldHetznerTime(f []string) (string, bool) {
	year := -1
	if len(f[4]) == 4 {
		year = digitsValue(f[4])
	}
	day := -1
	if len(f[2]) <= 2 {
		day = digitsValue(f[2])
	}
	if t, ok := rfc3339UTC(year, monthNumber(f[1]), day, f[3]); ok && isWeekdayName(f[0]) {
		return t, true
	}
	return parsedUTC("Mon Jan 2 15:04:05 2006", strings.Join(f, " "))
}

// newHetznerTime reads the time columns "2024-04-12" "06:22:17".
func newHetznerTime(date, clock string) (string, bool) {
	if date == "" || date[0] < '0' || date[0] > '9' {
		return "", false // time.Parse wants the year first: the table's header line
	}
	if len(date) == 10 && date[4] == '-' && date[7] == '-' {
		month := time.Month(digitsValue(date[5:7]))
		if t, ok := rfc3339UTC(digitsValue(date[:4]), month, digitsValue(date[8:]), clock); ok {
			return t, true
		}
	}
	return parsedUTC("2006-01-02 15:04:05", date+" "+clock)
}

func parsedUTC(layout, value string) (string, bool) {
	t, err := time.Parse(layout, value)
	return t.UTC().Format(time.RFC3339), err == nil
}

// rfc3339UTC writes a UTC time as Format writes it in RFC 3339, from the
// fields and the "15:04:05" clock that time.Parse read; ok is false unless
// each is in range and the clock has two digits a field.
func rfc3339UTC(year int, month time.Month, day int, clock string) (string, bool) {
	if len(clock) != 8 || clock[2] != ':' || clock[5] != ':' {
		return "", false
	}
	hour, minute, sec := digitsValue(clock[:2]), digitsValue(clock[3:5]), digitsValue(clock[6:])
	if year < 0 || year > 9999 || month < time.January || month > time.December || day < 1 || day > daysIn(month, year) ||
		hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 {
		return "", false
	}
	b := make([]byte, 0, len("2006-01-02T15:04:05Z"))
	b = append(b, byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-')
	b = append(b, byte('0'+month/10), byte('0'+month%10), '-', byte('0'+day/10), byte('0'+day%10), 'T')
	return string(append(append(b, clock...), 'Z')), true
}

// splitFields is strings.Fields into dst without allocating. A line with
// more fields than dst has fills dst and returns len(dst) (no row is that long).
func splitFields(s string, dst []string) int {
	n, i := 0, 0
	for n < len(dst) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i == len(s) {
			break
		}
		start := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		dst[n] = s[start:i]
		n++
	}
	return n
}

// blacklistName names the list of a blacklist subject: "SpamCop" in
// "[SpamCop (136.243.5.6) id:7012345678]".
func blacklistName(subject string) string {
	if !strings.HasPrefix(subject, "[") {
		return ""
	}
	name, _, _ := strings.Cut(subject[1:], " (")
	if len(name) == len(subject)-1 {
		return "" // no " (": not the blacklist form
	}
	return name
}

// forwardedComplaint reads the opening of a forwarded complaint: what it is
// about and who complained (an address, else the organisation named).
// parseHetzner calls it only when a lead is in the mail (most have none).
func forwardedComplaint(text string) (topic, reporter string) {
	// The opening sentence names the reporter: the start of the mail is read.
	head := text[:min(len(text), 3<<10)]
	plain := collapseSpace(head)
	lower := asciiLower(plain)
	for _, l := range hetznerReporterLeads {
		i := strings.Index(lower, l.lead)
		if i < 0 {
			continue
		}
		at := i + len(l.lead)
		rest, restLower := plain[at:], lower[at:]
		j := 0
		if l.from != "" {
			if j = strings.Index(restLower, l.from); j < 0 || j > 200 {
				return restLower[:min(len(restLower), 200)], ""
			}
			topic = restLower[:j]
			j += len(l.from)
		}
		return topic, reporterOf(rest[j:])
	}
	return "", ""
}

// reporterStops end the clause that names a reporter organisation. "für"
// and "for" end it only before an article or a bracket: "Bundesamt für
// Sicherheit", "Office for Information Security" are names.
var reporterStops = []string{". ", ", ", " for a ", " for the ", " for your ", " for (", " about ", " regarding ",
	" concerning ", " which ", " that ", ": ",
	" für (", " für die ", " für den ", " für das ", " für einen ", " für eine ", " für ihre ", " für ihren ",
	" bezüglich ", " zu ", " erhalten", " über "}

// reporterOf reads the reporter at the start of s: an address, else the
// words of an organisation up to the end of its clause.
func reporterOf(s string) string {
	first, _, _ := strings.Cut(s, " ")
	if addr := strings.Trim(first, ".,;:()<>\"'[]"); strings.Contains(addr, "@") {
		return cleanText(addr, maxReporterLen)
	}
	end := len(s)
	for _, stop := range reporterStops {
		if k := strings.Index(s, stop); k >= 0 && k < end {
			end = k
		}
	}
	org := strings.TrimSpace(strings.TrimSuffix(s[:min(end, 120)], "."))
	org = strings.TrimPrefix(org, "the ")
	switch low := asciiLower(org); {
	case org == "", strings.HasPrefix(low, "you"), strings.HasPrefix(low, "our "), strings.HasPrefix(low, "a "), strings.HasPrefix(low, "an "),
		strings.HasPrefix(low, "ihnen"), strings.HasPrefix(low, "uns"), strings.HasPrefix(low, "einem "), strings.HasPrefix(low, "einer "):
		return ""
	}
	return cleanText(org, maxReporterLen)
}

// collapseSpace turns every run of white space in s into one space and
// trims it, keeping the case (strings.Fields and Join, in one pass).
func collapseSpace(s string) string {
	b := make([]byte, 0, len(s))
	space := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			space = len(b) > 0
		default:
			if space {
				b = append(b, ' ')
				space = false
			}
			b = append(b, c)
		}
	}
	return string(b)
}

// asciiLower lowers ASCII letters only, so that byte offsets stay.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
