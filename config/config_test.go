package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	cfg, err := Parse([]byte(`
mailboxes:
  - name: abuse
    host: imap.example.net
    username: abuse@example.net
    password: secret
`))
	if err != nil {
		t.Fatal(err)
	}
	m := cfg.Mailboxes[0]
	if m.Port != 993 || m.TLS != "tls" || m.Folder != "INBOX" || m.After != "flag" || m.Poll != time.Minute {
		t.Errorf("mailbox defaults = %+v", m)
	}
	if cfg.Store.Path != "/var/lib/abusewatch/abusewatch.db" || cfg.HTTP.Listen != "127.0.0.1:9464" {
		t.Errorf("defaults: store %q, http %q", cfg.Store.Path, cfg.HTTP.Listen)
	}
	if cfg.Parser.MaxMessageBytes != 25<<20 {
		t.Errorf("max_message_bytes default = %d", cfg.Parser.MaxMessageBytes)
	}
}

func TestParseErrors(t *testing.T) {
	t.Setenv("ABUSEWATCH_TEST_EMPTY", "")
	mailbox := func(extra string) string {
		return "mailboxes:\n  - name: abuse\n    host: imap.example.net\n    username: u\n" + extra
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown key with its line", "store:\n  path: /tmp/x.db\n  pth: typo\n", "line 3: field pth not found"},
		{"plaintext to a remote host", mailbox("    password: p\n    tls: none\n"), "only to a loopback address"},
		{"unknown tls mode", mailbox("    password: p\n    tls: ssl\n"), `"ssl" is not one of`},
		{"move without folder", mailbox("    password: p\n    after: 'move:'\n"), "needs a folder"},
		{"unknown after", mailbox("    password: p\n    after: delete\n"), `"delete" is not one of`},
		{"no password", mailbox(""), "set password, password_env"},
		{"two password sources", mailbox("    password: p\n    password_env: X\n"), "set only one"},
		{"missing environment secret", mailbox("    password_env: ABUSEWATCH_TEST_UNSET_VAR\n"), "ABUSEWATCH_TEST_UNSET_VAR is not set"},
		{"empty environment secret", mailbox("    password_env: ABUSEWATCH_TEST_EMPTY\n"), "ABUSEWATCH_TEST_EMPTY is not set"},
		{"duplicate mailbox", mailbox("    password: p\n") + "  - name: abuse\n    host: h\n    username: u\n    password: p\n", "duplicate name"},
		{"bad inventory ip", "inventory:\n  - name: hv1\n    ips: [not-an-ip]\n", `"not-an-ip" is not an IP address`},
		{"channel without url", "notify:\n  - min_severity: block\n", "url: required"},
		{"two unnamed channels with one url", "notify:\n  - url: generic://h/x\n  - url: generic://h/x\n    min_severity: block\n", "notify[1]: same name or url as notify[0]"},
		{"two channels with one name", "notify:\n  - name: ops\n    url: generic://h/x\n  - name: ops\n    url: generic://h/y\n", "notify[1]: same name or url as notify[0]"},
		{"keep limit below the parse limit", "parser:\n  max_message_bytes: 2000000\n  keep_message_bytes: 1000000\n", "keep_message_bytes (1000000) is below max_message_bytes (2000000)"},
		{"dashboard off loopback without a token", "http:\n  listen: 0.0.0.0:9464\n", `listen "0.0.0.0:9464" is not a loopback address: set auth_token_env`},
		{"dashboard on every interface without a token", "http:\n  listen: ':9464'\n", "is not a loopback address"},
		{"dashboard token variable unset", "http:\n  listen: 0.0.0.0:9464\n  auth_token_env: ABUSEWATCH_TEST_UNSET_VAR\n", "http: auth token: environment variable ABUSEWATCH_TEST_UNSET_VAR is not set"},
		{"public url with credentials", "http:\n  public_url: https://u:p@dash.example.net\n", "want an http(s) URL without credentials"},
		{"public url not http", "http:\n  public_url: javascript:alert(1)\n", "want an http(s) URL"},
		{"smtp without host", "smtp:\n  from: a@example.net\n", "smtp: host: required"},
		{"smtp plain mode", "smtp:\n  host: h\n  from: a@example.net\n  tls: none\n", `tls: "none" is not one of starttls, tls`},
		{"smtp from with a name", "smtp:\n  host: h\n  from: 'Abuse <a@example.net>'\n", "is not a bare mail address"},
		{"smtp password without user", "smtp:\n  host: h\n  from: a@example.net\n  password: p\n", "username: required with a password"},
		{"smtp user without password", "smtp:\n  host: h\n  from: a@example.net\n  username: u\n", "smtp: password: set password"},
		{"smtp missing environment secret", "smtp:\n  host: h\n  from: a@example.net\n  username: u\n  password_env: ABUSEWATCH_TEST_UNSET_VAR\n", "smtp: password: environment variable ABUSEWATCH_TEST_UNSET_VAR is not set"},
		{"channel name with a colon", "notify:\n  - name: 'ops:team'\n    url: generic://h/x\n", `name "ops:team": use at most 64 letters`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSecretsFromEnvAndFile(t *testing.T) {
	t.Setenv("ABUSEWATCH_TEST_ROBOT", "robot-pass")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("cloud-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse([]byte(`
providers:
  hetzner:
    robot_user: "#ws+abc"
    robot_password_env: ABUSEWATCH_TEST_ROBOT
    cloud_token_file: ` + file + `
`))
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Providers.Hetzner
	if h.RobotPassword != "robot-pass" || h.CloudToken != "cloud-token" {
		t.Errorf("secrets: robot %q, cloud %q", h.RobotPassword, h.CloudToken)
	}
	if h.RobotEndpoint != "https://robot-ws.your-server.de" || h.CloudEndpoint != "https://api.hetzner.cloud/v1" {
		t.Errorf("endpoints: %q %q", h.RobotEndpoint, h.CloudEndpoint)
	}
}

func TestChannelURLErrorHidesToken(t *testing.T) {
	_, err := Parse([]byte("notify:\n  - url: \"slack://xoxb-SECRET-TOKEN@%zz\"\n"))
	if err == nil {
		t.Fatal("want an error for a malformed URL")
	}
	if strings.Contains(err.Error(), "SECRET") {
		t.Errorf("error leaks the token: %v", err)
	}
}

func TestFind(t *testing.T) {
	t.Setenv("ABUSEWATCH_CONFIG", "/from/env.yaml")
	if got := Find("/explicit.yaml"); got != "/explicit.yaml" {
		t.Errorf("explicit: %q", got)
	}
	if got := Find(""); got != "/from/env.yaml" {
		t.Errorf("env: %q", got)
	}
}

func TestHTTPAuthToken(t *testing.T) {
	t.Setenv("ABUSEWATCH_TEST_HTTP_TOKEN", "s3cret-token")
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("file-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml, want string
	}{
		{"from the environment", "http:\n  listen: 0.0.0.0:9464\n  auth_token_env: ABUSEWATCH_TEST_HTTP_TOKEN\n", "s3cret-token"},
		{"from a file", "http:\n  listen: '[::]:9464'\n  auth_token_file: " + file + "\n", "file-token"},
		{"none needed on loopback", "http:\n  listen: 127.0.0.1:9464\n  public_url: https://abusewatch.example.net/\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HTTP.AuthToken != tt.want {
				t.Errorf("token = %q, want %q", cfg.HTTP.AuthToken, tt.want)
			}
		})
	}
}

// TestSMTPDefaultsAndSecret: the port follows the TLS mode, and the
// password comes from its file.
func TestSMTPDefaultsAndSecret(t *testing.T) {
	file := filepath.Join(t.TempDir(), "smtp-password")
	if err := os.WriteFile(file, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		yaml     string
		tls      string
		port     int
		password string
	}{
		{"smtp:\n  host: h\n  from: a@example.net\n", "starttls", 587, ""},
		{"smtp:\n  host: h\n  from: a@example.net\n  tls: tls\n  username: u\n  password_file: " + file + "\n", "tls", 465, "s3cret"},
	}
	for _, tt := range tests {
		cfg, err := Parse([]byte(tt.yaml))
		if err != nil {
			t.Fatal(err)
		}
		if s := cfg.SMTP; s.TLS != tt.tls || s.Port != tt.port || s.Password != tt.password || s.Timeout != 30*time.Second {
			t.Errorf("%q: smtp = %+v", tt.yaml, *s)
		}
	}
}
