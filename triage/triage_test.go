package triage

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
)

// testTarget is a valid target: incident 42 about 192.0.2.7 on web1.
func testTarget() Target {
	return Target{
		IncidentID: 42,
		IP:         netip.MustParseAddr("192.0.2.7"),
		Provider:   "ovh",
		Kind:       "block",
		Attack:     "ntp_amplification",
		Severity:   4,
		Host:       &config.Host{Name: "web1"},
	}
}

func assertNoFile(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err == nil {
		t.Fatalf("%s exists: a value reached a shell", path)
	}
}

func TestValidateTarget(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	tests := []struct {
		name   string
		modify func(*Target)
		want   string // "" = valid
	}{
		{"valid", func(*Target) {}, ""},
		{"valid ipv6 and hypervisor", func(t *Target) {
			t.IP = netip.MustParseAddr("2001:db8::7")
			t.Hypervisor = &config.Host{Name: "hv1.example.net"}
		}, ""},
		{"ip missing", func(t *Target) { t.IP = netip.Addr{} }, "ip: missing"},
		{"ip zone with a command", func(t *Target) { t.IP = netip.MustParseAddr("fe80::1%;touch " + marker) }, "carries a zone"},
		{"incident zero", func(t *Target) { t.IncidentID = 0 }, "incident"},
		{"incident negative reads as an option", func(t *Target) { t.IncidentID = -5 }, "incident"},
		{"host with a command", func(t *Target) { t.Host.Name = "web1;touch " + marker }, "host:"},
		{"host with command substitution", func(t *Target) { t.Host.Name = "$(touch " + marker + ")" }, "host:"},
		{"host starting with a dash", func(t *Target) { t.Host.Name = "-oProxyCommand=x" }, "host:"},
		{"hypervisor with backticks", func(t *Target) { t.Hypervisor = &config.Host{Name: "hv`id`"} }, "hypervisor:"},
		{"attack with a newline", func(t *Target) { t.Attack = "spam\nrm -rf /" }, "attack:"},
		{"provider with a space", func(t *Target) { t.Provider = "ovh x" }, "provider:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := testTarget()
			tc.modify(&tg)
			err := validateTarget(tg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("validateTarget: %v", err)
				}
				return
			}
			if !errors.Is(err, errUnsafeTarget) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("validateTarget = %v, want an unsafe target error about %q", err, tc.want)
			}
		})
	}
}

