package testserver

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"
)

// Postfix is a throwaway Debian Postfix: its own config, queue and data
// directories, a submission listener on a loopback port that requires
// STARTTLS with a certificate of a test CA, and virtual(8) delivery of the
// given recipients into Maildirs that the test reads back.
//
// Postfix's master must start as root (it drops to mail_owner itself), so
// the test skips when not root, and fails in CI, which runs as root.
type Postfix struct {
	Host   string
	Port   int
	Addr   string // host:port of the submission listener
	CAFile string // PEM of the CA that signed the listener's certificate
	Dir    string

	sasl bool // SMTP AUTH required (StartPostfixSASL)

	t    testing.TB
	bin  string
	cmd  *exec.Cmd
	done chan struct{}
}

// StartPostfix starts Postfix accepting mail for recipients (and no one
// else) and stops it when the test ends.
func StartPostfix(t testing.TB, recipients ...string) *Postfix {
	t.Helper()
	return startPostfix(t, "", "", recipients)
}

// StartPostfixSASL is StartPostfix with SMTP AUTH required (PLAIN and LOGIN,
// only inside TLS) for the one account username/password, checked by a
// Dovecot auth service that Postfix asks over its socket.
func StartPostfixSASL(t testing.TB, username, password string, recipients ...string) *Postfix {
	t.Helper()
	return startPostfix(t, username, password, recipients)
}

func startPostfix(t testing.TB, username, password string, recipients []string) *Postfix {
	t.Helper()
	bin := RequireBinary(t, "postfix", "/usr/sbin/postfix")
	if os.Getuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("postfix: the master daemon must start as root, and CI runs as root")
		}
		t.Skip("postfix: the master daemon must start as root")
	}
	if _, err := user.Lookup("postfix"); err != nil {
		t.Fatalf("postfix: no postfix user (is the package installed?): %v", err)
	}
	// Short and outside t.TempDir(): Postfix keeps UNIX sockets under the queue.
	dir, err := os.MkdirTemp("", "postfix-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	port := FreePort(t)
	p := &Postfix{Host: "127.0.0.1", Port: port, Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Dir: dir, t: t, bin: bin}
	p.sasl = username != ""
	if err := p.configure(recipients); err != nil {
		t.Fatalf("postfix: %v", err)
	}
	if p.sasl {
		p.startAuth(t, username, password)
	}
	t.Cleanup(p.Stop)
	p.start()
	return p
}

var dovecotAuthConf = template.Must(template.New("dovecot-auth.conf").Parse(`# Written by internal/testserver: only the auth service, for Postfix.
protocols =
base_dir = {{.Dir}}/auth/run
state_dir = {{.Dir}}/auth/state
instance_name = postfix-auth-{{.Port}}
log_path = {{.Dir}}/auth/dovecot.log
auth_mechanisms = plain login
disable_plaintext_auth = no
default_internal_user = dovecot
default_internal_group = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{.Dir}}/auth/users
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service auth {
  unix_listener {{.Dir}}/queue/private/auth {
    mode = 0660
    user = postfix
    group = postfix
  }
}
service anvil {
  chroot =
}
`))

