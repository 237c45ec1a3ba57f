package parser

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
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
	header     gomail.Header
	from       string // the From address, lower case
	fromDomain string
	subject    string // RFC 2047 decoded, unfolded
	messageID  string // without angle brackets
	date       time.Time
	// text is the readable body in UTF-8 with \n line ends: the inline
	// text/plain parts, or the HTML parts turned into text when there is none.
	text  string
	parts []part
}

// part is one leaf of the MIME tree, transfer-decoded; text/* is in UTF-8.
type part struct {
	header      message.Header
	contentType string // lower case media type, "text/plain" when absent
	params      map[string]string
	filename    string
	attachment  bool
	body        []byte
}

func readMail(raw []byte) (*mail, error) {
	e, err := message.ReadWithOptions(bytes.NewReader(raw), &message.ReadOptions{MaxHeaderBytes: maxHeaderBytes})
	if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
		return nil, fmt.Errorf("%w: header: %v", ErrMalformed, err)
	}
	m := &mail{header: gomail.Header{Header: e.Header}}
	m.readHeader()
	if err := m.walk(e); err != nil {
		return nil, err
	}
	m.text = m.readableText()
	return m, nil
}

func (m *mail) readHeader() {
	h := m.header
	if s, err := h.Subject(); err == nil {
		m.subject = s
	} else {
		m.subject = h.Get("Subject")
	}
	m.subject = unfold(m.subject)
	m.from = fromAddress(h)
	if at := strings.LastIndexByte(m.from, '@'); at >= 0 {
		m.fromDomain = m.from[at+1:]
	}
	if id, err := h.MessageID(); err == nil {
		m.messageID = id
	}
	// The usual form first: net/mail tries many layouts and each miss allocates.
	if d, err := time.Parse(mailDateLayout, strings.TrimSpace(h.Get("Date"))); err == nil {
		m.date = d
	} else if d, err := h.Date(); err == nil {
		m.date = d
	}
}

// fromAddress returns the From address in lower case. The common forms
// ("Name <a@b>", "a@b") are read directly; anything else goes through the
// full RFC 5322 address parser, which costs more than the rest of the header.
func fromAddress(h gomail.Header) string {
	raw := strings.TrimSpace(h.Get("From"))
	if lt := strings.LastIndexByte(raw, '<'); lt >= 0 && strings.HasSuffix(raw, ">") && !strings.ContainsAny(raw[:lt], "\",:;()\\") {
		if addr := raw[lt+1 : len(raw)-1]; strings.Count(addr, "@") == 1 && !strings.ContainsAny(addr, " <>") {
			return strings.ToLower(addr)
		}
	}
	if strings.Count(raw, "@") == 1 && !strings.ContainsAny(raw, " <>\",:;()") {
		return strings.ToLower(raw)
	}
	if addrs, err := h.AddressList("From"); err == nil && len(addrs) > 0 {
		return strings.ToLower(addrs[0].Address)
	}
	return strings.ToLower(strings.Trim(raw, "<>"))
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
		p := part{header: ent.Header, contentType: "text/plain"}
		if t, params, err := ent.Header.ContentType(); err == nil && t != "" {
			p.contentType, p.params = strings.ToLower(t), params
		}
		if disp, dparams, err := ent.Header.ContentDisposition(); err == nil {
			p.attachment = strings.EqualFold(disp, "attachment")
			p.filename = dparams["filename"]
		}
		if p.filename == "" {
			p.filename = p.params["name"]
		}
		if p.filename != "" {
			if dec, err := new(mime.WordDecoder).DecodeHeader(p.filename); err == nil {
				p.filename = dec
			}
		}
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
	for len(body) > 0 {
		i := bytes.IndexByte(body, '\r')
		if i < 0 {
			writeSpaces(b, body)
			break
		}
		writeSpaces(b, body[:i])
		body = body[i+1:]
		if len(body) == 0 || body[0] != '\n' {
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
}

var nbsp = []byte{0xC2, 0xA0}

// writeSpaces appends s with UTF-8 no-break spaces turned into spaces.
func writeSpaces(b *strings.Builder, s []byte) {
	for {
		i := bytes.Index(s, nbsp)
		if i < 0 {
			b.Write(s)
			return
		}
		b.Write(s[:i])
		b.WriteByte(' ')
		s = s[i+2:]
	}
}

// unfold joins a folded header value into one line.
func unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}
