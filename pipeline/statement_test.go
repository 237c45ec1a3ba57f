package pipeline

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/providers/ovh"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/statement"
	"github.com/abusewatch/abusewatch/store"
)

// Secrets the triage evidence holds, which no statement may show.
const (
	rescuePassword = "Rz7kq2LmX9"
	apiToken       = "hc_tok_9f8e7d6c5b4a3928"
)

type statementEnv struct {
	st  *store.Store
	p   *Pipeline
	mta *testserver.Postfix
	emu *ovhtest.Server
}

// newStatementEnv wires a pipeline to a real Postfix (STARTTLS with a test
// CA) and the OVH emulator, trusting the Authentication-Results of the
// fixtures' MTA.
func newStatementEnv(t *testing.T) *statementEnv {
	t.Helper()
	mta := testserver.StartPostfix(t, "network-abuse@hetzner.com", "abuse@hetzner.com", "soc@cert.example.org")
	mailer, err := statement.NewMailer(config.SMTP{
		Host: mta.Host, Port: mta.Port, TLS: "starttls", From: "abuse@example.net", CAFile: mta.CAFile, Timeout: 20 * time.Second,
	}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	emu := ovhtest.New(t)
	prov, err := ovh.New(ovh.Config{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret,
		ConsumerKey: ovhtest.ConsumerKey, Attempts: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	p := New(Options{Store: st, Parser: parser.Options{TrustAuthservID: "mx.test.invalid"}, Mailer: mailer, Tickets: prov})
	return &statementEnv{st: st, p: p, mta: mta, emu: emu}
}

func (e *statementEnv) ingest(t *testing.T, fixture string) int64 {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "statement", fixture))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.p.Ingest(t.Context(), store.Message{Source: store.Source{Path: fixture}, Raw: raw, Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Opened) != 1 {
		t.Fatalf("%s opened %v, want one incident", fixture, res.Opened)
	}
	return res.Opened[0]
}

// contained gives incident id triage evidence (holding a rescue password
// and an API token), a suspect and a containment.
func (e *statementEnv) contained(t *testing.T, id int64) {
	t.Helper()
	started := time.Date(2026, 11, 30, 7, 30, 0, 0, time.UTC)
	_, err := e.st.RecordTriage(t.Context(), store.TriageRun{
		IncidentID: id, Run: "triage:test", Trigger: "dkim:hetzner", StartedAt: started,
		Evidence: []store.Evidence{{
			Job: "connections", Host: "hv1", Where: "ssh", Status: "ok", StartedAt: started,
			Output: []byte("tcp 37.27.128.19:59547 203.0.113.46:22 users:((\"masscan\",pid=4242))\n" +
				"rescue system: root password: " + rescuePassword + "\nHCLOUD_TOKEN=" + apiToken + "\n"),
			Findings: []string{"container miner opened outbound SSH connections to 203.0.113.0/24",
				"the scanner was started as ./masscan --rate 1000 --auth " + apiToken},
		}},
		Suspects: []store.Suspect{{Kind: "container", Name: "miner", Host: "hv1", PID: 4242, Exe: "/usr/bin/masscan",
			Why: []string{"masscan pid 4242 holds the connections", "token " + apiToken}}},
		Summary: "1 suspect",
	}, func(bool) []store.NewTask { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if err := e.st.AddTimeline(t.Context(), id, "contain", "paused container miner on hv1"); err != nil {
		t.Fatal(err)
	}
}

// TestStatementHetznerNetscanSentOnceThroughPostfix is the first
// must-show: the draft names the suspect and the actions with their times
// and no secret; --send delivers one threaded mail through a real MTA whose
// subject keeps the AbuseID byte for byte; a second send is refused.
func TestStatementHetznerNetscanSentOnceThroughPostfix(t *testing.T) {
	e := newStatementEnv(t)
	ctx := t.Context()
	id := e.ingest(t, "hetzner-netscan.eml")
	e.contained(t, id)

	d, err := e.p.DraftStatement(ctx, id, StatementOptions{Prevention: []string{"ssh"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"7C0FFEE:1A", "netscan", "container miner on host hv1", "pid 4242",
		"paused container miner on hv1", "we inspected the server", "SSH accepts keys only",
	} {
		if !strings.Contains(d.Text, want) {
			t.Errorf("draft lacks %q:\n%s", want, d.Text)
		}
	}
	// Claims without backing stay out: nothing recorded images or backups.
	for _, absent := range []string{"images are updated", "backups", rescuePassword, apiToken} {
		if strings.Contains(d.Text, absent) {
			t.Errorf("draft holds %q:\n%s", absent, d.Text)
		}
	}
	if d.Link != "https://abuse.hetzner.com/statements/?token=c0ffee42" {
		t.Errorf("statement link = %q", d.Link)
	}
	if d.Channel != "smtp" || len(d.Recipients) != 1 || d.Recipients[0] != "network-abuse@hetzner.com" {
		t.Fatalf("draft goes by %s to %v, want smtp to network-abuse@hetzner.com", d.Channel, d.Recipients)
	}

	sent, err := e.p.SendStatement(ctx, d)
	if err != nil {
		t.Fatalf("send: %v\n%s", err, e.mta.Log())
	}
	got := e.mta.Delivered(t, "network-abuse@hetzner.com", 1, 20*time.Second)
	raw := got[0]
	const subject = "Re: Abuse Message [AbuseID:7C0FFEE:1A]: NetscanOutLevel: Netscan detected from 37.27.128.19"
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	h := r.Header
	if s := h.Get("Subject"); s != subject {
		t.Errorf("Subject = %q, want %q", s, subject)
	}
	if !bytes.Contains(raw, []byte("[AbuseID:7C0FFEE:1A]")) {
		t.Error("the AbuseID is not byte for byte in the delivered mail")
	}
	if irt, _ := h.MsgIDList("In-Reply-To"); len(irt) != 1 || irt[0] != "netscan-7c0ffee@abuse.hetzner.example" {
		t.Errorf("In-Reply-To = %v", irt)
	}
	if refs, _ := h.MsgIDList("References"); len(refs) != 2 || refs[0] != "earlier-7c0ffee@abuse.hetzner.example" || refs[1] != "netscan-7c0ffee@abuse.hetzner.example" {
		t.Errorf("References = %v", refs)
	}
	if mid, _ := h.MessageID(); mid != sent.MessageID {
		t.Errorf("Message-ID = %q, want %q", mid, sent.MessageID)
	}
	if !bytes.Contains(raw, []byte("ESMTPS")) {
		t.Error("the mail was not submitted over TLS (no ESMTPS in its Received line)")
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(p.Body)
	if got := strings.ReplaceAll(body.String(), "\r\n", "\n"); got != d.Text {
		t.Errorf("delivered body differs from the draft:\n%s\n---\n%s", got, d.Text)
	}

	// The text sent is stored, and the timeline says so with its sha256.
	recs, err := e.st.Statements(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].Status != "sent" || recs[0].SHA256 != statement.Sum(d.Text) || recs[0].Body != d.Text {
		t.Fatalf("stored statements = %+v", recs)
	}
	inc, err := e.st.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	onTimeline := false
	for _, te := range inc.Timeline {
		onTimeline = onTimeline || (te.Kind == "statement" && strings.Contains(te.Text, sent.SHA256))
	}
	if !onTimeline {
		t.Errorf("no statement entry with sha256 %s on the timeline", sent.SHA256)
	}

	// A second send of the same text is refused, and nothing more arrives.
	d2, err := e.p.DraftStatement(ctx, id, StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.SendStatement(ctx, d2); !errors.Is(err, errStatementSent) {
		t.Fatalf("second send: err = %v, want errStatementSent", err)
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(e.mta.Delivered(t, "network-abuse@hetzner.com", 1, time.Second)); n != 1 {
		t.Errorf("%d mails delivered, want 1", n)
	}
}

// TestStatementForwardedComplaintToBoth: --to both reaches Hetzner and the
// complainant of the forwarded complaint, in one mail.
func TestStatementForwardedComplaintToBoth(t *testing.T) {
	e := newStatementEnv(t)
	id := e.ingest(t, "hetzner-forwarded.eml")
	d, err := e.p.DraftStatement(t.Context(), id, StatementOptions{To: "both", Lang: "de"})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"abuse@hetzner.com", "soc@cert.example.org"}; strings.Join(d.Recipients, ",") != strings.Join(want, ",") {
		t.Fatalf("recipients = %v, want %v", d.Recipients, want)
	}
	if !strings.Contains(d.Text, "Stellungnahme") {
		t.Errorf("--lang de draft is not German:\n%s", d.Text)
	}
	if _, err := e.p.SendStatement(t.Context(), d); err != nil {
		t.Fatalf("send: %v\n%s", err, e.mta.Log())
	}
	for _, rcpt := range d.Recipients {
		got := e.mta.Delivered(t, rcpt, 1, 20*time.Second)
		if !bytes.Contains(got[0], []byte("Delivered-To: "+rcpt)) || !bytes.Contains(got[0], []byte("[AbuseID:7D00D1E:2B]")) {
			t.Errorf("mail for %s:\n%s", rcpt, got[0])
		}
	}
	if _, err := e.p.DraftStatement(t.Context(), id, StatementOptions{To: "complainant"}); err != nil {
		t.Errorf("--to complainant: %v", err)
	}
}

// TestStatementOVHTicketThroughAPI: a [TICKET#N] incident is answered with
// POST /support/tickets/{id}/reply on the emulated API, not by mail.
func TestStatementOVHTicketThroughAPI(t *testing.T) {
	e := newStatementEnv(t)
	e.emu.AddTicket(ovhtest.Ticket{ID: 5512, Number: "8123456789", Subject: "Abnormal activity"})
	e.emu.AddTicket(ovhtest.Ticket{ID: 5513, Number: "8000000001", Subject: "another"})
	id := e.ingest(t, "ovh-ticket.eml")
	d, err := e.p.DraftStatement(t.Context(), id, StatementOptions{Lang: "fr"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Channel != "ovh-ticket" || d.Ticket != "8123456789" {
		t.Fatalf("channel %s ticket %q, want ovh-ticket 8123456789", d.Channel, d.Ticket)
	}
	if _, err := e.p.SendStatement(t.Context(), d); err != nil {
		t.Fatal(err)
	}
	tk, _ := e.emu.Ticket(5512)
	if len(tk.Replies) != 1 || tk.Replies[0] != d.Text {
		t.Fatalf("ticket replies = %q, want the draft", tk.Replies)
	}
	if other, _ := e.emu.Ticket(5513); len(other.Replies) != 0 {
		t.Errorf("another ticket got a reply: %q", other.Replies)
	}
	if _, err := e.p.SendStatement(t.Context(), d); !errors.Is(err, errStatementSent) {
		t.Errorf("second reply: err = %v, want errStatementSent", err)
	}
}

// TestStatementRefusesUnverified: an incident whose notice nobody vouches
// for is answered only with --force.
func TestStatementRefusesUnverified(t *testing.T) {
	st := openStore(t)
	p := New(Options{Store: st})
	raw, err := os.ReadFile(filepath.Join("testdata", "statement", "hetzner-netscan.eml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Ingest(context.Background(), store.Message{Source: store.Source{Path: "x"}, Raw: raw, Size: int64(len(raw))})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	if _, err := p.DraftStatement(t.Context(), res.Opened[0], StatementOptions{}); err == nil || !strings.Contains(err.Error(), "no authentic notice") {
		t.Errorf("draft of an unverified incident: err = %v", err)
	}
	if _, err := p.DraftStatement(t.Context(), res.Opened[0], StatementOptions{Force: true}); err != nil {
		t.Errorf("--force: %v", err)
	}
}

// TestStatementFailedSendFreesTheText: a send the server never took is
// recorded as failed, and the same text may be sent again (it is not
// "sent already").
func TestStatementFailedSendFreesTheText(t *testing.T) {
	st := openStore(t)
	mailer, err := statement.NewMailer(config.SMTP{Host: "127.0.0.1", Port: testserver.FreePort(t), TLS: "starttls",
		From: "abuse@example.net", Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{Store: st, Parser: parser.Options{TrustAuthservID: "mx.test.invalid"}, Mailer: mailer})
	raw, err := os.ReadFile(filepath.Join("testdata", "statement", "hetzner-netscan.eml"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Ingest(t.Context(), store.Message{Source: store.Source{Path: "x"}, Raw: raw, Size: int64(len(raw))})
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("ingest: %v %+v", err, res)
	}
	d, err := p.DraftStatement(t.Context(), res.Opened[0], StatementOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := p.SendStatement(t.Context(), d); err == nil || errors.Is(err, errStatementSent) {
			t.Fatalf("send to a closed port: err = %v, want a connection error", err)
		}
	}
	recs, err := st.Statements(t.Context(), res.Opened[0])
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0].Status != "failed" || recs[1].Status != "failed" || recs[0].Error == "" {
		t.Errorf("statements = %+v, want two failed tries", recs)
	}
}
