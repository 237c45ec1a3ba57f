package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/statement"
	"github.com/abusewatch/abusewatch/store"
)

// TicketReplier answers an OVH support ticket by its number.
type TicketReplier interface {
	ReplyTicket(ctx context.Context, number, body string) error
}

// StatementOptions shape a statement.
type StatementOptions struct {
	Lang string // en (default), fr, de
	// To is provider (default), complainant or both.
	To string
	// Force answers an incident without an authentic notice.
	Force bool
	// Prevention records measures taken (statement.Measures) on the
	// timeline first, so that the statement may claim them.
	Prevention []string
}

// StatementDraft is a drafted statement with where it would go.
type StatementDraft struct {
	IncidentID int64
	Lang       string
	Text       string
	Redacted   int // secrets the redaction pass masked
	// Link is a Hetzner notice's statement web form, "" when none.
	Link string
	// Channel is smtp or ovh-ticket; Recipients the mail addresses, or the
	// ticket as "ticket N".
	Channel    string
	Recipients []string
	Subject    string
	Ticket     string

	reply   parser.Reply
	secrets []string
	force   bool
}

// StatementSent says what went out.
type StatementSent struct {
	Channel    string
	Recipients []string
	SHA256     string
	MessageID  string // of the mail, "" for a ticket reply
}

// errStatementSent: the same text was sent for the incident already.
var errStatementSent = store.ErrStatementSent

// DraftStatement drafts incident id's statement from what the store holds.
func (p *Pipeline) DraftStatement(ctx context.Context, id int64, o StatementOptions) (*StatementDraft, error) {
	if o.Lang == "" {
		o.Lang = "en"
	}
	if o.To == "" {
		o.To = "provider"
	}
	switch o.To {
	case "provider", "complainant", "both":
	default:
		return nil, fmt.Errorf("statement: --to %q is not one of provider, complainant, both", o.To)
	}
	for _, m := range o.Prevention {
		if !slices.Contains(statement.Measures, m) {
			return nil, fmt.Errorf("statement: prevention %q is not one of %v", m, statement.Measures)
		}
	}
	d, err := p.store.Incident(ctx, id)
	if err != nil {
		return nil, err
	}
	if d.Unverified && !o.Force {
		return nil, fmt.Errorf("statement: incident %d has no authentic notice (no DKIM pass of the provider, no trusted reporter): answering it may answer a forgery; --force to draft anyway", id)
	}
	n, ok := answered(d.NoticeRecords)
	if !ok {
		return nil, fmt.Errorf("statement: incident %d has no notice to answer", id)
	}
	if len(o.Prevention) > 0 {
		for _, m := range o.Prevention {
			if err := p.store.AddTimeline(ctx, id, statement.PreventionKind, m+": recorded by the operator for the statement"); err != nil {
				return nil, err
			}
		}
		if d, err = p.store.Incident(ctx, id); err != nil {
			return nil, err
		}
	}
	raw, err := p.rawMail(ctx, n.MessageID)
	if err != nil {
		return nil, fmt.Errorf("statement: the mail of notice %d: %w", n.ID, err)
	}
	reply, err := parser.ReplyOf(raw)
	if err != nil {
		return nil, fmt.Errorf("statement: reading the mail of notice %d: %w", n.ID, err)
	}
	secrets := statement.SecretsIn(string(raw))
	for _, nr := range d.NoticeRecords {
		if nr.MessageID == n.MessageID {
			continue
		}
		if b, err := p.rawMail(ctx, nr.MessageID); err == nil {
			secrets = append(secrets, statement.SecretsIn(string(b))...)
		}
	}
	for _, e := range d.Evidence {
		secrets = append(secrets, statement.SecretsIn(string(e.Output))...)
	}
	grants, err := p.store.Grants(ctx)
	if err != nil {
		return nil, err
	}
	facts := statement.Facts{
		Incident: d.Incident, Notice: n, Timeline: d.Timeline, Evidence: d.Evidence, Runs: d.Runs,
		Grants: grants, Secrets: secrets,
	}
	if p.mailer != nil {
		facts.Signature = p.mailer.From()
	}
	dr, err := statement.Build(facts, o.Lang)
	if err != nil {
		return nil, err
	}
	sd := &StatementDraft{
		IncidentID: id, Lang: o.Lang, Text: dr.Body, Redacted: dr.Redacted, Link: reply.StatementLink,
		Subject: statement.ReplySubject(reply.Subject), reply: reply, secrets: secrets, force: o.Force,
	}
	if o.To == "provider" && n.Provider == "ovh" && reply.Ticket != "" {
		sd.Channel, sd.Ticket, sd.Recipients = "ovh-ticket", reply.Ticket, []string{"ticket " + reply.Ticket}
		return sd, nil
	}
	sd.Channel = "smtp"
	if o.To != "complainant" {
		if reply.To == "" {
			return nil, fmt.Errorf("statement: the provider's mail of incident %d names no sender to answer", id)
		}
		sd.Recipients = append(sd.Recipients, reply.To)
	}
	if o.To != "provider" {
		c, ok := complainant(d.NoticeRecords)
		if !ok {
			return nil, fmt.Errorf("statement: incident %d names no complainant with a mail address (a forwarded complaint's reporter)", id)
		}
		if !slices.Contains(sd.Recipients, c) {
			sd.Recipients = append(sd.Recipients, c)
		}
	}
	return sd, nil
}

// answered picks the provider's notice that the statement answers: the
// first that is not a follow-up, trusted ones first.
func answered(ns []store.NoticeRecord) (store.NoticeRecord, bool) {
	for _, trusted := range []bool{true, false} {
		for _, n := range ns {
			if n.Kind != "status" && (n.Trust != "") == trusted {
				return n, true
			}
		}
	}
	if len(ns) > 0 {
		return ns[0], true
	}
	return store.NoticeRecord{}, false
}

