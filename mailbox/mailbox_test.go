package mailbox

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
)

func TestDrainResumesFromCheckpoint(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		batches bool
		// wantBatches are the batches a BatchSink commits: one per FETCH of more than one message.
		wantBatches string
	}{
		{"defaults", Options{}, false, ""},
		{"one UID per fetch", Options{BatchSize: 1}, false, ""},
		{"one body per fetch", Options{BatchSize: 3, BatchBytes: 1}, false, ""},
		{"batch sink", Options{}, true, "[7 3]"},
		{"batch sink, three UIDs per fetch", Options{BatchSize: 3}, true, "[3 3 3]"},
		{"batch sink, one body per fetch", Options{BatchSize: 3, BatchBytes: 1}, true, "[]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMemServer(t, capsRev1)
			sink := newMemSink()
			under, batches := sinkUnder(sink, tt.batches)
			tt.opts.Logger = testLogger(t)
			validity := srv.Create(t, "Abuse")
			cfg := mailboxConfig(srv.Addr, "flag")
			cfg.Folder = "Abuse"
			w := New(cfg, under, tt.opts)

			srv.Append(t, "Abuse", mails(1, 7)...)
			if err := w.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			srv.Append(t, "Abuse", mails(8, 10)...)
			if err := w.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}

			sink.checkOnce(t)
			if len(sink.order) != 10 {
				t.Fatalf("%d deliveries, want 10", len(sink.order))
			}
			for i, k := range sink.order {
				uid := uint32(i + 1)
				if k.uid != uid || k.uidValidity != validity {
					t.Errorf("delivery %d: UID %d/%d, want %d/%d (UID order)", i, k.uidValidity, k.uid, validity, uid)
				}
				g, _ := sink.get("abuse", validity, uid)
				if g.sum != sha256.Sum256(mail(i+1)) {
					t.Errorf("UID %d: delivered bytes differ from the appended mail", uid)
				}
			}
			if _, last, _ := sink.Checkpoint(context.Background(), "abuse"); last != 10 {
				t.Errorf("checkpoint at UID %d, want 10", last)
			}
			if batches != nil {
				if got := fmt.Sprint(*batches); got != tt.wantBatches {
					t.Errorf("batches committed %s, want %s", got, tt.wantBatches)
				}
			}
		})
	}
}

func TestAfter(t *testing.T) {
	tests := []struct {
		after         string
		inbox, moved  int
		flagged, seen bool
	}{
		{after: "flag", inbox: 3, flagged: true},
		{after: "move:Processed", moved: 3},
		{after: "none", inbox: 3},
	}
	for _, tt := range tests {
		t.Run(tt.after, func(t *testing.T) {
			srv := startMemServer(t, capsRev1)
			srv.Append(t, "INBOX", mails(1, 3)...)
			sink := newMemSink()
			w := New(mailboxConfig(srv.Addr, tt.after), sink, Options{Logger: testLogger(t)})
			if err := w.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := sink.count(); n != 3 {
				t.Fatalf("%d delivered, want 3", n)
			}
			inbox, moved := srv.Messages(t, "INBOX"), srv.Messages(t, "Processed")
			if len(inbox) != tt.inbox || len(moved) != tt.moved {
				t.Errorf("INBOX holds %d and Processed %d, want %d and %d", len(inbox), len(moved), tt.inbox, tt.moved)
			}
			for _, m := range append(inbox, moved...) {
				if m.Has(Keyword) != tt.flagged {
					t.Errorf("UID %d flags %v: %s set = %v, want %v", m.UID, m.Flags, Keyword, m.Has(Keyword), tt.flagged)
				}
				if m.Has(imap.FlagSeen) {
					t.Errorf("UID %d flags %v: fetching set \\Seen", m.UID, m.Flags)
				}
			}
		})
	}
}

