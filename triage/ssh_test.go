package triage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/internal/testutil"
)

// Integration tests against a real OpenSSH server on loopback. The server
// runs on this machine, so a file a remote command creates is visible here.

// sshHost is an inventory entry for the test server.
func sshHost(s *testserver.SSHD, name string) *config.Host {
	return &config.Host{Name: name, IPs: []string{"192.0.2.7"}, SSH: s.User + "@" + s.Addr,
		KeyFile: s.ClientKeyFile, KnownHostsFile: s.KnownHostsFile}
}

// toolDir makes a directory to serve as the sessions' PATH: links to the
// real tools named in real, plus fake tools (name → shell script). Every
// other tool is "not installed" on the test host. bash is among the real
// ones because login shell startup files may run "env bash".
func toolDir(t *testing.T, real []string, fake map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range real {
		// Skipped locally, a failure in CI: the kit test needs them.
		p := testserver.RequireBinary(t, name)
		if err := os.Symlink(p, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	for name, script := range fake {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"+script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestSSHKit runs the whole kit on a host that has the basic tools but
// none of the scanners except a (fake) rkhunter that warns: missing tools
// are not_installed, present ones ok with output, rkhunter's warning is a
// finding, and the eleven jobs share one SSH connection.
func TestSSHKit(t *testing.T) {
	path := toolDir(t, []string{"sh", "bash", "env", "ps", "head", "ss", "who", "ls", "awk"}, map[string]string{
		"rkhunter": `[ "$*" = "--check --sk --rwo" ] || exit 2
echo "Warning: The file properties have changed:"
echo "         File: /usr/bin/ss"
exit 1
`,
	})
	s := testserver.StartSSHD(t, testserver.SSHDOptions{SessionPath: path})
	tg := testTarget()
	tg.Severity = 3
	tg.Host = sshHost(s, "web1")
	cfg := config.Triage{Kit: true}

	jobs := Plan(cfg, tg)
	res := NewRunner(cfg, Options{}).Run(context.Background(), tg, jobs)

	want := map[string]struct {
		status, output string
	}{
		"kit.processes":   {StatusOK, "PID"},
		"kit.top-cpu":     {StatusOK, "%CPU"},
		"kit.connections": {StatusOK, "State"},
		"kit.who":         {StatusOK, ""},
		"kit.last":        {StatusNotInstalled, "not found"},
		"kit.accounts":    {StatusOK, "/etc/passwd"},
		"kit.docker":      {StatusNotInstalled, "not found"},
		"kit.clamscan":    {StatusNotInstalled, "not found"},
		"kit.rkhunter":    {StatusOK, "Warning:"},
		"kit.chkrootkit":  {StatusNotInstalled, "not found"},
		"kit.lynis":       {StatusNotInstalled, "not found"},
	}
	if len(res) != len(want) {
		t.Fatalf("%d results, want %d", len(res), len(want))
	}
	for i, r := range res {
		w, ok := want[r.Job]
		if !ok || r.Job != jobs[i].Name {
			t.Errorf("result %d is %s, planned %s", i, r.Job, jobs[i].Name)
			continue
		}
		if r.Status != w.status || !bytes.Contains(r.Output, []byte(w.output)) || r.Host != "web1" || r.Where != WhereSSH {
			t.Errorf("%s: status %s on %q (error %q), output:\n%s\nwant %s with %q", r.Job, r.Status, r.Host, r.Error, r.Output, w.status, w.output)
		}
	}
	rk := res[slicesIndex(res, "kit.rkhunter")]
	if rk.RaiseSeverity != RaiseSuspicious || len(rk.Findings) != 1 || rk.Findings[0] != "rkhunter: Warning: The file properties have changed:" {
		t.Errorf("rkhunter: raise %d findings %q", rk.RaiseSeverity, rk.Findings)
	}
	if n := s.Logins(t); n != 1 {
		t.Errorf("%d SSH logins for one run, want 1 shared connection", n)
	}
}

func slicesIndex(res []Result, job string) int {
	for i, r := range res {
		if r.Job == job {
			return i
		}
	}
	return -1
}

// TestSSHDockerLogs: the kit's docker job saves the logs of the containers
// that docker ps lists, and a listed "id" that is not one never reaches a
// command line, even though the listing comes from the (compromised) host.
func TestSSHDockerLogs(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	calls := filepath.Join(dir, "calls")
	id1 := strings.Repeat("ab12", 16)
	id2 := "0123456789ab"
	path := toolDir(t, []string{"sh", "bash"}, map[string]string{
		"docker": fmt.Sprintf(`echo "$*" >> %s
case "$1" in
ps) echo 'CONTAINER ID   IMAGE   COMMAND   CREATED   STATUS   PORTS   NAMES'
    echo '%s   nginx   "nginx"   2 hours ago   Up 2 hours   80/tcp   web'
    echo '$(touch${IFS}%s)   evil   x'
    echo ';touch${IFS}%s   evil   x'
    echo '%s   redis   "redis"   3 days ago   Exited (0)   db' ;;
logs) echo "2026-11-21T07:00:00Z log of $3" ;;
*) exit 2 ;;
esac
`, calls, id1, pwned, pwned, id2),
	})
	s := testserver.StartSSHD(t, testserver.SSHDOptions{SessionPath: path})
	tg := testTarget()
	tg.Host = sshHost(s, "web1")
	var docker config.Job
	for _, j := range Kit(config.Triage{}) {
		if j.Name == "kit.docker" {
			docker = j
		}
	}
	r := NewRunner(config.Triage{}, Options{}).Run(context.Background(), tg, []config.Job{docker})[0]
	if r.Status != StatusOK {
		t.Fatalf("status %s (error %q)\n%s", r.Status, r.Error, r.Output)
	}
	for _, want := range []string{
		dockerLogsHeader(id1) + "2026-11-21T07:00:00Z log of " + id1 + "\n",
		dockerLogsHeader(id2) + "2026-11-21T07:00:00Z log of " + id2 + "\n",
		"skipped a docker ps line without a container id",
	} {
		if !bytes.Contains(r.Output, []byte(want)) {
			t.Errorf("output lacks %q:\n%s", want, r.Output)
		}
	}
	got, err := os.ReadFile(calls)
	if err != nil {
		t.Fatal(err)
	}
	wantCalls := "ps -a --no-trunc\nlogs --timestamps " + id1 + "\nlogs --timestamps " + id2 + "\n"
	if string(got) != wantCalls {
		t.Errorf("docker was called with\n%s\nwant\n%s", got, wantCalls)
	}
	assertNoFile(t, pwned)
}

// TestSSHTimeout: a job that outlives its timeout ends as "timeout", its
// remote process is killed and its session closed, and the next job of the
// run still runs on the same connection.
func TestSSHTimeout(t *testing.T) {
	s := testserver.StartSSHD(t, testserver.SSHDOptions{})
	tg := testTarget()
	tg.Host = sshHost(s, "web1")
	// A unique duration marks the remote process among others' sleeps.
	arg := "30." + strconv.Itoa(os.Getpid())
	jobs := []config.Job{
		{Name: "sleep", Where: WhereSSH, Argv: []string{"sleep", arg}, Timeout: time.Second},
		{Name: "after", Where: WhereSSH, Argv: []string{"echo", "still here"}},
	}
	res := NewRunner(config.Triage{}, Options{}).Run(context.Background(), tg, jobs)
	if res[0].Status != StatusTimeout || !strings.Contains(res[0].Error, "session closed") {
		t.Fatalf("sleep: status %s, error %q; want timeout with the session closed", res[0].Status, res[0].Error)
	}
	if res[1].Status != StatusOK || string(res[1].Output) != "still here\n" {
		t.Errorf("after: status %s output %q (error %q)", res[1].Status, res[1].Output, res[1].Error)
	}
	waitGone(t, arg)
	if n := s.Logins(t); n != 1 {
		t.Errorf("%d logins, want 1", n)
	}
}

// waitGone fails the test unless the process with argument arg ends
// soon: a kill is asynchronous, so it is given time, within reason.
func waitGone(t *testing.T, arg string) {
	t.Helper()
	testutil.Eventually(t, 10*time.Second, func() bool { return !processWithArg(t, arg) }, func() string {
		return "the process with argument " + arg + " survived the timeout"
	})
}

// processWithArg reports whether a process on this machine has arg as an
// argument.
func processWithArg(t *testing.T, arg string) bool {
	t.Helper()
	cmdlines, err := filepath.Glob("/proc/[0-9]*/cmdline")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process ended meanwhile
		}
		for _, a := range bytes.Split(b, []byte{0}) {
			if string(a) == arg {
				return true
			}
		}
	}
	return false
}

// TestSSHHostKeyRefused: an unknown or changed host key, or no known_hosts
// file, refuses the connection with an error naming the host and the
// fingerprint; nothing runs and the server never sees a login.
func TestSSHHostKeyRefused(t *testing.T) {
	s := testserver.StartSSHD(t, testserver.SSHDOptions{})
	serverFP := ssh.FingerprintSHA256(s.HostKey)
	other := testserver.NewPublicKey(t)
	tests := []struct {
		name       string
		knownHosts func(t *testing.T, dir string) string
		want       []string
	}{
		{"changed key", func(t *testing.T, dir string) string {
			s.WriteKnownHosts(t, other)
			return s.KnownHostsFile
		}, []string{"web1", serverFP, "CHANGED", ssh.FingerprintSHA256(other)}},
		{"unknown host", func(t *testing.T, dir string) string {
			f := filepath.Join(dir, "empty_known_hosts")
			if err := os.WriteFile(f, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return f
		}, []string{"web1", serverFP, "unknown host"}},
		{"no known_hosts file", func(t *testing.T, dir string) string { return "" },
			[]string{"web1", "known_hosts_file: required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			ran := filepath.Join(dir, "ran")
			tg := testTarget()
			tg.Host = sshHost(s, "web1")
			tg.Host.KnownHostsFile = tc.knownHosts(t, dir)
			jobs := []config.Job{
				{Name: "touch", Where: WhereSSH, Argv: []string{"touch", ran}},
				{Name: "again", Where: WhereSSH, Argv: []string{"touch", ran}},
			}
			for _, r := range NewRunner(config.Triage{}, Options{}).Run(context.Background(), tg, jobs) {
				if r.Status != StatusRefused {
					t.Errorf("%s: status %s (error %q), want refused", r.Job, r.Status, r.Error)
				}
				for _, w := range tc.want {
					if !strings.Contains(r.Error, w) {
						t.Errorf("%s: error %q does not name %q", r.Job, r.Error, w)
					}
				}
			}
			assertNoFile(t, ran)
			if n := s.Logins(t); n != 0 {
				t.Errorf("%d logins despite the refused host key", n)
			}
		})
	}
}

// TestSSHOutputCap: output beyond the cap is streamed, counted and dropped.
func TestSSHOutputCap(t *testing.T) {
	s := testserver.StartSSHD(t, testserver.SSHDOptions{})
	tg := testTarget()
	tg.Host = sshHost(s, "web1")
	tests := []struct {
		name     string
		cfgMax   int64
		jobMax   int64
		print    int
		wantKeep int
	}{
		{"job cap", 0, 4096, 100000, 4096},
		{"triage cap", 1000, 0, 5000, 1000},
		{"under the cap", 0, 4096, 10, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			job := config.Job{Name: "flood", Where: WhereSSH, MaxOutputBytes: tc.jobMax,
				Argv: []string{"head", "-c", strconv.Itoa(tc.print), "/dev/zero"}}
			r := NewRunner(config.Triage{MaxOutputBytes: tc.cfgMax}, Options{}).Run(context.Background(), tg, []config.Job{job})[0]
			if r.Status != StatusOK || len(r.Output) != tc.wantKeep || r.Dropped != int64(tc.print-tc.wantKeep) {
				t.Fatalf("status %s kept %d dropped %d (error %q); want ok, %d, %d",
					r.Status, len(r.Output), r.Dropped, r.Error, tc.wantKeep, tc.print-tc.wantKeep)
			}
		})
	}
}

// TestSSHArgumentsAndHypervisor: arguments full of shell syntax arrive at
// the remote command unchanged and unexecuted; shell jobs see the target in
// env; ssh-hypervisor jobs run on the hypervisor with {host} the VM; and
// each host gets one connection per run.
func TestSSHArgumentsAndHypervisor(t *testing.T) {
	s := testserver.StartSSHD(t, testserver.SSHDOptions{})
	marker := filepath.Join(t.TempDir(), "pwned")
	tg := testTarget()
	tg.Host = sshHost(s, "vm-ntp")
	tg.Hypervisor = sshHost(s, "hv1")
	nasty := []string{"it's", "$(touch " + marker + ")", "`touch " + marker + "`", "a;touch " + marker,
		"a\ntouch " + marker, "two  words", `back\slash`, "*", `"`, "$HOME", "", "{ip}"}
	jobs := []config.Job{
		{Name: "args", Where: WhereSSH, Argv: append([]string{"printf", `[%s]\n`}, nasty...)},
		{Name: "env", Where: WhereSSH, Shell: true, Argv: []string{`printf '%s|%s|%s'`, `"$ABUSEWATCH_IP" "$ABUSEWATCH_INCIDENT" "$ABUSEWATCH_HOST"`}},
		{Name: "on-hv", Where: WhereSSHHypervisor, Argv: []string{"echo", "domifstat", "{host}"}},
		{Name: "exit", Where: WhereSSH, Argv: []string{"sh", "-c", "exit 3"}},
	}
	res := NewRunner(config.Triage{}, Options{}).Run(context.Background(), tg, jobs)
	want := []struct {
		host, status, output string
		exit                 int
	}{
		{"vm-ntp", StatusOK, "[" + strings.Join(nasty[:len(nasty)-1], "]\n[") + "]\n[192.0.2.7]\n", 0},
		{"vm-ntp", StatusOK, "192.0.2.7|42|vm-ntp", 0},
		{"hv1", StatusOK, "domifstat vm-ntp\n", 0},
		{"vm-ntp", StatusFailed, "", 3},
	}
	for i, w := range want {
		r := res[i]
		if r.Host != w.host || r.Status != w.status || string(r.Output) != w.output || r.ExitCode != w.exit {
			t.Errorf("%s: on %s status %s exit %d output %q (error %q)\nwant on %s status %s exit %d output %q",
				r.Job, r.Host, r.Status, r.ExitCode, r.Output, r.Error, w.host, w.status, w.exit, w.output)
		}
	}
	assertNoFile(t, marker)
	if n := s.Logins(t); n != 2 {
		t.Errorf("%d logins, want 2 (one per host)", n)
	}
}

// TestSSHRefusesUnsafeTarget: a target carrying shell syntax in its IP or
// host name runs nothing over SSH; no connection is even opened.
func TestSSHRefusesUnsafeTarget(t *testing.T) {
	s := testserver.StartSSHD(t, testserver.SSHDOptions{})
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	tests := []struct {
		name   string
		modify func(*Target)
	}{
		{"ip", func(t *Target) { t.IP = netip.MustParseAddr("fe80::1%;touch " + pwned) }},
		{"host", func(t *Target) { t.Host.Name = "web1;touch " + pwned }},
		{"hypervisor", func(t *Target) { t.Hypervisor.Name = "hv1$(touch " + pwned + ")" }},
	}
	jobs := []config.Job{
		{Name: "echo", Where: WhereSSH, Argv: []string{"echo", "{ip}", "{host}"}},
		{Name: "shell", Where: WhereSSH, Shell: true, Argv: []string{`echo "$ABUSEWATCH_IP" "$ABUSEWATCH_HOST"`}},
		{Name: "hv", Where: WhereSSHHypervisor, Argv: []string{"echo", "{host}"}},
	}
	r := NewRunner(config.Triage{}, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := testTarget()
			tg.Host = sshHost(s, "web1")
			tg.Hypervisor = sshHost(s, "hv1")
			tc.modify(&tg)
			for _, res := range r.Run(context.Background(), tg, jobs) {
				if res.Status != StatusRefused || !strings.Contains(res.Error, "unsafe target") {
					t.Errorf("%s: status %s error %q, want refused", res.Job, res.Status, res.Error)
				}
			}
			assertNoFile(t, pwned)
		})
	}
	if n := s.Logins(t); n != 0 {
		t.Errorf("%d logins for refused targets, want 0", n)
	}
}

