package mailbox

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-sasl"
)

// selfSigned returns a server certificate for 127.0.0.1 that no system
// trusts.
func selfSigned(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

func TestTransport(t *testing.T) {
	certs := selfSigned(t)
	tests := []struct {
		name       string
		server     memServerOptions
		tls        string
		skipVerify bool
		wantErr    string
	}{
		{name: "plaintext to loopback", server: memServerOptions{caps: capsRev1}, tls: "none"},
		// Without TLS these servers refuse to authenticate: success proves it.
		{name: "STARTTLS", server: memServerOptions{caps: capsRev1, starttls: certs}, tls: "starttls", skipVerify: true},
		{name: "implicit TLS", server: memServerOptions{caps: capsRev1, implicitTLS: certs}, tls: "tls", skipVerify: true},
		{name: "untrusted certificate", server: memServerOptions{caps: capsRev1, implicitTLS: certs}, tls: "tls", wantErr: "certificate"},
		{name: "STARTTLS not offered", server: memServerOptions{caps: capsRev1}, tls: "starttls", skipVerify: true, wantErr: "starttls: imap: NO STARTTLS not supported"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMemServerWith(t, tt.server)
			srv.user.Append("INBOX", bytes.NewReader(mail(1)), &imap.AppendOptions{})
			cfg := mailboxConfig(srv.Addr, "none")
			cfg.TLS, cfg.InsecureSkipVerify = tt.tls, tt.skipVerify
			sink := newMemSink()
			err := New(cfg, sink, Options{Logger: testLogger(t)}).Drain(context.Background())
			if tt.wantErr != "" {
				t.Logf("Drain: %v", err)
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Drain error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if n := sink.count(); n != 1 {
				t.Errorf("%d delivered, want 1", n)
			}
		})
	}
}

// oauthSession accepts XOAUTH2 with one token and nothing else.
type oauthSession struct {
	*imapmemserver.UserSession // nil until authenticated
	user                       *imapmemserver.User
	token                      string
}

func (s *oauthSession) Login(string, string) error { return imapserver.ErrAuthFailed }

func (s *oauthSession) AuthenticateMechanisms() []string { return []string{"XOAUTH2"} }

func (s *oauthSession) Authenticate(mech string) (sasl.Server, error) {
	return xoauth2Server(func(user, token string) error {
		if user != "abuse@example.net" || token != s.token {
			return imapserver.ErrAuthFailed
		}
		s.UserSession = imapmemserver.NewUserSession(s.user)
		return nil
	}), nil
}

type xoauth2Server func(user, token string) error

func (f xoauth2Server) Next(resp []byte) ([]byte, bool, error) {
	var user, token string
	for _, kv := range strings.Split(string(resp), "\x01") {
		if v, ok := strings.CutPrefix(kv, "user="); ok {
			user = v
		}
		if v, ok := strings.CutPrefix(kv, "auth=Bearer "); ok {
			token = v
		}
	}
	if user == "" || token == "" {
		return nil, true, errors.New("malformed XOAUTH2 response")
	}
	return nil, true, f(user, token)
}

func TestXOAUTH2TokenFile(t *testing.T) {
	tests := []struct {
		name, token string
		wantErr     bool
	}{
		{"valid token", "ya29.valid", false},
		{"expired token", "ya29.expired", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMemServerWith(t, memServerOptions{caps: capsRev1, session: func(u *imapmemserver.User) imapserver.Session {
				return &oauthSession{user: u, token: "ya29.valid"}
			}})
			srv.user.Append("INBOX", bytes.NewReader(mail(1)), &imap.AppendOptions{})
			tokenFile := filepath.Join(t.TempDir(), "token")
			if err := os.WriteFile(tokenFile, []byte(tt.token+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			cfg := mailboxConfig(srv.Addr, "none")
			cfg.Password, cfg.TokenFile = "", tokenFile
			sink := newMemSink()
			err := New(cfg, sink, Options{Logger: testLogger(t)}).Drain(context.Background())
			if (err != nil) != tt.wantErr {
				t.Fatalf("Drain error %v, want error: %v", err, tt.wantErr)
			}
			t.Logf("Drain: %v", err)
			if err != nil && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error %q contains the token", err)
			}
			if want := map[bool]int{false: 1, true: 0}[tt.wantErr]; sink.count() != want {
				t.Errorf("%d delivered, want %d", sink.count(), want)
			}
		})
	}
}