func TestPlan(t *testing.T) {
	job := func(name, where string, order int, w config.When) config.Job {
		return config.Job{Name: name, Where: where, Argv: []string{"true"}, Order: order, When: w}
	}
	vm := testTarget()
	vm.Hypervisor = &config.Host{Name: "hv1"}
	unknown := testTarget()
	unknown.Host = nil

	tests := []struct {
		name   string
		cfg    config.Triage
		target Target
		want   []string
	}{
		{
			name: "when filters",
			cfg: config.Triage{Jobs: []config.Job{
				job("any", "local", 0, config.When{}),
				job("provider-case", "local", 0, config.When{Providers: []string{"OVH"}}),
				job("other-provider", "local", 0, config.When{Providers: []string{"hetzner"}}),
				job("kind", "local", 0, config.When{Kinds: []string{"attack", "block"}}),
				job("other-kind", "local", 0, config.When{Kinds: []string{"complaint"}}),
				job("attack", "local", 0, config.When{Attacks: []string{"ntp_amplification"}}),
				job("other-attack", "local", 0, config.When{Attacks: []string{"spam"}}),
				job("severity-at", "local", 0, config.When{MinSeverity: "block"}),
				job("severity-above", "local", 0, config.When{MinSeverity: "rescue"}),
				job("severity-unknown", "local", 0, config.When{MinSeverity: "urgent"}),
			}},
			target: testTarget(),
			want:   []string{"any", "provider-case", "kind", "attack", "severity-at"},
		},
		{
			name: "order, kit first among equals",
			cfg: config.Triage{Kit: true, Jobs: []config.Job{
				job("late", "ssh", 2000, config.When{}),
				job("default", "ssh", 0, config.When{}),
				job("first", "ssh", -1000, config.When{}),
			}},
			target: testTarget(),
			want: []string{"first", "kit.processes", "kit.top-cpu", "kit.connections", "kit.who", "kit.last",
				"kit.accounts", "kit.docker", "default", "kit.clamscan", "kit.rkhunter", "kit.chkrootkit", "kit.lynis", "late"},
		},
		{
			name: "ssh-hypervisor needs a hypervisor",
			cfg: config.Triage{Jobs: []config.Job{
				job("host", "ssh", 0, config.When{}), job("hv", "ssh-hypervisor", 0, config.When{}),
			}},
			target: testTarget(),
			want:   []string{"host"},
		},
		{
			name: "vm with hypervisor",
			cfg: config.Triage{Jobs: []config.Job{
				job("host", "ssh", 0, config.When{}), job("hv", "ssh-hypervisor", 0, config.When{}),
			}},
			target: vm,
			want:   []string{"host", "hv"},
		},
		{
			name: "ip not in the inventory keeps local and webhook jobs",
			cfg: config.Triage{Kit: true, Jobs: []config.Job{
				job("local", "local", 0, config.When{}), job("hook", "webhook", 0, config.When{}),
			}},
			target: unknown,
			want:   []string{"local", "hook"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, j := range Plan(tc.cfg, tc.target) {
				got = append(got, j.Name)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("Plan = %q\nwant   %q", got, tc.want)
			}
		})
	}
}

func TestSubstitute(t *testing.T) {
	noHost := testTarget()
	noHost.Host = nil
	tests := []struct {
		name    string
		job     config.Job
		target  Target
		want    []string
		wantErr string
	}{
		{"each value stays in its argument",
			config.Job{Argv: []string{"nft", "add", "element", "inet", "f", "s", "{ {ip} }", "--comment=incident-{incident}", "{host}"}},
			testTarget(), []string{"nft", "add", "element", "inet", "f", "s", "{ 192.0.2.7 }", "--comment=incident-42", "web1"}, ""},
		{"shell job is left alone", config.Job{Shell: true, Argv: []string{`echo "$ABUSEWATCH_IP"`}},
			testTarget(), []string{`echo "$ABUSEWATCH_IP"`}, ""},
		{"shell job with a placeholder", config.Job{Shell: true, Argv: []string{"echo", "{ip}"}},
			testTarget(), nil, "placeholder {ip} in a shell job"},
		{"host without inventory", config.Job{Argv: []string{"echo", "{host}"}},
			noHost, nil, "not in the inventory"},
		{"ip without inventory is fine", config.Job{Argv: []string{"echo", "{ip}"}},
			noHost, []string{"echo", "192.0.2.7"}, ""},
		{"NUL byte", config.Job{Argv: []string{"echo", "a\x00b"}}, testTarget(), nil, "NUL"},
		{"empty argv", config.Job{}, testTarget(), nil, "empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := substitute(tc.job, tc.target)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("substitute = %q, %v; want error %q", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("substitute = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

func TestShellQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", "''"},
		{"plain", "'plain'"},
		{"it's", `'it'\''s'`},
		{"$(id) `id` ; | & > *", "'$(id) `id` ; | & > *'"},
		{"''", `''\'''\'''`},
	}
	for _, tc := range tests {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestRemoteCommandThroughSh feeds the command lines sent over SSH to a real
// POSIX shell, as sshd does, and checks that every argument arrives intact
// and nothing in them is executed.
func TestRemoteCommandThroughSh(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	nasty := []string{
		"it's", "$(touch " + marker + ")", "`touch " + marker + "`", "a;touch " + marker, "a && touch " + marker,
		"a | touch " + marker, "two  words", `back\slash`, "*", "'", `"`, "''\\'", "new\nline", "$HOME", "${IFS}", "", "-n",
	}
	env := []string{"ABUSEWATCH_IP=192.0.2.7", "ABUSEWATCH_INCIDENT=42", "ABUSEWATCH_HOST=web1"}
	tests := []struct {
		name  string
		argv  []string
		shell bool
		want  string
	}{
		{"argv", append([]string{"printf", `[%s]\n`}, nasty...), false, "[" + strings.Join(nasty, "]\n[") + "]\n"},
		{"shell job sees values only in env", []string{`printf '%s|%s|%s' "$ABUSEWATCH_IP" "$ABUSEWATCH_INCIDENT" "$ABUSEWATCH_HOST"`}, true, "192.0.2.7|42|web1"},
	}
	const tag = "abusewatch-pid:0011223344556677:"
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", remoteCommand(tc.argv, tc.shell, env, tag))
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("sh: %v\n%s", err, stderr.Bytes())
			}
			if string(out) != tc.want {
				t.Errorf("output\n%q\nwant\n%q", out, tc.want)
			}
			// The exec'd command kept the shell's PID, which the tag line gave.
			want := fmt.Sprintf("%s%d\n", tag, cmd.ProcessState.Pid())
			if stderr.String() != want {
				t.Errorf("stderr %q, want %q", stderr.String(), want)
			}
			assertNoFile(t, marker)
		})
	}
}

