package parser

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message"
)

// The in-memory reader: go-message reads mail as a stream through layers of
// buffered readers, which costs more than all the formats together on
// typical notices. This reader slices the mail in memory instead and
// decodes only what needs decoding, with go-message's exact rules: the same
// header values, part boundaries, transfer and charset decoding.
//
// Where go-message's result depends on its streaming (lines longer than its
// 4 KiB buffers, the partial output of a broken encoding), where it reports
// an error, and where a mail uses syntax this reader does not follow exactly
// (RFC 2231 parameters, a folded first header line, a bare \r in a header),
// the reader gives up on the whole mail and readMail uses go-message.

// goMessageLineMax is the size of the buffers go-message reads multipart
// delimiter lines and quoted-printable lines with. A longer line makes its
// result depend on where the buffer ends, so the reader leaves it to go-message.
const goMessageLineMax = 4096

// maxBoundaryLen is RFC 2046's limit; a longer boundary is left to go-message.
const maxBoundaryLen = 70

// fastReader reads one mail held in memory.
type fastReader struct {
	raw      []byte
	parts    []part
	entities int // the root, multipart containers and leaves, as maxParts counts
}

// readMailFast reads raw as readMailGoMessage does, or gives up (ok false).
func readMailFast(raw []byte) (m *mail, ok bool) {
	r := fastReader{raw: raw}
	// go-message reads at most maxHeaderBytes of header.
	h, body, ok := r.headerAt(0, min(len(raw), maxHeaderBytes), nil)
	if !ok {
		return nil, false
	}
	ct, ok := parseContentType(h.get("Content-Type"))
	if !ok {
		return nil, false
	}
	if !r.entity(h, ct, body, len(raw)) {
		return nil, false
	}
	return &mail{header: h, contentType: ct.value, reportType: ct.reportType, parts: r.parts}, true
}

// headerAt reads the header block at raw[start:end] as textproto.ReadHeader
// of go-message does, into room when there is enough. Only the block is
// copied into a string, which the values are parts of. body is where the
// body starts, after the blank line.
func (r *fastReader) headerAt(start, end int, room header) (h header, body int, ok bool) {
	n, fields, ok := headerBlock(r.raw[start:end])
	if !ok {
		return nil, 0, false
	}
	if cap(room) < fields {
		room = make(header, 0, fields)
	}
	h, ok = readFields(string(r.raw[start:start+n]), room[:0])
	return h, start + n, ok
}

// headerBlock returns the length of the header block that starts b, up to
// and with the blank line, and how many fields it has at most (the lines
// that do not continue a field). ok is false when there is no blank line,
// and for a \r other than in a line end, which go-message keeps in values.
func headerBlock(b []byte) (n, fields int, ok bool) {
	crlf := 0
	for i := 0; ; {
		end := bytes.IndexByte(b[i:], '\n')
		if end < 0 {
			return 0, 0, false
		}
		line := b[i : i+end]
		i += end + 1
		if len(line) > 0 && line[len(line)-1] == '\r' {
			line = line[:len(line)-1]
			crlf++
		}
		if len(line) == 0 {
			return i, fields, bytes.Count(b[:i], []byte("\r")) == crlf
		}
		if !isWSP(line[0]) {
			fields++
		}
	}
}

// readFields appends the fields of a block from headerBlock to h. ok is
// false where go-message would fail or read differently: a folded first
// line, a line without a colon, an empty or invalid field name.
func readFields(block string, h header) (_ header, ok bool) {
	if isWSP(block[0]) {
		return h, false
	}
	for pos := 0; ; {
		line, next := headerLine(block, pos)
		if line == "" {
			return h, true
		}
		colon := strings.IndexByte(line, ':')
		if colon < 0 {
			return h, false
		}
		name := trimWSP(line[:colon])
		if !validFieldName(name) || logLineName(name) {
			return h, false
		}
		value := trimWSP(line[colon+1:])
		for isWSP(block[next]) { // the blank line ends the block
			var cont string
			cont, next = headerLine(block, next)
			value = joinSegment(value, trimWSP(cont))
		}
		h = append(h, field{name, value})
		pos = next
	}
}

// headerLine returns the line of a block at block[pos:] without its \n or
// \r\n, and where the next line starts.
func headerLine(block string, pos int) (line string, next int) {
	n := strings.IndexByte(block[pos:], '\n')
	return strings.TrimSuffix(block[pos:pos+n], "\r"), pos + n + 1
}

