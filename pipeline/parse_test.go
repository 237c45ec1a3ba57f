package pipeline

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/abusewatch/abusewatch/notify/notifytest"
	"github.com/abusewatch/abusewatch/parser"
)

// An unrecognised provider mail is kept as a notice, filed as unrecognised,
// and makes exactly one chat message: not another for a second ingest of
// the same mail, nor for a reparse, nor an incident page besides.
func TestUnrecognisedMailToldOnce(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	raw := readFixture(t, "hetzner-unrecognised-abuse-sender.eml")

	first := e.ingest(raw)
	if first.Status != statusUnrecognised || first.Notices != 1 {
		t.Fatalf("first ingest: status %q with %d notices, want unrecognised with 1", first.Status, first.Notices)
	}
	if again := e.ingest(raw); !again.Duplicate {
		t.Fatalf("second ingest not a duplicate: %+v", again)
	}
	e.drainFor(time.Hour)
	if _, err := e.p.Reparse(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.drainFor(3 * time.Hour)

	deliveries := recv.Deliveries()
	if len(deliveries) != 1 {
		for _, d := range deliveries {
			t.Log(d.Text)
		}
		t.Fatalf("deliveries = %d, want exactly 1", len(deliveries))
	}
	for _, want := range []string{"UNRECOGNISED MAIL", "unrecognised mail from hetzner.com: Rueckfrage zu Ihrem Server 198.51.100.23"} {
		if !strings.Contains(deliveries[0].Text, want) {
			t.Errorf("message lacks %q:\n%s", want, deliveries[0].Text)
		}
	}
}

// A recognised notice still opens its incident with the usual message.
func TestRecognisedMailNotMarkedUnrecognised(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	res := e.ingest(readFixture(t, "hetzner-netscan-2024-qp.eml"))
	if res.Status != "ok" {
		t.Fatalf("status %q, want ok", res.Status)
	}
	e.drainFor(time.Hour)
	for _, d := range recv.Deliveries() {
		if strings.Contains(d.Text, "UNRECOGNISED") {
			t.Errorf("a recognised mail was told as unrecognised:\n%s", d.Text)
		}
	}
	if len(recv.Deliveries()) == 0 {
		t.Fatal("no message for a new incident")
	}
}

// parse reads an mbox as ingest does and verifies DKIM through the same DNS
// cache: a signed Hetzner mail is pass, the OVH copy next to it none.
func TestParseFilesMboxAndDKIM(t *testing.T) {
	const raw = "From: Hetzner Network <network-abuse@hetzner.com>\r\n" +
		"To: ops@example.net\r\n" +
		"Subject: Abuse Message [AbuseID:518908:22]: NetscanOutLevel: Netscan detected from 138.201.172.5\r\n" +
		"X-Hetzner-AbuseID: 518908:22\r\n" +
		"Message-ID: <dkim-parse@hetzner.com>\r\n" +
		"Date: Tue, 07 Aug 2018 11:31:04 +0200\r\n" +
		"\r\n" +
		"We have detected that your server is scanning other networks.\r\n"
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, strings.NewReader(raw), &dkim.SignOptions{
		Domain: "hetzner.com", Selector: "s1", Signer: priv,
		HeaderKeys: []string{"From", "Subject", "Date", "Message-ID", "X-Hetzner-AbuseID"},
	}); err != nil {
		t.Fatal(err)
	}
	dns := newDNSCache()
	asked := 0
	dns.lookup = func(_ context.Context, name string) ([]string, error) {
		asked++
		if name == "s1._domainkey.hetzner.com" {
			return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
		}
		return nil, errors.New("no such record")
	}
	mbox := "From MAILER-DAEMON Mon Aug  6 00:00:00 2018\n" + strings.ReplaceAll(signed.String(), "\r\n", "\n") +
		"\nFrom MAILER-DAEMON Mon Aug  6 00:00:01 2018\n" + string(readFixture(t, "ovh-de-ipblock.eml"))
	path := filepath.Join(t.TempDir(), "abuse.mbox")
	if err := os.WriteFile(path, []byte(mbox), 0o600); err != nil {
		t.Fatal(err)
	}
	var got []ParsedFile
	err = parseFiles(context.Background(), []string{path}, nil, parser.Options{LookupTXT: dns.LookupTXT}, true, func(f ParsedFile) error {
		got = append(got, f)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("%d mails read from the mbox, want 2", len(got))
	}
	if n := got[0].Notices[0]; n.Authentic != parser.AuthPass || n.Provider != "hetzner" || n.File != path+"#1" {
		t.Errorf("signed mail: %s %s %s, want pass hetzner %s#1", n.Authentic, n.Provider, n.File, path)
	}
	if asked == 0 {
		t.Error("DNS was not asked for the key")
	}
	if n := got[1].Notices[0]; n.Authentic != parser.AuthNone || n.Kind != parser.KindBlock || n.IP != "192.0.2.101" {
		t.Errorf("OVH mail: %s %s %s", n.Authentic, n.Kind, n.IP)
	}
	if len(got[1].Explain) == 0 || got[1].Format != "ovh" {
		t.Errorf("explain %q, format %q", got[1].Explain, got[1].Format)
	}
}
