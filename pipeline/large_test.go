package pipeline

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

// bigMail is a mail of exactly size bytes in CRLF lines, so that an IMAP
// server hands back the same bytes.
func bigMail(name string, size int) []byte {
	var b bytes.Buffer
	b.Grow(size)
	fmt.Fprintf(&b, "From: noc@provider.example\r\nSubject: %s\r\nMessage-ID: <%s@provider.example>\r\n\r\n", name, name)
	line := append(bytes.Repeat([]byte("x"), 1022), '\r', '\n')
	for b.Len()+len(line) <= size {
		b.Write(line)
	}
	b.Write(bytes.Repeat([]byte("y"), size-b.Len()-2))
	b.WriteString("\r\n")
	return b.Bytes()
}

// flagWatch is the pipeline's mailbox sink, and notes for each large mail
// whether the server already had it flagged when the commit returned.
type flagWatch struct {
	mailboxSink
	t  *testing.T
	d  *testserver.Dovecot
	mu sync.Mutex
	// flaggedAtCommit maps a UID to whether it was flagged when its
	// DeliverLarge returned.
	flaggedAtCommit map[uint32]bool
}

func (f *flagWatch) DeliverLarge(ctx context.Context, d mailbox.Delivery, body io.Reader) (bool, error) {
	kept, err := f.mailboxSink.DeliverLarge(ctx, d, body)
	flagged := false
	for _, m := range f.d.Messages(f.t, "INBOX") {
		if m.UID == d.UID && m.Has(mailbox.Keyword) {
			flagged = true
		}
	}
	f.mu.Lock()
	f.flaggedAtCommit[d.UID] = flagged
	f.mu.Unlock()
	return kept, err
}

