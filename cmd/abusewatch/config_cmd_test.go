package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
