package statement

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
)

// TestMailerSubmitsWithSASL: the mailer logs in (PLAIN, inside STARTTLS)
// to a real Postfix that requires it; a wrong password is refused with an
// error that does not hold it, and nothing is delivered for it.
func TestMailerSubmitsWithSASL(t *testing.T) {
	const user, password = "abuse@example.net", "sm7p-Pa55-w0rd"
	mta := testserver.StartPostfixSASL(t, user, password, "network-abuse@hetzner.com")
	msg := func(id string) []byte {
		m := Mail{From: user, To: []string{"network-abuse@hetzner.com"}, Subject: "Re: Abuse Message [AbuseID:1:2]: x",
			MessageID: id, Date: time.Now(), Body: "statement\n"}
		b, err := m.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	tests := []struct {
		name, username, password string
		wantErr                  string
	}{
		{"wrong password", user, "not-the-" + password, "login as " + user},
		{"no login", "", "", "smtp"},
		{"right password", user, password, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			m, err := NewMailer(config.SMTP{Host: mta.Host, Port: mta.Port, TLS: "starttls", Username: tt.username, Password: tt.password,
				From: user, CAFile: mta.CAFile, Timeout: 20 * time.Second}, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatal(err)
			}
			err = m.Send(t.Context(), []string{"network-abuse@hetzner.com"}, msg(strings.ReplaceAll(tt.name, " ", "-")+"@example.net"))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("send: %v\n%s", err, mta.Log())
				}
			} else if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if err != nil && tt.password != "" && strings.Contains(err.Error(), tt.password) {
				t.Errorf("the error shows the password: %v", err)
			}
			if strings.Contains(logs.String(), password) {
				t.Errorf("the log shows the password: %s", logs.String())
			}
		})
	}
	mta.Delivered(t, "network-abuse@hetzner.com", 1, 20*time.Second)
	time.Sleep(300 * time.Millisecond)
	got := mta.Delivered(t, "network-abuse@hetzner.com", 1, time.Second)
	if len(got) != 1 || !bytes.Contains(got[0], []byte("<right-password@example.net>")) {
		t.Errorf("%d mails delivered, want only the one sent with the right password", len(got))
	}
}

// TestMailerRefusesAnUntrustedServer: without the test CA, the server's
// certificate does not verify and nothing is sent.
func TestMailerRefusesAnUntrustedServer(t *testing.T) {
	mta := testserver.StartPostfix(t, "network-abuse@hetzner.com")
	m, err := NewMailer(config.SMTP{Host: mta.Host, Port: mta.Port, TLS: "starttls", From: "abuse@example.net", Timeout: 10 * time.Second},
		slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(t.Context(), []string{"network-abuse@hetzner.com"}, []byte("Subject: x\r\n\r\nx\r\n")); err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Errorf("err = %v, want a certificate error", err)
	}
}
