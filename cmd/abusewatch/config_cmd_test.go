package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// runCLI executes the CLI with args and returns its stdout and error.
func runCLI(t *testing.T, args ...string) (string, error) {
	t.Helper()
	stdout, _, err := cli(t, args...)
	return stdout, err
}

func writeConfigFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "abusewatch.yaml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// The secrets of the example, with values a leak would be easy to spot by.
var exampleSecrets = map[string]string{
	"ABUSE_IMAP_PASSWORD":    "leak-imap-5f1c",
	"OVH_APPLICATION_SECRET": "leak-ovh-secret-9a2e",
	"OVH_CONSUMER_KEY":       "leak-ovh-ck-7b3d",
	"HETZNER_ROBOT_PASSWORD": "leak-robot-4c8a",
	"HCLOUD_TOKEN":           "leak-hcloud-2d6f",
	"ABUSEWATCH_CHAT_URL":    "mattermost://abusewatch@chat.example.net/leak-chat-8e1a/abuse",
	"ABUSE_SMTP_PASSWORD":    "leak-smtp-5c2d",
	"TRIAGE_WEBHOOK_SECRET":  "leak-webhook-3f9b",
}

func TestConfigExamplePassesCheck(t *testing.T) {
	for k, v := range exampleSecrets {
		t.Setenv(k, v)
	}
	example, err := runCLI(t, "config", "example")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(example, "\n#") && !strings.HasPrefix(example, "#") {
		t.Error("the example has no comments")
	}
	// The example's inventory names key and known_hosts files under
	// /etc/abusewatch, which config check opens: give it real ones.
	example = strings.ReplaceAll(example, "/etc/abusewatch/", sshFiles(t)+"/")
	out, err := runCLI(t, "config", "check", writeConfigFile(t, example))
	if err != nil {
		t.Fatalf("the example fails config check: %v", err)
	}
	for _, want := range []string{": ok\n", "mailbox    abuse", "provider   ovh", "provider   hetzner (robot, cloud)", "3 channel(s)", "inventory 2 host(s)"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	for _, secret := range exampleSecrets {
		if strings.Contains(out, secret) {
			t.Errorf("config check printed a secret:\n%s", out)
		}
	}
}

// sshFiles writes an SSH key (id_ed25519) and a known_hosts file into a
// directory and returns it.
func sshFiles(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string][]byte{
		"id_ed25519":  pem.EncodeToMemory(block),
		"known_hosts": []byte(knownhosts.Line([]string{"203.0.113.10"}, sshPub) + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestConfigCheckRejects(t *testing.T) {
	const mailbox = `store:
  path: /tmp/abusewatch-test.db
mailboxes:
  - name: abuse
    host: imap.example.net
    username: abuse@example.net
`
	tests := []struct {
		name     string
		env      map[string]string
		file     string
		want     []string // each must be in the error
		mustHide string   // must not be in the error
	}{
		{
			name: "unknown key, with its line",
			file: mailbox + "    password: hunter2-secret\n    tsl: none\n",
			want: []string{"line 8", "field tsl not found"}, mustHide: "hunter2-secret",
		},
		{
			name: "bad values, each with its key and line",
			file: mailbox + "    password: hunter2-secret\n    tls: none\n    after: delete\nworkers:\n  count: -1\n",
			want: []string{
				`line 8: mailboxes[0] (abuse): tls: none is allowed only to a loopback address`,
				`line 9: mailboxes[0] (abuse): after: "delete" is not one of`,
				`line 11: workers.count: must be at least 1`,
			},
			mustHide: "hunter2-secret",
		},
		{
			name: "missing environment secret",
			file: mailbox + "    password_env: AW_TEST_UNSET_PASSWORD\n",
			want: []string{"line 7: mailboxes[0] (abuse): password: environment variable AW_TEST_UNSET_PASSWORD is not set"},
		},
		{
			name: "chat URL refused by the notifier, token masked",
			file: "notify:\n  - url: mattermost://chat.example.net/tok3n-abcdef/abuse\n  - url: generic://hooks.example.net/tok3n-abcdef?disabletls=maybe\n",
			want: []string{"line 3: notify[1]", "disabletls"}, mustHide: "tok3n-abcdef",
		},
		{
			name: "inventory refused by triage",
			file: "inventory:\n  - name: hv1\n    ips: [203.0.113.10]\n  - name: hv2\n    ips: [203.0.113.10]\n    hypervisor: hv9\n",
			want: []string{"line 4: inventory[1] (hv2): 203.0.113.10 already belongs to hv1", `hypervisor "hv9" is not in the inventory`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfigFile(t, tt.file)
			_, err := runCLI(t, "config", "check", path)
			if err == nil {
				t.Fatal("config check accepted a bad file")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
			if tt.mustHide != "" && strings.Contains(err.Error(), tt.mustHide) {
				t.Errorf("error shows a secret:\n%v", err)
			}
		})
	}
}

func TestConfigCheckNeedsAFile(t *testing.T) {
	if _, err := os.Stat("/etc/abusewatch/abusewatch.yaml"); err == nil {
		t.Skip("this machine has /etc/abusewatch/abusewatch.yaml, which the search path finds")
	}
	t.Setenv("ABUSEWATCH_CONFIG", "")
	t.Chdir(t.TempDir())
	if _, err := runCLI(t, "config", "check"); err == nil || !strings.Contains(err.Error(), "no config file") {
		t.Errorf("config check without any file: %v", err)
	}
}

// TestConfigCompletionIsEnabled keeps cobra's completion command available.
func TestConfigCompletionIsEnabled(t *testing.T) {
	out, err := runCLI(t, "completion", "bash")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "__start_abusewatch") {
		t.Errorf("completion bash printed no bash completion script:\n%.300s", out)
	}
}

// TestConfigCheckCatchesWhatWouldFail: each file holds one problem that
// used to pass `config check` and fail later (issue 15); each is refused
// with its key named, on its line. The last case puts them all in one file,
// and one run reports every one.
func TestConfigCheckCatchesWhatWouldFail(t *testing.T) {
	ssh := sshFiles(t)
	dir := t.TempDir()
	notADir := filepath.Join(dir, "a-file")
	if err := os.WriteFile(notADir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	store := "store:\n  path: " + filepath.Join(dir, "abusewatch.db") + "\n"
	host := func(key, known string) string {
		return "inventory:\n  - name: web1\n    ips: [203.0.113.10]\n    ssh: root@203.0.113.10\n" +
			"    key_file: " + key + "\n    known_hosts_file: " + known + "\n"
	}
	job := func(when string) string {
		return "triage:\n  jobs:\n    - name: ps\n      where: local\n      argv: [ps, aux]\n      when:\n        " + when + "\n"
	}
	mailbox := func(password string) string {
		return "  - name: " + password + "\n    host: imap.example.net\n    username: u\n    password_env: AW_TEST_UNSET_" + password + "\n"
	}
	tests := []struct {
		name string
		file string
		want []string
	}{
		{"missing key_file", store + host(filepath.Join(dir, "no-key"), ssh+"/known_hosts"),
			[]string{"line 7: inventory[0] (web1): key_file: open " + filepath.Join(dir, "no-key")}},
		{"missing known_hosts_file", store + host(ssh+"/id_ed25519", filepath.Join(dir, "no-known-hosts")),
			[]string{"line 8: inventory[0] (web1): known_hosts_file: open " + filepath.Join(dir, "no-known-hosts")}},
		{"template naming no field", store + "notify:\n  - url: generic://127.0.0.1:1/x?disabletls=yes\n    template: \"{{ .NoSuchField }}\"\n",
			[]string{"line 5: notify[0]", "template", "NoSuchField"}},
		{"typo in when.providers", store + job("providers: [ovhh]"),
			[]string{`line 9: triage: jobs[0] (ps): when.providers: "ovhh" not one of ovh, hetzner, generic`}},
		{"typo in when.attacks", store + job("attacks: [ssh_brute]"),
			[]string{`line 9: triage: jobs[0] (ps): when.attacks: "ssh_brute" not one of`}},
		{"typo in when.kinds", store + job("kinds: [blocked]"),
			[]string{`line 9: triage: jobs[0] (ps): when.kinds: "blocked" not one of`}},
		{"negative workers.lease", store + "workers:\n  lease: -5s\n",
			[]string{"line 4: workers.lease: -5s is negative"}},
		{"bad http.listen", store + "http:\n  listen: not-an-addr\n",
			[]string{`line 4: http.listen: "not-an-addr" is not host:port`}},
		{"store directory that cannot exist", "store:\n  path: " + filepath.Join(notADir, "sub", "abusewatch.db") + "\n",
			[]string{"line 2: store.path: ", notADir + " is not a directory"}},
		{"bogus min_severity", store + "notify:\n  - url: generic://127.0.0.1:1/x?disabletls=yes\n    min_severity: bogus\n",
			[]string{`line 5: notify[0]: min_severity: "bogus" is not one of status, complaint, attack, block, rescue`}},
		{"several missing secrets, all at once", store + "mailboxes:\n" + mailbox("one") + mailbox("two"),
			[]string{
				"line 7: mailboxes[0] (one): password: environment variable AW_TEST_UNSET_one is not set",
				"line 11: mailboxes[1] (two): password: environment variable AW_TEST_UNSET_two is not set",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := runCLI(t, "config", "check", writeConfigFile(t, tt.file))
			if err == nil {
				t.Fatal("config check accepted the file")
			}
			for _, want := range tt.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}

	t.Run("every problem of one file in one run", func(t *testing.T) {
		file := "store:\n  path: " + filepath.Join(notADir, "abusewatch.db") + "\n" +
			"workers:\n  lease: -5s\nhttp:\n  listen: not-an-addr\n" +
			"mailboxes:\n" + mailbox("one") + mailbox("two") +
			"notify:\n  - url: generic://127.0.0.1:1/x?disabletls=yes\n    template: \"{{ .NoSuchField }}\"\n" +
			"  - url_env: AW_TEST_UNSET_URL\n    min_severity: bogus\n" +
			job("providers: [ovhh]\n        attacks: [ssh_brute]\n        kinds: [blocked]") +
			host(filepath.Join(dir, "no-key"), filepath.Join(dir, "no-known-hosts"))
		_, err := runCLI(t, "config", "check", writeConfigFile(t, file))
		if err == nil {
			t.Fatal("config check accepted the file")
		}
		for _, want := range []string{
			"store.path: ", "workers.lease: -5s is negative", `http.listen: "not-an-addr"`,
			"mailboxes[0] (one): password: environment variable AW_TEST_UNSET_one",
			"mailboxes[1] (two): password: environment variable AW_TEST_UNSET_two",
			"notify[0]", "NoSuchField", "notify[1]: url: environment variable AW_TEST_UNSET_URL", `min_severity: "bogus"`,
			`when.providers: "ovhh"`, `when.attacks: "ssh_brute"`, `when.kinds: "blocked"`,
			"inventory[0] (web1): key_file: open", "inventory[0] (web1): known_hosts_file: open",
		} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error lacks %q:\n%v", want, err)
			}
		}
	})

	t.Run("clear-text password in a world-readable file warns", func(t *testing.T) {
		path := writeConfigFile(t, store+"mailboxes:\n  - name: abuse\n    host: imap.example.net\n    username: u\n    password: hunter2-secret\n")
		if err := os.Chmod(path, 0o644); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := cli(t, "config", "check", path)
		if err != nil {
			t.Fatalf("a warning refused the file: %v", err)
		}
		if !strings.Contains(out, ": ok") {
			t.Errorf("stdout lacks ok:\n%s", out)
		}
		if want := "warning: line 7: mailboxes[0] (abuse): password: written in clear"; !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
		if strings.Contains(stderr+out, "hunter2-secret") {
			t.Errorf("config check printed the secret:\n%s%s", out, stderr)
		}
		// The same file readable by its owner only says nothing.
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, stderr, err := cli(t, "config", "check", path); err != nil || strings.Contains(stderr, "warning") {
			t.Errorf("mode 0600: err %v, stderr %q", err, stderr)
		}
	})
}
