package pipeline

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/notify/notifytest"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

// clock is a settable time source, so that retry backoff can pass without sleeping.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "parser", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

type outboxEnv struct {
	t     *testing.T
	db    string
	url   string
	clock *clock
	st    *store.Store
	p     *Pipeline
}

// open starts a "daemon": a store and a pipeline with one chat channel.
func (e *outboxEnv) open() {
	e.t.Helper()
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := notify.New([]config.Channel{{URL: e.url}}, notify.Options{Timeout: 2 * time.Second})
	if err != nil {
		e.t.Fatal(err)
	}
	e.st = st
	e.p = New(Options{Store: st, Notifier: n, Now: e.clock.Now})
}

func (e *outboxEnv) close() {
	e.t.Helper()
	if err := e.st.Close(); err != nil {
		e.t.Fatal(err)
	}
}

// drainFor runs due tasks, advancing the clock past every backoff, for a while of fake time.
func (e *outboxEnv) drainFor(d time.Duration) {
	e.t.Helper()
	for end := e.clock.Now().Add(d); e.clock.Now().Before(end); e.clock.Advance(10 * time.Minute) {
		if err := e.p.Drain(context.Background()); err != nil {
			e.t.Fatal(err)
		}
	}
}

func newOutboxEnv(t *testing.T, url string) *outboxEnv {
	e := &outboxEnv{t: t, db: filepath.Join(t.TempDir(), "aw.db"), url: url, clock: &clock{now: time.Now()}}
	e.open()
	t.Cleanup(func() { _ = e.st.Close() })
	return e
}