func TestAfterMoveRefused(t *testing.T) {
	tests := []struct {
		name    string
		caps    imap.CapSet
		after   string
		wantErr string
	}{
		{"server without MOVE", imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}}, "move:Processed", "does not support MOVE"},
		{"missing target folder", capsRev1, "move:Nowhere", "Nowhere does not exist"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMemServer(t, tt.caps)
			srv.Append(t, "INBOX", mails(1, 2)...)
			sink := newMemSink()
			w := New(mailboxConfig(srv.Addr, tt.after), sink, Options{Logger: testLogger(t)})
			err := w.Drain(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Drain error %v, want one containing %q", err, tt.wantErr)
			}
			if n := sink.count(); n != 0 {
				t.Errorf("%d delivered before refusing, want 0", n)
			}
			if got := srv.Messages(t, "INBOX"); len(got) != 2 {
				t.Errorf("INBOX holds %d messages, want the 2 untouched", len(got))
			}
			if h := w.Health(); h.Failures != 1 || !strings.Contains(h.LastError, tt.wantErr) {
				t.Errorf("health %+v, want one failure saying %q", h, tt.wantErr)
			}
		})
	}
}

func TestUIDValidityChangeRescans(t *testing.T) {
	srv := startMemServer(t, capsRev1)
	old := srv.Create(t, "Abuse")
	srv.Append(t, "Abuse", mails(1, 3)...)
	cfg := mailboxConfig(srv.Addr, "flag")
	cfg.Folder = "Abuse"
	sink := newMemSink()
	w := New(cfg, sink, Options{Logger: testLogger(t)})
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}

	renewed := srv.Recreate(t, "Abuse")
	srv.Append(t, "Abuse", mails(4, 5)...)
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}

	sink.checkOnce(t)
	if sink.resets != 1 {
		t.Errorf("ResetCheckpoint called %d times, want 1", sink.resets)
	}
	for uid, want := range map[uint32]int{1: 4, 2: 5} {
		g, ok := sink.get("abuse", renewed, uid)
		if !ok || g.sum != sha256.Sum256(mail(want)) {
			t.Errorf("UIDVALIDITY %d UID %d: delivered %v, want mail %d", renewed, uid, ok, want)
		}
	}
	if n := sink.count(); n != 5 {
		t.Errorf("%d messages delivered in all, want 3 under %d and 2 under %d", n, old, renewed)
	}
}

func TestSizeLimit(t *testing.T) {
	srv := startMemServer(t, capsRev1)
	big := append(mail(2), strings.Repeat("x", 5000)...)
	srv.Append(t, "INBOX", mail(1), big, mail(3))
	sink := newMemSink()
	w := New(mailboxConfig(srv.Addr, "flag"), sink, Options{Logger: testLogger(t), MaxMessageBytes: 1000})
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}

	v, _, _ := sink.Checkpoint(context.Background(), "abuse")
	for _, uid := range []uint32{1, 3} {
		if g, _ := sink.get("abuse", v, uid); !g.raw || g.sum != sha256.Sum256(mail(int(uid))) {
			t.Errorf("UID %d: raw=%v, want the whole mail", uid, g.raw)
		}
	}
	g, ok := sink.get("abuse", v, 2)
	if !ok || g.raw || g.size != int64(len(big)) || !strings.Contains(g.reason, "limit") {
		t.Errorf("UID 2 (%d bytes): delivered=%v raw=%v size=%d reason=%q, want Raw nil, the size and a reason", len(big), ok, g.raw, g.size, g.reason)
	}
	for _, m := range srv.Messages(t, "INBOX") {
		if !m.Has(Keyword) {
			t.Errorf("UID %d not flagged: the oversized one is processed too", m.UID)
		}
	}
}

