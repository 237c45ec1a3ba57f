package parser

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
)

// Mails that take the fast reader's less common paths, as seeds.
var readMailSeeds = []string{
	// \n line ends, preamble, epilogue, blanks after a delimiter, nested parts.
	"From: a@b.c\nContent-Type: multipart/mixed; boundary=\"x\"\n\npreamble\n--x  \nContent-Type: text/plain; charset=iso-8859-1\nContent-Transfer-Encoding: quoted-printable\n\ncaf=E9 =\nsoft\n--x\nContent-Type: multipart/alternative; boundary=y\n\n--y\n\nplain\n--y--\nepilogue\n--x--\n",
	// A delimiter that starts a body, a longer boundary that is no delimiter.
	"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\n--bb is text\r\n--b--",
	// RFC 2231 and encoded-word parameters, a disposition without parameters.
	"Subject: =?iso-8859-1?q?caf=E9?=\r\nMessage-ID: (c) <a.b@c>\r\nContent-Type: multipart/mixed; boundary=\"=_q\"\r\n\r\n--=_q\r\nContent-Disposition: attachment; filename*=UTF-8''r%C3%A9port.txt\r\n\r\nx\r\n--=_q\r\nContent-Type: text/plain; name=\"=?utf-8?q?a=C3=A9.txt?=\"\r\nContent-Disposition: inline\r\n\r\ny\r\n--=_q--\r\n",
	// Base64 with blanks, windows-1252 text, an unknown charset and encoding.
	"Content-Type: multipart/mixed; boundary=z\r\n\r\n--z\r\nContent-Type: text/plain; charset=windows-1252\r\nContent-Transfer-Encoding: base64\r\n\r\nY2Fm 6SCA\r\n\tIA==\r\n--z\r\nContent-Type: text/plain; charset=x-unknown\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbody\r\n--z--\r\n",
	// Folded fields, an empty value, trailing semicolons, a quoted empty parameter.
	"From: \"A, B\" <a@b.c>\r\nSubject:\r\n  folded\r\n\tsubject\r\nX-Empty:\r\nContent-Type: text/plain;\r\n charset=\"\";\r\n\r\nbody",
}

// FuzzReadMail checks that the in-memory reader reads every mail it accepts
// exactly as go-message does: the mail readers compare field by field, and
// the header fields as go-message's own helpers read them.
func FuzzReadMail(f *testing.F) {
	addFixtureSeeds(f)
	for _, s := range readMailSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		fast, ok := readMailFast(raw)
		if !ok {
			return
		}
		slow, err := readMailGoMessage(raw)
		if err != nil {
			t.Fatalf("go-message rejects a mail the fast reader reads: %v", err)
		}
		compareMails(t, fast, slow)
		fast.readHeader()
		compareHeaderHelpers(t, raw, fast)
	})
}

func compareMails(t *testing.T, fast, slow *mail) {
	t.Helper()
	if len(fast.header) != len(slow.header) {
		t.Fatalf("%d header fields, go-message %d", len(fast.header), len(slow.header))
	}
	for i, f := range fast.header {
		if s := slow.header[i]; !strings.EqualFold(f.name, s.name) || f.value != s.value {
			t.Fatalf("field %d: %q: %q, go-message %q: %q", i, f.name, f.value, s.name, s.value)
		}
	}
	if fast.contentType != slow.contentType || fast.reportType != slow.reportType {
		t.Fatalf("content type %q %q, go-message %q %q", fast.contentType, fast.reportType, slow.contentType, slow.reportType)
	}
	if len(fast.parts) != len(slow.parts) {
		t.Fatalf("%d parts, go-message %d", len(fast.parts), len(slow.parts))
	}
	for i, f := range fast.parts {
		s := slow.parts[i]
		if f.contentType != s.contentType || f.filename != s.filename || f.attachment != s.attachment {
			t.Fatalf("part %d: %q %q %v, go-message %q %q %v", i, f.contentType, f.filename, f.attachment, s.contentType, s.filename, s.attachment)
		}
		if !bytes.Equal(f.body, s.body) {
			t.Fatalf("part %d body:\n%q\ngo-message:\n%q", i, f.body, s.body)
		}
	}
}

