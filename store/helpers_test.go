package store

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// openTest opens a fresh store of the tested driver (drivers_test.go) and
// returns where it is: a file path on SQLite, a DSN on PostgreSQL.
func openTest(t testing.TB) (*Store, string) {
	t.Helper()
	path := newTestLocation(t)
	s, err := openAt(t, path, WithClock(tickingClock(time.Now())))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s, path
}

// tickingClock starts at start and moves on a millisecond (the stored
// resolution) at every reading, so that what a test does in order is stored in
// order without sleeping.
func tickingClock(start time.Time) func() time.Time {
	var mu sync.Mutex
	now := start
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		now = now.Add(time.Millisecond)
		return now
	}
}

// mail builds a fake raw mail. Each notice is "provider|kind|attack|ip|case|severity|authentic";
// the fake parser reads them from X-Notice headers, or X-Notice2 with a "2:" prefix.
func mail(id string, notices ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "Message-ID: <%s@test>\r\nSubject: abuse %s\r\nDate: Mon, 02 Nov 2026 10:00:00 +0000\r\n", id, id)
	for _, n := range notices {
		if v2, ok := strings.CutPrefix(n, "2:"); ok {
			fmt.Fprintf(&b, "X-Notice2: %s\r\n", v2)
			continue
		}
		fmt.Fprintf(&b, "X-Notice: %s\r\n", n)
	}
	b.WriteString("\r\nbody\r\n")
	return b.Bytes()
}

// fakeReparse is fakeParse for Reparse, which ignores the verdict on record.
func fakeReparse(version int) ReparseFunc {
	parse := fakeParse(version)
	return func(_ context.Context, m StoredMail) Parsed { return parse(m.Raw) }
}

// fakeParse is a pure parse function over mail's format. Version 2 also understands
// X-Notice2 headers and names the "scan" attack "netscan", as a parser update would.
func fakeParse(version int) func(raw []byte) Parsed {
	return func(raw []byte) Parsed {
		p := Parsed{Status: "none", Reason: "no notice", Authentic: "none"}
		sc := bufio.NewScanner(bytes.NewReader(raw))
		for sc.Scan() {
			line := strings.TrimRight(sc.Text(), "\r")
			if line == "" {
				break
			}
			name, value, _ := strings.Cut(line, ": ")
			switch {
			case name == "Message-ID":
				p.MessageID = value
			case name == "Subject":
				p.Subject = value
			case name == "Date":
				p.Date, _ = time.Parse(time.RFC1123Z, value)
			case name == "X-Broken":
				return Parsed{Status: "error", Reason: "broken mail"}
			case name == "X-Notice" || (version >= 2 && name == "X-Notice2"):
				f := strings.Split(value, "|")
				sev, _ := strconv.Atoi(f[5])
				n := Notice{Provider: f[0], Kind: f[1], Attack: f[2], IP: f[3], Case: f[4], Severity: sev, Authentic: f[6],
					Events: []byte(`[{"src":"` + f[3] + `:123"}]`), MessageID: p.MessageID, Subject: p.Subject, Date: p.Date}
				if n.Authentic == "pass" {
					n.Trust = "dkim:" + n.Provider
				}
				if version >= 2 && n.Attack == "scan" {
					n.Attack = "netscan"
				}
				p.Notices = append(p.Notices, n)
				if n.Authentic == "pass" {
					p.Authentic = "pass"
				}
			}
		}
		if len(p.Notices) > 0 {
			p.Status, p.Reason = "ok", ""
		}
		return p
	}
}

// recorder is a PlanFunc that keeps the changes it saw and plans a state check per
// incident and a notification per incident event, the way the pipeline does.
type recorder struct{ changes []IncidentChange }

func (r *recorder) plan(ch IncidentChange) []NewTask {
	r.changes = append(r.changes, ch)
	event := "update"
	switch {
	case ch.Opened:
		event = "opened"
	case ch.Reopened:
		event = "reopened"
	case ch.Escalated:
		event = fmt.Sprintf("severity-%d", ch.NewSeverity)
	}
	return []NewTask{
		{Kind: "state", Key: fmt.Sprintf("state:%d:%s", ch.IncidentID, event), IncidentID: ch.IncidentID},
		{Kind: "notify", Key: fmt.Sprintf("notify:%d:%s", ch.IncidentID, event), IncidentID: ch.IncidentID},
	}
}

func ingest(t *testing.T, s *Store, src Source, raw []byte, plan PlanFunc) IngestResult {
	t.Helper()
	res, err := s.Ingest(context.Background(), Message{Source: src, Raw: raw}, fakeParse(1)(raw), plan)
	if err != nil {
		t.Fatalf("Ingest: %v", err)
	}
	return res
}

func stats(t *testing.T, s *Store) Stats {
	t.Helper()
	st, err := s.Stats(context.Background())
	if err != nil {
		t.Fatalf("Stats: %v", err)
	}
	return st
}