// TestSinkErrorLeavesMessageForLater: a message the sink refuses stays
// unflagged, with those after it, and is delivered at the next pass. A batch
// sink's batch fails as a whole; its messages are then delivered one by one,
// so that those before the refused one are not held back.
func TestSinkErrorLeavesMessageForLater(t *testing.T) {
	for _, tt := range []struct {
		name        string
		batches     bool
		wantBatches string
	}{
		{"sink", false, ""},
		// The first pass's batch fails; the second takes UIDs 2 and 3 together.
		{"batch sink", true, "[2]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := startMemServer(t, capsRev1)
			srv.Append(t, "INBOX", mails(1, 3)...)
			sink := newMemSink()
			under, batches := sinkUnder(sink, tt.batches)
			failing := true
			sink.fail = func(d Delivery) error {
				if d.UID == 2 && failing {
					return errors.New("disk full")
				}
				return nil
			}
			w := New(mailboxConfig(srv.Addr, "flag"), under, Options{Logger: testLogger(t)})

			err := w.Drain(context.Background())
			if err == nil || !strings.Contains(err.Error(), "disk full") {
				t.Fatalf("Drain error %v, want the sink's", err)
			}
			flagged := func() []bool {
				var f []bool
				for _, m := range srv.Messages(t, "INBOX") {
					f = append(f, m.Has(Keyword))
				}
				return f
			}
			if got := fmt.Sprint(flagged()); got != "[true false false]" {
				t.Errorf("after the failure, flagged %s, want only UID 1", got)
			}

			failing = false
			if err := w.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			sink.checkOnce(t)
			if n := sink.count(); n != 3 {
				t.Errorf("%d delivered, want 3", n)
			}
			if got := fmt.Sprint(flagged()); got != "[true true true]" {
				t.Errorf("after the retry, flagged %s, want all", got)
			}
			if batches != nil {
				if got := fmt.Sprint(*batches); got != tt.wantBatches {
					t.Errorf("batches committed %s, want %s", got, tt.wantBatches)
				}
			}
		})
	}
}

func TestNewMail(t *testing.T) {
	tests := []struct {
		name     string
		hide     []string
		poll     time.Duration
		wantIdle bool
	}{
		// Poll is an hour: only IDLE can explain a prompt delivery.
		{name: "IDLE", poll: time.Hour, wantIdle: true},
		{name: "poll without IDLE", hide: []string{"IDLE"}, poll: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The folder starts empty: go-imap's memory server stops
			// reporting EXISTS during IDLE once a body was fetched on the
			// connection (beta.8), so the IDLE after a backlog is shown
			// against Dovecot instead.
			srv := startMemServer(t, capsRev1)
			p := startProxy(t, srv.Addr, tt.hide...)
			sink := newMemSink()
			cfg := mailboxConfig(p.Addr, "flag")
			cfg.Poll = tt.poll
			w := New(cfg, sink, Options{Logger: testLogger(t)})
			runWatcher(t, w)
			waitHealth(t, w, "the first sync and wait", func(h Health) bool {
				return !h.LastSync.IsZero() && (!tt.wantIdle || p.idling())
			})

			srv.Append(t, "INBOX", mails(1, 2)...)
			sink.waitFor(t, "the new mail", func() bool { return len(sink.got) == 2 })
			sink.checkOnce(t)
			if p.sent("IDLE") != tt.wantIdle {
				t.Errorf("watcher sent IDLE: %v, want %v", p.sent("IDLE"), tt.wantIdle)
			}
		})
	}
}

