package store

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMessagesAndCounts reads back what the listing, raw and metrics queries
// see, on either driver (the suite's driver, drivers_test.go).
func TestMessagesAndCounts(t *testing.T) {
	s, loc := openTest(t)
	ctx := context.Background()
	a := mail("a", "ovh|attack|syn_flood|51.91.10.1||3|pass")
	ingest(t, s, Source{Mailbox: "abuse", UIDValidity: 9, UID: 1}, a, nil)
	ingest(t, s, Source{Mailbox: "abuse", UIDValidity: 9, UID: 2}, mail("b"), nil)

	// A large mail, spooled and then kept in chunks: more than two of them.
	f, err := s.NewRawFile()
	if err != nil {
		t.Fatal(err)
	}
	big := append(mail("big", "ovh|block||51.91.10.2||4|pass"), bytes.Repeat([]byte("x"), 2*rawChunkSize+17)...)
	if _, err := f.Write(big); err != nil {
		t.Fatal(err)
	}
	res, err := s.Ingest(ctx, Message{Source: Source{Path: "big.eml"}, Large: f, SHA256: f.Sum(), Size: f.Size()},
		Parsed{Status: "oversize", Reason: "too large to parse"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if spooled, _ := filepath.Glob(filepath.Join(s.dir, rawDir, "*")); len(spooled) != 0 {
		t.Errorf("spool files left after Close: %v", spooled)
	}

	// An IP-less notice opens an incident by service; the provider names its IP later.
	ipless, err := s.Ingest(ctx, Message{Source: Source{Path: "svc.eml"}, Raw: mail("svc")},
		Parsed{Status: "ok", Notices: []Notice{{Provider: "ovh", Kind: "block", Service: "ns1.example.net", Severity: 4}}}, nil)
	if err != nil || len(ipless.Opened) != 1 {
		t.Fatalf("IP-less ingest: %+v, %v", ipless, err)
	}
	again, err := s.Ingest(ctx, Message{Source: Source{Path: "svc2.eml"}, Raw: mail("svc2")},
		Parsed{Status: "ok", Notices: []Notice{{Provider: "ovh", Kind: "block", Service: "ns1.example.net", Severity: 4}}}, nil)
	if err != nil || len(again.Updated) != 1 || again.Updated[0] != ipless.Opened[0] {
		t.Fatalf("second notice of the service: %+v, %v; want it on incident %d", again, err, ipless.Opened[0])
	}
	if _, err := s.LearnIncidentIP(ctx, ipless.Opened[0], "51.91.10.3", "OVH routes ns1.example.net to 51.91.10.3"); err != nil {
		t.Fatal(err)
	}
	inc, err := s.Incident(ctx, ipless.Opened[0])
	if err != nil || inc.IP != "51.91.10.3" {
		t.Fatalf("incident after LearnIncidentIP: %+v, %v", inc, err)
	}

	msgs, err := s.Messages(ctx, "")
	if err != nil || len(msgs) != 5 {
		t.Fatalf("messages: %d, %v; want 5", len(msgs), err)
	}
	first := msgs[0]
	if first.Mailbox != "abuse" || first.UIDValidity != 9 || first.UID != 1 || first.Notices != 1 || !first.Kept || first.Subject != "abuse a" {
		t.Errorf("first message %+v", first)
	}
	if oversize, err := s.Messages(ctx, "oversize"); err != nil || len(oversize) != 1 || !oversize[0].Kept {
		t.Errorf("oversize messages %+v, %v", oversize, err)
	}
	for _, tt := range []struct {
		id   int64
		want []byte
	}{{first.ID, a}, {res.MessageID, big}} {
		r, err := s.OpenRaw(ctx, tt.id)
		if err != nil {
			t.Fatalf("OpenRaw %d: %v", tt.id, err)
		}
		got, err := io.ReadAll(r)
		r.Close()
		if err != nil || string(got) != string(tt.want) {
			t.Errorf("raw of %d: %d bytes, %v; want %d", tt.id, len(got), err, len(tt.want))
		}
	}
	// Another watcher of the same database (on PostgreSQL one on another
	// machine, with a folder of its own) reads the large mail too.
	other, err := openAt(t, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if r, err := other.OpenRaw(ctx, res.MessageID); err != nil {
		t.Errorf("the large mail from another store: %v", err)
	} else if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, big) {
		t.Errorf("the large mail from another store: %d bytes, %v; want %d", len(got), err, len(big))
	}
	if m, err := s.MessageByID(ctx, res.MessageID); err != nil || m.Status != "oversize" || m.Reason != "too large to parse" {
		t.Errorf("MessageByID: %+v, %v", m, err)
	}
	counts, err := s.MessageCounts(ctx)
	if err != nil || counts["ok"] != 3 || counts["none"] != 1 || counts["oversize"] != 1 {
		t.Errorf("message counts %v, %v", counts, err)
	}
	if mb, err := s.MailboxCounts(ctx); err != nil || len(mb) != 1 || mb["abuse"] != 2 {
		t.Errorf("mailbox counts %v, %v", mb, err)
	}
	nc, err := s.NoticeCounts(ctx)
	if err != nil || len(nc) != 2 || nc[0] != (NoticeCount{"ovh", "attack", 1}) || nc[1] != (NoticeCount{"ovh", "block", 2}) {
		t.Errorf("notice counts %+v, %v", nc, err)
	}
}

// TestRawChunksIntegrity: a large mail whose chunks are not all there reads
// as an error, not as a shorter mail; one stored before migration 0008 is
// still read from its file beside the database.
func TestRawChunksIntegrity(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	large := func(name string, size int) (int64, []byte) {
		t.Helper()
		f, err := s.NewRawFile()
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		raw := append(mail(name), bytes.Repeat([]byte(name), size)...)
		if _, err := f.Write(raw); err != nil {
			t.Fatal(err)
		}
		res, err := s.Ingest(ctx, Message{Source: Source{Path: name + ".eml"}, Large: f, SHA256: f.Sum(), Size: f.Size()},
			Parsed{Status: "oversize", Reason: "too large to parse"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return res.MessageID, raw
	}
	read := func(id int64) ([]byte, error) {
		r, err := s.OpenRaw(ctx, id)
		if err != nil {
			return nil, err
		}
		defer r.Close()
		return io.ReadAll(r)
	}

	cut, _ := large("cut", 3*rawChunkSize)
	if _, err := s.w.ExecContext(ctx, `DELETE FROM raw_chunks WHERE message = ? AND seq = 2`, cut); err != nil {
		t.Fatal(err)
	}
	if got, err := read(cut); err == nil || !strings.Contains(err.Error(), "bytes are stored") {
		t.Errorf("a mail missing its last chunk read as %d bytes, %v; want an error", len(got), err)
	}

	old, raw := large("old", 10)
	if err := os.WriteFile(filepath.Join(s.dir, rawDir, "old.eml"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `DELETE FROM raw_chunks WHERE message = ?`, old); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE messages SET raw_path = ? WHERE id = ?`, filepath.Join(rawDir, "old.eml"), old); err != nil {
		t.Fatal(err)
	}
	if got, err := read(old); err != nil || !bytes.Equal(got, raw) {
		t.Errorf("a mail kept in a file: %d bytes, %v; want its %d", len(got), err, len(raw))
	}
	msgs, err := s.Messages(ctx, "oversize")
	if err != nil || len(msgs) != 2 || !msgs[0].Kept || !msgs[1].Kept {
		t.Errorf("oversize messages %+v, %v; want both kept", msgs, err)
	}
}
