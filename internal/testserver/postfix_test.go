package testserver

import (
	"crypto/tls"
	"crypto/x509"
	"net/smtp"
	"os"
	"strings"
	"testing"
	"time"
)

// TestPostfixDelivers sends one mail over STARTTLS (verified against the
// test CA) and reads it back from each recipient's Maildir.
func TestPostfixDelivers(t *testing.T) {
	p := StartPostfix(t, "abuse@hetzner.example", "soc@example.org")
	pem, err := os.ReadFile(p.CAFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	c, err := smtp.Dial(p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.StartTLS(&tls.Config{ServerName: p.Host, RootCAs: pool}); err != nil {
		t.Fatalf("starttls: %v", err)
	}
	if err := c.Mail("abuse@example.net"); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"abuse@hetzner.example", "soc@example.org"} {
		if err := c.Rcpt(r); err != nil {
			t.Fatal(err)
		}
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("Subject: probe\r\nMessage-ID: <probe@example.net>\r\n\r\nhello\r\n"))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	c.Quit()
	for _, r := range []string{"abuse@hetzner.example", "soc@example.org"} {
		got := p.Delivered(t, r, 1, 10*time.Second)
		if !strings.Contains(string(got[0]), "Delivered-To: "+r) || !strings.Contains(string(got[0]), "Message-ID: <probe@example.net>") {
			t.Errorf("%s got:\n%s", r, got[0])
		}
	}
}
