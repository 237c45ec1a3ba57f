package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	netmail "net/mail"
	"strings"
	"time"

	"github.com/emersion/go-message"
	_ "github.com/emersion/go-message/charset" // every charset go-message knows, for ISO-8859-1 and friends
	gomail "github.com/emersion/go-message/mail"
)

// Bounds on the work one mail may cause.
const (
	maxParts       = 256
	maxHeaderBytes = 256 << 10
)

// mailDateLayout is the usual RFC 5322 date, with or without a leading zero.
const mailDateLayout = "Mon, _2 Jan 2006 15:04:05 -0700"

// mail is a decoded message: what every format reads.
type mail struct {
	header     header
	from       string // the From address, lower case
	fromDomain string
	subject    string // RFC 2047 decoded, unfolded
	messageID  string // without angle brackets
	date       time.Time
	// contentType is the top-level media type in lower case ("" when the
	// field is malformed) and reportType its report-type parameter.
	contentType string
	reportType  string
	// text is the readable body in UTF-8 with \n line ends: the inline
	// text/plain parts, or the HTML parts turned into text when there is none.
	text  string
	parts []part
	// explain, when set, makes note record the rules that fire (--explain).
	explain bool
	trace   []string
}

// note records one step of the reading for --explain. It costs nothing
// unless the caller asked for it.
func (m *mail) note(parts ...string) {
	if m.explain {
		m.trace = append(m.trace, strings.Join(parts, ""))
	}
}

// part is one leaf of the MIME tree, transfer-decoded; text/* is in UTF-8.
type part struct {
	contentType string // lower case media type, "text/plain" when absent
	filename    string
	attachment  bool
	body        []byte
}

// field is one header field: its name as written and its value unfolded and
// trimmed, as go-message's textproto.ReadHeader makes it.
type field struct{ name, value string }

// header holds the fields of a header in order. Names are matched ignoring
// ASCII case, which for the token names looked up is exactly go-message's
// match of canonical keys.
type header []field

// is reports whether the field is called name.
func (f field) is(name string) bool {
	return len(f.name) == len(name) && strings.EqualFold(f.name, name)
}

// get returns the value of the first field called name, or "".
func (h header) get(name string) string {
	for _, f := range h {
		if f.is(name) {
			return f.value
		}
	}
	return ""
}

func (h header) has(name string) bool {
	for _, f := range h {
		if f.is(name) {
			return true
		}
	}
	return false
}

// values returns the values of every field called name, in order.
func (h header) values(name string) []string {
	var out []string
	for _, f := range h {
		if f.is(name) {
			out = append(out, f.value)
		}
	}
	return out
}

// readMail decodes raw. The in-memory reader of mimefast.go reads the common
// mail several times faster than go-message and gives up wherever its result
// could differ from go-message's; go-message then reads the mail, so that
// both give the same result (FuzzReadMail checks it).
func readMail(raw []byte) (*mail, error) {
	m, ok := readMailFast(raw)
	if !ok {
		// fail2ban's X-ARF puts the first log lines in the header block of
		// the log part, which no reader takes: such a block is ended where
		// its fields end, and the repaired mail read (the blank lines it
		// gains change no text).
		if repaired, changed := endPartHeaders(raw); changed {
			if m, ok = readMailFast(repaired); !ok {
				m, ok = readMailGoMessageOK(repaired)
			}
		}
	}
	if !ok {
		var err error
		if m, err = readMailGoMessage(raw); err != nil {
			return nil, err
		}
	}
	m.readHeader()
	m.text = m.readableText()
	return m, nil
}

// readMailGoMessage reads raw with go-message: every part read and decoded.
func readMailGoMessage(raw []byte) (*mail, error) {
	e, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: maxHeaderBytes})
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	m := &mail{header: headerOf(e.Header)}
	if t, params, err := e.Header.ContentType(); err == nil {
		m.contentType, m.reportType = t, params["report-type"]
	}
	if err := m.walk(e); err != nil {
		return nil, err
	}
	return m, nil
}

func readMailGoMessageOK(raw []byte) (*mail, bool) {
	m, err := readMailGoMessage(raw)
	return m, err == nil
}

