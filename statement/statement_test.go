package statement

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-message/mail"

	"github.com/abusewatch/abusewatch/store"
)

// facts is a Hetzner netscan incident with triage evidence whose output
// holds a rescue password and an API token, as a rescue system and an
// environment dump would.
func facts(output string, findings ...string) Facts {
	at := time.Date(2026, 11, 30, 7, 30, 0, 0, time.UTC)
	ev := []store.Evidence{{Job: "processes", Host: "hv1", Status: "ok", StartedAt: at, Output: []byte(output), Findings: findings}}
	var secrets []string
	for _, e := range ev {
		secrets = append(secrets, SecretsIn(string(e.Output))...)
	}
	return Facts{
		Incident: store.Incident{ID: 3, Provider: "hetzner", IP: "37.27.128.19", FirstSeen: at.Add(-time.Hour)},
		Notice: store.NoticeRecord{ReceivedAt: at.Add(-time.Hour), Notice: store.Notice{
			Provider: "hetzner", Kind: "attack", Attack: "netscan", IP: "37.27.128.19", Case: "7C0FFEE:1A"}},
		Evidence: ev,
		Runs:     []store.TriageRunRecord{{Suspects: []store.Suspect{{Kind: "process", Name: "masscan", Host: "hv1", PID: 4242}}}},
		Timeline: []store.TimelineEntry{{At: at.Add(10 * time.Minute), Kind: "contain", Text: "stopped process masscan (pid 4242) on hv1"}},
		Secrets:  secrets,
	}
}

// TestRedaction is the must-show: evidence that holds a rescue password
// and a token never shows either in the draft, whether a finding quotes
// them in name=value form or bare.
func TestRedaction(t *testing.T) {
	const password, token = "Rz7kq2LmX9", "hc_tok_9f8e7d6c5b4a3928"
	output := "Rescue system activated. password: " + password + "\nHCLOUD_TOKEN=" + token + "\n"
	tests := []struct {
		name     string
		findings []string
	}{
		{"findings free of secrets", []string{"masscan scans 203.0.113.0/24"}},
		{"finding quoting name=value", []string{"masscan started with token=" + token}},
		{"finding quoting bare values", []string{"argv: masscan --auth " + token + " " + password}},
		{"bearer header", []string{"curl -H 'Authorization: Bearer " + token + "'"}},
		{"private key", []string{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, lang := range languages() {
				d, err := Build(facts(output, tt.findings...), lang)
				if err != nil {
					t.Fatal(err)
				}
				for _, secret := range []string{password, token, "b3BlbnNzaC1rZXktdjEAAAAA"} {
					if strings.Contains(d.Body, secret) {
						t.Errorf("%s draft shows %q:\n%s", lang, secret, d.Body)
					}
				}
				if !strings.Contains(d.Body, "masscan") || !strings.Contains(d.Body, "7C0FFEE:1A") {
					t.Errorf("%s draft lost the facts:\n%s", lang, d.Body)
				}
			}
		})
	}
}

// TestRedactKeepsHashes: evidence sha256 values and ordinary words are not
// taken for secrets.
func TestRedactKeepsHashes(t *testing.T) {
	text := "evidence sha256 934de07d553d192e8491c566269479e0cc19702083f78709c41be34cb50a8528\nthe token was revoked; SSH accepts keys only"
	if got, n := Redact(text, nil); got != text || n != 0 {
		t.Errorf("Redact changed %d things:\n%s", n, got)
	}
}

