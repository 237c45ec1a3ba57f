package testserver

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"text/template"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
)

// Account is an IMAP login on a test server, with the helpers tests use to
// put mail in and look at what a program under test did to it.
type Account struct {
	Addr     string // host:port
	Username string
	Password string
}

// Dial returns a logged-in client, closed when the test ends.
func (a Account) Dial(t testing.TB) *imapclient.Client {
	t.Helper()
	c := a.dial(t)
	t.Cleanup(func() { c.Close() })
	return c
}

func (a Account) dial(t testing.TB) *imapclient.Client {
	t.Helper()
	c, err := imapclient.DialInsecure(a.Addr, nil)
	if err != nil {
		t.Fatalf("imap dial %s: %v", a.Addr, err)
	}
	if err := c.Login(a.Username, a.Password).Wait(); err != nil {
		c.Close()
		t.Fatalf("imap login %s: %v", a.Username, err)
	}
	// Learn the capabilities now: with LITERAL+ known, APPENDs need no
	// round trip each.
	c.Caps()
	return c
}

// with runs f on a fresh connection and logs out, so that helpers called in
// a loop do not pile up connections against the server's per-user limit.
func (a Account) with(t testing.TB, f func(*imapclient.Client)) {
	t.Helper()
	c := a.dial(t)
	defer c.Close()
	f(c)
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("imap logout: %v", err)
	}
}

// Append appends messages to folder and returns their UIDs.
func (a Account) Append(t testing.TB, folder string, msgs ...[]byte) []uint32 {
	t.Helper()
	var uids []uint32
	a.with(t, func(c *imapclient.Client) { uids = appendWith(t, c, folder, msgs) })
	return uids
}

// appendWith pipelines the APPENDs: a backlog of thousands costs one round
// trip, not one each.
func appendWith(t testing.TB, c *imapclient.Client, folder string, msgs [][]byte) []uint32 {
	t.Helper()
	cmds := make([]*imapclient.AppendCommand, 0, len(msgs))
	for i, m := range msgs {
		cmd := c.Append(folder, int64(len(m)), nil)
		if _, err := cmd.Write(m); err != nil {
			t.Fatalf("append %d to %s: %v", i, folder, err)
		}
		if err := cmd.Close(); err != nil {
			t.Fatalf("append %d to %s: %v", i, folder, err)
		}
		cmds = append(cmds, cmd)
	}
	uids := make([]uint32, 0, len(msgs))
	for i, cmd := range cmds {
		data, err := cmd.Wait()
		if err != nil {
			t.Fatalf("append %d to %s: %v", i, folder, err)
		}
		uids = append(uids, uint32(data.UID))
	}
	return uids
}

// Recreate deletes folder and creates it again, which gives it a new
// UIDVALIDITY, and returns that.
func (a Account) Recreate(t testing.TB, folder string) uint32 {
	t.Helper()
	a.with(t, func(c *imapclient.Client) {
		if err := c.Delete(folder).Wait(); err != nil {
			t.Fatalf("delete %s: %v", folder, err)
		}
	})
	return a.Create(t, folder)
}

// Create creates folder and returns its UIDVALIDITY.
func (a Account) Create(t testing.TB, folder string) uint32 {
	t.Helper()
	var validity uint32
	a.with(t, func(c *imapclient.Client) {
		if err := c.Create(folder, nil).Wait(); err != nil {
			t.Fatalf("create %s: %v", folder, err)
		}
		st, err := c.Status(folder, &imap.StatusOptions{UIDValidity: true}).Wait()
		if err != nil {
			t.Fatalf("status %s: %v", folder, err)
		}
		validity = st.UIDValidity
	})
	return validity
}

// Message is what a server holds of one message, apart from its content.
type Message struct {
	UID   uint32
	Flags []imap.Flag
}

// Has reports whether the message carries flag. Flags are compared without
// case, as IMAP does (go-imap's memory server lowercases keywords).
func (m Message) Has(flag imap.Flag) bool {
	return slices.ContainsFunc(m.Flags, func(f imap.Flag) bool { return strings.EqualFold(string(f), string(flag)) })
}