// headerOf copies the fields of a go-message header, in order.
func headerOf(h message.Header) header {
	out := make(header, 0, h.Len())
	for fields := h.Fields(); fields.Next(); {
		out = append(out, field{fields.Key(), fields.Value()})
	}
	return out
}

func (m *mail) readHeader() {
	h := m.header
	m.subject = unfold(decodeWords(h.get("Subject")))
	m.from = fromAddress(h.get("From"))
	if at := strings.LastIndexByte(m.from, '@'); at >= 0 {
		m.fromDomain = m.from[at+1:]
	}
	m.messageID = messageID(h.get("Message-Id"))
	m.date = mailDate(h.get("Date"))
}

// decodeWords decodes the RFC 2047 encoded words of a field value as
// go-message's decodeHeader does, which keeps the value as it is when a word
// cannot be decoded.
func decodeWords(v string) string {
	if !strings.Contains(v, "=?") {
		return v // what the decoder returns too, without its allocations
	}
	d := mime.WordDecoder{CharsetReader: charsetReader}
	if s, err := d.DecodeHeader(v); err == nil {
		return s
	}
	return v
}

// charsetReader is the charset reader go-message decodes header fields with.
func charsetReader(charset string, input io.Reader) (io.Reader, error) {
	charset = strings.ToLower(charset)
	if charset == "utf-8" || charset == "us-ascii" {
		return input, nil
	}
	return message.CharsetReader(charset, input)
}

// fromAddress returns the address of a From value in lower case. The common
// forms ("Name <a@b>", "a@b") are read directly; anything else goes through
// the full RFC 5322 address parser, which costs more than the rest of the header.
func fromAddress(v string) string {
	raw := strings.TrimSpace(v)
	if lt := strings.LastIndexByte(raw, '<'); lt >= 0 && strings.HasSuffix(raw, ">") && !strings.ContainsAny(raw[:lt], "\",:;()\\") {
		if addr := raw[lt+1 : len(raw)-1]; strings.Count(addr, "@") == 1 && !strings.ContainsAny(addr, " <>") {
			return strings.ToLower(addr)
		}
	}
	if strings.Count(raw, "@") == 1 && !strings.ContainsAny(raw, " <>\",:;()") {
		return strings.ToLower(raw)
	}
	if v != "" {
		if addrs, err := gomail.ParseAddressList(v); err == nil && len(addrs) > 0 {
			return strings.ToLower(addrs[0].Address)
		}
	}
	return strings.ToLower(strings.Trim(raw, "<>"))
}

// messageID returns the id of a Message-Id value without its angle
// brackets, or "" when it is malformed, as go-message's MessageID does. The
// usual "<left@right>" is read directly.
func messageID(v string) string {
	if id, ok := plainMessageID(v); ok {
		return id
	}
	if v == "" {
		return ""
	}
	var h gomail.Header
	h.Set("Message-Id", v)
	id, err := h.MessageID()
	if err != nil {
		return ""
	}
	return id
}

// plainMessageID reads "<left@right>" of ASCII atom text and dots, with
// blanks around. ok is false for anything else (comments, literals, UTF-8).
func plainMessageID(v string) (id string, ok bool) {
	s := strings.TrimLeft(v, " \t")
	if !strings.HasPrefix(s, "<") {
		return "", false
	}
	at := 1 + atomTextLen(s[1:])
	if at == 1 || at >= len(s) || s[at] != '@' {
		return "", false
	}
	gt := at + 1 + atomTextLen(s[at+1:])
	if gt == at+1 || gt >= len(s) || s[gt] != '>' {
		return "", false
	}
	// go-message ignores what follows, unless it starts a comment.
	if strings.HasPrefix(strings.TrimLeft(s[gt+1:], " \t"), "(") {
		return "", false
	}
	return s[1:gt], true
}

// atomTextLen is the length of the run of ASCII RFC 5322 atext and dots that
// starts s; it stops at any other byte, including the first byte of UTF-8.
func atomTextLen(s string) int {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < '!' || c > '~':
			return i
		case c == '(' || c == ')' || c == '[' || c == ']' || c == ';' || c == '@' ||
			c == '\\' || c == ',' || c == '<' || c == '>' || c == '"' || c == ':':
			return i
		}
	}
	return len(s)
}

