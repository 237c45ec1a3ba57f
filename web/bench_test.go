package web_test

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/web"
)

// The benchmark's store: a year of a large hoster's abuse mail.
const (
	benchIncidents = 100_000
	benchNotices   = 1_000_000 // 10 per incident
)

// benchStore builds (once, then reuses from the temp dir, keyed by the
// schema) a store of benchIncidents incidents and benchNotices notices,
// each notice with its own message. Rows are written with SQL in one
// transaction: a million ingests would take most of an hour and measure
// nothing the pages do.
func benchStore(b *testing.B) (*store.Store, time.Time) {
	b.Helper()
	ctx := context.Background()
	// A fixed "now" keeps the reused store's 90 days in the chart.
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	path := filepath.Join(os.TempDir(), fmt.Sprintf("abusewatch-web-bench-v2-%d-%d.db", benchIncidents, benchNotices))
	st, err := store.Open(ctx, path, store.WithClock(func() time.Time { return now }))
	if err != nil {
		b.Fatal(err)
	}
	version, err := st.SchemaVersion(ctx)
	if err != nil {
		b.Fatal(err)
	}
	stats, err := st.Stats(ctx)
	if err != nil {
		b.Fatal(err)
	}
	if stats.Notices == benchNotices && stats.Incidents == benchIncidents {
		b.Logf("reusing %s (schema %d)", path, version)
		return st, now
	}
	st.Close()
	for _, suffix := range []string{"", "-wal", "-shm"} {
		os.Remove(path + suffix)
	}
	start := time.Now()
	if st, err = store.Open(ctx, path); err != nil {
		b.Fatal(err)
	}
	st.Close()
	if err := fillBench(path, now); err != nil {
		b.Fatal(err)
	}
	b.Logf("built %s in %s", path, time.Since(start).Round(time.Second))
	if st, err = store.Open(ctx, path, store.WithClock(func() time.Time { return now })); err != nil {
		b.Fatal(err)
	}
	return st, now
}