// joinSegment appends a continuation line to a value as go-message unfolds:
// one space between the non-empty trimmed lines.
func joinSegment(value, seg string) string {
	switch {
	case seg == "":
		return value
	case value == "":
		return seg
	}
	return value + " " + seg
}

func isWSP(c byte) bool { return c == ' ' || c == '\t' }

func trimWSP(s string) string {
	i, j := 0, len(s)
	for i < j && isWSP(s[i]) {
		i++
	}
	for j > i && isWSP(s[j-1]) {
		j--
	}
	return s[i:j]
}

// validFieldName accepts the names go-message keeps: printable ASCII
// without a colon. (It skips a field with an empty name; that is rare enough
// to leave to it.)
func validFieldName(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] < '!' || name[i] > '~' {
			return false
		}
	}
	return name != ""
}

// logLineName reports a field name that starts with a digit. RFC 5322
// allows one and no mail uses it, but a log line does ("2027-01-26T19:04:58
// host sshd[1]: …"): fail2ban's X-ARF puts its log lines right under the
// log part's header. Such a block is left to the repair in readMail.
func logLineName(name string) bool { return name[0] >= '0' && name[0] <= '9' }

// entity reads the entity whose header is h and body raw[start:end]: a
// multipart container or a leaf, counted as go-message's Walk visits them.
func (r *fastReader) entity(h header, ct mediaType, start, end int) bool {
	if r.entities++; r.entities > maxParts {
		return false
	}
	if strings.HasPrefix(ct.value, "multipart/") {
		return r.multipart(ct.boundary, start, end)
	}
	p := part{contentType: ct.value}
	var name string
	if disp, err := parseMediaType(h.get("Content-Disposition")); err == nil {
		p.attachment = strings.EqualFold(disp.value, "attachment")
		name = disp.filename
	}
	if name == "" {
		name = ct.name
	}
	p.filename = decodeFilename(name)
	body, ok := decodeBody(r.raw[start:end:end], h.get("Content-Transfer-Encoding"), ct)
	if !ok {
		return false
	}
	p.body = body
	r.parts = append(r.parts, p)
	return true
}

// multipart reads the parts of the multipart body raw[start:end] as
// go-message's textproto.MultipartReader does: the preamble skipped, a
// delimiter line starting each part, "\r\n" or, when the first delimiter line
// ends in a bare \n, "\n" before each later delimiter, a close delimiter
// ending the parts. Anything else after a part is an error in go-message, so
// the reader gives up.
func (r *fastReader) multipart(boundary string, start, end int) bool {
	if boundary == "" || len(boundary) > maxBoundaryLen {
		return false
	}
	d := newDelimiter(boundary)
	b := r.raw[:end]
	var room [8]field // part headers are short, and read only here
	for pos, parts := start, 0; ; parts++ {
		next, ok := d.nextPart(b, pos, parts == 0)
		if !ok || next < 0 {
			return ok // the close delimiter (true) or an error
		}
		h, bodyStart, ok := r.headerAt(next, end, room[:0])
		if !ok {
			return false
		}
		bodyEnd, ok := d.bodyEnd(b, bodyStart)
		if !ok {
			return false
		}
		ct, ok := parseContentType(h.get("Content-Type"))
		if !ok || !r.entity(h, ct, bodyStart, bodyEnd) {
			return false
		}
		pos = bodyEnd
	}
}

// delimiter is a boundary's delimiter line end and "--boundary", which a
// body ends before.
type delimiter struct {
	nlDash []byte // "\r\n--boundary", or "\n--boundary" in \n mode
	nl     string // the line end: nlDash without the dash
	dash   []byte // "--boundary"
}

func newDelimiter(boundary string) delimiter {
	nlDash := []byte("\r\n--" + boundary)
	return delimiter{nlDash: nlDash, nl: "\r\n", dash: nlDash[2:]}
}

// nextPart reads lines from b[pos:] up to the next delimiter line and
// returns where the part's header starts, or -1 after the close delimiter.
// ok is false where go-message reports an error: end of input, a line too
// long for its buffer, or an unexpected line after the first part.
func (d *delimiter) nextPart(b []byte, pos int, preamble bool) (next int, ok bool) {
	expectNewPart := false
	for {
		n := bytes.IndexByte(b[pos:], '\n')
		if n < 0 {
			return -1, len(b)-pos < goMessageLineMax && d.isClose(b[pos:])
		}
		line := b[pos : pos+n+1]
		if len(line) >= goMessageLineMax {
			return 0, false
		}
		pos += len(line)
		switch {
		case d.isDelimiterLine(line, preamble):
			return pos, true
		case d.isClose(line):
			return -1, true
		case expectNewPart:
			return 0, false
		case preamble:
			// The preamble is skipped.
		case string(line) == d.nl:
			expectNewPart = true // the line end that belongs to the next delimiter
		default:
			return 0, false
		}
	}
}