// TestPIDCatcher: the tag line is taken out of stderr wherever the writes
// split it, and everything else passes through in order.
func TestPIDCatcher(t *testing.T) {
	const tag = "abusewatch-pid:ab:"
	tests := []struct {
		name    string
		writes  []string
		wantOut string
		wantPID int
	}{
		{"alone", []string{tag + "4242\n"}, "", 4242},
		{"split", []string{"abusewatch-p", "id:ab:42", "42\nerr", "or\n"}, "error\n", 4242},
		{"after rc noise", []string{"bashrc: warning\n", "no newline" + tag + "17\n", "later\n"}, "bashrc: warning\nno newline" + "later\n", 17},
		{"a forged tag after the real one passes", []string{tag + "5\n" + "abusewatch-pid:ab:1\n"}, "abusewatch-pid:ab:1\n", 5},
		{"other nonce", []string{"abusewatch-pid:cd:9\n"}, "abusewatch-pid:cd:9\n", 0},
		{"never arrives, partial line flushed", []string{"boom"}, "boom", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			p := newPIDCatcher(tag, &out)
			for _, w := range tc.writes {
				if n, err := p.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write = %d, %v", n, err)
				}
			}
			p.flush()
			if out.String() != tc.wantOut || p.pid() != tc.wantPID {
				t.Errorf("out %q pid %d, want %q %d", out.String(), p.pid(), tc.wantOut, tc.wantPID)
			}
		})
	}
}

// TestConfigValidation checks the triage rules config.Parse enforces.
func TestConfigValidation(t *testing.T) {
	tests := []struct {
		name, jobs, want string // want "" = valid
	}{
		{"valid", `
    - name: block-ip
      where: local
      argv: [nft, add, element, inet, f, s, "{ {ip} }"]
    - name: hook
      where: webhook
      url: https://awx.example.net/hook
      secret: s3cret
    - name: scan
      argv: [clamscan, -ri, /var/www]
      tool: clamscan
      when: {min_severity: attack}`, ""},
		{"reserved prefix", `
    - name: kit.mine
      argv: [ps]`, "reserved for the built-in kit"},
		{"unknown placeholder", `
    - name: x
      argv: [echo, "{ipaddr}"]`, "unknown placeholder {ipaddr}"},
		{"placeholder in a shell job", `
    - name: x
      shell: true
      argv: ["echo {ip}"]`, "placeholder {ip} in a shell job"},
		{"unknown tool", `
    - name: x
      argv: [ps]
      tool: virustotal`, "tool:"},
		{"unknown severity", `
    - name: x
      argv: [ps]
      when: {min_severity: high}`, "min_severity"},
		{"webhook without secret", `
    - name: x
      where: webhook
      url: https://awx.example.net/hook`, "required for a webhook"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := config.Parse([]byte("triage:\n  jobs:" + tc.jobs + "\n"))
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Parse: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse = %v, want an error about %q", err, tc.want)
			}
		})
	}
}

