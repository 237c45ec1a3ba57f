package triage

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/abusewatch/abusewatch/config"
	"golang.org/x/crypto/ssh"
)

// Session is an SSH connection to one inventory host for commands that are
// not triage jobs (containment). It dials, pins host keys and kills a
// cancelled command's process group exactly as jobs do.
type Session struct {
	host   string
	client *ssh.Client
}

// Connect opens a Session to h. ConnectTimeout of the Runner's Options
// bounds the connect and handshake.
func (r *Runner) Connect(ctx context.Context, h *config.Host) (*Session, error) {
	if h == nil {
		return nil, fmt.Errorf("ssh: no inventory host")
	}
	c, err := r.dial(ctx, h)
	if err != nil {
		return nil, err
	}
	return &Session{host: h.Name, client: c}, nil
}

// Run runs argv on the host, every argument single-quoted for the remote
// shell, never a script: what it prints on stdout and stderr goes to the
// writers. It returns the exit code (-1 when killed by a signal), or an
// error when the command could not run or finish.
func (s *Session) Run(ctx context.Context, argv []string, stdout, stderr io.Writer) (int, error) {
	if len(argv) == 0 {
		return -1, fmt.Errorf("ssh %s: empty command", s.host)
	}
	for i, a := range argv {
		if strings.ContainsRune(a, 0) {
			return -1, fmt.Errorf("ssh %s: argv[%d] contains a NUL byte", s.host, i)
		}
	}
	return runSSH(ctx, s.client, argv, false, nil, stdout, stderr)
}

// Host names the inventory host the Session is connected to.
func (s *Session) Host() string { return s.host }

// Close closes the connection.
func (s *Session) Close() error { return s.client.Close() }
