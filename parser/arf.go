package parser

import (
	"bytes"
	netmail "net/mail"
	"strings"
	"time"
)

// Bounds on one machine-readable report: its fields, and the length a folded
// field may grow to (each fold copies the value).
const (
	maxReportFields = 200
	maxFieldBytes   = 4 << 10
)

// matchARF accepts an RFC 5965 feedback report, which says so in its
// top-level Content-Type.
// Senders that write another report-type (Hetzner's copies say "report")
// still send a message/feedback-report part, which is what counts.
func matchARF(m *mail) bool {
	if !strings.EqualFold(m.contentType, "multipart/report") {
		return false
	}
	if strings.EqualFold(m.reportType, "feedback-report") {
		return true
	}
	_, ok := m.partOfType("message/feedback-report")
	return ok
}

// parseARF returns one notice per message/feedback-report part: a batch
// report holds several. The original message parts are not needed: the
// feedback report names the source.
func parseARF(m *mail) ([]Notice, string) {
	var notices []Notice
	notSpam := 0
	for _, p := range m.parts { // as many as readMail allows (maxParts)
		if p.contentType != "message/feedback-report" {
			continue
		}
		f := reportFields(p.body)
		typ := strings.ToLower(f["feedback-type"])
		if typ == "not-spam" {
			notSpam++ // a user taking back a spam verdict complains of nothing
			continue
		}
		n := Notice{Kind: KindComplaint, Attack: feedbackAttack(typ), Reporter: m.from}
		n.IP = firstIP(f["source-ip"])
		arrival := f["arrival-date"]
		if arrival == "" {
			arrival = f["received-date"] // the name in drafts before RFC 5965
		}
		n.Events = []Event{{Time: reportTime(arrival), Src: n.IP, Reason: typ}}
		notices = append(notices, n)
	}
	switch {
	case len(notices) > 0:
		return notices, ""
	case notSpam > 0:
		return nil, "ARF feedback-type not-spam is no complaint"
	}
	return nil, "ARF report without a message/feedback-report part"
}

// feedbackAttack maps an ARF Feedback-Type to the attack vocabulary.
func feedbackAttack(typ string) Attack {
	switch typ {
	case "abuse":
		return AttackSpam
	case "fraud":
		return AttackPhishing
	case "virus":
		return AttackMalware
	}
	return AttackUnknown
}

// reportFields reads header-style "Name: value" lines (RFC 5965 section 3),
// joining folded lines. Names are lower case; the first of a repeated name
// wins. Reading stops at a blank line after the fields.
func reportFields(body []byte) map[string]string {
	fields := map[string]string{}
	text := string(body)
	last := ""
	for len(text) > 0 && len(fields) < maxReportFields {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		switch {
		case strings.TrimSpace(line) == "":
			if len(fields) > 0 {
				return fields
			}
		case line[0] == ' ' || line[0] == '\t':
			if last != "" && len(fields[last]) < maxFieldBytes {
				fields[last] += " " + strings.TrimSpace(line)
			}
		default:
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				last = ""
				continue
			}
			last = strings.ToLower(strings.TrimSpace(name))
			if _, seen := fields[last]; seen {
				last = "" // keep the first value whole
				continue
			}
			fields[last] = strings.TrimSpace(value)
		}
	}
	return fields
}

// Report date forms besides the RFC 5322 ones that net/mail reads: the
// usual mail date (tried first: net/mail tries many layouts and each miss
// allocates), ISO forms, and "Feb 3 2014 02:13:35 +0100" of X-ARF tools.
var (
	mailDateLayouts  = []string{mailDateLayout}
	isoDateLayouts   = []string{time.RFC3339, "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05Z07:00", "2006-01-02T15:04:05", "2006-01-02 15:04:05"}
	monthDateLayouts = []string{"Jan _2 2006 15:04:05 -0700"}
)

// reportTime returns a report's date in RFC 3339, or "" when unreadable.
// A date without a zone is read as UTC, which the report formats default to.
// The shape of the value picks the layouts, so that a date costs one parse.
func reportTime(s string) string {
	if len(s) > 200 {
		return ""
	}
	s = strings.Join(strings.Fields(s), " ")
	if len(s) < 10 {
		return ""
	}
	layouts := mailDateLayouts
	switch {
	case s[4] == '-':
		layouts = isoDateLayouts
	case s[3] == ' ' && strings.Contains(monthNames, s[:4]):
		layouts = monthDateLayouts
	}
	for _, layout := range layouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.Format(time.RFC3339)
		}
	}
	if t, err := netmail.ParseDate(s); err == nil {
		return t.Format(time.RFC3339)
	}
	return ""
}

// monthNames holds "Jan " … "Dec ", the start of a month-first date.
const monthNames = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec "

// forwardedReport reads the source IP and attack of an ARF or X-ARF report
// that a provider forwards inside its own mail: directly, as an attached
// message, or as a text attachment or inline text that holds the report
// mail (Hetzner's "Abuse Message <id>.txt"), opened one level deep. A
// report whose mail cannot be read is still read by its fields.
func forwardedReport(m *mail) (ip string, a Attack) {
	if ip, a = reportSource(m); ip != "" {
		return ip, a
	}
	opened := 0
	for _, p := range m.parts {
		var raw []byte
		switch {
		case opened >= maxForwarded:
			return "", ""
		case !mayHoldReport(p.body):
			continue
		case p.contentType == "message/rfc822":
			raw = p.body
		case strings.HasPrefix(p.contentType, "text/"):
			raw = embeddedMail(p.body)
		}
		if raw != nil {
			opened++
			if inner, err := readMail(raw); err == nil {
				if ip, a = reportSource(inner); ip != "" {
					return ip, a
				}
			}
		}
		if ip, a = reportSourceText(p.body); ip != "" {
			return ip, a
		}
	}
	return "", ""
}

// embeddedMail returns the mail that a text part carries from its first
// header-looking line on (a forward pasted as text, or Hetzner's copy of a
// report), or nil when no line looks like the start of a header.
func embeddedMail(body []byte) []byte {
	for off := 0; off < len(body) && off < 64<<10; {
		line := body[off:]
		if i := bytes.IndexByte(line, '\n'); i >= 0 {
			line = line[:i+1]
		}
		if isMailHeaderStart(line) {
			return body[off:]
		}
		off += len(line)
	}
	return nil
}

// mailHeaderStarts are fields that open a mail's header.
var mailHeaderStarts = [][]byte{
	[]byte("Return-Path:"), []byte("Received:"), []byte("From:"), []byte("Date:"), []byte("Message-ID:"),
	[]byte("Message-Id:"), []byte("MIME-Version:"), []byte("Content-Type:"), []byte("Subject:"), []byte("X-XARF:"),
	[]byte("X-Xarf:"), []byte("Delivered-To:"), []byte("To:"),
}

func isMailHeaderStart(line []byte) bool {
	for _, f := range mailHeaderStarts {
		if len(line) >= len(f) && bytes.EqualFold(line[:len(f)], f) {
			return true
		}
	}
	return false
}

// reportSourceText reads a feedback report's fields wherever they stand in
// text: the report of a mail too broken to read as MIME.
func reportSourceText(body []byte) (string, Attack) {
	i := bytes.Index(body, []byte("Feedback-Type:"))
	if i < 0 {
		return "", ""
	}
	start := bytes.LastIndexByte(body[:i], '\n') + 1
	f := reportFields(body[start:min(len(body), start+16<<10)])
	if ip := firstIP(f["source-ip"]); ip != "" {
		return ip, feedbackAttack(strings.ToLower(f["feedback-type"]))
	}
	return "", ""
}

// reportMarkers are strings that the headers of an ARF or X-ARF mail carry
// in the clear whatever the encoding of its parts (media type, X-ARF header,
// part name). They spare decoding an attached mail that holds no report,
// such as a forwarded spam sample.
var reportMarkers = [][]byte{[]byte("feedback-report"), []byte("X-XARF"), []byte("X-Xarf"), []byte("report.txt")}

func mayHoldReport(raw []byte) bool {
	for _, marker := range reportMarkers {
		if bytes.Contains(raw, marker) {
			return true
		}
	}
	return false
}

// reportSource returns the source of the first ARF or X-ARF report in m.
func reportSource(m *mail) (string, Attack) {
	if body, ok := m.partOfType("message/feedback-report"); ok {
		f := reportFields(body)
		if ip := firstIP(f["source-ip"]); ip != "" {
			return ip, feedbackAttack(strings.ToLower(f["feedback-type"]))
		}
	}
	if body, ok := xarfYAMLPart(m); ok {
		if r, err := decodeXARF2(body); err == nil {
			if ip := firstIP(r.Source); ip != "" {
				return ip, attackFromWords(r.ReportType)
			}
		}
	}
	return "", ""
}

// attackFromWords names the attack of free text or a report type such as
// "login-attack", "LoginAttack" or "port scan": case and separators are
// ignored. It returns AttackUnknown when no word is known.
func attackFromWords(s string) Attack {
	var stack [1 << 10]byte
	b := stack[:0]
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '-' || c == '_' || c == '\t' || c == '\n' || c == '\r':
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		b = append(b, c)
	}
	if i, ok := attackWordSet.first(string(b)); ok {
		return attackWords[i].attack
	}
	return AttackUnknown
}