// isDelimiterLine matches "--boundary", blanks and the line end. On the
// first delimiter line, a bare \n switches to \n line ends, as go-message does.
func (d *delimiter) isDelimiterLine(line []byte, first bool) bool {
	rest, ok := bytes.CutPrefix(line, d.dash)
	if !ok {
		return false
	}
	rest = rest[skipBlanks(rest):]
	if first && string(rest) == "\n" && d.nl == "\r\n" {
		d.nlDash, d.nl = d.nlDash[1:], "\n"
	}
	return string(rest) == d.nl
}

// isClose matches "--boundary--", blanks, and the line end or nothing.
func (d *delimiter) isClose(line []byte) bool {
	rest, ok := bytes.CutPrefix(line, d.dash)
	if !ok {
		return false
	}
	if rest, ok = bytes.CutPrefix(rest, []byte("--")); !ok {
		return false
	}
	rest = rest[skipBlanks(rest):]
	return len(rest) == 0 || string(rest) == d.nl
}

// bodyEnd returns where the body that starts at b[start:] ends: before the
// line end of the next delimiter, or at start when the body begins with the
// delimiter itself. A delimiter counts when a blank, a line end, a dash or
// the end of input follows it. ok is false when no delimiter follows, which
// go-message reports as an error.
func (d *delimiter) bodyEnd(b []byte, start int) (end int, ok bool) {
	if bytes.HasPrefix(b[start:], d.dash) {
		if endsDelimiter(b, start+len(d.dash)) {
			return start, true
		}
		start += len(d.dash)
	}
	for i := start; ; {
		j := bytes.Index(b[i:], d.nlDash)
		if j < 0 {
			return 0, false
		}
		at := i + j
		if i = at + len(d.nlDash); endsDelimiter(b, i) {
			return at, true
		}
	}
}

// endsDelimiter reports whether a delimiter that ends at b[i:] is one, not
// the start of a longer boundary.
func endsDelimiter(b []byte, i int) bool {
	if i == len(b) {
		return true
	}
	switch b[i] {
	case ' ', '\t', '\r', '\n', '-':
		return true
	}
	return false
}

// mediaType is a Content-Type or Content-Disposition field as go-message
// reads it, reduced to the parameters the reader and the formats use.
type mediaType struct {
	value      string // the media type or disposition, lower case
	charset    string
	hasCharset bool
	boundary   string
	name       string
	filename   string
	reportType string
}

// set keeps a parameter, decoding its encoded words as go-message does.
// Parameter names are ASCII tokens, which mime.ParseMediaType lowers.
func (mt *mediaType) set(name, value string) {
	switch {
	case lowerIs(name, "charset"):
		mt.charset, mt.hasCharset = decodeWords(value), true
	case lowerIs(name, "boundary"):
		mt.boundary = decodeWords(value)
	case lowerIs(name, "name"):
		mt.name = decodeWords(value)
	case lowerIs(name, "filename"):
		mt.filename = decodeWords(value)
	case lowerIs(name, "report-type"):
		mt.reportType = decodeWords(value)
	}
}

// lowerIs reports whether strings.ToLower(s) == lower, without building the
// lower-case copy for ASCII s.
func lowerIs(s, lower string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.ToLower(s) == lower // İ and K lower to ASCII
		}
	}
	return len(s) == len(lower) && strings.EqualFold(s, lower)
}

// parseContentType reads a Content-Type value as go-message's ContentType
// does: an empty value is text/plain. ok is false for a malformed value,
// which go-message treats in ways of its own (the raw value as media type).
func parseContentType(v string) (mediaType, bool) {
	if v == "" {
		return mediaType{value: "text/plain"}, true
	}
	mt, err := parseMediaType(v)
	return mt, err == nil
}

// parseMediaType is mime.ParseMediaType with go-message's decoding of the
// parameters. The usual plain syntax is read without building a map.
func parseMediaType(v string) (mediaType, error) {
	if mt, ok := parsePlainMediaType(v); ok {
		return mt, nil
	}
	value, params, err := mime.ParseMediaType(v)
	if err != nil {
		return mediaType{}, err
	}
	mt := mediaType{value: value}
	for name, value := range params {
		mt.set(name, value)
	}
	return mt, nil
}

// maxPlainParams bounds the parameters parsePlainMediaType checks for
// repeats; a field with more goes to mime.ParseMediaType.
const maxPlainParams = 8