// Messages lists folder's messages in UID order, opening it read-only so
// that looking changes nothing.
func (a Account) Messages(t testing.TB, folder string) []Message {
	t.Helper()
	var msgs []Message
	a.with(t, func(c *imapclient.Client) {
		sel, err := c.Select(folder, &imap.SelectOptions{ReadOnly: true}).Wait()
		if err != nil {
			t.Fatalf("examine %s: %v", folder, err)
		}
		if sel.NumMessages == 0 {
			return
		}
		bufs, err := c.Fetch(imap.SeqSet{{Start: 1, Stop: 0}}, &imap.FetchOptions{UID: true, Flags: true}).Collect()
		if err != nil {
			t.Fatalf("fetch flags in %s: %v", folder, err)
		}
		for _, b := range bufs {
			msgs = append(msgs, Message{UID: uint32(b.UID), Flags: b.Flags})
		}
	})
	slices.SortFunc(msgs, func(x, y Message) int { return cmp.Compare(x.UID, y.UID) })
	return msgs
}

// Dovecot is a throwaway Dovecot IMAP server on loopback, with one account
// and a "Processed" folder, everything under a test's temporary directory.
// It listens without TLS; it is reachable only from this machine.
type Dovecot struct {
	Account
	Host string
	Port int
	// Dir holds the configuration (dovecot.conf), the log (dovecot.log) and
	// the mail.
	Dir string

	t    testing.TB
	bin  string
	cmd  *exec.Cmd
	done chan struct{}
	// mailUID and mailGID own the mail (nobody:nogroup as root).
	mailUID, mailGID int
}

// StartDovecot starts a Dovecot and stops it when the test ends. The test is
// skipped when Dovecot is missing (and fails in CI; see RequireBinary).
func StartDovecot(t testing.TB) *Dovecot {
	t.Helper()
	bin := RequireBinary(t, "dovecot", "/usr/sbin/dovecot")
	// Not t.TempDir(): Dovecot's UNIX sockets live under it, and a long test
	// name would push their paths past the 108-byte limit. Mail processes
	// run as nobody when we are root, so the directory must let them in.
	dir, err := os.MkdirTemp("", "dovecot-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	port := FreePort(t)
	d := &Dovecot{
		Account: Account{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), Username: "abuse@example.net", Password: "secret"},
		Host:    "127.0.0.1",
		Port:    port,
		Dir:     dir,
		t:       t,
		bin:     bin,
	}
	if err := d.configure(); err != nil {
		t.Fatalf("dovecot: %v", err)
	}
	t.Cleanup(d.Stop)
	d.start()
	return d
}

var dovecotConf = template.Must(template.New("dovecot.conf").Parse(`# Written by internal/testserver: a throwaway instance.
protocols = imap
listen = 127.0.0.1
base_dir = {{.Dir}}/run
state_dir = {{.Dir}}/state
instance_name = dovecot-test-{{.Port}}
log_path = {{.Dir}}/dovecot.log
info_log_path = {{.Dir}}/dovecot.log
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_internal_user = {{.IntUser}}
default_internal_group = {{.IntGroup}}
default_login_user = {{.LoginUser}}
first_valid_uid = 0
# sdbox, not the recipe's maildir: maildir rewrites its UID list on every
# APPEND, so a 10,000-mail backlog took a minute to set up instead of ~12 s.
mail_location = sdbox:~/sdbox
mail_uid = {{.MailUser}}
mail_gid = {{.MailGroup}}
# Nothing here needs to survive a power cut.
mail_fsync = never
# Tests and benchmarks open many connections as the one user.
mail_max_userip_connections = 100
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {{.Dir}}/users
}
userdb {
  driver = static
  args = uid={{.MailUser}} gid={{.MailGroup}} home={{.Dir}}/mail/%u
}
namespace inbox {
  inbox = yes
  separator = /
  mailbox Processed {
    auto = create
  }
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = {{.Port}}
  }
  inet_listener imaps {
    port = 0
  }
}
service anvil {
  chroot =
}
`))

