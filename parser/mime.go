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
	if addrs, err := h.AddressList("From"); err == nil && len(addrs) > 0 {
		m.from = strings.ToLower(addrs[0].Address)
	} else {
		m.from = strings.ToLower(strings.Trim(strings.TrimSpace(h.Get("From")), "<>"))
	}
	if at := strings.LastIndexByte(m.from, '@'); at >= 0 {
		m.fromDomain = m.from[at+1:]
	}
	if id, err := h.MessageID(); err == nil {
		m.messageID = id
	}
	if d, err := h.Date(); err == nil {
		m.date = d
	}
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
func writeNormalized(b *strings.Builder, body []byte) {
	b.Grow(len(body) + 1)
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\r':
			if i+1 < len(body) && body[i+1] == '\n' {
				continue
			}
			b.WriteByte('\n')
		case c == 0xC2 && i+1 < len(body) && body[i+1] == 0xA0:
			b.WriteByte(' ')
			i++
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('\n')
}

// unfold joins a folded header value into one line.
func unfold(s string) string {
	if !strings.ContainsAny(s, "\r\n\t") {
		return strings.TrimSpace(s)
	}
	return strings.Join(strings.Fields(s), " ")
}
