package parser

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/emersion/go-msgauth/dkim"
)

const hetznerScan = "From: Hetzner Network <network-abuse@hetzner.com>\r\n" +
	"To: ops@example.net\r\n" +
	"Subject: Abuse Message [AbuseID:518908:22]: NetscanOutLevel: Netscan detected from 138.201.172.5 [Network-Normal]\r\n" +
	"X-Hetzner-AbuseID: 518908:22\r\n" +
	"Message-ID: <dkim-test@hetzner.com>\r\n" +
	"Date: Tue, 07 Aug 2018 11:31:04 +0200\r\n" +
	"\r\n" +
	"We have detected that your server is scanning other networks.\r\n"

// signedMail signs raw as domain with a fresh key and returns the mail and a
// TXT lookup that publishes the key, as DNS would.
func signedMail(t *testing.T, raw, domain string) ([]byte, func(string) ([]string, error)) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	err = dkim.Sign(&out, strings.NewReader(raw), &dkim.SignOptions{
		Domain: domain, Selector: "s1", Signer: priv,
		HeaderKeys: []string{"From", "Subject", "Date", "Message-ID", "X-Hetzner-AbuseID"},
	})
	if err != nil {
		t.Fatal(err)
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	lookup := func(name string) ([]string, error) {
		if name == "s1._domainkey."+domain {
			return []string{record}, nil
		}
		return nil, errors.New("no such record")
	}
	return out.Bytes(), lookup
}

func TestAuthenticity(t *testing.T) {
	goodHetzner, lookupHetzner := signedMail(t, hetznerScan, "hetzner.com")
	attacker, lookupAttacker := signedMail(t, hetznerScan, "evil.example")
	tampered := bytes.Replace(goodHetzner, []byte("scanning other"), []byte("scanning nothing"), 1)

	tests := []struct {
		name string
		raw  []byte
		opts Options
		want Authenticity
	}{
		{"valid provider signature", goodHetzner, Options{LookupTXT: lookupHetzner}, AuthPass},
		{"body changed after signing", tampered, Options{LookupTXT: lookupHetzner}, AuthFail},
		{"signature of another domain only", attacker, Options{LookupTXT: lookupAttacker}, AuthNone},
		{"unsigned", []byte(hetznerScan), Options{LookupTXT: lookupHetzner}, AuthNone},
		{"no lookup configured", goodHetzner, Options{}, AuthNone},
		{"key not published (temporary failure)", goodHetzner, Options{LookupTXT: func(string) ([]string, error) {
			return nil, &net.DNSError{Err: "timeout", IsTimeout: true, IsTemporary: true}
		}}, AuthNone},
		{"trusted Authentication-Results pass", []byte("Authentication-Results: mx.example.net; dkim=pass (good signature) header.d=hetzner.com\r\n" + hetznerScan),
			Options{TrustAuthservID: "mx.example.net"}, AuthPass},
		{"Authentication-Results of another server ignored", []byte("Authentication-Results: mx.evil.example; dkim=pass header.d=hetzner.com\r\n" + hetznerScan),
			Options{TrustAuthservID: "mx.example.net"}, AuthNone},
		{"trusted Authentication-Results fail", []byte("Authentication-Results: mx.example.net; dkim=fail header.d=hetzner.com\r\n" + hetznerScan),
			Options{TrustAuthservID: "mx.example.net"}, AuthFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse(tt.raw, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Authentic != tt.want {
				t.Errorf("Authentic = %q, want %q", res.Authentic, tt.want)
			}
			for _, n := range res.Notices {
				if n.Authentic != tt.want {
					t.Errorf("notice Authentic = %q, want %q", n.Authentic, tt.want)
				}
			}
		})
	}
}

