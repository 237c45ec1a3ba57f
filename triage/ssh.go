package triage

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostKeyError is a host key that known_hosts does not vouch for. The
// connection is refused: accepting it would hand our key's session, and
// the evidence, to whoever answers at that address.
type hostKeyError struct {
	host, addr, fingerprint, reason string
}

func (e *hostKeyError) Error() string {
	return fmt.Sprintf("ssh %s (%s): host key %s %s: refusing to connect", e.host, e.addr, e.fingerprint, e.reason)
}

// sshTarget splits Host.SSH ("user@host:port", user and port optional) and
// falls back to Host.User and port 22.
func sshTarget(h *config.Host) (user, addr string, err error) {
	s := h.SSH
	if s == "" {
		return "", "", fmt.Errorf("inventory host %s: ssh: no address (user@host:port)", h.Name)
	}
	if i := strings.LastIndex(s, "@"); i >= 0 {
		user, s = s[:i], s[i+1:]
	}
	switch {
	case user == "":
		user = h.User
	case h.User != "" && h.User != user:
		return "", "", fmt.Errorf("inventory host %s: ssh: user %q differs from user %q", h.Name, user, h.User)
	}
	if user == "" {
		return "", "", fmt.Errorf("inventory host %s: ssh: no user", h.Name)
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if host, port, err = net.SplitHostPort(s + ":22"); err != nil {
			return "", "", fmt.Errorf("inventory host %s: ssh: %q is not host:port", h.Name, h.SSH)
		}
	}
	return user, net.JoinHostPort(host, port), nil
}

// loadKey reads and parses an SSH private key file.
func loadKey(file string) (ssh.Signer, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("key_file: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		return nil, fmt.Errorf("key_file %s: %w", file, err)
	}
	return signer, nil
}

func loadKnownHosts(file string) (ssh.HostKeyCallback, error) {
	known, err := knownhosts.New(file)
	if err != nil {
		return nil, fmt.Errorf("known_hosts_file: %w", err)
	}
	return known, nil
}

