package mailbox

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"

	"github.com/abusewatch/abusewatch/internal/testserver"
)

// Integration tests against a real Dovecot (skipped when it is missing,
// failing in CI; see testserver.RequireBinary).

func TestDovecotBacklog(t *testing.T) {
	d := testserver.StartDovecot(t)
	d.Append(t, "INBOX", mails(1, 1000)...)
	sink := newMemSink()
	w := New(mailboxConfig(d.Addr, "flag"), sink, Options{Logger: testLogger(t)})
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}

	sink.checkOnce(t)
	if len(sink.order) != 1000 {
		t.Fatalf("%d deliveries, want 1000", len(sink.order))
	}
	for i, k := range sink.order {
		g, _ := sink.get("abuse", k.uidValidity, k.uid)
		if k.uid != uint32(i+1) || g.sum != sha256.Sum256(mail(i+1)) {
			t.Fatalf("delivery %d is UID %d with other bytes than mail %d", i, k.uid, i+1)
		}
	}
	for _, m := range d.Messages(t, "INBOX") {
		if !m.Has(Keyword) || m.Has(imap.FlagSeen) {
			t.Fatalf("UID %d flags %v, want %s and not \\Seen", m.UID, m.Flags, Keyword)
		}
	}
}

func TestDovecotIdle(t *testing.T) {
	d := testserver.StartDovecot(t)
	p := startProxy(t, d.Addr)
	d.Append(t, "INBOX", mails(1, 3)...)
	sink := newMemSink()
	cfg := mailboxConfig(p.Addr, "flag")
	cfg.Poll = time.Hour // only IDLE can explain a delivery of new mail
	w := New(cfg, sink, Options{Logger: testLogger(t)})
	runWatcher(t, w)
	sink.waitFor(t, "the backlog", func() bool { return len(sink.got) == 3 })
	waitHealth(t, w, "IDLE", func(Health) bool { return p.idling() })

	for i := 4; i <= 6; i++ {
		d.Append(t, "INBOX", mail(i))
		sink.waitFor(t, fmt.Sprintf("mail %d, announced during IDLE", i), func() bool { return len(sink.got) == i })
	}
	sink.checkOnce(t)
	if n := p.connections(); n != 1 {
		t.Errorf("%d connections, want the new mail on the first one", n)
	}
}

func TestDovecotRestart(t *testing.T) {
	d := testserver.StartDovecot(t)
	d.Append(t, "INBOX", mails(1, 2)...)
	sink := newMemSink()
	w := New(mailboxConfig(d.Addr, "flag"), sink, Options{
		Logger:     testLogger(t),
		MinBackoff: 50 * time.Millisecond,
		MaxBackoff: 500 * time.Millisecond,
	})
	runWatcher(t, w)
	sink.waitFor(t, "the backlog", func() bool { return len(sink.got) == 2 })

	d.Stop()
	waitHealth(t, w, "the watcher to notice", func(h Health) bool { return !h.Connected && h.Failures > 0 })
	d.AppendDirect(t, "INBOX", mails(3, 4)...)
	d.Restart()
	sink.waitFor(t, "mail appended while Dovecot was down", func() bool { return len(sink.got) == 4 })
	d.Append(t, "INBOX", mails(5, 6)...)
	sink.waitFor(t, "mail appended after the restart", func() bool { return len(sink.got) == 6 })

	sink.checkOnce(t)
	for i, k := range sink.order {
		if g, _ := sink.get("abuse", k.uidValidity, k.uid); g.sum != sha256.Sum256(mail(i+1)) {
			t.Errorf("delivery %d (UID %d) is not mail %d", i, k.uid, i+1)
		}
	}
	waitHealth(t, w, "recovery", func(h Health) bool { return h.Connected && h.Failures == 0 })
}