// compareHeaderHelpers checks subject, id and date against go-message's
// mail.Header, as readMail read them before it had fast paths.
func compareHeaderHelpers(t *testing.T, raw []byte, m *mail) {
	t.Helper()
	e, err := message.Read(bytes.NewReader(raw))
	if e == nil {
		t.Fatalf("go-message: %v", err)
	}
	h := gomail.Header{Header: e.Header}
	subject, err := h.Subject()
	if err != nil {
		subject = h.Get("Subject")
	}
	if subject = unfold(subject); m.subject != subject {
		t.Errorf("subject %q, go-message %q", m.subject, subject)
	}
	id, err := h.MessageID()
	if err != nil {
		id = ""
	}
	if m.messageID != id {
		t.Errorf("message id %q, go-message %q", m.messageID, id)
	}
	date, err := time.Parse(mailDateLayout, strings.TrimSpace(h.Get("Date")))
	if err != nil {
		if date, err = h.Date(); err != nil {
			date = time.Time{}
		}
	}
	if !m.date.Equal(date) || formatTime(m.date) != formatTime(date) {
		t.Errorf("date %v, go-message %v", m.date, date)
	}
}

// FuzzTransferDecoding checks the quoted-printable and base64 decoders
// against the readers go-message decodes with, wherever they accept the input.
func FuzzTransferDecoding(f *testing.F) {
	for _, s := range []string{
		"caf=E9 =\r\nsoft=\nline  \r\nend=", "a=3d=3D=zz=\r", "tab\there\r\r\n", "=\n", "a==\n",
		"Y2Fm 6SCA\r\n\tIA==", "QQ==QUFB", "QUFB\nQQ", "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, ok := decodeQuotedPrintable(data); ok {
			want, err := io.ReadAll(quotedprintable.NewReader(bytes.NewReader(data)))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("quoted-printable %q: %q, Reader %q (%v)", data, got, want, err)
			}
		}
		if got, ok := decodeBase64(data); ok {
			spaced := bytes.NewReader(bytes.Map(func(r rune) rune {
				if r == ' ' || r == '\t' {
					return '\n'
				}
				return r
			}, data))
			want, err := io.ReadAll(base64.NewDecoder(base64.StdEncoding, spaced))
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("base64 %q: %q, decoder %q (%v)", data, got, want, err)
			}
		}
	})
}

// TestLatin1 checks the ISO-8859-1 shortcut against go-message's charset reader.
func TestLatin1(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	r, err := message.CharsetReader("iso-8859-1", bytes.NewReader(all))
	if err != nil {
		t.Fatal(err)
	}
	want, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	if got := latin1ToUTF8(all); !bytes.Equal(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestReadMailFastGivesUp checks mails the fast reader must leave to
// go-message, whose result there depends on its streaming or is an error.
func TestReadMailFastGivesUp(t *testing.T) {
	long := strings.Repeat("x", goMessageLineMax)
	for name, raw := range map[string]string{
		"no blank line":       "From: a@b.c\r\n",
		"folded first line":   " From: a@b.c\r\n\r\n",
		"bare CR in header":   "From: a@b.c\rX\r\n\r\n",
		"no colon":            "From a@b.c\r\n\r\n",
		"missing close":       "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\ntext\r\n",
		"long preamble line":  "Content-Type: multipart/mixed; boundary=b\r\n\r\n" + long + "\r\n--b\r\n\r\nx\r\n--b--\r\n",
		"long qp line":        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + long + "\r\n",
		"broken base64":       "Content-Transfer-Encoding: base64\r\n\r\nQQ==QUFB\r\n",
		"malformed type":      "Content-Type: multipart/mixed; boundary=a; boundary=b\r\n\r\n",
		"junk after part":     "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b junk\r\n--b--\r\n",
		"part without header": "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nx\r\n--b--\r\n",
	} {
		if _, ok := readMailFast([]byte(raw)); ok {
			t.Errorf("%s: the fast reader read it", name)
		}
	}
}

// FuzzMailDate checks the usual date form against time.Parse, in a local
// zone with summer time, whose offset time.Parse takes as the local zone.
func FuzzMailDate(f *testing.F) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		f.Skip(err)
	}
	local := time.Local
	time.Local = paris
	f.Cleanup(func() { time.Local = local })
	for _, s := range []string{
		"Mon, 02 Jan 2006 15:04:05 -0700", "Tue, 9 Dec 2025 23:59:59 +0100", "Sun, 29 Feb 2024 00:00:00 +0530",
		"Sat, 29 Feb 2025 10:00:00 +0100", "Fri, 31 Oct 2025 02:30:00 +0200", "Wed, 1 Jan 0000 24:00:00 -2400",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := plainMailDate(s)
		if !ok {
			return
		}
		want, err := time.Parse(mailDateLayout, s)
		const layout = time.RFC3339Nano + " MST"
		if err != nil || !got.Equal(want) || got.Format(layout) != want.Format(layout) ||
			(got.Location() == time.Local) != (want.Location() == time.Local) {
			t.Fatalf("%q: %v, time.Parse %v (%v)", s, got, want, err)
		}
	})
}
