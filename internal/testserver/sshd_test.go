package testserver

import (
	"os"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// TestStartSSHD logs in with the generated client key, pinning the host key
// through the generated known_hosts file, and checks the user and the
// session PATH the options asked for.
func TestStartSSHD(t *testing.T) {
	path := t.TempDir() + ":/usr/bin:/bin"
	s := StartSSHD(t, SSHDOptions{SessionPath: path})

	keyPEM, err := os.ReadFile(s.ClientKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.ParsePrivateKey(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	hostKeys, err := knownhosts.New(s.KnownHostsFile)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", s.Addr, &ssh.ClientConfig{
		User:            s.User,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: hostKeys,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	for _, tc := range []struct {
		cmd, want string
	}{
		{"id -un", s.User},
		// .bashrc may prepend to PATH; the configured PATH must still be there.
		{"echo $PATH", path},
	} {
		sess, err := c.NewSession()
		if err != nil {
			t.Fatal(err)
		}
		out, err := sess.Output(tc.cmd)
		sess.Close()
		if err != nil {
			t.Fatalf("%s: %v", tc.cmd, err)
		}
		if got := strings.TrimSpace(string(out)); !strings.HasSuffix(got, tc.want) {
			t.Errorf("%s = %q, want it to end with %q", tc.cmd, got, tc.want)
		}
	}
	if n := s.Logins(t); n != 1 {
		t.Errorf("Logins() = %d, want 1", n)
	}
}
