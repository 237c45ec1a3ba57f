package notify_test

import (
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
)

func TestRenderDefault(t *testing.T) {
	deadline := time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC)
	tests := []struct {
		name      string
		ev        notify.Event
		firstLine string
		contains  []string
		excludes  []string
	}{
		{
			name:      "opened block",
			ev:        blockEvent(),
			firstLine: "🔴 BLOCK ovh ntp_amplification 51.91.10.20",
			contains: []string{
				"service: ns3001234.ip-51-91-10.eu",
				"provider did: IP blocked",
				"case CS1234567, deadline 2026-11-22 10:00 UTC",
				"incident 42: abusewatch incidents show 42",
			},
			excludes: []string{"unverified", "notices"},
		},
		{
			name: "burst digest, unverified, all actions",
			ev: notify.Event{Kind: notify.IncidentUpdated, IncidentID: 7, Severity: "rescue", Provider: "hetzner",
				Attack: "netscan", IP: "198.51.100.7", Count: 5, Unverified: true,
				Blocked: true, Locked: true, Rescue: true, Hacked: true},
			firstLine: "🚨 UPDATE RESCUE hetzner netscan 198.51.100.7 (5 notices)",
			contains: []string{
				"⚠ unverified sender: DKIM did not pass",
				"provider did: IP blocked, server locked, rescue mode, flagged as hacked",
				"abusewatch incidents show 7",
			},
		},
		{
			name:      "sent again after its sender stopped",
			ev:        notify.Event{Kind: notify.IncidentOpened, IncidentID: 9, Severity: "block", Provider: "ovh", IP: "51.91.10.20", Repeat: true},
			firstLine: "🔴 BLOCK ovh 51.91.10.20",
			contains:  []string{"↻ may repeat an earlier message: the watcher sending it stopped before recording it"},
		},
		{
			name:      "single notice has no count",
			ev:        notify.Event{Kind: notify.IncidentOpened, Severity: "complaint", Provider: "generic", Attack: "spam", IP: "192.0.2.1", Count: 1},
			firstLine: "🟡 COMPLAINT generic spam 192.0.2.1",
			excludes:  []string{"(1 notices)", "incident "},
		},
		{
			name:      "escalated",
			ev:        notify.Event{Kind: notify.IncidentEscalated, Severity: "block", Provider: "ovh", IP: "51.91.10.20", IncidentID: 3},
			firstLine: "⏫ ESCALATED to BLOCK ovh 51.91.10.20",
		},
		{
			name:      "state changed to nothing",
			ev:        notify.Event{Kind: notify.StateChanged, Provider: "ovh", IP: "51.91.10.20", Detail: "block lifted", IncidentID: 3},
			firstLine: "🔄 STATE CHANGED ovh 51.91.10.20",
			contains:  []string{"provider did: nothing in force", "block lifted"},
		},
		{
			name:      "unblock possible",
			ev:        notify.Event{Kind: notify.UnblockPossible, Provider: "ovh", IP: "51.91.10.20", Blocked: true},
			firstLine: "🟢 UNBLOCK POSSIBLE ovh 51.91.10.20",
		},
		{
			name:      "deadline approaching",
			ev:        notify.Event{Kind: notify.DeadlineApproaching, Provider: "hetzner", IP: "198.51.100.7", Case: "518908:22", Deadline: deadline, IncidentID: 9},
			firstLine: "⏰ DEADLINE SOON hetzner 198.51.100.7",
			contains:  []string{"case 518908:22, deadline 2026-11-22 10:00 UTC", "answer: abusewatch statement 9 --send"},
		},
		{
			name:      "deadline passed",
			ev:        notify.Event{Kind: notify.DeadlinePassed, Provider: "hetzner", IP: "198.51.100.7", Deadline: deadline},
			firstLine: "⛔ DEADLINE PASSED hetzner 198.51.100.7",
		},
		{
			name:      "triage findings",
			ev:        notify.Event{Kind: notify.TriageFinished, IP: "51.91.10.20", Findings: []string{"ntpd answers monlist", "no rogue process"}},
			firstLine: "🔎 TRIAGE DONE 51.91.10.20",
			contains:  []string{"findings:\n- ntpd answers monlist\n- no rogue process"},
		},
		{
			name:      "whitelist granted",
			ev:        notify.Event{Kind: notify.WhitelistGranted, Provider: "ovh", IP: "51.91.10.20", Detail: "source 203.0.113.5 until 2026-11-21 12:00 UTC"},
			firstLine: "🔓 WHITELIST GRANTED ovh 51.91.10.20",
			contains:  []string{"source 203.0.113.5"},
		},
		{
			name:      "whitelist revoked",
			ev:        notify.Event{Kind: notify.WhitelistRevoked, IP: "51.91.10.20"},
			firstLine: "🔒 WHITELIST REVOKED 51.91.10.20",
		},
		{
			name:      "whitelist expired",
			ev:        notify.Event{Kind: notify.WhitelistExpired, IP: "51.91.10.20"},
			firstLine: "⌛ WHITELIST EXPIRED 51.91.10.20",
		},
		{
			name:      "mailbox failing",
			ev:        notify.Event{Kind: notify.MailboxFailing, Detail: "abuse: LOGIN failed"},
			firstLine: "⚠️ MAILBOX FAILING",
			contains:  []string{"abuse: LOGIN failed"},
			excludes:  []string{"incident", "provider did"},
		},
	}
	n := newNotifier(t, notify.Options{}, "generic://127.0.0.1:1/x?disabletls=yes")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := n.Channels()[0].Render(tt.ev)
			if err != nil {
				t.Fatal(err)
			}
			first, _, _ := strings.Cut(got, "\n")
			if first != tt.firstLine {
				t.Errorf("first line %q, want %q", first, tt.firstLine)
			}
			for _, s := range tt.contains {
				if !strings.Contains(got, s) {
					t.Errorf("message lacks %q:\n%s", s, got)
				}
			}
			for _, s := range tt.excludes {
				if strings.Contains(got, s) {
					t.Errorf("message has %q:\n%s", s, got)
				}
			}
		})
	}
}