// configure writes the configuration the way the recipe in
// /work/shared/recipes/dovecot.md was verified: as root Dovecot keeps its
// privilege separation and stores mail as nobody; otherwise every process
// runs as the current user (which needs the empty chroots).
func (d *Dovecot) configure() error {
	v := map[string]any{"Dir": d.Dir, "Port": d.Port}
	if os.Getuid() == 0 {
		v["MailUser"], v["MailGroup"] = "nobody", "nogroup"
		v["IntUser"], v["IntGroup"], v["LoginUser"] = "dovecot", "dovecot", "dovenull"
	} else {
		u, err := user.Current()
		if err != nil {
			return err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return err
		}
		v["MailUser"], v["MailGroup"] = u.Username, g.Name
		v["IntUser"], v["IntGroup"], v["LoginUser"] = u.Username, g.Name, u.Username
	}
	u, err := user.Lookup(v["MailUser"].(string))
	if err != nil {
		return err
	}
	g, err := user.LookupGroup(v["MailGroup"].(string))
	if err != nil {
		return err
	}
	d.mailUID, _ = strconv.Atoi(u.Uid)
	d.mailGID, _ = strconv.Atoi(g.Gid)
	for _, sub := range []string{"run", "state", "mail"} {
		if err := os.MkdirAll(filepath.Join(d.Dir, sub), 0o755); err != nil {
			return err
		}
	}
	if err := os.Chown(filepath.Join(d.Dir, "mail"), d.mailUID, d.mailGID); err != nil {
		return err
	}
	users := fmt.Sprintf("%s:{PLAIN}%s::::::\n", d.Username, d.Password)
	if err := os.WriteFile(filepath.Join(d.Dir, "users"), []byte(users), 0o644); err != nil {
		return err
	}
	var conf bytes.Buffer
	if err := dovecotConf.Execute(&conf, v); err != nil {
		return err
	}
	return os.WriteFile(d.ConfigPath(), conf.Bytes(), 0o644)
}

// ConfigPath is the instance's dovecot.conf, for doveadm -c.
func (d *Dovecot) ConfigPath() string { return filepath.Join(d.Dir, "dovecot.conf") }

// start runs the master in the foreground (-F), in its own process group,
// so that it is our child and Stop can always clean up after it.
func (d *Dovecot) start() {
	d.t.Helper()
	cmd := exec.Command(d.bin, "-F", "-c", d.ConfigPath())
	done, err := startInGroup(cmd)
	if err != nil {
		d.t.Fatalf("dovecot: %v", err)
	}
	d.cmd, d.done = cmd, done
	if err := d.waitReady(10 * time.Second); err != nil {
		d.Stop()
		d.t.Fatalf("dovecot: %v\n%s", err, d.Log())
	}
}

func (d *Dovecot) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", d.Addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		select {
		case <-d.done:
			return errors.New("exited at startup")
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not accepting connections after %s: %w", d.Addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Stop stops the server and waits for all its processes; the mail stays.
// Stopping a stopped server does nothing.
func (d *Dovecot) Stop() {
	if d.cmd == nil {
		return
	}
	pgid := d.cmd.Process.Pid
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(15 * time.Second):
		d.t.Logf("dovecot: no exit 15s after SIGTERM, killing")
		syscall.Kill(-pgid, syscall.SIGKILL)
		<-d.done
	}
	d.cmd = nil
	// Connection processes may outlive the master by seconds; a stopped
	// server must drop its clients now, as a crashed or restarted one does.
	syscall.Kill(-pgid, syscall.SIGTERM)
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(-pgid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(-pgid, syscall.SIGKILL)
		}
	}
}

// Restart stops the server and starts it again on the same port with the
// same mail. Clients are disconnected (Dovecot says BYE).
func (d *Dovecot) Restart() {
	d.t.Helper()
	d.Stop()
	d.start()
}

// AppendDirect appends messages through `doveadm exec imap` (IMAP over a
// pipe, straight on the mail store), which works while the server is
// stopped: mail that arrives while a client cannot see it.
func (d *Dovecot) AppendDirect(t testing.TB, folder string, msgs ...[]byte) []uint32 {
	t.Helper()
	client, server := net.Pipe()
	cmd := exec.Command("doveadm", "-c", d.ConfigPath(), "exec", "imap")
	home := filepath.Join(d.Dir, "mail", d.Username)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "USER=" + d.Username, "HOME=" + home}
	cmd.Dir = home
	cmd.Stdin, cmd.Stdout = server, server
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if os.Getuid() == 0 {
		// As the server would: mail files owned by root would lock it out.
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(d.mailUID), Gid: uint32(d.mailGID)}}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("doveadm exec imap: %v", err)
	}
	c := imapclient.New(client, nil)
	uids := appendWith(t, c, folder, msgs)
	if err := c.Logout().Wait(); err != nil {
		t.Errorf("doveadm exec imap: logout: %v", err)
	}
	c.Close()
	server.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("doveadm exec imap: %v: %s", err, stderr.Bytes())
	}
	return uids
}

// Log returns the server's log so far.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}
