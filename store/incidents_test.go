package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSaveState(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	id := ingest(t, s, Source{Path: "1.eml"}, mail("1", "ovh|attack|syn_flood|51.91.10.20||3|pass"), nil).Opened[0]
	steps := []struct {
		name         string
		snap         StateSnapshot
		wantPrev     *StateSnapshot
		wantTimeline string // "" when no entry must be added
	}{
		{name: "first check, nothing fenced",
			snap: StateSnapshot{Provider: "ovh", IP: "51.91.10.20", CheckedAt: t0}},
		{name: "blocked",
			snap:         StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: true, CheckedAt: t0.Add(time.Minute), Detail: json.RawMessage(`{"reason":"antihack"}`)},
			wantPrev:     &StateSnapshot{Provider: "ovh", IP: "51.91.10.20", CheckedAt: t0},
			wantTimeline: "ovh reports 51.91.10.20 blocked"},
		{name: "unchanged",
			snap:     StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: true, CheckedAt: t0.Add(2 * time.Minute)},
			wantPrev: &StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: true, CheckedAt: t0.Add(time.Minute), Detail: json.RawMessage(`{"reason":"antihack"}`)}},
		{name: "unblocked and in rescue",
			snap:         StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Rescue: true, CheckedAt: t0.Add(3 * time.Minute)},
			wantPrev:     &StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: true, CheckedAt: t0.Add(2 * time.Minute)},
			wantTimeline: "ovh reports 51.91.10.20 no longer blocked, rescue"},
	}
	for _, st := range steps {
		before := len(detail(t, s, id).Timeline)
		prev, err := s.SaveState(ctx, id, st.snap)
		if err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if !reflect.DeepEqual(prev, st.wantPrev) {
			t.Errorf("%s: prev %+v, want %+v", st.name, prev, st.wantPrev)
		}
		d := detail(t, s, id)
		if !reflect.DeepEqual(d.State, &st.snap) {
			t.Errorf("%s: incident state %+v, want %+v", st.name, d.State, st.snap)
		}
		added := d.Timeline[before:]
		switch {
		case st.wantTimeline == "" && len(added) != 0:
			t.Errorf("%s: timeline gained %+v", st.name, added)
		case st.wantTimeline != "" && (len(added) != 1 || added[0].Kind != "state" || added[0].Text != st.wantTimeline):
			t.Errorf("%s: timeline gained %+v, want %q", st.name, added, st.wantTimeline)
		}
	}
	incs, err := s.Incidents(ctx, "open")
	if err != nil || len(incs) != 1 || incs[0].State == nil || !incs[0].State.Rescue {
		t.Errorf("Incidents state: %+v %v", incs, err)
	}
	// A snapshot of no incident compares with the last such snapshot of the same IP.
	if prev, err := s.SaveState(ctx, 0, StateSnapshot{Provider: "ovh", IP: "51.91.10.20", Blocked: true}); err != nil || prev != nil {
		t.Errorf("first snapshot without incident: prev %+v %v", prev, err)
	}
	if prev, err := s.SaveState(ctx, 0, StateSnapshot{Provider: "ovh", IP: "51.91.10.20"}); err != nil || prev == nil || !prev.Blocked {
		t.Errorf("second snapshot without incident: prev %+v %v", prev, err)
	}
}