// parsePlainMediaType reads `type/subtype; name=token; name="quoted"` (or
// a lone `disposition`) in ASCII with blanks around the separators, each
// parameter once. ok is false for anything else (RFC 2231 names,
// backslashes, repeats), which mime.ParseMediaType reads, or rejects.
func parsePlainMediaType(v string) (mt mediaType, ok bool) {
	typeStart := skipWSP(v, 0)
	i := skipToken(v, typeStart)
	if i == typeStart {
		return mediaType{}, false
	}
	if i < len(v) && v[i] == '/' {
		subStart := i + 1
		if i = skipToken(v, subStart); i == subStart {
			return mediaType{}, false
		}
	}
	mt.value = strings.ToLower(v[typeStart:i])
	var seen [maxPlainParams]string
	for n := 0; ; n++ {
		if i = skipWSP(v, i); i == len(v) {
			return mt, true
		}
		if v[i] != ';' {
			return mediaType{}, false
		}
		if i = skipWSP(v, i+1); i == len(v) {
			return mt, true // a trailing semicolon is ignored
		}
		name, value, next, ok := plainParam(v, i)
		if !ok || n == len(seen) || hasName(seen[:n], name) {
			return mediaType{}, false
		}
		seen[n] = name
		mt.set(name, value)
		i = next
	}
}