// mailDate reads a Date value as go-message's Date does, after the usual
// RFC 5322 form: net/mail tries many layouts and each miss allocates.
func mailDate(v string) time.Time {
	trimmed := strings.TrimSpace(v)
	if d, ok := plainMailDate(trimmed); ok {
		return d
	}
	if d, err := time.Parse(mailDateLayout, trimmed); err == nil {
		return d
	}
	if v == "" {
		return time.Time{}
	}
	if d, err := netmail.ParseDate(v); err == nil {
		return d
	}
	return time.Time{}
}

// plainMailDate reads "Mon, 2 Jan 2006 15:04:05 -0700" with a day of one
// or two digits and two-digit times and offset, and gives what time.Parse
// with mailDateLayout gives, several times faster. ok is false for any other
// form and any value out of range, which time.Parse reads or rejects.
func plainMailDate(s string) (t time.Time, ok bool) {
	var day int
	var rest string // " Jan 2006 15:04:05 -0700"
	switch len(s) {
	case len("Mon, 02 Jan 2006 15:04:05 -0700"):
		day, rest = digitsValue(s[5:7]), s[7:]
	case len("Mon, 2 Jan 2006 15:04:05 -0700"):
		day, rest = digitsValue(s[5:6]), s[6:]
	default:
		return time.Time{}, false
	}
	if !isWeekdayName(s[:3]) || s[3:5] != ", " || rest[0] != ' ' || rest[4] != ' ' || rest[9] != ' ' ||
		rest[12] != ':' || rest[15] != ':' || rest[18] != ' ' || rest[19] != '+' && rest[19] != '-' {
		return time.Time{}, false
	}
	month := monthNumber(rest[1:4])
	year := digitsValue(rest[5:9])
	hour, minute, sec := digitsValue(rest[10:12]), digitsValue(rest[13:15]), digitsValue(rest[16:18])
	offHour, offMinute := digitsValue(rest[20:22]), digitsValue(rest[22:24])
	if month == 0 || year < 0 || day < 1 || day > daysIn(month, year) || hour < 0 || hour > 23 ||
		minute < 0 || minute > 59 || sec < 0 || sec > 59 || offHour < 0 || offHour > 23 || offMinute < 0 || offMinute > 59 {
		return time.Time{}, false
	}
	offset := (offHour*60 + offMinute) * 60
	if rest[19] == '-' {
		offset = -offset
	}
	t = time.Date(year, month, day, hour, minute, sec, 0, time.UTC).Add(-time.Duration(offset) * time.Second)
	// time.Parse puts the time in the local zone when that has the offset then.
	if _, local := t.In(time.Local).Zone(); local == offset {
		return t.In(time.Local), true
	}
	return t.In(time.FixedZone("", offset)), true
}