func TestHostLimiter(t *testing.T) {
	l := &hostLimiter{limit: 2, sems: map[string]chan struct{}{}}
	ctx := context.Background()
	release1, err := l.acquire(ctx, "web1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.acquire(ctx, "web1"); err != nil {
		t.Fatal(err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := l.acquire(cancelled, "web1"); err == nil {
		t.Fatal("a third job on web1 got a slot beyond the limit of 2")
	}
	if _, err := l.acquire(ctx, "web2"); err != nil {
		t.Fatalf("web2 shares web1's limit: %v", err)
	}
	release1()
	if _, err := l.acquire(ctx, "web1"); err != nil {
		t.Fatalf("a released slot was not given back: %v", err)
	}
}

func TestSSHTarget(t *testing.T) {
	tests := []struct {
		ssh, user         string
		wantUser, wantAdd string
		wantErr           string
	}{
		{"root@hv1.example.net:2222", "", "root", "hv1.example.net:2222", ""},
		{"triage@hv1.example.net", "", "triage", "hv1.example.net:22", ""},
		{"hv1.example.net", "triage", "triage", "hv1.example.net:22", ""},
		{"triage@[2001:db8::1]:22", "", "triage", "[2001:db8::1]:22", ""},
		{"triage@[2001:db8::1]", "", "triage", "[2001:db8::1]:22", ""},
		{"root@hv1.example.net", "triage", "", "", "differs"},
		{"hv1.example.net", "", "", "", "no user"},
		{"", "root", "", "", "no address"},
		{"root@2001:db8::1", "", "", "", "not host:port"},
	}
	for _, tc := range tests {
		user, addr, err := sshTarget(&config.Host{Name: "hv1", SSH: tc.ssh, User: tc.user})
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("sshTarget(%q, %q) = %q, %q, %v; want error %q", tc.ssh, tc.user, user, addr, err, tc.wantErr)
			}
			continue
		}
		if err != nil || user != tc.wantUser || addr != tc.wantAdd {
			t.Errorf("sshTarget(%q, %q) = %q, %q, %v; want %q, %q", tc.ssh, tc.user, user, addr, err, tc.wantUser, tc.wantAdd)
		}
	}
}

// TestPinnedAlgorithms: the handshake asks only for the key types that
// known_hosts pins for the address, so a server holding several host keys
// presents the pinned one.
func TestPinnedAlgorithms(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := ssh.NewPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	edPub := testserver.NewPublicKey(t)
	file := filepath.Join(t.TempDir(), "known_hosts")
	lines := knownhosts.Line([]string{"[hv1.example.net]:2222"}, rsaPub) + "\n" +
		knownhosts.Line([]string{"[hv1.example.net]:2222"}, edPub) + "\n" +
		knownhosts.Line([]string{"other.example.net"}, edPub) + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	known, err := knownhosts.New(file)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		addr string
		want []string
	}{
		{"hv1.example.net:2222", []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA, ssh.KeyAlgoED25519}},
		{"other.example.net:22", []string{ssh.KeyAlgoED25519}},
		{"unknown.example.net:22", nil},
	}
	for _, tc := range tests {
		got, err := pinnedAlgorithms(known, tc.addr)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("pinnedAlgorithms(%s) = %q, %v; want %q", tc.addr, got, err, tc.want)
		}
	}
}