// TestForgedAuthenticationResults: only the topmost field of our MTA counts,
// and its fail wins over any pass the mail brought along.
func TestForgedAuthenticationResults(t *testing.T) {
	opts := Options{TrustAuthservID: "mx.example.net"}
	tests := []struct {
		name   string
		fields []string
		want   Authenticity
	}{
		{"MTA fail above an injected pass", []string{
			"mx.example.net; dkim=fail (bad signature) header.d=hetzner.com",
			"mx.example.net; dkim=pass header.d=hetzner.com"}, AuthFail},
		{"injected fail below the MTA's pass still wins", []string{
			"mx.example.net; dkim=pass header.d=hetzner.com",
			"mx.example.net; dkim=fail header.d=hetzner.com"}, AuthFail},
		{"MTA checked nothing, a pass injected below", []string{
			"mx.example.net; spf=pass smtp.mailfrom=hetzner.com",
			"mx.example.net; dkim=pass header.d=hetzner.com"}, AuthNone},
		{"MTA pass above an unrelated server's field", []string{
			"mx.example.net; dkim=pass header.d=hetzner.com",
			"mx.evil.example; dkim=fail header.d=hetzner.com"}, AuthPass},
		{"MTA temperror vouches for nothing", []string{
			"mx.example.net; dkim=temperror header.d=hetzner.com"}, AuthNone},
		{"MTA permerror is no pass", []string{
			"mx.example.net; dkim=permerror header.d=hetzner.com"}, AuthFail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw strings.Builder
			for _, f := range tt.fields {
				raw.WriteString("Authentication-Results: " + f + "\r\n")
			}
			raw.WriteString(hetznerScan)
			res, err := Parse([]byte(raw.String()), opts)
			if err != nil {
				t.Fatal(err)
			}
			if res.Authentic != tt.want {
				t.Errorf("Authentic = %q, want %q", res.Authentic, tt.want)
			}
		})
	}
}

const strangerARF = "From: Abuse Desk <abuse@attacker.example>\r\n" +
	"To: abuse@example.net\r\n" +
	"Subject: abuse report\r\n" +
	"Date: Tue, 14 May 2024 10:00:00 +0000\r\n" +
	"Message-ID: <arf-stranger@attacker.example>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\r\n" +
	"\r\n" +
	"--b\r\nContent-Type: text/plain\r\n\r\nA report.\r\n" +
	"--b\r\nContent-Type: message/feedback-report\r\n\r\n" +
	"Feedback-Type: abuse\r\nUser-Agent: x/1\r\nVersion: 1\r\nSource-IP: 51.91.10.20\r\n" +
	"--b--\r\n"

const strangerXARF = "From: abuse@attacker.example\r\n" +
	"To: abuse@example.net\r\n" +
	"Subject: abuse report about 51.91.10.20 - login-attack\r\n" +
	"Date: Mon, 03 Feb 2014 02:20:00 +0100\r\n" +
	"Message-ID: <xarf-stranger@attacker.example>\r\n" +
	"X-XARF: PLAIN\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: multipart/mixed; boundary=\"x\"\r\n" +
	"\r\n" +
	"--x\r\nContent-Type: text/plain\r\n\r\nA report.\r\n" +
	"--x\r\nContent-Type: text/plain; name=\"report.txt\"\r\n\r\n" +
	"---\r\nReported-From: abuse@attacker.example\r\nCategory: abuse\r\nReport-Type: login-attack\r\n" +
	"Date: Feb  3 2014 02:13:35 +0100\r\nSource: 51.91.10.20\r\nSource-Type: ipv4\r\n" +
	"--x--\r\n"

// TestTrust: a genuine DKIM signature of a stranger's own domain makes its
// report authentic, never trusted; the provider's and the listed reporters'
// signatures are.
func TestTrust(t *testing.T) {
	hetzner, lookupHetzner := signedMail(t, hetznerScan, "hetzner.com")
	arf, lookupARF := signedMail(t, strangerARF, "attacker.example")
	xarf, lookupXARF := signedMail(t, strangerXARF, "attacker.example")
	tests := []struct {
		name      string
		raw       []byte
		lookup    func(string) ([]string, error)
		reporters []string
		want      string
	}{
		{"provider's own signature", hetzner, lookupHetzner, nil, "dkim:hetzner"},
		{"stranger-signed ARF", arf, lookupARF, nil, ""},
		{"stranger-signed X-ARF", xarf, lookupXARF, []string{"reports.example.org"}, ""},
		{"listed reporter's ARF", arf, lookupARF, []string{"attacker.example"}, "dkim:attacker.example"},
		{"listed parent domain's X-ARF", xarf, lookupXARF, []string{"example"}, "dkim:attacker.example"},
		{"listed reporter, unsigned", []byte(strangerARF), lookupARF, []string{"attacker.example"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse(tt.raw, Options{LookupTXT: tt.lookup})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Notices) == 0 {
				t.Fatalf("no notice: %s", res.Reason)
			}
			if signed := bytes.HasPrefix(tt.raw, []byte("DKIM-Signature:")); signed && res.Authentic != AuthPass {
				t.Fatalf("Authentic = %q, want pass (the signature is genuine)", res.Authentic)
			}
			for _, n := range res.Notices {
				if got := Trust(n, res.From, tt.reporters); got != tt.want {
					t.Errorf("Trust = %q, want %q", got, tt.want)
				}
			}
		})
	}
}