func fillBench(path string, now time.Time) error {
	db, err := sql.Open("sqlite3", "file:"+path+"?_journal_mode=WAL&_synchronous=OFF&_foreign_keys=off")
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	prep := func(q string) *sql.Stmt {
		s, e := tx.Prepare(q)
		if e != nil && err == nil {
			err = e
		}
		return s
	}
	insMsg := prep(`INSERT INTO messages (id, sha256, message_id, mailbox, uidvalidity, uid, size, received_at, status, reason, authentic, subject, date, from_addr)
		VALUES (?, ?, ?, 'abuse', 1, ?, 4096, ?, ?, ?, ?, ?, ?, ?)`)
	insRaw := prep(`INSERT INTO raw (message, body) VALUES (?, ?)`)
	insInc := prep(`INSERT INTO incidents (id, provider, ip, case_id, service, status, kind, attack, severity, opened_at, resolved_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`)
	insNotice := prep(`INSERT INTO notices (id, message, seq, incident_id, provider, kind, attack, ip, service, case_id, severity, authentic, trust, events)
		VALUES (?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, '[]')`)
	insState := prep(`INSERT INTO states (incident_id, provider, ip, blocked, locked, rescue, checked_at) VALUES (?, ?, ?, ?, 0, 0, ?)`)
	insTimeline := prep(`INSERT INTO timeline (incident_id, at, kind, text) VALUES (?, ?, 'state', ?)`)
	if err != nil {
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	providers := []string{"ovh", "ovh", "hetzner", "hetzner", "generic"}
	kinds := []string{"attack", "block", "complaint", "complaint", "status", "rescue"}
	severity := map[string]int{"status": 1, "complaint": 2, "attack": 3, "block": 4, "rescue": 5}
	attacks := []string{"syn_flood", "udp_flood", "ntp_amplification", "netscan", "bruteforce", "spam", "phishing", "malware"}
	raw := []byte("From: abuse@ovh.net\r\nSubject: [ABUSE] notice\r\n\r\nbody\r\n")
	perIncident := benchNotices / benchIncidents
	span := 365 * 24 * time.Hour
	notice := int64(0)
	for i := int64(1); i <= benchIncidents; i++ {
		provider, kind := providers[rng.IntN(len(providers))], kinds[rng.IntN(len(kinds))]
		attack := attacks[rng.IntN(len(attacks))]
		ip := fmt.Sprintf("%d.%d.%d.%d", 5+i%200, (i/200)%256, (i/51200)%256, 1+i%250)
		// Incidents open over the year in id order, as they do.
		opened := now.Add(-span + time.Duration(i)*(span/benchIncidents))
		status, resolved := "resolved", opened.Add(48*time.Hour).UnixMilli()
		if i > benchIncidents*95/100 || rng.IntN(50) == 0 {
			status, resolved = "open", 0
		}
		caseID := fmt.Sprintf("%X:%02X", 0x500000+i, i%256)
		service := fmt.Sprintf("ns%d.ip-%s.eu", 3000+i, ip)
		if _, err := insInc.Exec(i, provider, ip, caseID, service, status, kind, attack, severity[kind], opened.UnixMilli(), resolved); err != nil {
			return err
		}
		for n := range perIncident {
			notice++
			at := opened.Add(time.Duration(n) * time.Hour).UnixMilli()
			msgStatus := "ok"
			if notice%997 == 0 {
				msgStatus = "unrecognised"
			}
			trust := ""
			if n%2 == 0 {
				trust = "dkim:" + provider
			}
			if _, err := insMsg.Exec(notice, fmt.Appendf(nil, "%032d", notice), fmt.Sprintf("<%d@bench>", notice), notice, at, msgStatus, "",
				"pass", fmt.Sprintf("[ABUSE] %s %s", attack, ip), at, "abuse@"+provider+".example"); err != nil {
				return err
			}
			if _, err := insRaw.Exec(notice, raw); err != nil {
				return err
			}
			if _, err := insNotice.Exec(notice, notice, i, provider, kind, attack, ip, service, caseID, severity[kind], "pass", trust); err != nil {
				return err
			}
		}
		for s := range 3 {
			if _, err := insState.Exec(i, provider, ip, s == 1, opened.Add(time.Duration(s)*time.Hour).UnixMilli()); err != nil {
				return err
			}
			if _, err := insTimeline.Exec(i, opened.Add(time.Duration(s)*time.Hour).UnixMilli(), provider+" reports "+ip+" blocked"); err != nil {
				return err
			}
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.Exec(`ANALYZE`)
	return err
}

// BenchmarkPages measures the dashboard's pages (query and rendering, through
// the handler) on the large store, and reports their p50 and p99 latency.
// Goal: p99 under 50 ms.
//
//	go test -run '^$' -bench BenchmarkPages -benchtime 400x ./web/
func BenchmarkPages(b *testing.B) {
	st, now := benchStore(b)
	defer st.Close()
	h := web.Handler(st, web.Options{Now: func() time.Time { return now }})
	rng := rand.New(rand.NewPCG(3, 4))
	ipOf := func(i int64) string {
		return fmt.Sprintf("%d.%d.%d.%d", 5+i%200, (i/200)%256, (i/51200)%256, 1+i%250)
	}
	pages := []struct {
		name string
		path func() string
	}{
		{"incidents", func() string { return "/incidents" }},
		{"incidents-older", func() string { return fmt.Sprintf("/incidents?before=%d", 1+rng.Int64N(benchIncidents)) }},
		{"search-ip", func() string { return "/incidents?q=" + ipOf(1+rng.Int64N(benchIncidents)) }},
		{"search-case", func() string { return fmt.Sprintf("/incidents?q=%X", 0x500000+1+rng.Int64N(benchIncidents)) }},
		{"filter", func() string { return "/incidents?status=open&provider=hetzner&kind=block&severity=block" }},
		{"filter-search", func() string {
			return "/incidents?status=resolved&provider=ovh&q=" + ipOf(1 + rng.Int64N(benchIncidents))[:5]
		}},
		{"incident", func() string { return fmt.Sprintf("/incidents/%d", 1+rng.Int64N(benchIncidents)) }},
		{"messages", func() string { return "/messages" }},
		{"messages-deep", func() string { return fmt.Sprintf("/messages?page=%d", 1+rng.IntN(200)) }},
		{"overview", func() string { return "/" }},
	}
	for _, p := range pages {
		b.Run(p.name, func(b *testing.B) {
			var lat []time.Duration
			for b.Loop() {
				req := httptest.NewRequest(http.MethodGet, p.path(), nil)
				rec := httptest.NewRecorder()
				start := time.Now()
				h.ServeHTTP(rec, req)
				lat = append(lat, time.Since(start))
				if rec.Code != http.StatusOK {
					b.Fatalf("%s: %d %s", req.URL, rec.Code, rec.Body.String())
				}
			}
			slices.Sort(lat)
			q := func(f float64) float64 {
				return float64(lat[min(len(lat)-1, int(f*float64(len(lat))))].Microseconds()) / 1000
			}
			b.ReportMetric(q(0.50), "p50-ms")
			b.ReportMetric(q(0.99), "p99-ms")
		})
	}
}
