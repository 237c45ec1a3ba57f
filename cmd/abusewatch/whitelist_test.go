package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/store"
)

const cliServer = "51.91.10.20"

// cliEnv is a config file naming an OVH emulator and a store in a temp dir.
type cliEnv struct {
	cfg, db string
	emu     *ovhtest.Server
}

func newCLIEnv(t *testing.T) *cliEnv {
	t.Helper()
	emu := ovhtest.New(t)
	emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns1.ip-51-91-10.eu"})
	emu.SetFirewall(cliServer, true, ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"})
	dir := t.TempDir()
	e := &cliEnv{cfg: filepath.Join(dir, "abusewatch.yaml"), db: filepath.Join(dir, "abusewatch.db"), emu: emu}
	yaml := fmt.Sprintf(`store:
  path: %s
providers:
  ovh:
    endpoint: %s
    application_key: %s
    application_secret: %s
    consumer_key: %s
`, e.db, emu.URL(), ovhtest.AppKey, ovhtest.AppSecret, ovhtest.ConsumerKey)
	if err := os.WriteFile(e.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SSH_CLIENT", "")
	return e
}

// run executes the CLI with stdin and returns what it printed.
func (e *cliEnv) run(t *testing.T, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(append([]string{"--config", e.cfg, "--log-level", "error"}, args...))
	err = root.ExecuteContext(context.Background())
	return out.String(), errOut.String(), err
}

func (e *cliEnv) firewall() string {
	exists, enabled, rules := e.emu.Firewall(cliServer)
	return fmt.Sprint(exists, enabled, rules)
}

// TestWhitelistCLIRefuses: sources that must never be let in, and durations
// out of bounds, are refused with the reason before any provider call.
func TestWhitelistCLIRefuses(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"the whole IPv4 internet", []string{"--source", "0.0.0.0/0"}, "source 0.0.0.0/0 is too wide: whitelist one address or at most a /24"},
		{"the whole IPv6 internet", []string{"--source", "::/0"}, "source ::/0 is too wide: whitelist one address or at most a /48"},
		{"wider than /24", []string{"--source", "203.0.112.0/23"}, "too wide"},
		{"RFC 1918", []string{"--source", "10.20.30.40"}, "source 10.20.30.40/32 is a private address"},
		{"RFC 1918 prefix", []string{"--source", "192.168.1.0/24"}, "is a private address"},
		{"ULA", []string{"--source", "fd12:3456::1"}, "is a private address"},
		{"loopback", []string{"--source", "127.0.0.1"}, "is a loopback address"},
		{"link-local", []string{"--source", "169.254.0.9"}, "is a link-local address"},
		{"not an address", []string{"--source", "office"}, `source "office" is not an IP address or prefix`},
		{"longer than 24h", []string{"--source", "203.0.113.7", "--for", "25h"}, "longer than 24h0m0s; pass --force"},
		{"no source outside SSH", nil, "--source is required"},
		{"IPv6 source for an IPv4 server", []string{"--source", "2001:db8::7"}, "not of the same IP family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCLIEnv(t)
			_, _, err := e.run(t, "", append([]string{"whitelist", cliServer}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
			if reqs := e.emu.Requests(); len(reqs) != 0 {
				t.Fatalf("a refused grant reached the provider: %v", reqs)
			}
			if _, err := os.Stat(e.db); !os.IsNotExist(err) {
				t.Fatalf("a refused grant opened the store (%v)", err)
			}
		})
	}
}

// TestWhitelistCLIFlow: grant, list (the DESIGN.md JSON shape), revoke, and
// the warning when no daemon will revoke on time.
func TestWhitelistCLIFlow(t *testing.T) {
	e := newCLIEnv(t)
	before := e.firewall()
	t.Setenv("SUDO_USER", "alice")

	out, errOut, err := e.run(t, "", "whitelist", cliServer, "--source", "203.0.113.7", "--reason", "sshd down")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "grant 1: 203.0.113.7/32 may reach 51.91.10.20 (ovh) until ") || !strings.Contains(out, "(2h0m0s)") ||
		!strings.Contains(out, "abusewatch whitelist revoke 1") {
		t.Fatalf("stdout = %q", out)
	}
	if !strings.Contains(errOut, "no abusewatch daemon is running") {
		t.Fatalf("stderr = %q, want the no-daemon warning", errOut)
	}
	if e.firewall() == before {
		t.Fatal("the grant did not change the firewall")
	}

	list := func() []map[string]any {
		t.Helper()
		out, _, err := e.run(t, "", "whitelist", "list", "--json")
		if err != nil {
			t.Fatal(err)
		}
		var got []map[string]any
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("list --json: %v\n%s", err, out)
		}
		return got
	}
	got := list()
	if len(got) != 1 {
		t.Fatalf("list = %v", got)
	}
	keys := make([]string, 0, len(got[0]))
	for k := range got[0] {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"expires_at", "id", "ip", "provider", "revoked_at", "source", "status"}; !slices.Equal(keys, want) {
		t.Fatalf("JSON keys = %v, want exactly %v", keys, want)
	}
	g := got[0]
	expires, err := time.Parse(time.RFC3339, fmt.Sprint(g["expires_at"]))
	if g["id"] != 1.0 || g["provider"] != "ovh" || g["ip"] != cliServer || g["source"] != "203.0.113.7/32" ||
		g["status"] != "active" || g["revoked_at"] != nil || err != nil || expires.Location() != time.UTC {
		t.Fatalf("grant JSON = %v (expires_at: %v)", g, err)
	}

	out, _, err = e.run(t, "", "whitelist", "list")
	if err != nil || !strings.Contains(out, "alice") || !strings.Contains(out, "sshd down") || !strings.Contains(out, "active") {
		t.Fatalf("list = %q, %v", out, err)
	}

	out, _, err = e.run(t, "", "whitelist", "revoke", "1")
	if err != nil || out != "grant 1 revoked: 203.0.113.7/32 no longer reaches 51.91.10.20\n" {
		t.Fatalf("revoke = %q, %v", out, err)
	}
	if e.firewall() != before {
		t.Fatalf("after revoke the firewall is %s, want %s", e.firewall(), before)
	}
	g = list()[0]
	if _, err := time.Parse(time.RFC3339, fmt.Sprint(g["revoked_at"])); g["status"] != "revoked" || err != nil {
		t.Fatalf("revoked grant JSON = %v", g)
	}
	if _, _, err := e.run(t, "", "whitelist", "revoke", "1"); err == nil || !strings.Contains(err.Error(), "grant 1 is revoked already") {
		t.Fatalf("second revoke: %v", err)
	}

	// With a daemon holding the lock, no warning.
	release, err := pipeline.HoldDaemonLock(pipeline.DaemonLockPath(e.db))
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	_, errOut, err = e.run(t, "", "whitelist", cliServer, "--source", "203.0.113.7", "--for", "30m")
	if err != nil || strings.Contains(errOut, "warning") {
		t.Fatalf("grant with a daemon: %v, stderr %q", err, errOut)
	}
}

