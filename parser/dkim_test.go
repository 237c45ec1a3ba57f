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
