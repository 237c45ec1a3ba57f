package store

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestDashboardMessagesPages: the mails a person must read come first
// (unrecognised, then oversize), each group newest first, and pages run on
// across the groups without gaps or repeats.
func TestDashboardMessagesPages(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var want []int64 // the expected order
	byStatus := map[string][]int64{}
	for i, st := range []string{"ok", "unrecognised", "none", "oversize", "ok", "unrecognised", "error", "ok", "unrecognised", "oversize", "ok"} {
		res, err := s.Ingest(ctx, Message{Source: Source{Path: fmt.Sprintf("m%d.eml", i)}, Raw: fmt.Appendf(nil, "Subject: %d\r\n\r\n", i)},
			Parsed{Status: st, Reason: st}, nil)
		if err != nil {
			t.Fatal(err)
		}
		byStatus[st] = append([]int64{res.MessageID}, byStatus[st]...) // newest first
	}
	want = append(append(want, byStatus["unrecognised"]...), byStatus["oversize"]...)
	for i := int64(11); i >= 1; i-- {
		if st := statusOf(byStatus, i); st != "unrecognised" && st != "oversize" {
			want = append(want, i)
		}
	}
	tests := []struct {
		status  string
		perPage int
		want    []int64
	}{
		{"", 4, want},
		{"", 3, want},
		{"", 100, want},
		{"ok", 3, byStatus["ok"]},
		{"oversize", 1, byStatus["oversize"]},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d", tt.status, tt.perPage), func(t *testing.T) {
			var got []int64
			for page := 1; ; page++ {
				res, err := s.DashboardMessages(ctx, tt.status, page, tt.perPage)
				if err != nil {
					t.Fatal(err)
				}
				if res.Attention["unrecognised"] != 3 || res.Attention["oversize"] != 2 {
					t.Errorf("attention counts %v", res.Attention)
				}
				if len(res.Messages) > tt.perPage {
					t.Fatalf("page %d: %d mails", page, len(res.Messages))
				}
				for _, m := range res.Messages {
					got = append(got, m.ID)
				}
				if !res.More {
					break
				}
				if page > 20 {
					t.Fatal("no last page")
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("order %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := s.DashboardMessages(ctx, "bogus", 1, 10); err == nil {
		t.Error("an unknown status was accepted")
	}
}

func statusOf(by map[string][]int64, id int64) string {
	for st, ids := range by {
		for _, i := range ids {
			if i == id {
				return st
			}
		}
	}
	return ""
}

// TestDashboardIncidentsFilters: every filter and the search select what
// they say, newest first, and the pages follow each other.
func TestDashboardIncidentsFilters(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	notices := []string{
		"ovh|block|syn_flood|51.91.10.20|OVH-1|4|pass",
		"hetzner|complaint|spam|88.99.12.34|5D1E02:3C|2|none",
		"ovh|attack|netscan|51.91.10.21||3|pass",
		"hetzner|rescue|malware|88.99.12.35|5D1E03:01|5|pass",
		"generic|complaint|bruteforce|192.0.2.9|R-77|2|none",
	}
	ids := map[string]int64{}
	for i, n := range notices {
		res := ingest(t, s, Source{Path: fmt.Sprintf("%d.eml", i)}, mail(fmt.Sprint(i), n), nil)
		ids[n[:len("ovh|block")]] = res.Opened[0]
	}
	// A later notice names a second case for the OVH block.
	ingest(t, s, Source{Path: "later.eml"}, mail("later", "ovh|block|syn_flood|51.91.10.20|OVH-2|4|pass"), nil)
	if err := s.ResolveIncident(ctx, ids["generic|c"], "done"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SaveState(ctx, ids["ovh|block"], StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: true, CheckedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		f    IncidentFilter
		want []string // keys of ids, newest first
	}{
		{"all", IncidentFilter{}, []string{"generic|c", "hetzner|r", "ovh|attac", "hetzner|c", "ovh|block"}},
		{"open", IncidentFilter{Status: "open"}, []string{"hetzner|r", "ovh|attac", "hetzner|c", "ovh|block"}},
		{"resolved", IncidentFilter{Status: "resolved"}, []string{"generic|c"}},
		{"provider", IncidentFilter{Provider: "hetzner"}, []string{"hetzner|r", "hetzner|c"}},
		{"kind", IncidentFilter{Kind: "complaint"}, []string{"generic|c", "hetzner|c"}},
		{"severity", IncidentFilter{Severity: 4}, []string{"ovh|block"}},
		{"ip prefix", IncidentFilter{Search: "51.91.10."}, []string{"ovh|attac", "ovh|block"}},
		{"exact ip", IncidentFilter{Search: "88.99.12.35"}, []string{"hetzner|r"}},
		{"case", IncidentFilter{Search: "5D1E0"}, []string{"hetzner|r", "hetzner|c"}},
		{"case of a later notice", IncidentFilter{Search: "OVH-2"}, []string{"ovh|block"}},
		{"combined", IncidentFilter{Status: "open", Provider: "ovh", Search: "51.91"}, []string{"ovh|attac", "ovh|block"}},
		{"nothing", IncidentFilter{Search: "203.0.113."}, nil},
		{"older", IncidentFilter{Before: ids["hetzner|c"]}, []string{"ovh|block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			page, err := s.DashboardIncidents(ctx, tt.f)
			if err != nil {
				t.Fatal(err)
			}
			var got []int64
			for _, in := range page.Incidents {
				got = append(got, in.ID)
			}
			var want []int64
			for _, k := range tt.want {
				want = append(want, ids[k])
			}
			if fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("incidents %v, want %v", got, want)
			}
		})
	}
	// Paging: two at a time, the next page starts where the last stopped.
	var got []int64
	f := IncidentFilter{Limit: 2}
	for range 5 {
		page, err := s.DashboardIncidents(ctx, f)
		if err != nil {
			t.Fatal(err)
		}
		for _, in := range page.Incidents {
			got = append(got, in.ID)
			if in.ID == ids["ovh|block"] && (in.State == nil || !in.State.Blocked || in.Notices != 2) {
				t.Errorf("ovh block: state %+v, %d notices", in.State, in.Notices)
			}
		}
		if page.Next == 0 {
			break
		}
		f.Before = page.Next
	}
	if len(got) != 5 || got[0] != ids["generic|c"] || got[4] != ids["ovh|block"] {
		t.Errorf("paged %v", got)
	}
}

// TestDashboardIncidentAndCounts: one incident's page of notices with its
// states and grants; notices per day and open incidents by severity.
func TestDashboardIncidentAndCounts(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	day := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	var id int64
	for i := range 7 {
		at := day.Add(time.Duration(i) * 10 * time.Hour) // over three days
		res, err := s.Ingest(ctx, Message{Source: Source{Path: fmt.Sprintf("%d.eml", i)}, Raw: mail(fmt.Sprint(i), "ovh|block|syn_flood|51.91.10.20|C1|4|pass"), ReceivedAt: at},
			fakeParse(1)(mail(fmt.Sprint(i), "ovh|block|syn_flood|51.91.10.20|C1|4|pass")), nil)
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			id = res.Opened[0]
		}
	}
	ingest(t, s, Source{Path: "h.eml"}, mail("h", "hetzner|complaint|spam|88.99.12.34||2|none"), nil)
	for _, blocked := range []bool{true, false} {
		if _, err := s.SaveState(ctx, id, StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: blocked, CheckedAt: day}); err != nil {
			t.Fatal(err)
		}
	}
	for _, ip := range []string{"51.91.10.20", "51.91.10.99"} {
		if _, err := s.CreateGrant(ctx, Grant{Provider: "ovh", ServerIP: ip, Source: "203.0.113.7", Status: "active", ExpiresAt: day.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := s.ReserveStatement(ctx, Statement{IncidentID: id, SHA256: "ab", Channel: "smtp", Recipients: []string{"abuse@ovh.net"}, Body: "done", Status: "sending"}, false); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ page, want int }{{1, 3}, {2, 3}, {3, 1}, {4, 0}}
	for _, tt := range tests {
		v, err := s.DashboardIncident(ctx, id, tt.page, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.NoticePage) != tt.want || v.NoticePages != 3 || v.Notices != 7 {
			t.Errorf("page %d: %d notices of %d in %d pages, want %d", tt.page, len(v.NoticePage), v.Notices, v.NoticePages, tt.want)
		}
		if len(v.States) != 2 || v.State == nil || v.State.Blocked || !v.States[1].Blocked {
			t.Errorf("states newest first: %+v", v.States)
		}
		if len(v.Statements) != 1 || v.Statements[0].Body != "done" || v.Statements[0].Recipients[0] != "abuse@ovh.net" {
			t.Errorf("statements: %+v", v.Statements)
		}
		if len(v.Grants) != 1 || v.Grants[0].ServerIP != "51.91.10.20" {
			t.Errorf("grants of the IP: %+v", v.Grants)
		}
	}
	if _, err := s.DashboardIncident(ctx, 9999, 1, 3); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing incident: %v", err)
	}

	counts, err := s.NoticesPerDay(ctx, day, day.AddDate(0, 0, 2))
	if err != nil {
		t.Fatal(err)
	}
	// Notices at 0h, 10h, 20h (day 1), 30h, 40h (day 2); 50h and 60h are after.
	want := []DayCount{{day, "ovh", "syn_flood", 3}, {day.AddDate(0, 0, 1), "ovh", "syn_flood", 2}}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("notices per day %v, want %v", counts, want)
	}
	open, err := s.OpenBySeverity(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if open[4] != 1 || open[2] != 1 || len(open) != 2 {
		t.Errorf("open by severity %v", open)
	}
}
