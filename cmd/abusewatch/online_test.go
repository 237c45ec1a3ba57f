package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

// TestConfigCheckOnline: --online tries each mailbox and provider API once
// and says which credentials work. A wrong Robot password costs exactly one
// failed login, and the other APIs are still tried.
func TestConfigCheckOnline(t *testing.T) {
	d := testserver.StartDovecot(t)
	o, r, c := ovhtest.New(t), robottest.New(t), cloudtest.New(t)
	file := func(imapPassword, robotPassword string) string {
		return writeConfigFile(t, fmt.Sprintf(`store:
  path: %s
mailboxes:
  - name: abuse
    host: 127.0.0.1
    port: %d
    tls: none
    username: %s
    password: %s
providers:
  ovh:
    endpoint: %s
    application_key: %s
    application_secret: %s
    consumer_key: %s
  hetzner:
    robot_endpoint: %s
    robot_user: "%s"
    robot_password: %s
    cloud_endpoint: %s
    cloud_token: %s
`, filepath.Join(t.TempDir(), "abusewatch.db"), d.Port, d.Username, imapPassword,
			o.URL(), ovhtest.AppKey, ovhtest.AppSecret, ovhtest.ConsumerKey,
			r.URL(), robottest.User, robotPassword, c.URL(), cloudtest.Token))
	}

	out, err := runCLI(t, "config", "check", "--online", file(d.Password, robottest.Password))
	if err != nil {
		t.Fatalf("every credential is right: %v\n%s", err, out)
	}
	for _, what := range []string{"mailbox abuse", "provider ovh", "provider hetzner robot", "provider hetzner cloud"} {
		if !strings.Contains(out, fmt.Sprintf("  %-24s ok\n", what)) {
			t.Errorf("output lacks %q ok:\n%s", what, out)
		}
	}

	before := r.FailedLogins()
	out, err = runCLI(t, "config", "check", "--online", file("wrong-imap-8c1f", "wrong-robot-5d2e"))
	if err == nil || !strings.Contains(err.Error(), "2 of 4 credential checks failed") {
		t.Errorf("two wrong passwords: err = %v", err)
	}
	for _, want := range []string{"mailbox abuse", "provider hetzner robot"} {
		if !strings.Contains(out, fmt.Sprintf("  %-24s FAILED: ", want)) {
			t.Errorf("output does not say %s failed:\n%s", want, out)
		}
	}
	for _, want := range []string{"provider ovh", "provider hetzner cloud"} {
		if !strings.Contains(out, fmt.Sprintf("  %-24s ok\n", want)) {
			t.Errorf("output lacks %q ok beside the failures:\n%s", want, out)
		}
	}
	if got := r.FailedLogins() - before; got != 1 {
		t.Errorf("a wrong Robot password made %d failed logins, want exactly 1", got)
	}
	for _, secret := range []string{"wrong-imap-8c1f", "wrong-robot-5d2e", ovhtest.AppSecret, cloudtest.Token} {
		if strings.Contains(out, secret) {
			t.Errorf("config check --online printed a secret:\n%s", out)
		}
	}
}