// startAuth runs the Dovecot auth service whose socket smtpd asks.
func (p *Postfix) startAuth(t testing.TB, username, password string) {
	t.Helper()
	bin := RequireBinary(t, "dovecot", "/usr/sbin/dovecot")
	for _, sub := range []string{"auth/run", "auth/state"} {
		if err := os.MkdirAll(filepath.Join(p.Dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	users := fmt.Sprintf("%s:{PLAIN}%s::::::\n", username, password)
	if err := os.WriteFile(filepath.Join(p.Dir, "auth", "users"), []byte(users), 0o644); err != nil {
		t.Fatal(err)
	}
	var conf bytes.Buffer
	if err := dovecotAuthConf.Execute(&conf, map[string]any{"Dir": p.Dir, "Port": p.Port}); err != nil {
		t.Fatal(err)
	}
	confPath := filepath.Join(p.Dir, "auth", "dovecot.conf")
	if err := os.WriteFile(confPath, conf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-F", "-c", confPath)
	done, err := startInGroup(cmd)
	if err != nil {
		t.Fatalf("dovecot auth: %v", err)
	}
	t.Cleanup(func() {
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	})
	socket := filepath.Join(p.Dir, "queue", "private", "auth")
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(socket); err == nil {
			return
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(p.Dir, "auth", "dovecot.log"))
			t.Fatalf("dovecot auth: no socket %s after 10s\n%s", socket, b)
		}
	}
}

var postfixMain = template.Must(template.New("main.cf").Parse(`# Written by internal/testserver: a throwaway instance.
compatibility_level = 3.6
queue_directory = {{.Dir}}/queue
data_directory = {{.Dir}}/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mx.test.invalid
mydomain = test.invalid
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
# start-fg logs to its standard output, which the harness keeps.
maillog_file = /dev/stdout
smtputf8_enable = no
alias_maps =
alias_database =
biff = no
smtpd_relay_restrictions = permit_mynetworks, reject
virtual_mailbox_domains = static:all
virtual_mailbox_base = {{.Dir}}/mail
# texthash: needs no postmap; virtual(8) refuses regexp substitutions.
virtual_mailbox_maps = texthash:{{.Dir}}/conf/vmailbox
virtual_uid_maps = static:{{.UID}}
virtual_gid_maps = static:{{.GID}}
`))

var postfixMaster = template.Must(template.New("master.cf").Parse(`# Written by internal/testserver. No chroot: the queue is not laid out for one.
127.0.0.1:{{.Port}} inet n - n - - smtpd
  -o smtpd_tls_security_level=encrypt
  -o smtpd_tls_cert_file={{.Dir}}/conf/cert.pem
  -o smtpd_tls_key_file={{.Dir}}/conf/key.pem
{{- if .SASL}}
  -o smtpd_sasl_auth_enable=yes
  -o smtpd_sasl_type=dovecot
  -o smtpd_sasl_path=private/auth
  -o smtpd_tls_auth_only=yes
  -o smtpd_recipient_restrictions=permit_sasl_authenticated,reject
{{- end}}
pickup    unix  n - n 60    1 pickup
cleanup   unix  n - n -     0 cleanup
qmgr      unix  n - n 300   1 qmgr
tlsmgr    unix  - - n 1000? 1 tlsmgr
rewrite   unix  - - n -     - trivial-rewrite
bounce    unix  - - n -     0 bounce
defer     unix  - - n -     0 bounce
trace     unix  - - n -     0 bounce
verify    unix  - - n -     1 verify
flush     unix  n - n 1000? 0 flush
proxymap  unix  - - n -     - proxymap
showq     unix  n - n -     - showq
error     unix  - - n -     - error
retry     unix  - - n -     - error
discard   unix  - - n -     - discard
virtual   unix  - n n -     - virtual
anvil     unix  - - n -     1 anvil
scache    unix  - - n -     1 scache
postlog   unix-dgram n - n - 1 postlogd
`))

// configure lays out the instance: conf/ (main.cf, master.cf, the TLS files
// and the recipient map), queue/ (made by `postfix check`), data/ (owned by
// postfix) and mail/ (owned by nobody, who virtual(8) delivers as).
func (p *Postfix) configure(recipients []string) error {
	if err := os.Chmod(p.Dir, 0o755); err != nil {
		return err
	}
	for _, sub := range []string{"conf", "queue", "data", "mail"} {
		if err := os.MkdirAll(filepath.Join(p.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	pf, err := user.Lookup("postfix")
	if err != nil {
		return err
	}
	pfUID, _ := strconv.Atoi(pf.Uid)
	if err := os.Chown(filepath.Join(p.Dir, "data"), pfUID, -1); err != nil {
		return err
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		return err
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)
	if err := os.Chown(filepath.Join(p.Dir, "mail"), uid, gid); err != nil {
		return err
	}
	var vmap strings.Builder
	for _, r := range recipients {
		local, domain, ok := strings.Cut(r, "@")
		if !ok || strings.ContainsAny(r, " \t\n/") {
			return fmt.Errorf("recipient %q is not a plain address", r)
		}
		fmt.Fprintf(&vmap, "%s %s/%s/\n", r, domain, local)
	}
	conf := filepath.Join(p.Dir, "conf")
	if err := os.WriteFile(filepath.Join(conf, "vmailbox"), []byte(vmap.String()), 0o644); err != nil {
		return err
	}
	if p.CAFile, err = writeTestPKI(conf, p.Host); err != nil {
		return err
	}
	v := map[string]any{"Dir": p.Dir, "Port": p.Port, "UID": uid, "GID": gid, "SASL": p.sasl}
	for name, tmpl := range map[string]*template.Template{"main.cf": postfixMain, "master.cf": postfixMaster} {
		var b bytes.Buffer
		if err := tmpl.Execute(&b, v); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(conf, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	// check creates the queue directories with their owners and modes.
	if out, err := exec.Command(p.bin, "-c", conf, "check").CombinedOutput(); err != nil {
		return fmt.Errorf("postfix check: %v: %s", err, out)
	}
	return nil
}

// writeTestPKI writes a CA (ca.pem) and a certificate for host signed by it
// (cert.pem, key.pem) into dir, and returns the CA's path.
func writeTestPKI(dir, host string) (string, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "abusewatch test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return "", err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", err
	}
	leaf := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: host},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{"localhost"},
	}
	if ip := net.ParseIP(host); ip != nil {
		leaf.IPAddresses = []net.IP{ip}
	} else {
		leaf.DNSNames = append(leaf.DNSNames, host)
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, ca, &key.PublicKey, caKey)
	if err != nil {
		return "", err
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", err
	}
	files := map[string]*pem.Block{
		"ca.pem":   {Type: "CERTIFICATE", Bytes: caDER},
		"cert.pem": {Type: "CERTIFICATE", Bytes: leafDER},
		"key.pem":  {Type: "EC PRIVATE KEY", Bytes: keyDER},
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(b), 0o600); err != nil {
			return "", err
		}
	}
	return filepath.Join(dir, "ca.pem"), nil
}

// start runs `postfix start-fg`, which execs the master in the foreground:
// our child, in its own process group, stopped by pid.
func (p *Postfix) start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, "-c", filepath.Join(p.Dir, "conf"), "start-fg")
	// A file, not a pipe: the master's children inherit it, and Wait would
	// wait for them to close a pipe.
	logf, err := os.Create(filepath.Join(p.Dir, "postfix.log"))
	if err != nil {
		p.t.Fatalf("postfix: %v", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	done, err := startInGroup(cmd)
	if err != nil {
		p.t.Fatalf("postfix: %v", err)
	}
	p.cmd, p.done = cmd, done
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		select {
		case <-p.done:
			p.t.Fatalf("postfix: exited at startup:\n%s", p.Log())
		default:
		}
		if time.Now().After(deadline) {
			p.Stop()
			p.t.Fatalf("postfix: %s not accepting connections: %v\n%s", p.Addr, err, p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the master and its children and waits for them. The master
// runs in a session of its own (it calls setsid), so it is found by the pid
// it wrote; what is left of the postfix command is stopped by its group.
func (p *Postfix) Stop() {
	if p.cmd == nil {
		return
	}
	master := 0
	if b, err := os.ReadFile(filepath.Join(p.Dir, "queue", "pid", "master.pid")); err == nil {
		master, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	if master > 1 {
		syscall.Kill(master, syscall.SIGTERM)
		for deadline := time.Now().Add(10 * time.Second); alive(master); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				p.t.Logf("postfix: master %d alive 10s after SIGTERM, killing its group", master)
				syscall.Kill(-master, syscall.SIGKILL)
			}
		}
	}
	syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	p.cmd = nil
}

// alive reports whether pid runs (a zombie that nobody reaps does not).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z")
}

// Log returns what Postfix logged so far.
func (p *Postfix) Log() string {
	b, _ := os.ReadFile(filepath.Join(p.Dir, "postfix.log"))
	return string(b)
}

// Delivered waits until n mails reached recipient's Maildir (or the timeout
// passes, failing the test) and returns them, oldest first.
func (p *Postfix) Delivered(t testing.TB, recipient string, n int, timeout time.Duration) [][]byte {
	t.Helper()
	local, domain, _ := strings.Cut(recipient, "@")
	dir := filepath.Join(p.Dir, "mail", domain, local, "new")
	deadline := time.Now().Add(timeout)
	for {
		entries, _ := os.ReadDir(dir)
		if len(entries) >= n {
			names := make([]string, 0, len(entries))
			for _, e := range entries {
				names = append(names, e.Name())
			}
			// Maildir names start with the delivery time in seconds.
			sort.Strings(names)
			var out [][]byte
			for _, name := range names {
				b, err := os.ReadFile(filepath.Join(dir, name))
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, b)
			}
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("postfix: %d of %d mails for %s after %s\n%s", len(entries), n, recipient, timeout, p.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
