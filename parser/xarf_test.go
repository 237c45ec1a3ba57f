package parser

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// xarfMail wraps a report part in an X-ARF v0.2 mail.
func xarfMail(report string) []byte {
	return []byte("From: r@example.org\r\nX-XARF: PLAIN\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nhuman text\r\n" +
		"--b\r\nContent-Type: text/plain; name=report.txt\r\n\r\n" + report + "\r\n--b--\r\n")
}

// xarf4Mail sends a XARF v4 document as the xarf.json attachment.
func xarf4Mail(doc string) []byte {
	return []byte("From: r@example.org\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n" +
		"--b\r\nContent-Type: application/json\r\nContent-Disposition: attachment; filename=xarf.json\r\n\r\n" + doc + "\r\n--b--\r\n")
}

func TestXARFParse(t *testing.T) {
	tests := []struct {
		name       string
		raw        []byte
		wantReason string // "" for a notice
		wantIP     string
		wantAttack Attack
		wantSrc    string
	}{
		{"v0.2 malware with port", xarfMail("Reported-From: r@example.org\nReport-Type: malware\nSource: 192.0.2.5\nPort: 8080\nDate: 2024-01-02 03:04:05 +0000"),
			"", "192.0.2.5", AttackMalware, "192.0.2.5:8080"},
		{"v0.2 portscan port is the victim's", xarfMail("Report-Type: portscan\nSource: 192.0.2.6\nPort: 22\nDestination: 198.51.100.1"),
			"", "192.0.2.6", AttackPortscan, "192.0.2.6"},
		{"v0.2 URL source", xarfMail("Report-Type: phishing\nSource: http://192.0.2.7/login\nSource-Type: uri"),
			"", "192.0.2.7", AttackPhishing, "192.0.2.7"},
		{"v0.2 URL by name, served from the Destination", xarfMail("Report-Type: phishing\nSource: http://login.example.net/de/\nSource-Type: uri\nDestination: 192.0.2.10\nDestination-Type: ip-address"),
			"", "192.0.2.10", AttackPhishing, "192.0.2.10"},
		{"v0.2 attack from a name is not the victim's", xarfMail("Report-Type: login-attack\nSource: scanner.example.net\nDestination: 198.51.100.1"),
			"", "", AttackBruteforce, ""},
		{"v0.2 not YAML", xarfMail("Report-Type: [broken"), "not valid YAML", "", "", ""},
		{"v0.2 empty report", xarfMail("Foo: bar"), "neither Report-Type nor Source", "", "", ""},
		{"v0.2 too large", xarfMail("Report-Type: spam\nComment: " + strings.Repeat("x", maxXARFYAMLBytes)), "larger than", "", "", ""},
		{"v0.2 no report part", []byte("From: r@example.org\r\nX-XARF: PLAIN\r\n\r\njust text\r\n"), "without a report.txt", "", "", ""},
		{"v4 port as string", xarf4Mail(`{"Version":"4","Report":{"ReportType":"spam","SourceIp":"192.0.2.8","SourcePort":"25"}}`),
			"", "192.0.2.8", AttackSpam, "192.0.2.8:25"},
		{"v4 class when the type is unknown", xarf4Mail(`{"Version":"4","Report":{"ReportClass":"Copyright","ReportType":"Takedown","SourceIp":"192.0.2.9"}}`),
			"", "192.0.2.9", AttackCopyright, "192.0.2.9"},
		{"v4 wrong version", xarf4Mail(`{"Version":"3","Report":{}}`), "not 4", "", "", ""},
		{"JSON with the v0.2 names", xarf4Mail(`{"Reported-From":"r@example.org","Report-Type":"malware-attack","Source":"192.0.2.11","Port":445,"Version":"0.3"}`),
			"", "192.0.2.11", AttackMalware, "192.0.2.11:445"},
		{"v4 not JSON", xarf4Mail(`{"Version":"4",`), "not valid JSON", "", "", ""},
		{"v4 too large", xarf4Mail(`{"Version":"4","Pad":"` + strings.Repeat("x", maxXARFJSONBytes) + `"}`), "larger than", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse(tt.raw, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.wantReason != "" {
				if len(res.Notices) != 0 || !strings.Contains(res.Reason, tt.wantReason) {
					t.Fatalf("got %d notices, reason %q; want reason with %q", len(res.Notices), res.Reason, tt.wantReason)
				}
				return
			}
			if len(res.Notices) != 1 {
				t.Fatalf("got %d notices (reason %q), want 1", len(res.Notices), res.Reason)
			}
			n := res.Notices[0]
			checkNotice(t, n)
			if n.Provider != ProviderGeneric || n.Kind != KindComplaint || n.IP != tt.wantIP || n.Attack != tt.wantAttack || n.Events[0].Src != tt.wantSrc {
				t.Errorf("notice = %+v", n)
			}
		})
	}
}

// TestXARFFlatMatchesYAML checks the fast reader of flat reports against the
// YAML decoder: where it accepts a document it must read what YAML reads.
func TestXARFFlatMatchesYAML(t *testing.T) {
	tests := []struct {
		doc  string
		flat bool
	}{
		{"---\nReported-From: a@example.org\nReport-Type: login-attack\nReport-ID: '12''34'\nPort: 22\nDate: Feb  3 2014 02:13:35 +0100\nSource: 192.0.2.1\r\nSchema-URL: http://x.example/s.json\n", true},
		{"Report-Type: phishing\nSource: 2001:db8::1\nDate: 2024-06-04 12:45:00 +0000\n", true},
		{"Report-Type: \"quoted\\tvalue\"\n", false},
		{"Report-Type: spam # a comment\n", false},
		{"Report-Type: [a, b]\n", false},
		{"Report-Type: |\n  block\n", false},
		{"Source: ~\n", false},
		{"Source: null\n", false},
		{"Source: a\nSource: b\n", false},
		{"Source:\n", false},
		{"Report-Type: 'open\n", false},
		{"  Source: indented\n", false},
	}
	for _, tt := range tests {
		got, ok := flatXARF2([]byte(tt.doc))
		if ok != tt.flat {
			t.Errorf("flatXARF2(%q) ok = %v, want %v", tt.doc, ok, tt.flat)
			continue
		}
		if !ok {
			continue
		}
		var want xarf2
		if err := yaml.Unmarshal([]byte(tt.doc), &want); err != nil {
			t.Fatalf("yaml: %v", err)
		}
		if got != want {
			t.Errorf("flatXARF2(%q) = %+v, YAML reads %+v", tt.doc, got, want)
		}
	}
}

func TestFlatXARF2RepeatedNames(t *testing.T) {
	var b strings.Builder
	for i := range 20 {
		fmt.Fprintf(&b, "X-Field-%d: v\n", i)
	}
	if _, ok := flatXARF2([]byte(b.String() + "Source: 192.0.2.1\n")); !ok {
		t.Error("distinct names: not read")
	}
	for _, repeat := range []string{"X-Field-1", "X-Field-18"} {
		if _, ok := flatXARF2([]byte(b.String() + repeat + ": w\n")); ok {
			t.Errorf("repeated %s: read", repeat)
		}
	}
}