// plainParam reads `name=token` or `name="quoted"` at v[i:].
func plainParam(v string, i int) (name, value string, next int, ok bool) {
	j := skipToken(v, i)
	name = v[i:j]
	if name == "" || strings.IndexByte(name, '*') >= 0 {
		return "", "", 0, false
	}
	if j = skipWSP(v, j); j == len(v) || v[j] != '=' {
		return "", "", 0, false
	}
	j = skipWSP(v, j+1)
	if j < len(v) && v[j] == '"' {
		end := strings.IndexAny(v[j+1:], `"\`)
		if end < 0 || v[j+1+end] != '"' {
			return "", "", 0, false
		}
		return name, v[j+1 : j+1+end], j + end + 2, true
	}
	k := skipToken(v, j)
	return name, v[j:k], k, k > j
}

// hasName reports whether names holds name, ignoring ASCII case.
func hasName(names []string, name string) bool {
	for _, n := range names {
		if strings.EqualFold(n, name) {
			return true
		}
	}
	return false
}

// skipBlanks returns how many spaces and tabs start s.
func skipBlanks(s []byte) int {
	i := 0
	for i < len(s) && isWSP(s[i]) {
		i++
	}
	return i
}

func skipWSP(s string, i int) int {
	for i < len(s) && isWSP(s[i]) {
		i++
	}
	return i
}

// skipToken skips the RFC 2045 token characters at s[i:].
func skipToken(s string, i int) int {
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return i
}

func isTokenChar(c byte) bool {
	switch c {
	case '(', ')', '<', '>', '@', ',', ';', ':', '\\', '"', '/', '[', ']', '?', '=':
		return false
	}
	return c > ' ' && c < 0x7f
}

// decodeBody undoes the transfer encoding of a leaf and converts text/* from
// its charset, as go-message's entity reader does. ok is false when the
// encoding is broken: what go-message keeps of it depends on its streaming.
func decodeBody(body []byte, encoding string, ct mediaType) ([]byte, bool) {
	var ok bool
	switch {
	case lowerIs(encoding, "quoted-printable"):
		if body, ok = decodeQuotedPrintable(body); !ok {
			return nil, false
		}
	case lowerIs(encoding, "base64"):
		if body, ok = decodeBase64(body); !ok {
			return nil, false
		}
	}
	// Unknown encodings are left as they are, as go-message does.
	if !strings.HasPrefix(ct.value, "text/") || !ct.hasCharset {
		return body, true
	}
	return convertCharset(body, ct.charset)
}

// convertCharset converts text to UTF-8 with the charset readers go-message
// uses. An unknown charset leaves the text as it is, as go-message does.
func convertCharset(text []byte, charset string) ([]byte, bool) {
	switch {
	case lowerIs(charset, "utf-8"), lowerIs(charset, "us-ascii"):
		return text, true
	case lowerIs(charset, "iso-8859-1"):
		return latin1ToUTF8(text), true
	}
	r, err := message.CharsetReader(strings.ToLower(charset), bytes.NewReader(text))
	if err != nil {
		return text, true
	}
	out, err := io.ReadAll(r)
	return out, err == nil
}

// latin1ToUTF8 is the ISO-8859-1 decoder of go-message's charset package
// (golang.org/x/text's charmap.ISO8859_1, every byte its own code point)
// without its two 4 KiB buffers.
func latin1ToUTF8(text []byte) []byte {
	ascii := 0
	for ascii < len(text) && text[ascii] < utf8.RuneSelf {
		ascii++
	}
	if ascii == len(text) {
		return text
	}
	out := make([]byte, ascii, len(text)+(len(text)-ascii))
	copy(out, text)
	for _, c := range text[ascii:] {
		if c < utf8.RuneSelf {
			out = append(out, c)
		} else {
			out = append(out, 0xC0|c>>6, 0x80|c&0x3F) // U+0080 to U+00FF in UTF-8
		}
	}
	return out
}

// decodeBase64 decodes as go-message does, ignoring blanks and line ends.
// ok is false for data that is not whole base64.
func decodeBase64(body []byte) ([]byte, bool) {
	// The decoder skips \r and \n itself; go-message turns blanks into \n.
	if bytes.ContainsAny(body, " \t") {
		kept := make([]byte, 0, len(body))
		for _, c := range body {
			if !isWSP(c) {
				kept = append(kept, c)
			}
		}
		body = kept
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(body)))
	n, err := base64.StdEncoding.Decode(out, body)
	return out[:n], err == nil
}

// decodeQuotedPrintable decodes as mime/quotedprintable's Reader does, line
// by line: trailing blanks dropped, "=" at a line end joining lines, "=XX"
// a byte, a lone "=" kept. ok is false where the Reader reports an error or
// a line is too long for its buffer.
func decodeQuotedPrintable(body []byte) ([]byte, bool) {
	out := make([]byte, 0, len(body))
	for len(body) > 0 {
		n := bytes.IndexByte(body, '\n') + 1
		if n == 0 {
			n = len(body)
		}
		if n >= goMessageLineMax {
			return nil, false
		}
		var ok bool
		if out, ok = decodeQPLine(out, body[:n], n == len(body)); !ok {
			return nil, false
		}
		body = body[n:]
	}
	return out, true
}

// decodeQPLine appends the decoded line, which ends in \n unless it is the
// last one.
func decodeQPLine(out, line []byte, last bool) ([]byte, bool) {
	n := len(line)
	for n > 0 && (isWSP(line[n-1]) || line[n-1] == '\r' || line[n-1] == '\n') {
		n--
	}
	text, ending := line[:n], line[n:]
	switch {
	case bytes.HasSuffix(text, []byte("=")):
		// A soft line break: only blanks may follow before the line end.
		text = text[:len(text)-1]
		rest := ending[skipBlanks(ending):]
		lineEnd := bytes.HasPrefix(rest, []byte("\n")) || bytes.HasPrefix(rest, []byte("\r\n"))
		if !lineEnd && !(len(rest) == 0 && len(text) > 0 && last) {
			return nil, false
		}
		ending = nil
	case bytes.HasSuffix(line, []byte("\r\n")):
		ending = []byte("\r\n")
	case bytes.HasSuffix(line, []byte("\n")):
		ending = []byte("\n")
	default:
		ending = nil
	}
	for len(text) > 0 {
		eq := bytes.IndexByte(text, '=')
		if eq < 0 {
			eq = len(text)
		}
		if !qpLiteral(text[:eq]) {
			return nil, false
		}
		out = append(out, text[:eq]...)
		if eq == len(text) {
			break
		}
		// "=XX" is a byte; "=" before anything else but a line end is itself.
		if b, ok := hexByte(text[eq+1:]); ok {
			out = append(out, b)
			text = text[eq+3:]
			continue
		}
		if eq+2 > len(text) || text[eq+1] == '\r' || text[eq+1] == '\n' {
			return nil, false
		}
		out = append(out, '=')
		text = text[eq+1:]
	}
	return append(out, ending...), true
}

// qpLiteral reports whether the Reader passes every byte of s as it is:
// printable ASCII, tabs, line ends and bytes above ASCII.
func qpLiteral(s []byte) bool {
	for _, c := range s {
		if (c < ' ' || c == 0x7f) && c != '\t' && c != '\r' && c != '\n' {
			return false
		}
	}
	return true
}

// hexByte reads the two hex digits, either case, that start s.
func hexByte(s []byte) (byte, bool) {
	if len(s) < 2 {
		return 0, false
	}
	hi, ok1 := unhex(s[0])
	lo, ok2 := unhex(s[1])
	return hi<<4 | lo, ok1 && ok2
}

func unhex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}