// CheckHost opens the key and known_hosts files that h names, as a job's
// connection would, so that `config check` reports a missing or broken file
// before the first incident. Its errors start with the key.
func CheckHost(h config.Host) error {
	var errs []error
	if h.KeyFile != "" {
		if _, err := loadKey(h.KeyFile); err != nil {
			errs = append(errs, err)
		}
	}
	if h.KnownHostsFile != "" {
		if _, err := loadKnownHosts(h.KnownHostsFile); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// dial opens an SSH connection to h with key authentication and the host
// key pinned by h's known_hosts file. ConnectTimeout bounds the TCP connect
// and the handshake together.
func (r *Runner) dial(ctx context.Context, h *config.Host) (*ssh.Client, error) {
	user, addr, err := sshTarget(h)
	if err != nil {
		return nil, err
	}
	if h.KeyFile == "" {
		return nil, fmt.Errorf("inventory host %s: key_file: required for ssh", h.Name)
	}
	signer, err := loadKey(h.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("inventory host %s: %w", h.Name, err)
	}
	if h.KnownHostsFile == "" {
		return nil, errRefused{fmt.Errorf("inventory host %s: known_hosts_file: required, host keys are never accepted unpinned", h.Name)}
	}
	known, err := loadKnownHosts(h.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("inventory host %s: %w", h.Name, err)
	}
	algos, err := pinnedAlgorithms(known, addr)
	if err != nil {
		return nil, fmt.Errorf("inventory host %s: %w", h.Name, err)
	}
	cfg := &ssh.ClientConfig{
		User:              user,
		Auth:              []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback:   hostKeyCallback(known, h.Name, h.KnownHostsFile),
		HostKeyAlgorithms: algos,
	}

	dctx, cancel := context.WithTimeout(ctx, r.connectTimeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("ssh %s (%s): connect: %w", h.Name, addr, err)
	}
	// The handshake takes no context: closing the connection when dctx
	// ends (timeout or cancellation) is what bounds it.
	stop := context.AfterFunc(dctx, func() { _ = conn.Close() })
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if stopped := stop(); err != nil || !stopped {
		if err == nil {
			_ = c.Close()
		} else {
			_ = conn.Close()
		}
		var hk *hostKeyError
		switch {
		case errors.As(err, &hk):
			return nil, hk // it names the host already
		case dctx.Err() != nil:
			// The close made the handshake fail; say why.
			return nil, fmt.Errorf("ssh %s (%s): handshake: %w", h.Name, addr, dctx.Err())
		}
		return nil, fmt.Errorf("ssh %s (%s) as %s: %w", h.Name, addr, user, err)
	}
	r.log.Debug("triage: ssh connected", "host", h.Name, "addr", addr)
	return ssh.NewClient(c, chans, reqs), nil
}

// hostKeyCallback wraps the known_hosts check with errors an operator can
// act on: which host, which key (SHA256 fingerprint, as ssh-keygen -lf
// prints it), and the known_hosts line it contradicts.
func hostKeyCallback(known ssh.HostKeyCallback, name, file string) ssh.HostKeyCallback {
	return func(hostname string, remote net.Addr, key ssh.PublicKey) error {
		err := known(hostname, remote, key)
		if err == nil {
			return nil
		}
		e := &hostKeyError{host: name, addr: hostname, fingerprint: ssh.FingerprintSHA256(key)}
		var keyErr *knownhosts.KeyError
		var revoked *knownhosts.RevokedError
		switch {
		case errors.As(err, &keyErr) && len(keyErr.Want) == 0:
			e.reason = "is not in " + file + " (unknown host: check the fingerprint out of band, then add the key)"
		case errors.As(err, &keyErr):
			w := keyErr.Want[0]
			e.reason = fmt.Sprintf("does not match %s:%d (%s %s): the host key CHANGED, or this is not the host",
				w.Filename, w.Line, w.Key.Type(), ssh.FingerprintSHA256(w.Key))
		case errors.As(err, &revoked):
			e.reason = fmt.Sprintf("is revoked in %s:%d", revoked.Revoked.Filename, revoked.Revoked.Line)
		default:
			return fmt.Errorf("ssh %s: checking the host key: %w", name, err)
		}
		return e
	}
}

// pinnedAlgorithms returns the host key algorithms of the keys known_hosts
// holds for addr. Without them the server may present a key of another
// type, which known_hosts reports as a mismatch although the pinned key is
// right. known_hosts has no lookup, so a throwaway key is checked and the
// mismatch lists the known ones.
func pinnedAlgorithms(known ssh.HostKeyCallback, addr string) ([]string, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	probe, err := ssh.NewPublicKey(pub)
	if err != nil {
		return nil, err
	}
	var keyErr *knownhosts.KeyError
	// The check prefers the host name to the remote address, which must
	// still parse: a zero one does.
	if !errors.As(known(addr, &net.TCPAddr{}, probe), &keyErr) {
		return nil, nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range keyErr.Want {
		t := k.Key.Type()
		if seen[t] {
			continue
		}
		seen[t] = true
		if t == ssh.KeyAlgoRSA {
			// An RSA key signs with any of these; the SHA-2 ones first.
			algos = append(algos, ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
			continue
		}
		algos = append(algos, t)
	}
	return algos, nil
}

// shellQuote makes s one word for a POSIX shell: inside single quotes
// nothing is special except the quote itself, which is written by closing
// the quoted part, adding a backslash-escaped quote and reopening it.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// remoteCommand is the command line sent over SSH, which sshd always hands
// to the remote user's login shell (assumed POSIX-like). Every argument is
// single-quoted. A shell job becomes `env ABUSEWATCH_…='…' sh -c '<script>'`:
// sshd normally refuses to set environment variables (AcceptEnv), and the
// target's values must never be part of the script's text.
//
// The command first prints pidTag and the shell's PID on stderr, then
// execs: the command keeps that PID, which is also its process group
// (sshd starts each session with setsid), so a timeout can kill the group.
func remoteCommand(argv []string, shell bool, env []string, pidTag string) string {
	parts := []string{"echo", shellQuote(pidTag) + "$$", ">&2;", "exec"}
	if !shell {
		for _, a := range argv {
			parts = append(parts, shellQuote(a))
		}
		return strings.Join(parts, " ")
	}
	parts = append(parts, "env")
	for _, e := range env {
		parts = append(parts, shellQuote(e))
	}
	parts = append(parts, "sh", "-c", shellQuote(strings.Join(argv, " ")))
	return strings.Join(parts, " ")
}

// sshExecutor runs commands in sessions of client. On timeout or
// cancellation the remote process group is killed and the session closed.
// The kill goes through a second session (kill -s KILL -- -PGID) because
// OpenSSH refuses signal requests to sessions of root logins, which run
// without privilege separation; the signal request is sent too, for the
// sessions where it works.
func sshExecutor(client *ssh.Client, env []string) executor {
	return func(ctx context.Context, argv []string, shell bool, w io.Writer) (int, error) {
		return runSSH(ctx, client, argv, shell, env, w, w)
	}
}

// runSSH runs one command in a new session of client, stdout to stdout and
// stderr (less the PID line) to stderr.
func runSSH(ctx context.Context, client *ssh.Client, argv []string, shell bool, env []string, stdout, stderr io.Writer) (int, error) {
	nonce := make([]byte, 8)
	if _, err := rand.Read(nonce); err != nil {
		return -1, err
	}
	pids := newPIDCatcher(fmt.Sprintf("abusewatch-pid:%x:", nonce), stderr)
	sess, err := client.NewSession()
	if err != nil {
		return -1, fmt.Errorf("ssh: new session: %w", err)
	}
	defer sess.Close()
	sess.Stdout, sess.Stderr = stdout, pids
	if err := sess.Start(remoteCommand(argv, shell, env, pids.tag)); err != nil {
		return -1, fmt.Errorf("ssh: starting %s: %w", argv[0], err)
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()
	select {
	case err = <-done:
		pids.flush()
	case <-ctx.Done():
		_ = sess.Signal(ssh.SIGKILL)
		killed := killRemoteGroup(client, pids.pid())
		_ = sess.Close()
		// Wait returns once the server confirms the close; a host that
		// does not is given up on rather than waited for.
		select {
		case <-done:
		case <-time.After(closeGrace):
		}
		pids.flush()
		return -1, fmt.Errorf("%s %s, session closed: %w", argv[0], killed, ctx.Err())
	}
	var exitErr *ssh.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exitErr):
		// A command killed by a signal has no status (-1).
		return exitErr.ExitStatus(), nil
	}
	return -1, fmt.Errorf("ssh: %s: %w", argv[0], err)
}

// killRemoteGroup kills process group pgid on the host through a new
// session, waiting at most closeGrace. It says what happened, for the
// evidence.
func killRemoteGroup(client *ssh.Client, pgid int) string {
	// pgid 1 would make "kill -- -1": every process of the user.
	if pgid < 2 {
		return "not killed (its PID never arrived)"
	}
	sess, err := client.NewSession()
	if err != nil {
		return fmt.Sprintf("not killed (%v)", err)
	}
	defer sess.Close()
	done := make(chan error, 1)
	go func() { done <- sess.Run(fmt.Sprintf("kill -s KILL -- -%d", pgid)) }()
	select {
	case err = <-done:
	case <-time.After(closeGrace):
		err = errors.New("no answer")
	}
	if err != nil {
		return fmt.Sprintf("not killed (kill -- -%d: %v)", pgid, err)
	}
	return fmt.Sprintf("killed (process group %d)", pgid)
}

// pidCatcher passes a session's stderr on to w, except the line holding
// the tag and PID printed by remoteCommand, which it keeps. The tag holds a
// nonce, so no output of the command can pass for it.
type pidCatcher struct {
	tag   string
	w     io.Writer
	mu    sync.Mutex
	found bool
	value int
	line  []byte // stderr since the last newline, while the tag is awaited
}

func newPIDCatcher(tag string, w io.Writer) *pidCatcher {
	return &pidCatcher{tag: tag, w: w}
}

// maxPendingLine bounds what is held back while waiting for the tag line.
const maxPendingLine = 4096

func (p *pidCatcher) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := len(b)
	for !p.found && len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			p.line = append(p.line, b...)
			b = nil
			if len(p.line) > maxPendingLine {
				_, _ = p.w.Write(p.line)
				p.line = p.line[:0]
			}
			break
		}
		p.line = append(p.line, b[:i+1]...)
		b = b[i+1:]
		// The login shell's startup files may have printed before, without
		// a newline: keep their text, take the tag from where it starts.
		if before, after, ok := bytes.Cut(p.line, []byte(p.tag)); ok {
			_, _ = p.w.Write(before)
			p.value, _ = strconv.Atoi(string(bytes.TrimSpace(after)))
			p.found = true
		} else {
			_, _ = p.w.Write(p.line)
		}
		p.line = p.line[:0]
	}
	if len(b) > 0 {
		_, _ = p.w.Write(b)
	}
	return n, nil
}

// flush passes on a last line that ended without a newline.
func (p *pidCatcher) flush() {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, _ = p.w.Write(p.line)
	p.line = nil
}

func (p *pidCatcher) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.value
}
