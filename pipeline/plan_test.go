package pipeline

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

// TestPlanTrustsOnlyTrustedNotices: triage is planned for the first trusted
// notice of an incident, whatever came before, and only for one of our
// global unicast addresses in the inventory; everything is still shown and told.
func TestPlanTrustsOnlyTrustedNotices(t *testing.T) {
	ours := netip.MustParseAddr("192.0.2.45")
	pl := planner{triage: true, burstWindow: 2 * time.Minute, deadlineWarning: time.Hour, now: time.Now,
		channels: func(string, store.IncidentChange) []string { return []string{"ops"} },
		inventory: func(ip netip.Addr) bool {
			return ip == ours || ip.IsLoopback() || ip.IsPrivate() || ip.IsLinkLocalUnicast()
		}}
	for _, tt := range []struct {
		name             string
		ip, trust, prior string
		opened, reopened bool
		escalated        bool
		authentic        string
		wantTriage       bool
	}{
		{name: "trusted notice opens", ip: "192.0.2.45", trust: "dkim:ovh", authentic: "pass", opened: true, wantTriage: true},
		{name: "untrusted DKIM pass (stranger's own domain)", ip: "192.0.2.45", authentic: "pass", opened: true},
		{name: "DKIM fail", ip: "192.0.2.45", authentic: "fail", opened: true},
		{name: "unsigned", ip: "192.0.2.45", authentic: "none", opened: true},
		{name: "first trusted notice after a forged one", ip: "192.0.2.45", trust: "dkim:ovh", authentic: "pass", wantTriage: true},
		{name: "second trusted notice, same severity", ip: "192.0.2.45", trust: "dkim:ovh", prior: "dkim:ovh", authentic: "pass"},
		{name: "trusted escalation", ip: "192.0.2.45", trust: "dkim:ovh", prior: "dkim:ovh", authentic: "pass", escalated: true, wantTriage: true},
		{name: "forged escalation of a verified incident", ip: "192.0.2.45", prior: "dkim:ovh", authentic: "none", escalated: true},
		{name: "not in the inventory: the state task decides", ip: "192.0.2.99", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "link-local with a shell zone", ip: "fe80::1%$(reboot)", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "link-local", ip: "fe80::1", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "loopback", ip: "127.0.0.1", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "loopback v6", ip: "::1", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "private", ip: "10.0.0.5", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "multicast", ip: "224.0.0.1", trust: "dkim:ovh", authentic: "pass", opened: true},
		{name: "no IP", trust: "dkim:ovh", authentic: "pass", opened: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ch := store.IncidentChange{IncidentID: 7, NoticeID: 3, Provider: "ovh", IP: tt.ip, Opened: tt.opened, Reopened: tt.reopened,
				Escalated: tt.escalated, NewSeverity: 4, PriorTrust: tt.prior,
				Notice: store.Notice{Provider: "ovh", Kind: "block", IP: tt.ip, Authentic: tt.authentic, Trust: tt.trust, Date: time.Now()}}
			tasks := pl.plan(ch)
			kinds := taskKinds(tasks)
			if got := slices.Contains(kinds, taskTriage); got != tt.wantTriage {
				t.Errorf("triage planned = %v, want %v (tasks %v)", got, tt.wantTriage, kinds)
			}
			if !slices.Contains(kinds, taskNotify) {
				t.Errorf("tasks %v, want the notice told", kinds)
			}
			for _, task := range tasks {
				if task.Kind == taskTriage && !strings.Contains(string(task.Payload), tt.trust) {
					t.Errorf("triage payload %s does not name the trust %s", task.Payload, tt.trust)
				}
			}
		})
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
	// Reminders whose time has passed are no longer planned; every key
	// planned later is one planned the first time, so nothing new is queued.
	for _, k := range keys(second) {
		if !slices.Contains(keys(first), k) {
			t.Fatalf("keys depend on the clock: %s planned days later, not at first:\n%v\n%v", k, keys(first), keys(second))
		}
	}
	if len(keys(second)) != len(keys(first))-4 {
		t.Errorf("a plan days after the deadline = %v, want the first plan without its 4 reminders", keys(second))
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

// An old mail whose deadline has passed, or is within the warning, plans no
// reminder: it would go out at once, before the opening message, which
// states the deadline itself.
func TestPlanNoPastReminders(t *testing.T) {
	now := time.Date(2026, 11, 20, 10, 0, 0, 0, time.UTC)
	pl := planner{burstWindow: 2 * time.Minute, deadlineWarning: time.Hour, now: func() time.Time { return now },
		channels: func(string, store.IncidentChange) []string { return []string{"ops"} }}
	for _, tt := range []struct {
		name     string
		deadline time.Time
		want     []string
	}{
		{"deadline tomorrow", now.Add(24 * time.Hour), []string{eventApproaching, eventPassed}},
		{"deadline within the warning", now.Add(30 * time.Minute), []string{eventPassed}},
		{"deadline passed (old mail)", now.Add(-48 * time.Hour), nil},
	} {
		ch := store.IncidentChange{IncidentID: 1, NoticeID: 1, Opened: true, NewSeverity: 3,
			Notice: store.Notice{Provider: "hetzner", Kind: "attack", Date: now.Add(-72 * time.Hour), Deadline: tt.deadline}}
		var got []string
		for _, task := range pl.plan(ch) {
			if strings.Contains(task.Key, eventApproaching) || strings.Contains(task.Key, eventPassed) {
				got = append(got, strings.Split(task.Key, ":")[2])
				if task.RunAt.Before(now) {
					t.Errorf("%s: %s planned for %s, before now", tt.name, task.Key, task.RunAt)
				}
			}
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: reminders %v, want %v", tt.name, got, tt.want)
		}
	}
}
