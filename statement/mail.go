package statement

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/emersion/go-message/mail"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/abusewatch/abusewatch/config"
)

// Mail is a statement as a reply to the provider's mail.
type Mail struct {
	From       string
	To         []string
	Subject    string
	InReplyTo  string   // the provider mail's Message-ID, without brackets
	References []string // its References, then InReplyTo
	MessageID  string   // ours, without brackets
	Date       time.Time
	Body       string
}

// ReplySubject is "Re: " and the original subject, which stays as it was:
// Hetzner asks that the AbuseID in it be left unchanged.
func ReplySubject(original string) string {
	if len(original) >= 3 && strings.EqualFold(original[:3], "re:") {
		return original
	}
	return "Re: " + original
}

// NewMessageID makes an id for a statement mail in the sender's domain.
func NewMessageID(incidentID int64, from string) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	domain := "abusewatch.invalid"
	if _, d, ok := strings.Cut(from, "@"); ok && d != "" {
		domain = d
	}
	return fmt.Sprintf("statement.%d.%s@%s", incidentID, hex.EncodeToString(r[:]), domain)
}

// Bytes renders the mail: UTF-8 text, quoted-printable, threaded by
// In-Reply-To and References.
func (m Mail) Bytes() ([]byte, error) {
	var h mail.Header
	from, err := mail.ParseAddress(m.From)
	if err != nil {
		return nil, fmt.Errorf("statement: from %q: %w", m.From, err)
	}
	h.SetAddressList("From", []*mail.Address{from})
	var to []*mail.Address
	for _, a := range m.To {
		addr, err := mail.ParseAddress(a)
		if err != nil {
			return nil, fmt.Errorf("statement: recipient %q: %w", a, err)
		}
		to = append(to, addr)
	}
	h.SetAddressList("To", to)
	h.SetSubject(m.Subject)
	h.SetDate(m.Date)
	h.SetMessageID(m.MessageID)
	if m.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{m.InReplyTo})
	}
	if len(m.References) > 0 {
		h.SetMsgIDList("References", m.References)
	}
	h.Set("Auto-Submitted", "no")
	h.Set("MIME-Version", "1.0")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	var buf bytes.Buffer
	w, err := mail.CreateSingleInlineWriter(&buf, h)
	if err != nil {
		return nil, fmt.Errorf("statement: render mail: %w", err)
	}
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\n", "\r\n")
	if _, err := w.Write([]byte(body)); err != nil {
		return nil, fmt.Errorf("statement: render mail: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("statement: render mail: %w", err)
	}
	return buf.Bytes(), nil
}

// Mailer submits mail through the configured SMTP server.
//
// It is go-smtp's client: net/smtp is frozen (no context, no implicit TLS
// helper worth the name), and go-smtp is the maintained stack that
// go-imap and go-message, already used here, come from.
type Mailer struct {
	cfg  config.SMTP
	tls  *tls.Config
	log  *slog.Logger
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// NewMailer checks the configuration's CA file and returns a mailer. It
// connects to nothing.
func NewMailer(cfg config.SMTP, log *slog.Logger) (*Mailer, error) {
	tc := &tls.Config{ServerName: cfg.Host, MinVersion: tls.VersionTLS12}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("smtp: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("smtp: ca_file %s: no PEM certificate in it", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	var d net.Dialer
	return &Mailer{cfg: cfg, tls: tc, log: log, dial: d.DialContext}, nil
}

// From is the configured sender.
func (m *Mailer) From() string { return m.cfg.From }

// Send submits msg to the recipients. TLS is always on (STARTTLS or
// implicit) and verified; the password is sent only inside it, and never
// logged.
func (m *Mailer) Send(ctx context.Context, to []string, msg []byte) error {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	addr := net.JoinHostPort(m.cfg.Host, strconv.Itoa(m.cfg.Port))
	conn, err := m.dial(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	deadline, _ := ctx.Deadline()
	conn.SetDeadline(deadline)
	// The context ends the exchange wherever it is.
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()

	var c *smtp.Client
	if m.cfg.TLS == "tls" {
		tc := tls.Client(conn, m.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			conn.Close()
			return fmt.Errorf("smtp %s: tls: %w", addr, err)
		}
		c = smtp.NewClient(tc)
	} else {
		c, err = smtp.NewClientStartTLS(conn, m.tls)
		if err != nil {
			conn.Close()
			return fmt.Errorf("smtp %s: starttls: %w", addr, err)
		}
	}
	defer c.Close()
	if m.cfg.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return fmt.Errorf("smtp %s: the server offers no AUTH, and a username is configured", addr)
		}
		if err := c.Auth(sasl.NewPlainClient("", m.cfg.Username, m.cfg.Password)); err != nil {
			return fmt.Errorf("smtp %s: login as %s: %w", addr, m.cfg.Username, scrub(err, m.cfg.Password))
		}
	}
	if err := c.SendMail(m.cfg.From, to, bytes.NewReader(msg)); err != nil {
		return fmt.Errorf("smtp %s: send: %w", addr, err)
	}
	if err := c.Quit(); err != nil {
		// The server accepted the mail (DATA got its 250): it is sent.
		m.log.WarnContext(ctx, "smtp quit failed after the mail was accepted", "server", addr, "err", err)
	}
	m.log.InfoContext(ctx, "statement submitted", "server", addr, "recipients", len(to))
	return nil
}

// scrub keeps the password out of an error a server may have echoed.
func scrub(err error, secret string) error {
	if secret == "" || !strings.Contains(err.Error(), secret) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), secret, mask))
}
