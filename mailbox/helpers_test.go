package mailbox

import (
	"bufio"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/internal/testutil"
)

// memSink is the in-memory Sink of the tests. It keeps a digest of each
// message, not the bytes, so that a 30 MiB mail costs nothing to remember,
// and counts deliveries so that "none twice" can be asserted.
type memSink struct {
	mu      sync.Mutex
	changed chan struct{} // closed and replaced on every change
	cp      map[string][2]uint32
	got     map[key]delivered
	order   []key
	resets  int
	// fail, when set, decides whether a Deliver fails (before committing).
	fail func(Delivery) error
	// block, when set, is called at the start of Deliver, unlocked.
	block func(ctx context.Context, d Delivery)
}

type key struct {
	mailbox     string
	uidValidity uint32
	uid         uint32
}

type delivered struct {
	count  int
	size   int64
	rawLen int
	raw    bool
	sum    [32]byte
	reason string
}

func newMemSink() *memSink {
	return &memSink{changed: make(chan struct{}), cp: map[string][2]uint32{}, got: map[key]delivered{}}
}

func (s *memSink) Checkpoint(_ context.Context, mailbox string) (uint32, uint32, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.cp[mailbox]
	return cp[0], cp[1], nil
}

func (s *memSink) ResetCheckpoint(_ context.Context, mailbox string, uidValidity uint32) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cp[mailbox] = [2]uint32{uidValidity, 0}
	s.resets++
	s.notify()
	return nil
}

func (s *memSink) Deliver(ctx context.Context, d Delivery) error {
	if s.block != nil {
		s.block(ctx, d)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fail != nil {
		if err := s.fail(d); err != nil {
			return err
		}
	}
	cp := s.cp[d.Mailbox]
	if cp[0] == d.UIDValidity && d.UID <= cp[1] {
		return fmt.Errorf("memSink: UID %d delivered at or below the checkpoint %d", d.UID, cp[1])
	}
	k := key{d.Mailbox, d.UIDValidity, d.UID}
	g := s.got[k]
	g.count++
	g.size, g.rawLen, g.raw, g.sum, g.reason = d.Size, len(d.Raw), d.Raw != nil, sha256.Sum256(d.Raw), d.Reason
	s.got[k] = g
	s.order = append(s.order, k)
	s.cp[d.Mailbox] = [2]uint32{d.UIDValidity, d.UID}
	s.notify()
	return nil
}

// memBatchSink is memSink taking the messages of a FETCH together
// (BatchSink): all of them or, when one fails, none. It records the size of
// each batch it committed.
type memBatchSink struct {
	*memSink
	batches []int
}

func (s *memBatchSink) DeliverBatch(ctx context.Context, ds []Delivery) error {
	s.mu.Lock()
	for _, d := range ds {
		if s.fail == nil {
			break
		}
		if err := s.fail(d); err != nil {
			s.mu.Unlock()
			return err
		}
	}
	s.mu.Unlock()
	for _, d := range ds {
		if err := s.Deliver(ctx, d); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, len(ds))
	return nil
}

// sinkUnder returns the sink a test runs against: sink itself, or sink
// taking batches, with the batch sizes it will record.
func sinkUnder(sink *memSink, batches bool) (Sink, *[]int) {
	if !batches {
		return sink, nil
	}
	bs := &memBatchSink{memSink: sink}
	return bs, &bs.batches
}

func (s *memSink) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// waitFor waits until cond holds, re-checking on every change of the sink.
// The generous limit only ends a test that would otherwise hang.
func (s *memSink) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		s.mu.Lock()
		ok, ch := cond(), s.changed
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("gave up waiting for %s", what)
		}
	}
}

// count returns the number of distinct messages delivered (caller holds no lock).
func (s *memSink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// checkOnce fails the test when a message was delivered more than once.
func (s *memSink) checkOnce(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, g := range s.got {
		if g.count != 1 {
			t.Errorf("UID %d (UIDVALIDITY %d) delivered %d times", k.uid, k.uidValidity, g.count)
		}
	}
}

func (s *memSink) get(mailbox string, uidValidity, uid uint32) (delivered, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.got[key{mailbox, uidValidity, uid}]
	return g, ok
}

// testLogger sends a watcher's log to the test's log.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(p), "\n"))
	return len(p), nil
}

// memServer is an in-process go-imap server with one account and the
// folders INBOX and Processed.
type memServer struct {
	testserver.Account
	user *imapmemserver.User
}

// capsRev1 is what the in-process server advertises unless a test says
// otherwise: IMAP4rev1 (with IDLE, which imapserver always offers there),
// UIDPLUS and MOVE.
var capsRev1 = imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}}

func startMemServer(t *testing.T, caps imap.CapSet) *memServer {
	return startMemServerWith(t, memServerOptions{caps: caps})
}

type memServerOptions struct {
	caps imap.CapSet
	// starttls offers STARTTLS and then requires it before authentication.
	starttls *tls.Config
	// implicitTLS serves TLS from the first byte.
	implicitTLS *tls.Config
	// session, when set, replaces the memory server's password session.
	session func(*imapmemserver.User) imapserver.Session
}

