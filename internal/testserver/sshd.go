package testserver

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// SSHDOptions tunes the throwaway sshd.
type SSHDOptions struct {
	// SessionPath, when set, becomes PATH in every session (sshd SetEnv), so
	// that a test decides which tools the "remote" host has.
	SessionPath string
	// SessionEnv adds NAME=value pairs to every session (sshd SetEnv), e.g.
	// DOCKER_HOST for an engine of StartDocker.
	SessionEnv []string
	// OwnPIDNamespace runs sshd in a new PID namespace with its own /proc
	// (unshare --pid --mount-proc), so that its sessions see only their own
	// processes: a host on which the test alone decides what runs.
	OwnPIDNamespace bool
}

// SSHD is a running throwaway OpenSSH server on loopback.
type SSHD struct {
	// Addr is 127.0.0.1:port.
	Addr string
	// User is the account the client key logs into: root when the test runs
	// as root (as in shared/recipes/sshd.md), else the current user, since an
	// unprivileged sshd can only log its own user in.
	User string
	// Dir holds the keys, sshd_config and the log.
	Dir string
	// ClientKeyFile is an unencrypted OpenSSH private key allowed to log in.
	ClientKeyFile string
	// KnownHostsFile pins HostKey for Addr.
	KnownHostsFile string
	// HostKey is the server's public host key.
	HostKey ssh.PublicKey
	// LogFile receives sshd's log (LogLevel VERBOSE).
	LogFile string
}

// StartSSHD starts sshd in the foreground (-D) as a child of the test, with
// fresh host and client keys in t.TempDir(), and stops it in t.Cleanup.
// It skips or fails (in CI) through RequireBinary when sshd is missing.
func StartSSHD(t testing.TB, opts SSHDOptions) *SSHD {
	t.Helper()
	bin := RequireBinary(t, "sshd", "/usr/sbin/sshd")
	// sshd re-executes itself and refuses to start from a relative path.
	bin, err := filepath.Abs(bin)
	if err != nil {
		t.Fatal(err)
	}
	u, err := user.Current()
	if err != nil {
		t.Fatalf("sshd: current user: %v", err)
	}
	if u.Uid == "0" {
		// The privilege separation directory is normally made by systemd.
		if err := os.MkdirAll("/run/sshd", 0o755); err != nil {
			t.Fatalf("sshd: %v", err)
		}
	}

	dir := t.TempDir()
	s := &SSHD{
		User:           u.Username,
		Dir:            dir,
		ClientKeyFile:  filepath.Join(dir, "client_ed25519"),
		KnownHostsFile: filepath.Join(dir, "known_hosts"),
		LogFile:        filepath.Join(dir, "sshd.log"),
	}
	hostKeyFile := filepath.Join(dir, "host_ed25519")
	s.HostKey = writeSSHKey(t, hostKeyFile)
	clientKey := writeSSHKey(t, s.ClientKeyFile)
	writeSSHDFile(t, filepath.Join(dir, "authorized_keys"), ssh.MarshalAuthorizedKey(clientKey))

	port := FreePort(t)
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	writeSSHDFile(t, s.KnownHostsFile, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, s.HostKey)+"\n"))

	conf := fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
PidFile %s
AuthorizedKeysFile %s
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
StrictModes no
UsePAM no
LogLevel VERBOSE
`, port, hostKeyFile, filepath.Join(dir, "sshd.pid"), filepath.Join(dir, "authorized_keys"))
	var setEnv []string
	if opts.SessionPath != "" {
		setEnv = append(setEnv, "PATH="+opts.SessionPath)
	}
	setEnv = append(setEnv, opts.SessionEnv...)
	if len(setEnv) > 0 {
		conf += fmt.Sprintf("SetEnv %s\n", strings.Join(setEnv, " "))
	}
	confFile := filepath.Join(dir, "sshd_config")
	writeSSHDFile(t, confFile, []byte(conf))

	if out, err := exec.Command(bin, "-t", "-f", confFile).CombinedOutput(); err != nil {
		t.Fatalf("sshd -t: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-D", "-f", confFile, "-E", s.LogFile)
	if opts.OwnPIDNamespace {
		// --kill-child: killing unshare (the process Cleanup holds) ends
		// sshd, the namespace's init, and with it every session.
		unshare := RequireBinary(t, "unshare", "/usr/bin/unshare")
		cmd = exec.Command(unshare, "--pid", "--fork", "--mount-proc", "--kill-child", bin, "-D", "-f", confFile, "-E", s.LogFile)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("sshd: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Killing the listener leaves sessions' own sshd processes; they end
		// when the client closes its connection, which each test does.
		_ = cmd.Process.Kill()
		<-exited
	})
	s.waitReady(t, exited)
	return s
}

// waitReady waits for the port to accept connections, failing at once with
// the log when sshd exits (e.g. the port was taken in between).
func (s *SSHD) waitReady(t testing.TB, exited <-chan error) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			log, _ := os.ReadFile(s.LogFile)
			t.Fatalf("sshd exited before accepting connections: %v\n%s", err, log)
		default:
		}
		c, err := net.DialTimeout("tcp", s.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(s.LogFile)
			t.Fatalf("sshd did not accept connections on %s: %v\n%s", s.Addr, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Logins counts the successful public key logins in the log, which tells
// how many SSH connections a client opened.
func (s *SSHD) Logins(t testing.TB) int {
	t.Helper()
	log, err := os.ReadFile(s.LogFile)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(log, []byte("Accepted publickey for "+s.User+" "))
}

// WriteKnownHosts replaces the known_hosts file with an entry pinning key
// for Addr, e.g. a different key to provoke a mismatch.
func (s *SSHD) WriteKnownHosts(t testing.TB, key ssh.PublicKey) {
	t.Helper()
	writeSSHDFile(t, s.KnownHostsFile, []byte(knownhosts.Line([]string{knownhosts.Normalize(s.Addr)}, key)+"\n"))
}

// NewPublicKey returns a fresh ed25519 public key that nothing holds.
func NewPublicKey(t testing.TB) ssh.PublicKey {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// writeSSHKey writes a new ed25519 private key in OpenSSH format (mode 0600,
// as sshd and ssh demand) and returns its public half.
func writeSSHKey(t testing.TB, path string) ssh.PublicKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, strings.TrimSuffix(filepath.Base(path), "_ed25519"))
	if err != nil {
		t.Fatal(err)
	}
	writeSSHDFile(t, path, pem.EncodeToMemory(block))
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func writeSSHDFile(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
