package parser

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestHetznerSubject(t *testing.T) {
	tests := []struct {
		in     string
		ok     bool
		id     string
		cat    string
		detail string
	}{
		{"Abuse Message [AbuseID:518908:22]: NetscanOutLevel: Netscan detected from 138.201.172.5 [Network-Normal]",
			true, "518908:22", "NetscanOutLevel", "Netscan detected from 138.201.172.5 [Network-Normal]"},
		{"Abuse Message [AbuseID:1A2B3C4:07]: AbuseNormal: Phishing site on 159.69.1.1",
			true, "1A2B3C4:07", "AbuseNormal", "Phishing site on 159.69.1.1"},
		{"Abuse Message [AbuseID:1a2b3c4d:ff]: AbuseBlacklist: [SpamCop (1.2.3.4) id:7]",
			true, "1a2b3c4d:ff", "AbuseBlacklist", "[SpamCop (1.2.3.4) id:7]"},
		{"Re: Abuse Message [AbuseID:518908:22]: NetscanOutLevel: x", true, "518908:22", "NetscanOutLevel", "x"},
		{"Fwd: RE: Abuse Message [AbuseID:5D1E02:3C]: AbuseNormal: y", true, "5D1E02:3C", "AbuseNormal", "y"},
		{"Abuse Message [AbuseID:518908:22]: Statement received", true, "518908:22", "", "Statement received"},
		{"Abuse Message [AbuseID:518908:22]", true, "518908:22", "", ""},
		{"Abuse Message [AbuseID:51890G:22]: AbuseNormal: not hex", false, "", "", ""},
		{"Abuse Message [AbuseID:518908:2]: one-digit tail", false, "", "", ""},
		{"[Ticket#2024051603023351] Disk replacement", false, "", "", ""},
		{"", false, "", "", ""},
	}
	for _, tt := range tests {
		got, ok := parseHetznerSubject(tt.in)
		if ok != tt.ok || got.id != tt.id || got.category != tt.cat || got.text != tt.detail {
			t.Errorf("parseHetznerSubject(%q) = %+v, %v; want {%s %s %q}, %v", tt.in, got, ok, tt.id, tt.cat, tt.detail, tt.ok)
		}
	}
}

func TestHetznerCategory(t *testing.T) {
	tests := []struct {
		category string
		kind     Kind
		attack   Attack
		known    bool
	}{
		{"NetscanOutLevel", KindAttack, AttackNetscan, true},
		{"netscanoutlevel", KindAttack, AttackNetscan, true},
		{"NetscanInLevel", KindAttack, AttackNetscan, true},
		{"AbuseNormal", KindComplaint, "", true}, // read from the complaint's words
		{"AbuseBlacklist", KindComplaint, AttackBlacklist, true},
		{"AbuseSpamvertised", KindComplaint, AttackSpamvertised, true},
		{"AbuseInfo", KindComplaint, "", true},
		{"AbuseFBLUnitedInternet", KindComplaint, AttackSpam, true},
		{"AbuseHeavyLevel", KindComplaint, "", false}, // never seen: read from the words
		{"", KindComplaint, "", false},
	}
	for _, tt := range tests {
		if got, known := categoryOf(tt.category); got.kind != tt.kind || got.attack != tt.attack || known != tt.known {
			t.Errorf("categoryOf(%q) = %+v %v, want %s %q %v", tt.category, got, known, tt.kind, tt.attack, tt.known)
		}
	}
}