// complainant is the reporter of a forwarded complaint, when it is a mail
// address.
func complainant(ns []store.NoticeRecord) (string, bool) {
	for _, n := range ns {
		if n.Reporter == "" {
			continue
		}
		if a, err := mail.ParseAddress(n.Reporter); err == nil && strings.Count(a.Address, "@") == 1 {
			return strings.ToLower(a.Address), true
		}
	}
	return "", false
}

// maxStatementMail bounds what is read of a stored mail for a statement.
const maxStatementMail = 8 << 20

func (p *Pipeline) rawMail(ctx context.Context, messageID int64) ([]byte, error) {
	rc, err := p.store.OpenRaw(ctx, messageID)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, maxStatementMail))
}

// setStatementText replaces the drafted text (after an edit). A text that
// holds a secret the redaction pass finds is refused: the operator wrote
// it, so it is theirs to fix, not ours to change silently.
func (d *StatementDraft) setStatementText(text string) error {
	if strings.TrimSpace(text) == "" {
		return errors.New("statement: the text is empty")
	}
	if _, n := statement.Redact(text, d.secrets); n > 0 {
		return fmt.Errorf("statement: the text holds %d secret(s) (a password, token or key); remove them", n)
	}
	d.Text = text
	return nil
}

// EditStatement opens $EDITOR (else $VISUAL, else vi) on the draft's text
// and takes what it saves. The editor gets the file name as its only
// argument after its own words; nothing of the mail reaches its command line.
func EditStatement(ctx context.Context, d *StatementDraft, stdin io.Reader, stdout, stderr io.Writer) error {
	editor := os.Getenv("EDITOR")
	if editor == "" {
		editor = os.Getenv("VISUAL")
	}
	if editor == "" {
		editor = "vi"
	}
	words := strings.Fields(editor)
	dir, err := os.MkdirTemp("", "abusewatch-statement-")
	if err != nil {
		return fmt.Errorf("statement: edit: %w", err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, fmt.Sprintf("statement-%d.txt", d.IncidentID))
	if err := os.WriteFile(path, []byte(d.Text), 0o600); err != nil {
		return fmt.Errorf("statement: edit: %w", err)
	}
	cmd := exec.CommandContext(ctx, words[0], append(words[1:], path)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("statement: editor %s: %w", words[0], err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("statement: edit: %w", err)
	}
	return d.setStatementText(string(b))
}

// SendStatement sends the draft's text where the draft says, once: the
// text is reserved in the store first, so that a second send of it is
// refused (errStatementSent), and stored with its sha256 on the timeline.
func (p *Pipeline) SendStatement(ctx context.Context, d *StatementDraft) (*StatementSent, error) {
	if _, n := statement.Redact(d.Text, d.secrets); n > 0 {
		return nil, fmt.Errorf("statement: the text holds %d secret(s); not sent", n)
	}
	sum := statement.Sum(d.Text)
	rec := store.Statement{
		IncidentID: d.IncidentID, SHA256: sum, Lang: d.Lang, Channel: d.Channel, Recipients: d.Recipients,
		Subject: d.Subject, InReplyTo: d.reply.MessageID, Body: d.Text,
	}
	var msg []byte
	switch d.Channel {
	case "ovh-ticket":
		if p.tickets == nil {
			return nil, errors.New("statement: no OVH account is configured to answer the ticket through")
		}
	case "smtp":
		if p.mailer == nil {
			return nil, errors.New("statement: no smtp: section in the configuration")
		}
		refs := append(append([]string(nil), d.reply.References...), d.reply.MessageID)
		if d.reply.MessageID == "" {
			refs = d.reply.References
		}
		rec.MessageID = statement.NewMessageID(d.IncidentID, p.mailer.From())
		m := statement.Mail{
			From: p.mailer.From(), To: d.Recipients, Subject: d.Subject, InReplyTo: d.reply.MessageID,
			References: refs, MessageID: rec.MessageID, Date: p.now(), Body: d.Text,
		}
		var err error
		if msg, err = m.Bytes(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("statement: unknown channel %q", d.Channel)
	}
	id, prior, err := p.store.ReserveStatement(ctx, rec, d.force)
	if errors.Is(err, store.ErrStatementSent) && prior != nil {
		if prior.Status == "sending" {
			return nil, fmt.Errorf("statement: a send of this text to %s started at %s and never finished (the mail may have left): check, then --force: %w",
				strings.Join(prior.Recipients, ", "), prior.CreatedAt.Format("2006-01-02 15:04 UTC"), err)
		}
		return nil, fmt.Errorf("statement: this text went to %s at %s already (sha256 %s): %w",
			strings.Join(prior.Recipients, ", "), prior.SentAt.Format("2006-01-02 15:04 UTC"), sum, err)
	}
	if err != nil {
		return nil, err
	}
	var sendErr error
	if d.Channel == "ovh-ticket" {
		sendErr = p.tickets.ReplyTicket(ctx, d.Ticket, d.Text)
	} else {
		sendErr = p.mailer.Send(ctx, d.Recipients, msg)
	}
	// The outcome is recorded even when the command's context ended.
	if err := p.store.FinishStatement(context.WithoutCancel(ctx), id, sendErr); err != nil {
		return nil, errors.Join(sendErr, err)
	}
	if sendErr != nil {
		return nil, sendErr
	}
	p.log.InfoContext(ctx, "statement sent", "incident", d.IncidentID, "channel", d.Channel, "recipients", len(d.Recipients), "sha256", sum)
	return &StatementSent{Channel: d.Channel, Recipients: d.Recipients, SHA256: sum, MessageID: rec.MessageID}, nil
}
