package pipeline

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

func TestPlanTrustsOnlyVerifiedMail(t *testing.T) {
	pl := planner{triage: true, burstWindow: 2 * time.Minute, deadlineWarning: time.Hour, now: time.Now,
		channels: func(string, store.IncidentChange) []string { return []string{"ops"} }}
	for _, tt := range []struct {
		authentic  string
		wantTriage bool
	}{
		{"pass", true},
		{"fail", false},
		{"none", false},
	} {
		ch := store.IncidentChange{IncidentID: 7, NoticeID: 3, Provider: "ovh", IP: "192.0.2.45", Opened: true, NewSeverity: 4,
			Notice: store.Notice{Provider: "ovh", Kind: "block", IP: "192.0.2.45", Authentic: tt.authentic, Date: time.Now()}}
		kinds := taskKinds(pl.plan(ch))
		if got := slices.Contains(kinds, taskTriage); got != tt.wantTriage {
			t.Errorf("authentic %s: triage planned = %v, want %v (tasks %v)", tt.authentic, got, tt.wantTriage, kinds)
		}
		// Unverified mail is still shown and told: state and chat tasks are planned.
		if !slices.Contains(kinds, taskState) || !slices.Contains(kinds, taskNotify) {
			t.Errorf("authentic %s: tasks %v, want state and notify", tt.authentic, kinds)
		}
	}
}

func TestPlanKeysAreStable(t *testing.T) {
	pl := planner{triage: true, burstWindow: 2 * time.Minute, deadlineWarning: time.Hour,
		channels: func(string, store.IncidentChange) []string { return []string{"ops", "url-0a1b2c3d4e5f"} }}
	date := time.Date(2026, 11, 20, 10, 1, 0, 0, time.UTC)
	deadline := date.Add(24 * time.Hour)
	ch := store.IncidentChange{IncidentID: 9, NoticeID: 4, Provider: "hetzner", IP: "138.201.172.5",
		Notice: store.Notice{Provider: "hetzner", Kind: "attack", IP: "138.201.172.5", Authentic: "pass", Date: date, Deadline: deadline}}
	pl.now = func() time.Time { return date }
	first := pl.plan(ch)
	pl.now = func() time.Time { return date.Add(72 * time.Hour) } // a reparse days later
	second := pl.plan(ch)
	if !slices.Equal(keys(first), keys(second)) {
		t.Fatalf("keys depend on the clock:\n%v\n%v", keys(first), keys(second))
	}
	var digests, reminders int
	for _, k := range keys(first) {
		switch {
		case strings.Contains(k, eventUpdated):
			digests++
		case strings.Contains(k, eventApproaching), strings.Contains(k, eventPassed):
			reminders++
		}
	}
	if digests != 2 || reminders != 4 {
		t.Errorf("digests %d, reminders %d; want one digest and two reminders per channel: %v", digests, reminders, keys(first))
	}
}

func taskKinds(tasks []store.NewTask) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Kind)
	}
	return out
}

func keys(tasks []store.NewTask) []string {
	var out []string
	for _, t := range tasks {
		out = append(out, t.Key)
	}
	slices.Sort(out)
	return out
}
