package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/internal/testutil"
	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// TestWatchReloadsOnSIGHUP runs `abusewatch watch` against a real Dovecot
// and changes its configuration under it: a mailbox and a chat channel
// added, a channel removed, a broken file refused, a mailbox removed. Each
// step is proven by mail going (or not going) where it should.
func TestWatchReloadsOnSIGHUP(t *testing.T) {
	d := testserver.StartDovecot(t)
	d.Create(t, "Abuse")
	recv := notifytest.NewReceiver(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "abusewatch.yaml")
	listen := freeLoopbackAddr(t)
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	mailbox := func(name, folder string) string {
		return fmt.Sprintf(`  - name: %s
    host: 127.0.0.1
    port: %d
    tls: none
    username: %s
    password: %s
    folder: %s
    poll: 1h
`, name, d.Port, d.Username, d.Password, folder)
	}
	config := func(mailboxes []string, channels ...string) string {
		s := fmt.Sprintf("store:\n  path: %s/abusewatch.db\nhttp:\n  listen: %s\nmailboxes:\n%s", dir, listen, strings.Join(mailboxes, ""))
		s += "notify:\n"
		for _, c := range channels {
			s += fmt.Sprintf("  - name: %s\n    url: %s\n", c, recv.GenericURL(c))
		}
		return s
	}
	write(config([]string{mailbox("main", "INBOX")}, "a"))

	var logBuf bytes.Buffer
	logs := &syncWriter{w: &logBuf}
	logText := func() string {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		return logBuf.String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	root := newRootCmd()
	root.SetArgs([]string{"--config", path, "--log-level", "debug", "watch"})
	root.SetOut(&bytes.Buffer{})
	root.SetErr(logs)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("watch: %v", err)
		}
	}()

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		testutil.Eventually(t, 20*time.Second, cond, func() string {
			return fmt.Sprintf("%s; deliveries %v; log:\n%s", what, deliveriesByPath(recv), logText())
		})
	}
	delivered := func(want map[string]int) func() bool {
		return func() bool {
			got := deliveriesByPath(recv)
			for path, n := range want {
				if got[path] != n {
					return false
				}
			}
			return true
		}
	}
	reload := func(what string, logLine string, times int) {
		t.Helper()
		if err := syscall.Kill(syscall.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(what, func() bool { return strings.Count(logText(), logLine) == times })
	}
	fixture := func(name string) []byte {
		raw, err := os.ReadFile(filepath.Join("..", "..", "parser", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}

	d.Append(t, "INBOX", fixture("ovh-antihack-ntp-amplification-en.eml"))
	waitFor("the first incident told on channel a", delivered(map[string]int{"/a": 1}))

	// A second mailbox and channel b in; channel a out.
	write(config([]string{mailbox("main", "INBOX"), mailbox("second", "Abuse")}, "b"))
	reload("the first reload", "configuration reloaded", 1)
	d.Append(t, "Abuse", fixture("ovh-antihack-syn-flood-fr.eml"))
	waitFor("mail in the added mailbox, told on the added channel", delivered(map[string]int{"/a": 1, "/b": 1}))
	d.Append(t, "INBOX", fixture("ovh-antispam-en.eml"))
	waitFor("mail in the kept mailbox", delivered(map[string]int{"/a": 1, "/b": 2}))
	if strings.Contains(logText(), `"msg":"mailbox stopped","mailbox":"main"`) {
		t.Error("the unchanged mailbox was restarted by the reload")
	}
	if got := healthyMailboxes(t, listen); !slices.Equal(got, []string{"main", "second"}) {
		t.Errorf("/healthz mailboxes = %v, want [main second]", got)
	}

	// A file that does not check changes nothing.
	write(config([]string{mailbox("main", "INBOX"), mailbox("second", "Abuse")}, "b") + "unknown_section: true\n")
	reload("the refused reload", "configuration not reloaded", 1)
	d.Append(t, "Abuse", fixture("ovh-antispam-fr.eml"))
	waitFor("mail in the second mailbox after a refused reload", delivered(map[string]int{"/a": 1, "/b": 3}))

	// The second mailbox out; a change that needs a restart is reported, not applied.
	write(config([]string{mailbox("main", "INBOX")}, "b") + "workers:\n  count: 2\n")
	reload("the second reload", "configuration reloaded", 2)
	if n := strings.Count(logText(), "restart to apply"); n != 1 || !strings.Contains(logText(), `"section":"workers"`) {
		t.Errorf("want one warning, for the workers section; got %d:\n%s", n, logText())
	}
	if !strings.Contains(logText(), `"msg":"mailbox stopped","mailbox":"second"`) {
		t.Errorf("no log of the removed mailbox stopping:\n%s", logText())
	}
	if got := healthyMailboxes(t, listen); !slices.Equal(got, []string{"main"}) {
		t.Errorf("/healthz mailboxes = %v, want [main]", got)
	}
	d.Append(t, "INBOX", fixture("ovh-abuse-spam-en.eml"))
	waitFor("mail in the kept mailbox after removing the other", delivered(map[string]int{"/a": 1, "/b": 4}))
}

// freeLoopbackAddr returns a loopback address with a port free a moment ago.
func freeLoopbackAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func healthyMailboxes(t *testing.T, addr string) []string {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var health struct {
		Mailboxes []struct {
			Name string `json:"name"`
		} `json:"mailboxes"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&health); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range health.Mailboxes {
		names = append(names, m.Name)
	}
	slices.Sort(names)
	return names
}

func deliveriesByPath(recv *notifytest.Receiver) map[string]int {
	got := map[string]int{}
	for _, d := range recv.Deliveries() {
		got[d.Path]++
	}
	return got
}

// syncWriter serializes writes: the command logs from several goroutines
// while the test reads.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