func TestHetznerRow(t *testing.T) {
	tests := []struct {
		line string
		ok   bool
		want Event
	}{
		{"Tue Aug  7 09:30:21 2018 TCP   138.201.172.5 47307 =>    78.46.255.92 3022", true,
			Event{Time: "2018-08-07T09:30:21Z", Src: "138.201.172.5:47307", Dst: "78.46.255.92:3022", Proto: "tcp"}},
		{"Tue Aug 14 23:59:59 2018 UDP 2001:db8::1 53 => 2001:db8::2 5353", true,
			Event{Time: "2018-08-14T23:59:59Z", Src: "[2001:db8::1]:53", Dst: "[2001:db8::2]:5353", Proto: "udp"}},
		{"2024-04-12 06:22:17  107.170.229.46 59547 ->    37.27.128.19 28015   64 TCP", true,
			Event{Time: "2024-04-12T06:22:17Z", Src: "107.170.229.46:59547", Dst: "37.27.128.19:28015", Proto: "tcp", Bytes: 64}},
		{"2024-04-12 06:22:17  107.170.229.46 59547 ->    37.27.128.19 28015   x UDP", true,
			Event{Time: "2024-04-12T06:22:17Z", Src: "107.170.229.46:59547", Dst: "37.27.128.19:28015", Proto: "udp"}},
		{"TIME (UTC)  SRC  SRC-PORT -> DST  DST-PORT SIZE PROT", false, Event{}},
		{"time protocol src_ip src_port dest_ip dest_port", false, Event{}},
		{"2024-04-12 06:22:17  107.170.229.46 99999 ->    37.27.128.19 28015   64 TCP", false, Event{}},
		{"2024-04-12 06:22:17  107.170.229 59547 ->    37.27.128.19 28015   64 TCP", false, Event{}},
		{"2024-13-12 06:22:17  107.170.229.46 59547 ->    37.27.128.19 28015   64 TCP", false, Event{}},
		{"Tue Aug  7 09:30:21 2018 TCP   138.201.172.5 47307 =>", false, Event{}},
		{"see --> here", false, Event{}},
		{"Tue Aug  7 09:30:21 2018 TCP   138.201.172.5 47307 =>    78.46.255.92 3022 and more words", false, Event{}},
	}
	for _, tt := range tests {
		got, ok := hetznerRow(tt.line)
		if ok != tt.ok || got != tt.want {
			t.Errorf("hetznerRow(%q) = %+v, %v; want %+v, %v", tt.line, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHetznerScanLog(t *testing.T) {
	body := strings.Join([]string{
		"> ###########################################",
		">  #   Netscan detected from host   138.201.172.5  #",
		"> Tue Aug  7 09:30:21 2018 TCP   138.201.172.5 47307 =>    78.46.255.92 3022",
		"- 10.0.0.1 is no locked IP: no lock list yet",
		"We have blocked the following IP address(es)/product(s):",
		"",
		"- 144.76.1.10",
		"- 144.76.1.11 (server #1234)",
		"- 144.76.1.10",
		"To lift the lock, write to support.",
		"- 144.76.1.12 comes after the list",
		"2024-04-12 06:22:17  107.170.229.46 59547 ->    37.27.128.19 28015   64 TCP",
	}, "\n")
	log := scanHetznerLog(body, true)
	if log.host != "138.201.172.5" {
		t.Errorf("host = %q", log.host)
	}
	if got := strings.Join(log.locked, ","); got != "144.76.1.10,144.76.1.11" {
		t.Errorf("locked = %s", got)
	}
	if len(log.events) != 2 || log.events[1].Bytes != 64 {
		t.Errorf("events = %+v", log.events)
	}
}

func TestHetznerScanLogCaps(t *testing.T) {
	row := "2024-04-12 06:22:17  107.170.229.46 59547 ->    37.27.128.19 28015   64 TCP\n"
	log := scanHetznerLog(strings.Repeat(row, maxEvents+50), true)
	if len(log.events) != maxEvents {
		t.Errorf("kept %d events, want the cap %d", len(log.events), maxEvents)
	}
	var lock strings.Builder
	lock.WriteString("We have blocked the following IP address(es)/product(s):\n")
	for i := range maxLockedIPs + 50 {
		fmt.Fprintf(&lock, "- 10.0.%d.%d\n", i/256, i%256)
	}
	if got := len(scanHetznerLog(lock.String(), true).locked); got != maxLockedIPs {
		t.Errorf("kept %d locked IPs, want the cap %d", got, maxLockedIPs)
	}
}

func TestHetznerReporter(t *testing.T) {
	tests := []struct {
		body, topic, reporter string
	}{
		{"We have received a notification regarding phishing from\nsoc@bank.example.com. Please", "phishing", "soc@bank.example.com"},
		{"> a notification regarding spam and/or abuse from <abuse-out@mail.example.com>,", "spam and/or abuse", "abuse-out@mail.example.com"},
		{"a notification regarding spam from our customers", "spam", ""},
		{"a notification regarding malware", "malware", ""},
		{"no notification here", "", ""},
		{"We have received information regarding spam and/or abuse from trap@spam.example.org, see below", "spam and/or abuse", "trap@spam.example.org"},
		{"We have received a notification from the German Federal Office for Information Security (BSI) for a server you have with us.", "", "German Federal Office for Information Security (BSI)"},
		{"We have received a notification regarding an open resolver from CERT-Bund. Please check.", "an open resolver", "CERT-Bund"},
		{"hostile: a notification regarding x from <script>alert(1)</script>", "x", ""},
	}
	for _, tt := range tests {
		topic, reporter := forwardedComplaint(tt.body)
		if topic != tt.topic || reporter != tt.reporter {
			t.Errorf("forwardedComplaint(%q) = %q, %q; want %q, %q", tt.body, topic, reporter, tt.topic, tt.reporter)
		}
	}
}

func TestHetznerBlacklistName(t *testing.T) {
	tests := map[string]string{
		"[SpamCop (136.243.5.6) id:7012345678]": "SpamCop",
		"[UCEPROTECT (2001:db8::1)]":            "UCEPROTECT",
		"[no list name]":                        "",
		"Phishing site (1.2.3.4)":               "",
		"":                                      "",
	}
	for subject, want := range tests {
		if got := blacklistName(subject); got != want {
			t.Errorf("blacklistName(%q) = %q, want %q", subject, got, want)
		}
	}
}

func TestHetznerFlatten(t *testing.T) {
	got := flatten("> Line ONE\n>>  wrapped\ttext > kept\r\n\n  end ")
	if want := "line one wrapped text > kept end"; got != want {
		t.Errorf("flatten = %q, want %q", got, want)
	}
}

// TestHetznerTruncatedMail parses every prefix of the Hetzner and report
// fixtures: hostile or cut-off mail must never panic and must always either
// give valid notices or say why it gives none.
func TestHetznerTruncatedMail(t *testing.T) {
	var files []string
	for _, pattern := range []string{"hetzner-*.eml", "arf-*.eml", "xarf-*.eml"} {
		m, _ := filepath.Glob(filepath.Join("testdata", pattern))
		files = append(files, m...)
	}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for cut := 0; cut < len(raw); cut += 13 {
			t.Run(fmt.Sprintf("%s/%d", filepath.Base(path), cut), func(t *testing.T) {
				res, err := Parse(raw[:cut], Options{})
				if err == nil && len(res.Notices) == 0 && res.Reason == "" {
					t.Fatal("no notices and no reason")
				}
				for _, n := range res.Notices {
					checkNotice(t, n)
				}
			})
		}
	}
}

// FuzzHetznerTime checks the direct reading of log times against time.Parse.
func FuzzHetznerTime(f *testing.F) {
	f.Add("Tue Aug 7 09:30:21 2018", "2024-04-12 06:22:17")
	f.Add("Thu Feb 29 23:59:59 2024", "2023-02-29 24:00:00")
	f.Add("mon jan 07 1:02:03 0999", "2024-4-12 6:22:17")
	f.Fuzz(func(t *testing.T, old, recent string) {
		if f := strings.Fields(old); len(f) == 5 {
			got, ok := oldHetznerTime(f)
			want, wantOK := parsedUTC("Mon Jan 2 15:04:05 2006", strings.Join(f, " "))
			if ok != wantOK || ok && got != want {
				t.Fatalf("%q: %q %v, time.Parse %q %v", old, got, ok, want, wantOK)
			}
		}
		if date, clock, found := strings.Cut(recent, " "); found {
			got, ok := newHetznerTime(date, clock)
			want, wantOK := parsedUTC("2006-01-02 15:04:05", date+" "+clock)
			if ok != wantOK || ok && got != want {
				t.Fatalf("%q: %q %v, time.Parse %q %v", recent, got, ok, want, wantOK)
			}
		}
	})
}

// TestQuotedHetznerSubject: a Hetzner subject in a forward's header block or
// alone on its line is one; a sentence that mentions one is talk.
func TestQuotedHetznerSubject(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       bool
	}{
		{"forward header", "---------- Forwarded message ---------\nFrom: Hetzner <abuse@hetzner.com>\nSubject: Abuse Message [AbuseID:1A2B3C4:01]: NetscanOutLevel: x\n", true},
		{"German client, quoted", "> Betreff: AW: Abuse Message [AbuseID:1A2B3C4:01]: x\n", true},
		{"French label", "Objet : Abuse Message [AbuseID:1A2B3C4:01]\n", true},
		{"bare subject line", "Abuse Message [AbuseID:1A2B3C4:01]: AbuseNormal: y\n", true},
		{"in quotation marks", "We had \"Abuse Message [AbuseID:1A2B3C4:01]: NetscanOutLevel\" twice.\n", false},
		{"in a sentence", "Last month we got an Abuse Message [AbuseID:1A2B3C4:01] about it.\n", false},
		{"second one counts", "We had 'Abuse Message [AbuseID:1A2B3C4:01]' before.\nSubject: Abuse Message [AbuseID:5E6F7A8:02]: x\n", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			line, ok := quotedHetznerSubject(tc.text)
			if ok != tc.want {
				t.Errorf("quotedHetznerSubject = %q, %v; want %v", line, ok, tc.want)
			}
			if ok {
				if _, parsed := parseHetznerSubject(line); !parsed {
					t.Errorf("the line found, %q, is not a Hetzner subject", line)
				}
			}
		})
	}
}

func TestIsReplySubject(t *testing.T) {
	for s, want := range map[string]bool{
		"Re: Abuse Message": true, "AW: Abuse Message": true, "RE : [Abuse #X]": true, "Re[3]: x": true,
		"SV: x": true, "Odp: x": true, "R: x": true,
		"Fwd: Abuse Message": false, "WG: x": false, "TR: x": false, "Abuse Message [AbuseID:1A2B3C4:01]: x": false,
		"Reminder: x": false, "": false,
	} {
		if got := isReplySubject(s); got != want {
			t.Errorf("isReplySubject(%q) = %v, want %v", s, got, want)
		}
	}
}

// TestStatedAsFact: a status phrase counts as news only outside a
// condition.
func TestStatedAsFact(t *testing.T) {
	for text, want := range map[string]bool{
		"leider haben wir innerhalb der gesetzten frist keine stellungnahme von ihnen erhalten.":                true,
		"sollten wir innerhalb dieser frist keine stellungnahme erhalten, kann die ip-adresse gesperrt werden.": false,
		"bitte antworten sie. falls wir innerhalb der frist keine stellungnahme erhalten, sperren wir die ip.":  false,
		"a statement has been successfully entered for this issue.":                                             true,
		"if no statement within the deadline is received, the ip may be locked.":                                false,
		"if you have questions: a statement has been successfully entered.":                                     true,
		"sollten sie fragen haben, melden sie sich. die sperre wurde aufgehoben.":                               true,
	} {
		if got := statedAsFact(text, sigHzStatus); got != want {
			t.Errorf("statedAsFact(%q) = %v, want %v", text, got, want)
		}
	}
}