func TestReconnectAfterCut(t *testing.T) {
	srv := startMemServer(t, capsRev1)
	p := startProxy(t, srv.Addr)
	srv.Append(t, "INBOX", mails(1, 2)...)
	sink := newMemSink()
	w := New(mailboxConfig(p.Addr, "flag"), sink, Options{Logger: testLogger(t), MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	runWatcher(t, w)
	sink.waitFor(t, "the backlog", func() bool { return len(sink.got) == 2 })
	waitHealth(t, w, "IDLE", func(Health) bool { return p.idling() })

	p.cut()
	srv.Append(t, "INBOX", mails(3, 4)...)
	sink.waitFor(t, "mail after the cut", func() bool { return len(sink.got) == 4 })
	sink.checkOnce(t)
	if n := p.connections(); n < 2 {
		t.Errorf("%d connections, want a reconnection", n)
	}
	waitHealth(t, w, "recovery", func(h Health) bool { return h.Connected && h.Failures == 0 && h.FailingSince.IsZero() })
}

func TestIdleRestartAndDeadConnection(t *testing.T) {
	srv := startMemServer(t, capsRev1)
	p := startProxy(t, srv.Addr)
	sink := newMemSink()
	w := New(mailboxConfig(p.Addr, "flag"), sink, Options{
		Logger:         testLogger(t),
		IdleRestart:    20 * time.Millisecond,
		CommandTimeout: 200 * time.Millisecond,
		MinBackoff:     10 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
	})
	runWatcher(t, w)

	// A live connection: IDLE is restarted with a NOOP in between, on the
	// same connection.
	waitHealth(t, w, "IDLE restarts", func(Health) bool { return p.count("IDLE") >= 3 && p.sent("NOOP") })
	if n := p.connections(); n != 1 {
		t.Fatalf("%d connections while the server answered, want 1", n)
	}

	// A silent one: the next restart gets no answer, the watcher gives up
	// on it and finds the new mail over a new connection.
	p.freeze()
	srv.Append(t, "INBOX", mail(1))
	sink.waitFor(t, "mail after the connection went silent", func() bool { return len(sink.got) == 1 })
	if n := p.connections(); n < 2 {
		t.Errorf("%d connections, want a reconnection", n)
	}
}

func TestStopFinishesDeliveryInFlight(t *testing.T) {
	srv := startMemServer(t, capsRev1)
	p := startProxy(t, srv.Addr)
	srv.Append(t, "INBOX", mails(1, 2)...)
	sink := newMemSink()
	entered, release := make(chan struct{}), make(chan struct{})
	var deliverCtxErr atomic.Value
	sink.block = func(ctx context.Context, d Delivery) {
		if d.UID == 1 {
			close(entered)
			<-release
			deliverCtxErr.Store(fmt.Sprint(ctx.Err()))
		}
	}
	w := New(mailboxConfig(p.Addr, "flag"), sink, Options{Logger: testLogger(t)})
	stop := runWatcher(t, w)

	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	// Run must not return while UID 1 is being delivered.
	select {
	case err := <-stopped:
		t.Fatalf("Run returned %v with a Deliver in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Errorf("Run returned %v after cancellation, want nil", err)
	}

	if got := deliverCtxErr.Load(); got != "<nil>" {
		t.Errorf("Deliver's context was cancelled (%v) mid-way", got)
	}
	v, last, _ := sink.Checkpoint(context.Background(), "abuse")
	if _, ok := sink.get("abuse", v, 1); !ok || last != 1 {
		t.Errorf("checkpoint at UID %d, want UID 1 committed and UID 2 left for the next run", last)
	}
	if got := srv.Messages(t, "INBOX"); !got[0].Has(Keyword) || got[1].Has(Keyword) {
		t.Errorf("flags %v, want UID 1 flagged only", got)
	}
	if !p.sent("LOGOUT") {
		t.Error("no LOGOUT sent on stop")
	}
	if w.Health().Connected {
		t.Error("health says connected after Run returned")
	}
}

func TestFailingMailboxIsVisible(t *testing.T) {
	srv := startMemServer(t, capsRev1)
	cfg := mailboxConfig(srv.Addr, "flag")
	cfg.Password = "wrong-secret"
	w := New(cfg, newMemSink(), Options{Logger: testLogger(t), MinBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	stop := runWatcher(t, w)
	healthy := newMemSink()
	srv.Append(t, "INBOX", mail(1))
	runWatcher(t, New(mailboxConfig(srv.Addr, "none"), healthy, Options{Logger: testLogger(t)}))
	waitHealth(t, w, "repeated failures", func(h Health) bool { return h.Failures >= 3 })
	healthy.waitFor(t, "the healthy mailbox", func() bool { return len(healthy.got) == 1 })
	if err := stop(); err != nil {
		t.Errorf("Run returned %v, want nil after cancellation", err)
	}

	// Each Watcher is independent: a healthy mailbox beside it works.
	if n := healthy.count(); n != 1 {
		t.Errorf("the healthy mailbox delivered %d, want 1", n)
	}
	h := w.Health()
	if h.Connected || h.FailingSince.IsZero() || !h.LastSync.IsZero() {
		t.Errorf("health %+v, want disconnected, failing, never synced", h)
	}
	if !strings.Contains(h.LastError, "login as abuse@example.net") {
		t.Errorf("last error %q does not say the login failed", h.LastError)
	}
	if strings.Contains(h.LastError, cfg.Password) {
		t.Errorf("last error %q contains the password", h.LastError)
	}
}