func (e *outboxEnv) ingest(raw []byte) store.IngestResult {
	e.t.Helper()
	res, err := e.p.Ingest(context.Background(), store.Message{Source: store.Source{Path: "test.eml"}, Raw: raw, Size: int64(len(raw))})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func TestOutboxRetriesUntilDelivered(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	recv.FailNext(5, 503)
	e.ingest(readFixture(t, "ovh-antihack-ntp-amplification-en.eml"))
	e.drainFor(6 * time.Hour)

	if got := len(recv.Requests()); got != 6 {
		t.Errorf("requests = %d, want 6 (five failures, then the delivery)", got)
	}
	deliveries := recv.Deliveries()
	if len(deliveries) != 1 {
		t.Fatalf("deliveries = %d, want exactly 1", len(deliveries))
	}
	for _, want := range []string{"ntp_amplification", "192.0.2.45", "abusewatch incidents show"} {
		if !strings.Contains(deliveries[0].Text, want) {
			t.Errorf("message lacks %q:\n%s", want, deliveries[0].Text)
		}
	}
}

func TestOutboxSurvivesRestartDuringOutage(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	recv.Stop()
	e.ingest(readFixture(t, "ovh-vps-blocked-en.eml"))
	e.drainFor(30 * time.Minute) // attempts fail: connection refused
	depth, _, err := e.st.QueueStats(context.Background(), e.clock.Now())
	if err != nil || depth == 0 {
		t.Fatalf("queue depth during the outage = %d (%v), want the undelivered message queued", depth, err)
	}
	e.close() // the daemon stops while the chat is down

	recv.Start()
	e.open() // and starts again
	e.drainFor(3 * time.Hour)
	if got := len(recv.Deliveries()); got != 1 {
		t.Fatalf("deliveries after restart = %d, want exactly 1", got)
	}
	e.drainFor(3 * time.Hour)
	if got := len(recv.Deliveries()); got != 1 {
		t.Fatalf("deliveries after more draining = %d, want still 1", got)
	}
}

func TestOutboxFoldsBurst(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	fixture := readFixture(t, "ovh-antihack-syn-flood-fr.eml")
	const burst = 50
	for i := range burst {
		e.ingest(uniqueMail(fixture, i)) // same IP, same mail date: one incident, one window
	}
	e.drainFor(time.Hour)
	deliveries := recv.Deliveries()
	if len(deliveries) != 2 {
		for _, d := range deliveries {
			t.Log(d.Text)
		}
		t.Fatalf("deliveries = %d, want 2 (the opening, then one digest)", len(deliveries))
	}
	for _, d := range deliveries {
		t.Log(d.Text)
	}
	if !strings.Contains(deliveries[1].Text, "50 notices") {
		t.Errorf("digest does not count the burst:\n%s", deliveries[1].Text)
	}
}

func TestMailboxFailingToldOncePerSpell(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	ctx := context.Background()
	spell := e.clock.Now().Add(-20 * time.Minute)
	for range 3 { // the daemon looks every 30 s
		e.p.MailboxFailing(ctx, "abuse", spell, "mailbox abuse: login: authentication failed")
	}
	e.drainFor(time.Minute)
	deliveries := recv.Deliveries()
	if len(deliveries) != 1 {
		t.Fatalf("deliveries = %d, want 1 for one failing spell", len(deliveries))
	}
	if !strings.Contains(deliveries[0].Text, "mailbox abuse failing since") {
		t.Errorf("message:\n%s", deliveries[0].Text)
	}
	e.p.MailboxFailing(ctx, "abuse", spell.Add(time.Hour), "connection refused") // a new spell
	e.drainFor(time.Minute)
	if got := len(recv.Deliveries()); got != 2 {
		t.Fatalf("deliveries = %d, want 2 after a second spell", got)
	}
}

// A reload that removes a channel and moves another must not send a queued
// message to whichever channel now has its old position.
func TestQueuedMessagesFollowTheirChannelAcrossReload(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	channels := func(names ...string) *notify.Notifier {
		var cs []config.Channel
		for _, name := range names {
			cs = append(cs, config.Channel{Name: name, URL: recv.GenericURL(name)})
		}
		n, err := notify.New(cs, notify.Options{Timeout: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	e := newOutboxEnv(t, recv.GenericURL("/unused"))
	e.p.setNotifier(channels("a", "b"))
	e.ingest(readFixture(t, "ovh-antihack-ntp-amplification-en.eml"))

	e.p.setNotifier(channels("b", "c")) // a removed, b moved from index 1 to 0, c added
	e.drainFor(time.Hour)
	if got := deliveriesTo(recv); got["/a"] != 0 || got["/b"] != 1 || got["/c"] != 0 {
		t.Errorf("deliveries after the reload = %v, want only /b:1 (queued for b; a is gone, c came later)", got)
	}
	failed, err := e.st.Tasks(context.Background(), "failed")
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || !strings.Contains(failed[0].LastError, `channel "a" is no longer configured`) {
		t.Errorf("failed tasks = %+v, want the one for channel a, saying it is no longer configured", failed)
	}

	e.ingest(readFixture(t, "ovh-antihack-syn-flood-fr.eml"))
	e.drainFor(time.Hour)
	if got := deliveriesTo(recv); got["/a"] != 0 || got["/b"] != 2 || got["/c"] != 1 {
		t.Errorf("deliveries after a new incident = %v, want /b:2 /c:1 and nothing for /a", got)
	}

	e.p.setNotifier(nil)
	e.ingest(readFixture(t, "ovh-antispam-en.eml"))
	e.drainFor(time.Hour)
	if got := len(recv.Deliveries()); got != 3 {
		t.Errorf("deliveries with every channel removed = %d, want still 3", got)
	}
}

func deliveriesTo(recv *notifytest.Receiver) map[string]int {
	got := map[string]int{}
	for _, d := range recv.Deliveries() {
		got[d.Path]++
	}
	return got
}

// mailAt is fixture with another Message-ID and Date: a later notice of the
// same incident, in the burst window of that date.
func mailAt(fixture []byte, i int, date time.Time) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(uniqueMail(fixture, i), []byte("\n")) {
		if bytes.HasPrefix(bytes.ToLower(line), []byte("date:")) {
			line = []byte("Date: " + date.Format(time.RFC1123Z) + "\r\n")
		}
		out.Write(line)
	}
	return out.Bytes()
}

// Updates say what is new, so two of them never read the same, and a forged
// (unsigned) notice added to an incident a signed one opened is marked
// unverified in its update.
func TestUpdatesSayWhatIsNew(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	zone := &dnsZone{}
	pub, key := newKey(t)
	zone.publish("s1", pub)
	n, err := notify.New([]config.Channel{{URL: recv.GenericURL("hook")}}, notify.Options{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{now: time.Now()}
	p := New(Options{Store: openStore(t), Notifier: n, Now: clk.Now, Parser: parser.Options{LookupTXT: zone.lookupTXT}})
	fixture := readFixture(t, "ovh-antihack-ntp-amplification-en.eml")
	opened := time.Date(2025, 12, 5, 17, 4, 12, 0, time.FixedZone("", 3600))
	p.mustIngest(t, signOVH(t, fixture, "s1", key))
	for i, after := range []time.Duration{10 * time.Minute, 20 * time.Minute} {
		p.mustIngest(t, mailAt(fixture, i, opened.Add(after))) // unsigned: forged
	}
	for range 6 {
		if err := p.Drain(context.Background()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(10 * time.Minute)
	}
	d := recv.Deliveries()
	if len(d) != 3 {
		t.Fatalf("deliveries = %d, want the opening and two updates: %+v", len(d), d)
	}
	if strings.Contains(d[0].Text, "unverified") {
		t.Errorf("the signed opening is marked unverified:\n%s", d[0].Text)
	}
	for _, u := range d[1:] {
		if !strings.HasPrefix(u.Text, "🔴 UPDATE") && !strings.Contains(u.Text, "UPDATE") {
			t.Errorf("not an update:\n%s", u.Text)
		}
		if !strings.Contains(u.Text, "unverified sender") {
			t.Errorf("an update for a forged notice lacks the unverified mark:\n%s", u.Text)
		}
		if !strings.Contains(u.Text, "1× block") && !strings.Contains(u.Text, "1× attack") {
			t.Errorf("the update does not say what is new:\n%s", u.Text)
		}
	}
	if d[1].Text == d[2].Text {
		t.Errorf("two updates in a row read the same:\n%s", d[1].Text)
	}
}

// TestOutboxAbandonedSendSaysItMayRepeat: a watcher killed while sending a
// chat message leaves its task leased with no outcome; the watcher that
// takes it over once the lease runs out sends it, saying that the team may
// have had it already. A watcher killed before it began sending leaves no
// such doubt, and the message says nothing of the kind.
func TestOutboxAbandonedSendSaysItMayRepeat(t *testing.T) {
	for _, tc := range []struct {
		name       string
		began      bool
		wantRepeat bool
	}{
		{"killed while sending", true, true},
		{"killed before sending", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recv := notifytest.NewReceiver(t)
			e := newOutboxEnv(t, recv.GenericURL("/hook"))
			e.ingest(readFixture(t, "ovh-vps-blocked-en.eml"))
			ctx := context.Background()
			queued, err := e.st.Tasks(ctx, "queued")
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range queued {
				if task.Kind == taskNotify && task.RunAt.After(e.clock.Now()) {
					e.clock.Advance(task.RunAt.Sub(e.clock.Now()))
				}
			}
			// The killed watcher: it claimed the message and got no further
			// than, at most, the start of its send.
			ghost, err := e.st.Claim(ctx, "killed-watcher", []string{taskNotify}, time.Minute, e.clock.Now())
			if err != nil || ghost == nil {
				t.Fatalf("claim as the killed watcher: %+v %v", ghost, err)
			}
			if tc.began {
				if err := e.st.BeginSend(ctx, ghost.ID, "killed-watcher", e.clock.Now().Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			e.drainFor(time.Minute) // the lease still holds: nothing is sent
			if got := len(recv.Deliveries()); got != 0 {
				t.Fatalf("deliveries while the lease holds = %d, want 0", got)
			}
			e.clock.Advance(2 * time.Minute)
			e.drainFor(time.Hour)
			deliveries := recv.Deliveries()
			if len(deliveries) != 1 {
				t.Fatalf("deliveries after the lease ran out = %d, want 1", len(deliveries))
			}
			if got := strings.Contains(deliveries[0].Text, "may repeat an earlier message"); got != tc.wantRepeat {
				t.Errorf("the message says it may repeat: %v, want %v:\n%s", got, tc.wantRepeat, deliveries[0].Text)
			}
		})
	}
}

// TestOutboxUnansweredSendSaysItMayRepeat: a chat service that took the
// message but never answered (a timeout) may have shown it, so the retry
// says it may repeat; a 503 answer (TestOutboxFirstSendSaysNoRepeat) does not.
func TestOutboxUnansweredSendSaysItMayRepeat(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	recv.HoldNext(1)
	e.ingest(readFixture(t, "ovh-vps-blocked-en.eml"))
	e.drainFor(time.Hour)
	if got := len(recv.Requests()); got != 2 {
		t.Fatalf("requests = %d, want 2 (the unanswered one, then the retry)", got)
	}
	deliveries := recv.Deliveries()
	if len(deliveries) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(deliveries))
	}
	if !strings.Contains(deliveries[0].Text, "may repeat an earlier message") {
		t.Errorf("the retry after an unanswered send does not say it may repeat:\n%s", deliveries[0].Text)
	}
}

// TestOutboxFirstSendSaysNoRepeat is the control: a message sent on its
// first attempt, or after a failure recorded as such, makes no such claim.
func TestOutboxFirstSendSaysNoRepeat(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	recv.FailNext(1, 503)
	e.ingest(readFixture(t, "ovh-vps-blocked-en.eml"))
	e.drainFor(time.Hour)
	deliveries := recv.Deliveries()
	if len(deliveries) != 1 {
		t.Fatalf("deliveries = %d, want 1", len(deliveries))
	}
	if strings.Contains(deliveries[0].Text, "may repeat") {
		t.Errorf("a message retried after a recorded failure says it may repeat:\n%s", deliveries[0].Text)
	}
}