func TestIncidentDetail(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	first := ingest(t, s, Source{Path: "1.eml"}, mail("1", "ovh|attack|syn_flood|51.91.10.20||3|fail"), nil)
	id := first.Opened[0]
	if d := detail(t, s, id); !d.Unverified {
		t.Errorf("incident with only a failed DKIM notice is verified")
	}
	ingest(t, s, Source{Path: "2.eml"}, mail("2", "ovh|attack|syn_flood|51.91.10.20||3|pass"), nil)
	other := ingest(t, s, Source{Path: "3.eml"}, mail("3", "ovh|attack|syn_flood|51.91.10.99||3|pass"), nil).Opened[0]

	news := func(key string) func() []NewTask {
		return func() []NewTask { return []NewTask{{Kind: "notify", Key: key, IncidentID: id}} }
	}
	raised, err := s.RaiseSeverity(ctx, id, 4, "provider blocked it", news("raised-4"))
	if err != nil || !raised {
		t.Fatalf("RaiseSeverity: %v %v", raised, err)
	}
	if raised, err := s.RaiseSeverity(ctx, id, 3, "less", news("raised-3")); err != nil || raised {
		t.Errorf("RaiseSeverity to a lower value: %v %v", raised, err)
	}
	if got := queuedKeys(t, s); !slices.Equal(got, []string{"raised-4"}) {
		t.Errorf("tasks after the raises = %v, want only the one of the raise that happened", got)
	}
	if err := s.AddTimeline(ctx, id, "notify", "sent to mattermost"); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTimeline(ctx, 999, "notify", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("AddTimeline to a missing incident: %v", err)
	}
	ev := Evidence{IncidentID: id, Job: "ps", Host: "hv1", Where: "ssh", Status: "ok", Argv: []string{"ps", "aux"},
		Output: []byte("root 1 init\n"), Dropped: 10, StartedAt: t0, Duration: 1500 * time.Millisecond, Findings: []string{"miner running"}}
	suspects := []Suspect{
		{Kind: "container", Name: "gitlab", Host: "hv1", Container: "gitlab", Why: []string{"0.0.0.0:123 published by gitlab"}},
		{Kind: "process", Name: "wate", Host: "hv1", PID: 4242, User: "git", Exe: "/tmp/.x/wate", Container: "gitlab",
			Why: []string{"812 sockets to 203.0.113.50:80", "exe under /tmp"}},
	}
	run := TriageRun{IncidentID: id, Run: "triage:1:sev4", Trigger: "notice: DKIM pass for hetzner.com", StartedAt: t0,
		Evidence: []Evidence{ev}, Suspects: suspects, Summary: "triage ran 1 job(s) on hv1: 1 ok", Raise: 5, RaiseWhy: "rootkit found"}
	then := func(raised bool) []NewTask {
		return []NewTask{{Kind: "notify", Key: fmt.Sprintf("triage-news-raised-%v", raised), IncidentID: id}}
	}
	if done, err := s.TriageRecorded(ctx, run.Run); err != nil || done {
		t.Fatalf("TriageRecorded before the run = %v, %v", done, err)
	}
	if recorded, err := s.RecordTriage(ctx, run, then); err != nil || !recorded {
		t.Fatalf("RecordTriage = %v, %v", recorded, err)
	}
	// The same run again, as after a crash between the commit and the task's completion.
	if recorded, err := s.RecordTriage(ctx, run, then); err != nil || recorded {
		t.Errorf("RecordTriage of a recorded run = %v, %v; want false, nil", recorded, err)
	}
	if done, err := s.TriageRecorded(ctx, run.Run); err != nil || !done {
		t.Errorf("TriageRecorded after the run = %v, %v", done, err)
	}
	if _, err := s.RecordTriage(ctx, TriageRun{IncidentID: 999, Run: "x", Evidence: []Evidence{{Job: "ps"}}}, then); !errors.Is(err, ErrNotFound) {
		t.Errorf("RecordTriage on a missing incident: %v", err)
	}
	if got := queuedKeys(t, s); !slices.Equal(got, []string{"raised-4", "triage-news-raised-true"}) {
		t.Errorf("tasks after the triage run = %v", got)
	}

	d := detail(t, s, id)
	if d.Notices != 2 || len(d.NoticeRecords) != 2 || d.Unverified || d.Severity != 5 || !d.LastSeen.After(d.FirstSeen) {
		t.Errorf("incident %+v", d.Incident)
	}
	n := d.NoticeRecords[0]
	if n.Notice.MessageID != "<1@test>" || n.Subject != "abuse 1" || n.IP != "51.91.10.20" || string(n.Events) != `[{"src":"51.91.10.20:123"}]` ||
		!n.Date.Equal(time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)) {
		t.Errorf("notice record %+v", n)
	}
	if len(d.Evidence) == 1 {
		ev.ID, ev.Run = d.Evidence[0].ID, run.Run
	}
	wantSuspects := slices.Clone(suspects)
	wantSuspects[0].Rank, wantSuspects[1].Rank = 1, 2
	wantRuns := []TriageRunRecord{{Run: run.Run, Trigger: run.Trigger, StartedAt: t0, Suspects: wantSuspects}}
	if !reflect.DeepEqual(d.Runs, wantRuns) {
		t.Errorf("runs %+v, want %+v", d.Runs, wantRuns)
	}
	if runs, err := s.TriageRuns(ctx, id); err != nil || !reflect.DeepEqual(runs, wantRuns) {
		t.Errorf("TriageRuns = %+v, %v; want %+v", runs, err, wantRuns)
	}
	if len(d.Evidence) != 1 || !reflect.DeepEqual(d.Evidence[0], ev) {
		t.Errorf("evidence %+v, want %+v", d.Evidence, ev)
	}
	var texts []string
	for _, e := range d.Timeline {
		texts = append(texts, e.Kind+": "+e.Text)
	}
	joined := strings.Join(texts, "\n")
	for _, want := range []string{"notice: ovh attack syn_flood ip 51.91.10.20 (unverified)", "escalated: severity 3 → 4: provider blocked it",
		"escalated: severity 4 → 5: rootkit found", "triage: triage ran 1 job(s) on hv1: 1 ok",
		"notify: sent to mattermost", "evidence: triage ps on hv1: ok (miner running)"} {
		if !strings.Contains(joined, want) {
			t.Errorf("timeline lacks %q:\n%s", want, joined)
		}
	}

	if err := s.ResolveIncident(ctx, other, ""); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		status string
		want   []int64
	}{{"open", []int64{id}}, {"resolved", []int64{other}}, {"all", []int64{id, other}}, {"", []int64{id, other}}} {
		incs, err := s.Incidents(ctx, tt.status)
		if err != nil {
			t.Fatal(err)
		}
		var got []int64
		for _, in := range incs {
			got = append(got, in.ID)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Incidents(%q) = %v, want %v", tt.status, got, tt.want)
		}
	}
	if _, err := s.Incidents(ctx, "closed"); err == nil {
		t.Error("Incidents accepted an unknown status")
	}
	if _, err := s.Incident(ctx, 999); !errors.Is(err, ErrNotFound) {
		t.Errorf("Incident(missing): %v", err)
	}
}

func queuedKeys(t *testing.T, s *Store) []string {
	t.Helper()
	tasks, err := s.Tasks(context.Background(), "queued")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, task := range tasks {
		keys = append(keys, task.Key)
	}
	slices.Sort(keys)
	return keys
}
