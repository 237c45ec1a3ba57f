package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/internal/testutil"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/notify/notifytest"
	"github.com/abusewatch/abusewatch/store"
)

// chatTemplate writes what identifies a chat event across two stores (whose
// incident ids differ): its kind and IP, and its text; then repeatMark when
// the message says it may repeat one sent before.
const chatTemplate = "{{.Kind}}|{{.IP}}|{{.Detail}}{{if .Repeat}}" + repeatMark + "{{end}}"

const repeatMark = "|may-repeat"

// TestDaemonChild is a `watch` process of the failover tests: a Daemon on
// the configuration in ABUSEWATCH_DAEMON_CONFIG until SIGTERM (or SIGKILL).
func TestDaemonChild(t *testing.T) {
	path := os.Getenv("ABUSEWATCH_DAEMON_CONFIG")
	if path == "" {
		t.Skip("child of the failover tests only")
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	d, err := NewDaemon(ctx, cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ln, err := d.Listen(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Run(ctx, ln); err != nil {
		t.Fatal(err)
	}
}

// cluster is two or more daemons on one PostgreSQL store and one Dovecot
// mailbox, each its own process.
type cluster struct {
	t       testing.TB
	dovecot *testserver.Dovecot
	chat    *notifytest.Receiver
	dsn     string
	procs   []*daemonProc
	st      *store.Store
}

type daemonProc struct {
	cfg    string // its configuration file
	listen string
	cmd    *exec.Cmd
	waited chan struct{}
}

func newCluster(t testing.TB, daemons int) *cluster {
	t.Helper()
	pg := testserver.StartPostgres(t)
	c := &cluster{t: t, dovecot: testserver.StartDovecot(t), chat: notifytest.NewReceiver(t), dsn: pg.NewDB(t)}
	dir := t.TempDir()
	for i := range daemons {
		p := &daemonProc{listen: fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t)), cfg: filepath.Join(dir, fmt.Sprintf("d%d.yaml", i))}
		yaml := fmt.Sprintf(`store:
  path: %s/d%d/abusewatch.db
  driver: postgres
  dsn: %q
mailboxes:
  - name: abuse
    host: %s
    port: %d
    tls: none
    username: %s
    password: %s
    folder: INBOX
    after: none
    poll: 1s
notify:
  - name: chat
    url: %q
    template: %q
http:
  listen: %s
workers:
  lease: 3s
`, dir, i, c.dsn, c.dovecot.Host, c.dovecot.Port, c.dovecot.Username, c.dovecot.Password, c.chat.GenericURL("chat"), chatTemplate, p.listen)
		if err := os.WriteFile(p.cfg, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
		c.procs = append(c.procs, p)
	}
	var err error
	if c.st, err = store.OpenPostgres(context.Background(), c.dsn, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, p := range c.procs {
			c.stop(p, syscall.SIGKILL)
		}
		c.st.Close()
	})
	return c
}

func (c *cluster) start(p *daemonProc) {
	c.t.Helper()
	p.cmd = exec.Command(os.Args[0], "-test.run=^TestDaemonChild$", "-test.count=1")
	p.cmd.Env = append(os.Environ(), "ABUSEWATCH_DAEMON_CONFIG="+p.cfg)
	p.cmd.Stderr = os.Stderr
	if err := p.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	p.waited = make(chan struct{})
	go func(cmd *exec.Cmd, done chan struct{}) { _ = cmd.Wait(); close(done) }(p.cmd, p.waited)
}

func (c *cluster) stop(p *daemonProc, sig syscall.Signal) {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(sig)
	<-p.waited
	p.cmd = nil
}

// holds asks p's /healthz which mailboxes it holds; nil when it does not answer.
func (c *cluster) holds(p *daemonProc) []string {
	cl := http.Client{Timeout: time.Second}
	resp, err := cl.Get("http://" + p.listen + "/healthz")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	var h healthJSON
	if json.NewDecoder(resp.Body).Decode(&h) != nil {
		return nil
	}
	return h.Holds
}

// holder waits for the process holding the mailbox and returns it.
func (c *cluster) holder(timeout time.Duration) *daemonProc {
	c.t.Helper()
	var held *daemonProc
	testutil.Eventually(c.t, timeout, func() bool {
		for _, p := range c.procs {
			if p.cmd != nil && slices.Contains(c.holds(p), "abuse") {
				held = p
				return true
			}
		}
		return false
	}, func() string { return "no daemon holds the mailbox" })
	return held
}

func (c *cluster) messages() int {
	c.t.Helper()
	st, err := c.st.Stats(context.Background())
	if err != nil {
		c.t.Fatal(err)
	}
	return st.Messages
}

// cleanRun ingests mails into a SQLite store with the same chat template,
// uninterrupted, and returns its stats and what chat was told.
func cleanRun(t *testing.T, mails [][]byte) (store.Stats, []string) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "clean.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rcv := notifytest.NewReceiver(t)
	n, err := notify.New([]config.Channel{{Name: "chat", URL: rcv.GenericURL("chat"), Template: chatTemplate}}, notify.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	p := New(Options{Store: st, Notifier: n})
	for i, raw := range mails {
		if _, err := p.Ingest(ctx, store.Message{Source: store.Source{Mailbox: "abuse", UIDValidity: 1, UID: uint32(i + 1)}, Raw: raw, Size: int64(len(raw))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return stats, deliveries(rcv)
}

func deliveries(r *notifytest.Receiver) []string {
	var out []string
	for _, d := range r.Deliveries() {
		out = append(out, d.Text)
	}
	slices.Sort(out)
	return out
}

// TestFailoverCrash: two daemons watch one Dovecot mailbox on one
// PostgreSQL store while 2,000 mails arrive; one of them, the mailbox's
// holder most often, is SIGKILLed at random points and started again,
// several times. Afterwards the store holds exactly the 2,000 messages and
// the notices and incidents an uninterrupted run makes, and chat was told
// each event once.
func TestFailoverCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns daemons")
	}
	testserver.RequirePostgres(t)
	const total = 2000
	fixtures := fixtureMails(t)
	mails := make([][]byte, total)
	for i := range mails {
		mails[i] = crlf(uniqueMail(fixtures[i%len(fixtures)], i))
	}
	wantStats, wantChat := cleanRun(t, mails)

	c := newCluster(t, 2)
	for _, p := range c.procs {
		c.start(p)
	}
	c.holder(30 * time.Second)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 21))
	kills := 0
	// A kill after one batch in five, at random, and at least minKills:
	// left to chance alone, one run in a hundred would kill fewer than 3
	// times and prove little.
	const batch, minKills = 50, 4
	for i := 0; i < total; i += batch {
		c.dovecot.Append(t, "INBOX", mails[i:i+batch]...)
		if left := (total - i) / batch; rng.IntN(5) != 0 && left > minKills-kills {
			continue
		}
		// Most kills hit the holder mid-ingest; some the one standing by.
		victim := c.procs[rng.IntN(len(c.procs))]
		if rng.IntN(4) != 0 {
			victim = c.holder(30 * time.Second)
		}
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		c.stop(victim, syscall.SIGKILL)
		kills++
		c.start(victim)
	}
	t.Logf("killed a daemon %d times", kills)
	if kills < minKills {
		t.Fatalf("only %d kills: the test proved little", kills)
	}
	// The workers' lease is 3 s: a task a killed daemon held runs again
	// on the other after that. Wait for every mail and every chat task.
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) && (c.messages() < total || c.queuedNotify() > 0) {
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // a late duplicate would arrive in this time
	gotChat := deliveries(c.chat)
	got, err := c.st.Stats(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got.Messages != total {
		t.Errorf("messages = %d, want exactly %d", got.Messages, total)
	}
	if got.Notices != wantStats.Notices || got.Incidents != wantStats.Incidents || got.OpenIncidents != wantStats.OpenIncidents {
		t.Errorf("store %+v, want the uninterrupted run's %+v", got, wantStats)
	}
	if wantStats.Notices == 0 || len(wantChat) == 0 {
		t.Fatal("the corpus made no notices or chat: the test would prove nothing")
	}
	// Updates are batched by time, so their texts differ from another run's;
	// the other messages must be an uninterrupted run's.
	done, err := c.st.Tasks(context.Background(), "done")
	if err != nil {
		t.Fatal(err)
	}
	notifyTasks := 0
	for _, task := range done {
		if task.Kind == "notify" {
			notifyTasks++
		}
	}
	// A kill between the start of a send (BeginSend) and the task's commit
	// makes the task run again once its lease runs out, and no process can
	// know whether the killed one's message went out: that message is sent
	// again, saying it may repeat. Nothing may be lost, no message may come
	// twice without saying so, and each that says so needs a kill that
	// caught a send: at most one per worker of the killed daemon.
	if q := c.queuedNotify(); q > 0 {
		t.Errorf("%d notify tasks still queued", q)
	}
	var plain, repeats []string
	for _, m := range gotChat {
		if r, ok := strings.CutSuffix(m, repeatMark); ok {
			repeats = append(repeats, r)
		} else {
			plain = append(plain, m)
		}
	}
	t.Logf("chat: %d messages, %d notify tasks done, %d sent again saying they may repeat, after %d kills", len(gotChat), notifyTasks, len(repeats), kills)
	if lost, _ := multisetDiff(timeless(append(slices.Clone(plain), repeats...)), timeless(wantChat)); len(lost) > 0 {
		t.Errorf("chat lost %d messages an uninterrupted run sends:\n%s", len(lost), strings.Join(lost, "\n"))
	}
	if _, twice := multisetDiff(timeless(plain), timeless(wantChat)); twice > 0 || len(plain) > notifyTasks {
		t.Errorf("chat sent messages twice without saying so: %d more than an uninterrupted run, %d messages for %d tasks", twice, len(plain), notifyTasks)
	}
	if len(repeats) > kills*config.DefaultWorkers {
		t.Errorf("%d messages say they may repeat, more than %d kills of %d workers explain", len(repeats), kills, config.DefaultWorkers)
	}
	if len(timeless(wantChat)) == 0 {
		t.Fatal("the clean run told nothing but updates: the check would prove nothing")
	}
}

// timeless returns the chat messages whose text does not depend on timing
// (all but incident_updated, whose batches follow the clock), sorted.
func timeless(chat []string) []string {
	var out []string
	for _, s := range chat {
		if kind, _, _ := strings.Cut(s, "|"); kind != string(notify.IncidentUpdated) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// multisetDiff returns what want has that got lacks, and how many more
// got has than want.
func multisetDiff(got, want []string) (lost []string, extra int) {
	count := map[string]int{}
	for _, s := range got {
		count[s]++
	}
	for _, s := range want {
		count[s]--
	}
	for s, n := range count {
		if n < 0 {
			lost = append(lost, s)
		} else {
			extra += n
		}
	}
	return lost, extra
}

func (c *cluster) queuedNotify() int {
	c.t.Helper()
	queued, err := c.st.Tasks(context.Background(), "queued")
	if err != nil {
		c.t.Fatal(err)
	}
	n := 0
	for _, task := range queued {
		if task.Kind == "notify" {
			n++
		}
	}
	return n
}

// BenchmarkFailover kills the daemon holding the mailbox and times until
// the other has ingested a mail appended just after the kill. Goal: < 15 s.
// Run: go test ./pipeline -run '^$' -bench Failover -benchtime 5x
func BenchmarkFailover(b *testing.B) {
	testserver.RequirePostgres(b)
	c := newCluster(b, 2)
	for _, p := range c.procs {
		c.start(p)
	}
	fixtures := fixtureMails(b)
	var worst time.Duration
	var sum time.Duration
	for i := range b.N {
		holder := c.holder(30 * time.Second)
		before := c.messages()
		start := time.Now()
		c.stop(holder, syscall.SIGKILL)
		c.dovecot.Append(b, "INBOX", crlf(uniqueMail(fixtures[i%len(fixtures)], 100000+i)))
		for c.messages() <= before {
			if time.Since(start) > time.Minute {
				b.Fatal("no daemon ingested the mail within a minute of the kill")
			}
			time.Sleep(20 * time.Millisecond)
		}
		d := time.Since(start)
		sum += d
		worst = max(worst, d)
		c.start(holder)
	}
	b.ReportMetric(sum.Seconds()/float64(b.N), "s/failover")
	b.ReportMetric(worst.Seconds(), "worst-s")
}