// TestBuildClaimsOnlyWhatIsBacked: each section appears only with its
// backing, in every language.
func TestBuildClaimsOnlyWhatIsBacked(t *testing.T) {
	tests := []struct {
		name   string
		edit   func(*Facts)
		want   map[string]string // language → text that must be there
		absent map[string]string
	}{
		{"containment with its time", func(*Facts) {},
			map[string]string{"en": "2026-11-30 07:40 UTC: stopped process masscan", "fr": "2026-11-30 07:40 UTC : stopped process masscan", "de": "2026-11-30 07:40 UTC: stopped process masscan"},
			map[string]string{"en": "What prevents a repeat", "fr": "récidive", "de": "Wiederholung"}},
		{"no suspect, no evidence: no cause claimed", func(f *Facts) { f.Runs, f.Evidence = nil, nil },
			map[string]string{"en": "has not identified the cause", "fr": "pas encore identifié", "de": "noch nicht gefunden"},
			map[string]string{"en": "likely cause:", "fr": "cause probable :", "de": "wahrscheinliche Ursache:"}},
		{"an unblock the provider refused is not claimed", func(f *Facts) {
			f.Timeline = append(f.Timeline, store.TimelineEntry{Kind: "unblock", Text: "abusewatch unblock: ovh refused: too early"})
		},
			map[string]string{"en": "stopped process masscan", "fr": "stopped process masscan", "de": "stopped process masscan"},
			map[string]string{"en": "lift the block", "fr": "lever le blocage", "de": "Sperre aufzuheben"}},
		{"an unblock the provider took is claimed with its time", func(f *Facts) {
			f.Timeline = append(f.Timeline, store.TimelineEntry{At: time.Date(2026, 11, 30, 9, 0, 0, 0, time.UTC), Kind: "unblock",
				Text: "abusewatch unblock: lifting the block of 37.27.128.19 requested from hetzner"})
		},
			map[string]string{"en": "2026-11-30 09:00 UTC: we asked the provider to lift the block", "fr": "09:00 UTC : nous avons demandé", "de": "09:00 UTC: wir haben den Provider gebeten"},
			map[string]string{"en": "refused", "fr": "refused", "de": "refused"}},
		{"recorded measure and a Lynis run", func(f *Facts) {
			f.Timeline = append(f.Timeline, store.TimelineEntry{Kind: PreventionKind, Text: "backups: recorded"})
			f.Evidence = append(f.Evidence, store.Evidence{Job: "lynis", Host: "hv1", Status: "ok"})
		},
			map[string]string{"en": "backups of the server are in place", "fr": "Lynis", "de": "Sicherungen"},
			map[string]string{"en": "SSH accepts keys", "fr": "SSH n'accepte", "de": "SSH nimmt"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, lang := range languages() {
				f := facts("nothing secret")
				tt.edit(&f)
				d, err := Build(f, lang)
				if err != nil {
					t.Fatal(err)
				}
				if w := tt.want[lang]; !strings.Contains(d.Body, w) {
					t.Errorf("%s: no %q in:\n%s", lang, w, d.Body)
				}
				if a := tt.absent[lang]; strings.Contains(d.Body, a) {
					t.Errorf("%s: %q in:\n%s", lang, a, d.Body)
				}
			}
		})
	}
	if _, err := Build(facts(""), "es"); err == nil {
		t.Error("an unknown language was accepted")
	}
}

func TestReplySubject(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Abuse Message [AbuseID:7C0FFEE:1A]: NetscanOutLevel: x", "Re: Abuse Message [AbuseID:7C0FFEE:1A]: NetscanOutLevel: x"},
		{"RE: Abuse Message [AbuseID:1:2]", "RE: Abuse Message [AbuseID:1:2]"},
		{"[TICKET#8123456789] Abnormal activity", "Re: [TICKET#8123456789] Abnormal activity"},
	}
	for _, tt := range tests {
		if got := ReplySubject(tt.in); got != tt.want {
			t.Errorf("ReplySubject(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMailThreads: the rendered reply carries the threading fields and a
// subject that reads back unchanged however it was folded.
func TestMailThreads(t *testing.T) {
	subject := "Re: Abuse Message [AbuseID:7C0FFEE:1A]: NetscanOutLevel: Netscan detected from 37.27.128.19 [Network-Normal]"
	m := Mail{From: "abuse@example.net", To: []string{"network-abuse@hetzner.com"}, Subject: subject,
		InReplyTo: "orig@hetzner.example", References: []string{"a@x", "orig@hetzner.example"}, MessageID: "s1@example.net",
		Date: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC), Body: "Grüße,\nline two\n"}
	raw, err := m.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Header.Get("Subject"); got != subject {
		t.Errorf("Subject = %q", got)
	}
	if got, _ := r.Header.MsgIDList("References"); strings.Join(got, " ") != "a@x orig@hetzner.example" {
		t.Errorf("References = %v", got)
	}
	if got, _ := r.Header.MsgIDList("In-Reply-To"); len(got) != 1 || got[0] != "orig@hetzner.example" {
		t.Errorf("In-Reply-To = %v", got)
	}
	p, err := r.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	body.ReadFrom(p.Body)
	if got := strings.ReplaceAll(body.String(), "\r\n", "\n"); got != m.Body {
		t.Errorf("body = %q", got)
	}
}