func startMemServerWith(t *testing.T, o memServerOptions) *memServer {
	t.Helper()
	mem := imapmemserver.New()
	u := imapmemserver.NewUser("abuse@example.net", "secret")
	mem.AddUser(u)
	for _, f := range []string{"INBOX", "Processed"} {
		if err := u.Create(f, nil); err != nil {
			t.Fatal(err)
		}
	}
	newSession := func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
		if o.session != nil {
			return o.session(u), nil, nil
		}
		return mem.NewSession(), nil, nil
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession:   newSession,
		Caps:         o.caps,
		TLSConfig:    o.starttls,
		InsecureAuth: o.starttls == nil && o.implicitTLS == nil,
		Logger:       discardLogger{},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	if o.implicitTLS != nil {
		ln = tls.NewListener(ln, o.implicitTLS)
	}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &memServer{
		Account: testserver.Account{Addr: addr, Username: "abuse@example.net", Password: "secret"},
		user:    u,
	}
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...any) {}

// mailboxConfig is a validated-looking configuration for addr.
func mailboxConfig(addr, after string) config.Mailbox {
	host, port, _ := net.SplitHostPort(addr)
	var p int
	fmt.Sscan(port, &p)
	return config.Mailbox{
		Name: "abuse", Host: host, Port: p, TLS: "none",
		Username: "abuse@example.net", Password: "secret",
		Folder: "INBOX", After: after, Poll: time.Hour,
	}
}

// mail returns a small well-formed message numbered i.
func mail(i int) []byte {
	return fmt.Appendf(nil, "From: noc@provider.example\r\nTo: abuse@example.net\r\nSubject: notice %d\r\nMessage-ID: <%d@provider.example>\r\n\r\nAbuse notice number %d.\r\n", i, i, i)
}

func mails(from, to int) [][]byte {
	var m [][]byte
	for i := from; i <= to; i++ {
		m = append(m, mail(i))
	}
	return m
}

// proxy sits between a watcher and a server: it can hide capabilities from
// the watcher, records the commands the watcher sends and can cut every
// connection, as a network failure would.
type proxy struct {
	Addr string
	hide []string

	mu        sync.Mutex
	conns     []net.Conn
	accepted  int
	frozen    int // connections 1..frozen are silenced
	commands  []string
	responses []string
}

func startProxy(t *testing.T, upstream string, hide ...string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{Addr: ln.Addr().String(), hide: hide}
	t.Cleanup(func() {
		ln.Close()
		p.cut()
	})
	go func() {
		for {
			down, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				down.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, down, up)
			p.accepted++
			n := p.accepted
			p.mu.Unlock()
			go p.pipe(down, up, p.recordCommand)
			go p.pipe(up, down, func(line string) string {
				if p.isFrozen(n) {
					return ""
				}
				return p.hideCaps(line)
			})
		}
	}()
	return p
}

// pipe copies line by line, rewriting each line with edit.
func (p *proxy) pipe(from, to net.Conn, edit func(string) string) {
	defer from.Close()
	defer to.Close()
	r := bufio.NewReader(from)
	for {
		line, err := r.ReadString('\n')
		if line != "" {
			if _, werr := io.WriteString(to, edit(line)); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *proxy) recordCommand(line string) string {
	p.mu.Lock()
	p.commands = append(p.commands, line)
	p.mu.Unlock()
	return line
}

func (p *proxy) hideCaps(line string) string {
	p.mu.Lock()
	p.responses = append(p.responses, line)
	p.mu.Unlock()
	if !strings.Contains(line, "CAPABILITY") {
		return line
	}
	for _, c := range p.hide {
		line = strings.ReplaceAll(line, " "+c+" ", " ")
		line = strings.ReplaceAll(line, " "+c+"]", "]")
		line = strings.ReplaceAll(line, " "+c+"\r\n", "\r\n")
	}
	return line
}

// sent reports whether the watcher sent a command with this name.
func (p *proxy) sent(name string) bool { return p.count(name) > 0 }

// idling reports whether the server accepted an IDLE.
func (p *proxy) idling() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.responses, func(l string) bool { return strings.HasPrefix(l, "+ idling") })
}

// freeze makes every connection made so far silent: the server's answers
// are swallowed while the TCP connection stays up, as with a peer that
// vanished without a FIN. Later connections are not affected.
func (p *proxy) freeze() {
	p.mu.Lock()
	p.frozen = p.accepted
	p.mu.Unlock()
}

func (p *proxy) isFrozen(n int) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return n <= p.frozen
}

// count returns how many commands with this name the watcher sent.
func (p *proxy) count(name string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.commands {
		if f := strings.Fields(c); len(f) >= 2 && strings.EqualFold(f[1], name) {
			n++
		}
	}
	return n
}

// cut closes every connection made so far.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) connections() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// runWatcher runs w until the test ends and returns a function that stops
// it and returns Run's result.
func runWatcher(t *testing.T, w *Watcher) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-done:
			case <-time.After(60 * time.Second):
				t.Fatal("Run did not return after its context was cancelled")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitHealth waits until the watcher's health satisfies cond.
func waitHealth(t *testing.T, w *Watcher, what string, cond func(Health) bool) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, func() bool { return cond(w.Health()) }, func() string {
		return fmt.Sprintf("gave up waiting for %s; health %+v", what, w.Health())
	})
}
