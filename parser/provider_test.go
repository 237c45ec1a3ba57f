package parser

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// knownNotAbuse are the kinds of provider mail that may be none: each
// reason must name one of them.
var knownNotAbuse = []string{"invoice", "newsletter", "monitoring", "Robot automation", "support ticket", "service mail"}

// TestProviderMailNeverSilentlyNone parses every fixture from an OVH or
// Hetzner domain: each gives a notice, or none for a known kind of mail that
// is no abuse. A provider's mail that no rule reads is a notice marked
// unrecognised, so that a person reads it.
func TestProviderMailNeverSilentlyNone(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		m, err := readMail(raw)
		if err != nil || !matchOVH(m) && !domainIn(m.fromDomain, hetznerDomains) {
			continue
		}
		seen++
		t.Run(filepath.Base(path), func(t *testing.T) {
			res, err := Parse(raw, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Provider != ProviderOVH && res.Provider != ProviderHetzner {
				t.Errorf("provider %q for a mail from %s", res.Provider, m.fromDomain)
			}
			if len(res.Notices) > 0 {
				for _, n := range res.Notices {
					checkNotice(t, n)
				}
				return
			}
			for _, kind := range knownNotAbuse {
				if strings.Contains(res.Reason, kind) {
					return
				}
			}
			t.Errorf("none with reason %q, which names no known kind of mail that is not abuse", res.Reason)
		})
	}
	if seen < 60 {
		t.Fatalf("only %d provider fixtures", seen)
	}
}

// TestUnrecognisedProviderMail checks what an unclassified provider mail
// gives: one complaint/unknown notice about the subject's first IP, and a
// reason that says what was not understood.
func TestUnrecognisedProviderMail(t *testing.T) {
	tests := []struct {
		name, raw, ip, why string
	}{
		{"hetzner abuse sender without AbuseID", "From: abuse@hetzner.com\nSubject: Your server 198.51.100.9 and 198.51.100.10\n\nPlease call us.\n",
			"198.51.100.9", "abuse senders"},
		{"hetzner unknown category, no words", "From: abuse@hetzner.com\nSubject: Abuse Message [AbuseID:ABC123:01]: AbuseWeirdLevel: 198.51.100.11\n\nSee above.\n",
			"198.51.100.11", "AbuseWeirdLevel"},
		{"ovh, no phrase of any table", "From: noreply@ovh.com\nSubject: Urgent 198.51.100.12\n\nTervetuloa.\n",
			"198.51.100.12", "no OVH abuse marker"},
		{"ovh service name only", "From: noreply@ovh.com\nSubject: Info\n\nPalvelin ns301.ip-1-2-3.eu.\n",
			"", "service name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse([]byte(tt.raw), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Notices) != 1 {
				t.Fatalf("%d notices (reason %q), want 1", len(res.Notices), res.Reason)
			}
			n := res.Notices[0]
			if n.Kind != KindComplaint || n.Attack != AttackUnknown || n.IP != tt.ip {
				t.Errorf("notice %s/%s ip %q, want complaint/unknown ip %q", n.Kind, n.Attack, n.IP, tt.ip)
			}
			if !strings.Contains(res.Unrecognised, tt.why) {
				t.Errorf("unrecognised %q, want it to say %q", res.Unrecognised, tt.why)
			}
		})
	}
}

// TestExplain checks that --explain names the format, why it was chosen,
// the rules that gave the fields, and the reason of a none.
func TestExplain(t *testing.T) {
	tests := []struct {
		fixture string
		want    []string
	}{
		{"ovh-de-ipblock.eml", []string{"format ovh: sender domain ovh.de", "languages: de", "kind block", "measure taken", "wrapper line", "(known)"}},
		{"ovh-nl-no-table-ipblock.eml", []string{"format ovh", "kind attack: attack log", "no language table knows it"}},
		{"hetzner-ip-only-in-arf-attachment.eml", []string{"format hetzner", "case 7A7B7C:01", "from the forwarded report"}},
		{"ovh-invoice-fr.eml", []string{"none: ovh: invoice"}},
		{"xarf-fail2ban-forwarded-rfc822.eml", []string{"forwarded mail inside", "format xarf"}},
		{"hetzner-unrecognised-abuse-sender.eml", []string{"unrecognised: hetzner:"}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", tt.fixture))
			if err != nil {
				t.Fatal(err)
			}
			res, err := Parse(raw, Options{Explain: true})
			if err != nil {
				t.Fatal(err)
			}
			all := strings.Join(res.Explain, "\n")
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("explain lacks %q:\n%s", w, all)
				}
			}
			if quiet, _ := Parse(raw, Options{}); len(quiet.Explain) != 0 {
				t.Errorf("explain recorded without being asked: %q", quiet.Explain)
			}
		})
	}
}

// TestIdentifierValidation: ids and names from mail that do not have their
// source's shape are dropped, and --explain says so.
func TestIdentifierValidation(t *testing.T) {
	tests := []struct {
		provider, id string
		ok           bool
	}{
		{ProviderHetzner, "518908:22", true},
		{ProviderHetzner, "1A2B3C4:0f", true},
		{ProviderHetzner, "518908", false},
		{ProviderOVH, "BCDFGHJKLM", true},
		{ProviderOVH, "1234567890", true},
		{ProviderOVH, "BCDFGHJKL", false},
		{ProviderGeneric, "1760411528@web3", true},
		{ProviderGeneric, "$(touch x) <!channel>", false},
		{ProviderGeneric, strings.Repeat("a", maxCaseLen+1), false},
	}
	for _, tt := range tests {
		if got := validCase(tt.provider, tt.id); got != tt.ok {
			t.Errorf("validCase(%s, %q) = %v, want %v", tt.provider, tt.id, got, tt.ok)
		}
	}
	raw := "From: reporter@example.org\nX-XARF: PLAIN\nContent-Type: text/plain\n\nReported-From: <b>x</b>@example.org\nReport-Type: login-attack\nReport-ID: $(touch x) @here\nSource: 203.0.113.5\n"
	res, err := Parse([]byte(raw), Options{Explain: true})
	if err != nil || len(res.Notices) != 1 {
		t.Fatalf("%v, %d notices", err, len(res.Notices))
	}
	if n := res.Notices[0]; n.Case != "" || n.Reporter != "" {
		t.Errorf("hostile case %q / reporter %q kept", n.Case, n.Reporter)
	}
	if all := strings.Join(res.Explain, "\n"); !strings.Contains(all, "case dropped") || !strings.Contains(all, "reporter dropped") {
		t.Errorf("explain does not say what was dropped:\n%s", all)
	}
}