// digitsValue returns the number that s spells in decimal digits, or -1.
func digitsValue(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func isWeekdayName(s string) bool {
	for d := time.Sunday; d <= time.Saturday; d++ {
		if d.String()[:3] == s {
			return true
		}
	}
	return false
}

// monthNumber returns the month whose English abbreviation is s, or 0.
func monthNumber(s string) time.Month {
	for m := time.January; m <= time.December; m++ {
		if m.String()[:3] == s {
			return m
		}
	}
	return 0
}

func daysIn(m time.Month, year int) int {
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func (m *mail) walk(e *message.Entity) error {
	n := 0
	err := e.Walk(func(_ []int, ent *message.Entity, err error) error {
		if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
			return fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if n++; n > maxParts {
			return fmt.Errorf("%w: more than %d MIME parts", ErrMalformed, maxParts)
		}
		if ent.MultipartReader() != nil {
			return nil
		}
		p := part{contentType: "text/plain"}
		var params map[string]string
		if t, tparams, err := ent.Header.ContentType(); err == nil && t != "" {
			p.contentType, params = strings.ToLower(t), tparams
		}
		if disp, dparams, err := ent.Header.ContentDisposition(); err == nil {
			p.attachment = strings.EqualFold(disp, "attachment")
			p.filename = dparams["filename"]
		}
		if p.filename == "" {
			p.filename = params["name"]
		}
		p.filename = decodeFilename(p.filename)
		// A broken transfer encoding keeps what could be decoded before the error.
		p.body, _ = io.ReadAll(ent.Body)
		m.parts = append(m.parts, p)
		return nil
	})
	if err != nil && !errors.Is(err, ErrMalformed) {
		return fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return err
}

// decodeFilename decodes the encoded words that some mailers put in a
// quoted file name parameter, against RFC 2047.
func decodeFilename(name string) string {
	if name == "" {
		return ""
	}
	if dec, err := new(mime.WordDecoder).DecodeHeader(name); err == nil {
		return dec
	}
	return name
}

// readableText joins the inline text/plain parts, falling back to HTML.
func (m *mail) readableText() string {
	var b strings.Builder
	for _, p := range m.parts {
		if p.contentType == "text/plain" && !p.attachment {
			writeNormalized(&b, p.body)
		}
	}
	if b.Len() > 0 {
		return b.String()
	}
	for _, p := range m.parts {
		if p.contentType == "text/html" && !p.attachment {
			writeNormalized(&b, []byte(htmlToText(p.body)))
		}
	}
	return b.String()
}

// attachmentText returns the text of the parts whose file name satisfies keep.
func (m *mail) attachmentText(keep func(filename string) bool) string {
	var b strings.Builder
	for _, p := range m.parts {
		if p.filename != "" && keep(p.filename) && strings.HasPrefix(p.contentType, "text/") {
			writeNormalized(&b, p.body)
		}
	}
	return b.String()
}

// partOfType returns the body of the first part of media type t.
func (m *mail) partOfType(t string) ([]byte, bool) {
	for _, p := range m.parts {
		if p.contentType == t {
			return p.body, true
		}
	}
	return nil, false
}

// writeNormalized appends body with \r\n and lone \r turned into \n, no-break
// spaces into spaces, and a final newline so that parts never run together.
// It copies runs between the bytes it changes: this runs over every body.
func writeNormalized(b *strings.Builder, body []byte) {
	b.Grow(len(body) + 1)
	spaces := bytes.Contains(body, nbsp) // most bodies hold none: their lines are copied whole
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\r')
		if i < 0 {
			writeRun(b, body, spaces)
			break
		}
		writeRun(b, body[:i], spaces)
		body = body[i+1:]
		if len(body) == 0 || body[0] != '\n' {
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
}

var nbsp = []byte{0xC2, 0xA0}

// writeRun appends s, with UTF-8 no-break spaces turned into spaces when
// spaces is set.
func writeRun(b *strings.Builder, s []byte, spaces bool) {
	for spaces {
		i := bytes.Index(s, nbsp)
		if i < 0 {
			break
		}
		b.Write(s[:i])
		b.WriteByte(' ')
		s = s[i+2:]
	}
	b.Write(s)
}

// unfold joins a folded header value into one line.
func unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}

// endPartHeaders ends the header block of each MIME part at the first line
// that is neither a field nor a folded continuation, by inserting the blank
// line the sender left out. The top-level header is left as it is. changed
// is false when no block needed it.
func endPartHeaders(raw []byte) (_ []byte, changed bool) {
	if !bytes.Contains(raw, []byte("\n--")) {
		return raw, false // no part: nothing to repair
	}
	var out bytes.Buffer
	inPart := false // in the header block of a part, after a "--" line
	for len(raw) > 0 {
		line := raw
		if i := bytes.IndexByte(raw, '\n'); i >= 0 {
			line = raw[:i+1]
		}
		raw = raw[len(line):]
		body := bytes.TrimRight(line, "\r\n")
		switch {
		case bytes.HasPrefix(body, []byte("--")):
			inPart = true
		case len(body) == 0:
			inPart = false
		case inPart && body[0] != ' ' && body[0] != '\t' && !isFieldLine(body):
			out.WriteString("\r\n")
			inPart, changed = false, true
		}
		out.Write(line)
	}
	return out.Bytes(), changed
}

// isFieldLine reports "Name: value" with a valid field name, which a log
// line's time is not (logLineName).
func isFieldLine(line []byte) bool {
	i := bytes.IndexByte(line, ':')
	return i > 0 && validFieldName(string(line[:i])) && !logLineName(string(line[:i]))
}