// TestLargeMailOverIMAP: a 90 MiB mail from a real Dovecot is stored whole
// in the database, its spool file removed, status oversize with its true size, and
// flagged only after it is committed; a 120 MiB one is recorded with its
// true size, left unflagged, and chat is told once.
func TestLargeMailOverIMAP(t *testing.T) {
	ctx := context.Background()
	const mib = 1 << 20
	d := testserver.StartDovecot(t)
	notice := crlf(readFixture(t, "ovh-antihack-syn-flood-fr.eml"))
	kept, dropped := bigMail("ninety", 90*mib), bigMail("one-twenty", 120*mib)
	d.Append(t, "INBOX", notice, kept, dropped, crlf(readFixture(t, "ovh-invoice-fr.eml")))

	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "aw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	chat := newRecorder(t)
	p := New(Options{Store: st, Notifier: chat.notifier})
	sink := &flagWatch{mailboxSink: mailboxSink{P: p}, t: t, d: d, flaggedAtCommit: map[uint32]bool{}}
	host, port, _ := net.SplitHostPort(d.Addr)
	portN, _ := strconv.Atoi(port)
	cfg := config.Mailbox{Name: "abuse", Host: host, Port: portN, TLS: "none", Username: d.Username, Password: d.Password,
		Folder: "INBOX", After: "flag", Poll: time.Hour}
	w := mailbox.New(cfg, sink, mailbox.Options{Logger: slog.New(slog.DiscardHandler), MaxMessageBytes: config.DefaultMaxMessageBytes})
	for range 2 { // the second pass must find nothing new to store or tell
		if err := w.Drain(ctx); err != nil {
			t.Fatal(err)
		}
		if err := p.Drain(ctx); err != nil {
			t.Fatal(err)
		}
	}

	msgs, err := st.Messages(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 4 {
		t.Fatalf("%d messages stored, want 4", len(msgs))
	}
	byUID := map[uint32]store.MessageRecord{}
	for _, m := range msgs {
		byUID[m.UID] = m
	}
	big := byUID[2]
	if big.Status != "oversize" || !big.Kept || big.Size != int64(len(kept)) ||
		big.Reason != fmt.Sprintf("not parsed: %d bytes is over the parse limit of %d", len(kept), config.DefaultMaxMessageBytes) {
		t.Errorf("90 MiB mail stored as %+v", big)
	}
	r, err := st.OpenRaw(ctx, big.ID)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if want := sha256.Sum256(kept); !bytes.Equal(h.Sum(nil), want[:]) {
		t.Errorf("the stored 90 MiB mail differs from the one delivered")
	}
	if left, err := filepath.Glob(filepath.Join(dir, "raw", "*")); err != nil || len(left) != 0 {
		t.Errorf("spool files left beside the database: %v, %v", left, err)
	}

	huge := byUID[3]
	wantReason := fmt.Sprintf("not kept: %d bytes is over the keep limit of %d", len(dropped), config.DefaultKeepMessageBytes)
	if huge.Status != "oversize" || huge.Kept || huge.Size != int64(len(dropped)) || huge.Reason != wantReason {
		t.Errorf("120 MiB mail recorded as %+v, want not kept with reason %q", huge, wantReason)
	}
	if byUID[1].Status != "ok" || byUID[4].Status != "none" {
		t.Errorf("the small mails around them: %s and %s", byUID[1].Status, byUID[4].Status)
	}

	for _, m := range d.Messages(t, "INBOX") {
		if want := m.UID != 3; m.Has(mailbox.Keyword) != want {
			t.Errorf("UID %d flagged %v, want %v", m.UID, m.Has(mailbox.Keyword), want)
		}
	}
	if sink.flaggedAtCommit[2] || sink.flaggedAtCommit[3] {
		t.Errorf("a large mail was flagged before its commit returned: %v", sink.flaggedAtCommit)
	}
	if _, ok := sink.flaggedAtCommit[2]; !ok {
		t.Errorf("the 90 MiB mail was not streamed to the sink")
	}
	told := 0
	for _, ev := range chat.events() {
		if ev.Kind == notify.MailNotKept {
			told++
			if !strings.Contains(ev.Detail, "UID 3") || !strings.Contains(ev.Detail, wantReason) {
				t.Errorf("chat told %q", ev.Detail)
			}
		}
	}
	if told != 1 {
		t.Errorf("chat told %d times of the mail not kept, want once", told)
	}
}

// TestLargeMailFromFiles: ingest from .eml and mbox files keeps a mail over
// the parse limit whole, with its true size in the reason, records one over
// the keep limit without its bytes, and reparse leaves them oversize until
// the parse limit is raised.
func TestLargeMailFromFiles(t *testing.T) {
	ctx := context.Background()
	const kib = 1 << 10
	dir := t.TempDir()
	over, tooBig := bigMail("over", 100*kib), bigMail("too-big", 300*kib)
	notice := crlf(readFixture(t, "ovh-antihack-syn-flood-fr.eml"))
	mbox := append([]byte("From noc@provider.example Mon Jul 14 22:15:40 2025\r\n"), notice...)
	// mbox writers end each mail with a blank line before the next separator.
	mbox = append(mbox, "\r\nFrom noc@provider.example Mon Jul 14 22:16:40 2025\r\n"...)
	mbox = append(mbox, bigMail("in-mbox", 100*kib)...)
	files := map[string][]byte{"over.eml": over, "too-big.eml": tooBig, "box.mbox": mbox}
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	st, err := store.Open(ctx, filepath.Join(dir, "db", "aw.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	chat := newRecorder(t)
	open := func(limit int) *Pipeline {
		return New(Options{Store: st, Notifier: chat.notifier, Parser: parser.Options{MaxBytes: limit}, KeepMessageBytes: 256 * kib})
	}
	p := open(64 * kib)
	for _, name := range []string{"over.eml", "too-big.eml", "box.mbox"} {
		err := ReadMail(filepath.Join(dir, name), nil, int64(64*kib), func(f MailFile) error {
			_, err := p.IngestFile(ctx, f)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(when string, wantStatus map[string]string) map[string]store.MessageRecord {
		t.Helper()
		msgs, err := st.Messages(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]store.MessageRecord{}
		for _, m := range msgs {
			got[filepath.Base(m.Path)] = m
		}
		for name, status := range wantStatus {
			if got[name].Status != status {
				t.Errorf("%s: %s is %s (%s), want %s", when, name, got[name].Status, got[name].Reason, status)
			}
		}
		return got
	}
	got := check("after ingest", map[string]string{"over.eml": "oversize", "too-big.eml": "oversize", "box.mbox#1": "ok", "box.mbox#2": "oversize"})
	for name, m := range got {
		if m.Status != "oversize" {
			continue
		}
		want := files[name]
		if name == "box.mbox#2" {
			want = bigMail("in-mbox", 100*kib)
		}
		if m.Size != int64(len(want)) || !strings.Contains(m.Reason, strconv.Itoa(len(want))+" bytes") {
			t.Errorf("%s: size %d, reason %q; want the true size %d in both", name, m.Size, m.Reason, len(want))
		}
		if name == "too-big.eml" {
			if m.Kept {
				t.Errorf("%s kept over the keep limit", name)
			}
			continue
		}
		r, err := st.OpenRaw(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored, _ := io.ReadAll(r)
		r.Close()
		if !bytes.Equal(stored, want) {
			t.Errorf("%s: %d bytes stored, not the %d of the mail exactly", name, len(stored), len(want))
		}
	}

	if _, err := p.Reparse(ctx); err != nil {
		t.Fatal(err)
	}
	check("after reparse", map[string]string{"over.eml": "oversize", "too-big.eml": "oversize", "box.mbox#2": "oversize"})
	if _, err := open(1 << 20).Reparse(ctx); err != nil {
		t.Fatal(err)
	}
	check("after reparse with a raised limit", map[string]string{"over.eml": "none", "box.mbox#2": "none", "too-big.eml": "oversize", "box.mbox#1": "ok"})
}
