package web_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

// hostile is what a mail may put in any string the dashboard shows: markup,
// script in every HTML context (text, attribute, URL, CSS), terminal
// escapes, Unicode controls and a 5,000-character id. The mails of
// testdata/hostile carry the same through the parser; these go into the
// store directly too, in the fields the parser validates today, in case a
// format ever lets them through.
var hostile = []string{
	`<script>alert("h0")</script><b id="injected-b">bold</b> &amp;`,
	`"><img src=x onerror=alert("h1") id=injected-img>`,
	`' onmouseover='alert("h2")' style='background:url(javascript:alert("h3"))'`,
	`javascript:alert("h4")`,
	`</title></style><style>body{display:none}</style><svg onload=alert("h5")>`,
	"\x1b[2J\x1b]0;pwned\x07\x1b[31mred\x1b[0m \u202eexe.gnp",
	strings.Repeat("A", 5000),
}

// fixture is a store filled from the parser's fixture mails, the hostile
// mails, hostile notices, a triage run, a provider state and grants.
type fixture struct {
	st       *store.Store
	hostile  []int64 // incident of hostile[i]
	triaged  int64   // the incident with a triage run, states and a grant
	oversize int64   // the message kept as a file, not parsed
	many     int64   // an incident with more notices than a page
	now      time.Time
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	dir := t.TempDir()
	st, err := store.Open(ctx, filepath.Join(dir, "aw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	// No DNS lookups: every mail is unverified, as a forged one would be.
	p := pipeline.New(pipeline.Options{Store: st, Parser: parser.Options{MaxBytes: 256 << 10}})
	f := &fixture{st: st, now: now}

	var files []string
	for _, pattern := range []string{"../parser/testdata/*.eml", "testdata/hostile/*.eml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 20 {
		t.Fatalf("only %d fixture mails", len(files))
	}
	for i, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		// Spread over the chart's 90 days.
		at := now.Add(-time.Duration(i%80) * 24 * time.Hour)
		if _, err := p.Ingest(ctx, store.Message{Source: store.Source{Path: name}, Raw: raw, ReceivedAt: at}); err != nil {
			t.Fatalf("ingest %s: %v", name, err)
		}
	}

	// An oversize mail, kept as a file beside the database.
	big := "From: reports@honeypot.example\r\nSubject: huge <script>alert(\"big\")</script>\r\nMessage-ID: <big@honeypot.example>\r\n\r\n" +
		strings.Repeat("x <script>alert(\"body\")</script> padding line\r\n", 8000)
	res, kept, err := p.IngestLarge(ctx, store.Source{Path: "big.eml"}, strings.NewReader(big))
	if err != nil || !kept {
		t.Fatalf("ingest large: kept %v, %v", kept, err)
	}
	f.oversize = res.MessageID

	for i, h := range hostile {
		ip := fmt.Sprintf("192.0.2.%d", 100+i)
		raw := fmt.Appendf(nil, "From: x@example.org\r\nSubject: hostile %d\r\nMessage-ID: <hostile-%d@example.org>\r\n\r\n%s\r\n", i, i, h)
		res, err := st.Ingest(ctx, store.Message{Source: store.Source{Path: fmt.Sprintf("hostile-%d.eml", i)}, Raw: raw, ReceivedAt: now.Add(-time.Hour)},
			store.Parsed{Status: "unrecognised", Reason: h, Subject: h, From: h, MessageID: h, Notices: []store.Notice{{
				Provider: "generic", Kind: "complaint", Attack: "unknown", IP: ip, Service: h, Case: h, Severity: 2,
				Reporter: h, Rate: h, Subject: h, MessageID: h, Authentic: "none", Events: []byte(`[]`),
			}}}, nil)
		if err != nil || len(res.Opened) != 1 {
			t.Fatalf("hostile notice %d: %+v, %v", i, res, err)
		}
		f.hostile = append(f.hostile, res.Opened[0])
		if err := st.AddTimeline(ctx, res.Opened[0], "note", h); err != nil {
			t.Fatal(err)
		}
	}

	f.triaged = f.hostile[0]
	var why []string
	why = append(why, hostile...)
	if _, err := st.RecordTriage(ctx, store.TriageRun{
		IncidentID: f.triaged, Run: "triage:1", Trigger: hostile[1], StartedAt: now.Add(-30 * time.Minute),
		Evidence: []store.Evidence{{
			Job: "ps", Host: "hv1", Where: "ssh", Status: "ok", Argv: []string{"ps", "aux"},
			Output: []byte(strings.Join(hostile, "\n") + "\nroot 4242 xmrig --donate-level 0\n"), StartedAt: now.Add(-30 * time.Minute),
			Duration: 1500 * time.Millisecond, Findings: []string{"miner: xmrig", hostile[0]},
		}},
		Suspects: []store.Suspect{
			{Rank: 1, Kind: "process", Name: "xmrig", Host: "hv1", PID: 4242, User: "www-data", Exe: "/tmp/.x/xmrig", Why: []string{"root 4242 xmrig --donate-level 0"}},
			{Rank: 2, Kind: "account", Name: hostile[2], Host: "hv1", User: hostile[4], Why: why},
		},
		Summary: "triage found a miner",
	}, func(bool) []store.NewTask { return nil }); err != nil {
		t.Fatal(err)
	}
	// An operator's containment: a run whose jobs are named contain:….
	if _, err := st.RecordTriage(ctx, store.TriageRun{
		IncidentID: f.triaged, Run: "contain:1", Trigger: "operator", StartedAt: now.Add(-25 * time.Minute),
		Evidence: []store.Evidence{
			{Job: "contain:before", Host: "hv1", Where: "ssh", Status: "ok", Output: []byte("4242 xmrig " + hostile[0] + "\n")},
			{Job: "contain:verdict", Host: "hv1", Where: "ssh", Status: "ok", Output: []byte(`{"action":"pause","name":"xmrig","verdict":{"contained":true}}`)},
		},
		Summary: "contained xmrig",
	}, func(bool) []store.NewTask { return nil }); err != nil {
		t.Fatal(err)
	}
	// A statement sent to the provider, quoting the mail.
	sid, _, err := st.ReserveStatement(ctx, store.Statement{
		IncidentID: f.triaged, SHA256: "ab12", Lang: "en", Channel: "smtp", Recipients: []string{"abuse@honeypot.example", hostile[1]},
		Subject: "Re: " + hostile[0], Body: "Dear team,\nwe stopped xmrig.\n> " + hostile[4] + "\n", Status: "sending",
	}, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.FinishStatement(ctx, sid, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveState(ctx, f.triaged, store.StateSnapshot{Provider: "generic", IP: "192.0.2.100", Blocked: true, CheckedAt: now.Add(-20 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SaveState(ctx, f.triaged, store.StateSnapshot{Provider: "generic", IP: "192.0.2.100", CheckedAt: now.Add(-10 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	for _, g := range []store.Grant{
		{Provider: "generic", ServerIP: "192.0.2.100", Source: "203.0.113.7", By: hostile[3], Reason: hostile[0], Status: "active", ExpiresAt: now.Add(time.Hour)},
		{Provider: "generic", ServerIP: "192.0.2.100", Source: "203.0.113.8", By: "alice", Reason: "rescue", Status: "expired", ExpiresAt: now.Add(-time.Hour)},
	} {
		if _, err := st.CreateGrant(ctx, g); err != nil {
			t.Fatal(err)
		}
	}

	// One incident with many notices: one IP's complaints of a whole run.
	tmpl, err := os.ReadFile("testdata/hostile/markup.eml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 130 {
		raw := bytes.ReplaceAll(tmpl, []byte("192.0.2.44"), []byte("192.0.2.60"))
		raw = bytes.Replace(raw, []byte("<hostile-markup@"), fmt.Appendf(nil, "<many-%d@", i), 1)
		res, err := p.Ingest(ctx, store.Message{Source: store.Source{Path: fmt.Sprintf("many-%d.eml", i)}, Raw: raw, ReceivedAt: now.Add(-time.Duration(130-i) * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			if len(res.Opened) != 1 {
				t.Fatalf("many: %+v", res)
			}
			f.many = res.Opened[0]
		}
	}
	return f
}
