package pipeline

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/mail"
	"strings"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/store"
)

// Large mail has two limits. Above the parse limit a mail is kept whole,
// streamed through a spool file into the database's chunks, but not parsed
// (status oversize).
// Above the keep limit it is recorded with its source, true size and reason,
// the mailbox leaves it unflagged, and chat is told once.

// parseLimit is the largest mail parsed.
func (p *Pipeline) parseLimit() int64 {
	if p.maxBytes > 0 {
		return p.maxBytes
	}
	return config.DefaultMaxMessageBytes
}

// keepLimit is the largest mail kept.
func (p *Pipeline) keepLimit() int64 {
	keep := p.keepBytes
	if keep <= 0 {
		keep = config.DefaultKeepMessageBytes
	}
	return max(keep, p.parseLimit())
}

// headBytes is how much of a large mail is read for its header fields.
const headBytes = 64 << 10

// headerFields fills what a list of stored mail shows (From, Subject,
// Message-ID, Date) from the start of a large mail, which is not parsed.
func headerFields(head []byte, p *store.Parsed) {
	m, err := mail.ReadMessage(bytes.NewReader(head))
	if err != nil {
		return
	}
	dec := new(mime.WordDecoder)
	if subject, err := dec.DecodeHeader(m.Header.Get("Subject")); err == nil {
		p.Subject = subject
	}
	if from, err := mail.ParseAddress(m.Header.Get("From")); err == nil {
		p.From = strings.ToLower(from.Address)
	}
	p.MessageID = strings.TrimSpace(m.Header.Get("Message-ID"))
	if date, err := m.Header.Date(); err == nil {
		p.Date = date
	}
}

func oversizeReason(size, limit int64) string {
	return fmt.Sprintf("not parsed: %d bytes is over the parse limit of %d", size, limit)
}

// IngestLarge stores a mail above the parse limit from body, never holding
// it whole in memory: the bytes go to a file that is made durable before the
// message row commits. kept is false when it was above the keep limit: it is
// then recorded without its bytes, with its true size, and chat is told.
func (p *Pipeline) IngestLarge(ctx context.Context, src store.Source, body io.Reader) (res store.IngestResult, kept bool, err error) {
	f, err := p.store.NewRawFile()
	if err != nil {
		return res, false, fmt.Errorf("pipeline: ingest large mail: %w", err)
	}
	defer f.Close()
	keep := p.keepLimit()
	head := &prefixWriter{max: headBytes}
	// One byte past the keep limit says the mail is over it.
	if _, err := io.Copy(io.MultiWriter(f, head), io.LimitReader(body, keep+1)); err != nil {
		return res, false, fmt.Errorf("pipeline: ingest large mail: %w", err)
	}
	msg := store.Message{Source: src, Size: f.Size(), ReceivedAt: p.now()}
	parsed := store.Parsed{Status: "oversize"}
	headerFields(head.buf, &parsed)
	if f.Size() > keep {
		rest, err := io.Copy(io.Discard, body)
		if err != nil {
			return res, false, fmt.Errorf("pipeline: ingest large mail: %w", err)
		}
		msg.Size += rest
		parsed.Reason = fmt.Sprintf("not kept: %d bytes is over the keep limit of %d", msg.Size, keep)
		res, err = p.store.Ingest(ctx, msg, parsed, nil)
		if err != nil {
			return res, false, fmt.Errorf("pipeline: ingest large mail: %w", err)
		}
		if !res.Duplicate {
			p.mailNotKept(ctx, src, res.MessageID, parsed.Reason)
		}
		return res, false, nil
	}
	msg.Large, msg.SHA256 = f, f.Sum()
	parsed.Reason = oversizeReason(msg.Size, p.parseLimit())
	res, err = p.store.Ingest(ctx, msg, parsed, nil)
	if err != nil {
		return res, false, fmt.Errorf("pipeline: ingest large mail: %w", err)
	}
	return res, true, nil
}

// prefixWriter keeps the first max bytes written to it.
type prefixWriter struct {
	buf []byte
	max int
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

// mailNotKept tells chat, once per mail, that a mail was too large to keep:
// a person must read it in the mailbox, where it stays unflagged.
func (p *Pipeline) mailNotKept(ctx context.Context, src store.Source, messageID int64, reason string) {
	where := src.Path
	if src.Mailbox != "" {
		where = fmt.Sprintf("mailbox %s UID %d (UIDVALIDITY %d)", src.Mailbox, src.UID, src.UIDValidity)
	}
	detail := fmt.Sprintf("%s, stored as message %d: %s; it is left unflagged for a person to read", where, messageID, reason)
	p.enqueueStandalone(ctx, fmt.Sprintf("mail-not-kept:%d", messageID), notify.MailNotKept, "", "", detail)
}

// IngestFile stores one mail read from disk: in memory up to the parse
// limit, streamed beyond it.
func (p *Pipeline) IngestFile(ctx context.Context, f MailFile) (store.IngestResult, error) {
	src := store.Source{Path: f.Path}
	if f.Body == nil {
		return p.Ingest(ctx, store.Message{Source: src, Raw: f.Raw, Size: int64(len(f.Raw))})
	}
	res, _, err := p.IngestLarge(ctx, src, f.Body)
	return res, err
}

// reparse parses a stored mail again. A mail above the parse limit stays
// oversize (unless the limit was raised since); a DKIM verdict of pass or
// fail on record is kept (see Reparse).
func (p *Pipeline) reparse(ctx context.Context, m store.StoredMail) (outcome, []byte) {
	if m.Size > p.parseLimit() {
		return outcome{parsed: store.Parsed{Status: "oversize", Reason: oversizeReason(m.Size, p.parseLimit())}}, nil
	}
	raw, err := m.Bytes(ctx)
	if err != nil {
		return outcome{parsed: store.Parsed{Status: "oversize", Reason: fmt.Sprintf("%s; the kept mail cannot be read: %v", oversizeReason(m.Size, p.parseLimit()), errors.Unwrap(err))}}, nil
	}
	o := p.parse(raw)
	if m.Authentic == "pass" || m.Authentic == "fail" {
		o.parsed.SetAuthentic(m.Authentic)
		setTrust(&o.parsed, p.reporters)
	}
	return o, raw
}