// TestSSHConnectTimeout: a server that accepts TCP but never speaks SSH
// ends the job with an error once ConnectTimeout passes, instead of
// holding the run until the job's own timeout.
func TestSSHConnectTimeout(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	held := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			held <- c // keep it open, say nothing
		}
	}()
	defer func() {
		select {
		case c := <-held:
			c.Close()
		default:
		}
	}()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	known := filepath.Join(dir, "known_hosts")
	writeTestKey(t, key)
	if err := os.WriteFile(known, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tg := testTarget()
	tg.Host = &config.Host{Name: "web1", SSH: "root@" + l.Addr().String(), KeyFile: key, KnownHostsFile: known}
	job := config.Job{Name: "x", Where: WhereSSH, Argv: []string{"true"}, Timeout: time.Hour}
	r := NewRunner(config.Triage{}, Options{ConnectTimeout: 200 * time.Millisecond}).Run(context.Background(), tg, []config.Job{job})[0]
	if r.Status != StatusError || !strings.Contains(r.Error, "handshake") || !strings.Contains(r.Error, "deadline exceeded") {
		t.Fatalf("status %s error %q, want a handshake error past the deadline", r.Status, r.Error)
	}
}

// writeTestKey writes an unencrypted ed25519 client key.
func writeTestKey(t *testing.T, path string) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "test")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
}