// TestWhitelistCLISSHClient: without --source in an SSH session the client
// address is offered and used only once confirmed.
func TestWhitelistCLISSHClient(t *testing.T) {
	tests := []struct {
		name, sshClient, stdin string
		args                   []string
		wantSource, wantErr    string
	}{
		{"confirmed", "203.0.113.9 52100 22", "y\n", nil, "203.0.113.9/32", ""},
		{"confirmed, long answer", "203.0.113.9 52100 22", "yes\n", nil, "203.0.113.9/32", ""},
		{"IPv6 session to an IPv4 server", "2001:db8::9 52100 22", "", []string{"--yes"}, "", "not of the same IP family"},
		{"--yes", "203.0.113.9 52100 22", "", []string{"--yes"}, "203.0.113.9/32", ""},
		{"declined", "203.0.113.9 52100 22", "n\n", nil, "", "not confirmed"},
		{"no answer", "203.0.113.9 52100 22", "", nil, "", "not confirmed"},
		{"private client", "10.0.0.2 52100 22", "", []string{"--yes"}, "", "is a private address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newCLIEnv(t)
			t.Setenv("SSH_CLIENT", tt.sshClient)
			_, errOut, err := e.run(t, tt.stdin, append([]string{"whitelist", cliServer}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if reqs := e.emu.Requests(); len(reqs) != 0 {
					t.Fatalf("provider called: %v", reqs)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.stdin != "" && !strings.Contains(errOut, "(your SSH client address) reach 51.91.10.20 for 2h0m0s? [y/N]") {
				t.Fatalf("prompt = %q", errOut)
			}
			st, err := store.Open(context.Background(), e.db)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			grants, err := st.Grants(context.Background())
			if err != nil || len(grants) != 1 || grants[0].Source != tt.wantSource || grants[0].Status != "active" {
				t.Fatalf("grants = %+v, %v", grants, err)
			}
		})
	}
}

// TestWhitelistCLIExpire: `whitelist expire` (the cron job where no daemon
// runs) revokes what is overdue and leaves the rest.
func TestWhitelistCLIExpire(t *testing.T) {
	e := newCLIEnv(t)
	before := e.firewall()
	for _, src := range []string{"203.0.113.7", "203.0.113.8"} {
		if _, _, err := e.run(t, "", "whitelist", cliServer, "--source", src); err != nil {
			t.Fatal(err)
		}
	}
	// Grant 1 ran out two hours ago.
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	g, err := st.GrantByID(context.Background(), 1)
	if err != nil {
		t.Fatal(err)
	}
	g.ExpiresAt = time.Now().Add(-2 * time.Hour)
	if err := st.UpdateGrant(context.Background(), *g); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, _, err := e.run(t, "", "whitelist", "expire")
	if err != nil || out != "expired 1 grants, marked 0 interrupted grants failed, removed 0 orphan rules\n" {
		t.Fatalf("expire = %q, %v", out, err)
	}
	out, _, err = e.run(t, "", "whitelist", "list")
	if err != nil || !strings.Contains(out, "expired") || !strings.Contains(out, "active") {
		t.Fatalf("list = %q, %v", out, err)
	}
	if _, _, err := e.run(t, "", "whitelist", "revoke", "2"); err != nil {
		t.Fatal(err)
	}
	// Nothing left to expire: the counts as JSON, as the README lists.
	out, _, err = e.run(t, "", "whitelist", "expire", "--json")
	if err != nil || strings.Join(strings.Fields(out), "") != `{"expired":0,"failed":0,"orphans":0}` {
		t.Fatalf("expire --json = %q, %v", out, err)
	}
	if e.firewall() != before {
		t.Fatalf("firewall = %s, want %s", e.firewall(), before)
	}
}