// Every event kind has its own headline rather than the generic fallback.
func TestRenderEveryKindHasHeadline(t *testing.T) {
	n := newNotifier(t, notify.Options{}, "generic://127.0.0.1:1/x?disabletls=yes")
	seen := map[string]notify.EventKind{}
	for _, k := range notify.Kinds() {
		got, err := n.Channels()[0].Render(notify.Event{Kind: k, Severity: "attack"})
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(got, "ℹ️") {
			t.Errorf("%s falls back to the generic headline: %q", k, got)
		}
		if other, dup := seen[got]; dup {
			t.Errorf("%s and %s render the same: %q", k, other, got)
		}
		seen[got] = k
	}
}

func TestRenderTemplate(t *testing.T) {
	tests := []struct {
		name     string
		template string
		ev       notify.Event
		want     string
		wantErr  string
	}{
		{
			name:     "fields and funcs",
			template: `{{upper .Severity}} {{.Provider}} {{.IP}} by {{time .Deadline}}{{if .Unverified}} (unverified){{end}} [{{join ", " .Findings}}]`,
			ev: notify.Event{Severity: "block", Provider: "ovh", IP: "51.91.10.20", Unverified: true,
				Deadline: time.Date(2026, 11, 22, 10, 0, 0, 0, time.FixedZone("CET", 3600)), Findings: []string{"a", "b"}},
			want: "BLOCK ovh 51.91.10.20 by 2026-11-22 09:00 UTC (unverified) [a, b]",
		},
		{
			name:     "wraps the default text",
			template: "@channel\n{{.Default}}",
			ev:       blockEvent(),
			want:     "@channel\n🔴 BLOCK ovh ntp_amplification 51.91.10.20",
		},
		{
			name:     "execution error",
			template: `{{index .Findings 3}}`,
			ev:       notify.Event{Kind: notify.TriageFinished},
			wantErr:  "template",
		},
		{
			name:     "empty message",
			template: `{{if .Unverified}}x{{end}}`,
			ev:       notify.Event{Kind: notify.TriageFinished},
			wantErr:  "empty message",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := notify.New([]config.Channel{{URL: "generic://127.0.0.1:1/x?disabletls=yes", Template: tt.template}}, notify.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := n.Channels()[0].Render(tt.ev)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Render error = %v, want one about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("Render = %q, want prefix %q", got, tt.want)
			}
		})
	}
}

// Event text can quote anything (a mailbox error, a finding): the channel
// URL secrets of every channel are masked in what is sent.
func TestRenderMasksChannelSecrets(t *testing.T) {
	chans := []config.Channel{
		{URL: "mattermost://chat.example.net/" + token + "/abuse"},
		{URL: "generic://hooks.example.net/in?@Authorization=Bearer+" + token + "&disabletls=yes", Template: "{{.Detail}} {{.Default}}"},
	}
	n, err := notify.New(chans, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ev := blockEvent()
	ev.Detail = "send failed: POST https://chat.example.net/hooks/" + token + ": 500"
	ev.Findings = []string{"found " + token + " in a config file"}
	for ch, c := range n.Channels() {
		got, err := c.Render(ev)
		if err != nil {
			t.Fatal(err)
		}
		assertNoSecret(t, "rendered message", got)
		if !strings.Contains(got, "hxxps://chat.example.net/hooks/***") {
			t.Errorf("channel %d: the rest of the text should stay readable: %q", ch, got)
		}
	}
}