func TestDovecotUIDValidityChange(t *testing.T) {
	d := testserver.StartDovecot(t)
	old := d.Create(t, "Abuse")
	d.Append(t, "Abuse", mails(1, 3)...)
	cfg := mailboxConfig(d.Addr, "flag")
	cfg.Folder = "Abuse"
	sink := newMemSink()
	w := New(cfg, sink, Options{Logger: testLogger(t)})
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	renewed := d.Recreate(t, "Abuse")
	if renewed == old {
		t.Fatalf("recreating the folder kept UIDVALIDITY %d", old)
	}
	d.Append(t, "Abuse", mails(4, 5)...)
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}

	sink.checkOnce(t)
	if sink.resets != 1 {
		t.Errorf("ResetCheckpoint called %d times, want 1", sink.resets)
	}
	for uid, want := range map[uint32]int{1: 4, 2: 5} {
		if g, ok := sink.get("abuse", renewed, uid); !ok || g.sum != sha256.Sum256(mail(want)) {
			t.Errorf("UIDVALIDITY %d UID %d: delivered %v, want mail %d", renewed, uid, ok, want)
		}
	}
	if v, last, _ := sink.Checkpoint(context.Background(), "abuse"); v != renewed || last != 2 {
		t.Errorf("checkpoint %d/%d, want %d/2", v, last, renewed)
	}
}

func TestDovecotMove(t *testing.T) {
	d := testserver.StartDovecot(t)
	d.Append(t, "INBOX", mails(1, 5)...)
	sink := newMemSink()
	w := New(mailboxConfig(d.Addr, "move:Processed"), sink, Options{Logger: testLogger(t), BatchSize: 2})
	if err := w.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := sink.count(); n != 5 {
		t.Errorf("%d delivered, want 5", n)
	}
	if inbox, moved := d.Messages(t, "INBOX"), d.Messages(t, "Processed"); len(inbox) != 0 || len(moved) != 5 {
		t.Errorf("INBOX holds %d and Processed %d, want 0 and 5", len(inbox), len(moved))
	}
}

func TestDovecotBigAndMalformedMail(t *testing.T) {
	// 30 MiB in CRLF lines, so that the server hands back the same bytes.
	var b bytes.Buffer
	b.WriteString("From: noc@provider.example\r\nSubject: huge attachment\r\n\r\n")
	line := append(bytes.Repeat([]byte("x"), 1022), '\r', '\n')
	for b.Len() < 30<<20 {
		b.Write(line)
	}
	big := b.Bytes()
	malformed := []byte("no header here at all\n\x01\x02\xff\xfe\r\nContent-Type: multipart/mixed; boundary=\"\r\n--\r\n\r\n\r\n")

	tests := []struct {
		name    string
		limit   int64
		wantRaw bool
	}{
		{"over the limit", 16 << 20, false},
		{"under the limit", 64 << 20, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := testserver.StartDovecot(t)
			d.Append(t, "INBOX", mail(1), big, malformed, mail(4))
			sink := newMemSink()
			w := New(mailboxConfig(d.Addr, "flag"), sink, Options{Logger: testLogger(t), MaxMessageBytes: tt.limit})
			if err := w.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}

			sink.checkOnce(t)
			v, last, _ := sink.Checkpoint(context.Background(), "abuse")
			if last != 4 {
				t.Fatalf("checkpoint at UID %d, want 4: every mail is processed", last)
			}
			for uid, want := range map[uint32][]byte{1: mail(1), 4: mail(4)} {
				if g, _ := sink.get("abuse", v, uid); g.sum != sha256.Sum256(want) {
					t.Errorf("UID %d: delivered bytes differ from the appended good mail", uid)
				}
			}
			if g, _ := sink.get("abuse", v, 3); !g.raw || g.rawLen < len(malformed) {
				t.Errorf("malformed UID 3: raw=%v len=%d, want its bytes delivered as they are", g.raw, g.rawLen)
			}
			g, _ := sink.get("abuse", v, 2)
			if g.raw != tt.wantRaw || g.size != int64(len(big)) {
				t.Errorf("30 MiB UID 2: raw=%v size=%d reason=%q, want raw=%v size=%d", g.raw, g.size, g.reason, tt.wantRaw, len(big))
			}
			if tt.wantRaw && g.sum != sha256.Sum256(big) {
				t.Error("30 MiB UID 2: delivered bytes differ")
			}
			if !tt.wantRaw && g.reason == "" {
				t.Error("30 MiB UID 2 delivered without a body and without a reason")
			}
		})
	}
}
