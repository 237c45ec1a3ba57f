package parser

import (
	"strings"
	"testing"
)

func TestARFFeedbackAttack(t *testing.T) {
	tests := map[string]Attack{
		"abuse": AttackSpam, "fraud": AttackPhishing, "virus": AttackMalware,
		"other": AttackUnknown, "auth-failure": AttackUnknown, "": AttackUnknown,
	}
	for typ, want := range tests {
		if got := feedbackAttack(typ); got != want {
			t.Errorf("feedbackAttack(%q) = %s, want %s", typ, got, want)
		}
	}
}

func TestARFReportFields(t *testing.T) {
	body := "\r\nFeedback-Type: abuse\r\nUser-Agent: Example/1.0\r\n  (folded comment)\r\nSource-IP: 192.0.2.1\r\n" +
		"Reported-URI: http://a.example/\r\nReported-URI: http://b.example/\r\nno colon line\r\n" +
		"\r\nFeedback-Type: after the blank line\r\n"
	got := reportFields([]byte(body))
	want := map[string]string{
		"feedback-type": "abuse",
		"user-agent":    "Example/1.0 (folded comment)",
		"source-ip":     "192.0.2.1",
		"reported-uri":  "http://a.example/",
	}
	if len(got) != len(want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestARFReportFieldsBounded(t *testing.T) {
	var b strings.Builder
	for i := range maxReportFields * 3 {
		b.WriteString("X-Field-")
		b.WriteString(strings.Repeat("a", i%7+1))
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString(strings.Repeat("b", i))
		b.WriteString(": v\n")
	}
	if got := len(reportFields([]byte(b.String()))); got > maxReportFields {
		t.Errorf("read %d fields, cap is %d", got, maxReportFields)
	}
	folded := "Source-IP: 192.0.2.1\n" + strings.Repeat(" folded\n", 100000)
	if got := len(reportFields([]byte(folded))["source-ip"]); got > maxFieldBytes+len(" folded") {
		t.Errorf("a folded field grew to %d bytes, cap is %d", got, maxFieldBytes)
	}
}

func TestARFReportTime(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Tue, 14 May 2024 09:12:44 +0000", "2024-05-14T09:12:44Z"},
		{"14 May 2024 09:12:44 -0400", "2024-05-14T09:12:44-04:00"},
		{"Tue, 4 Jun 2024 09:12:44 +0000 (UTC)", "2024-06-04T09:12:44Z"},
		{"Mon, 3 Jun 2024 09:12:44 +0200", "2024-06-03T09:12:44+02:00"},
		{"an Feb 3 2014 02:13:35 +0100", ""},
		{"Feb  3 2014 02:13:35 +0100", "2014-02-03T02:13:35+01:00"},
		{"2024-06-04 12:45:00 +0000", "2024-06-04T12:45:00Z"},
		{"2024-07-02T10:11:12+02:00", "2024-07-02T10:11:12+02:00"},
		{"2024-07-02T10:11:12", "2024-07-02T10:11:12Z"},
		{"yesterday", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := reportTime(tt.in); got != tt.want {
			t.Errorf("reportTime(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestARFAttackFromWords(t *testing.T) {
	tests := []struct {
		in   string
		want Attack
	}{
		{"login-attack", AttackBruteforce},
		{"LoginAttack", AttackBruteforce},
		{"login_attack", AttackBruteforce},
		{"phishing", AttackPhishing},
		{"malware", AttackMalware},
		{"spam", AttackSpam},
		{"spam and/or abuse", AttackSpam},
		{"Spamvertised web site", AttackSpamvertised},
		{"portscan", AttackPortscan},
		{"Port Scan", AttackPortscan},
		{"Exploitable NTP server used for an attack", AttackNTPAmp},
		{"NTP monlist enabled", AttackNTPAmp},
		{"Open DNS resolver", AttackDNSAmp},
		{"open recursive resolver used in a reflection attack", AttackDNSAmp},
		{"Open Memcached server", AttackMemcachedAmp},
		{"SSDP amplification", AttackSSDPAmp},
		{"Open Redis server", AttackOpenService},
		{"Elasticsearch reachable without password", AttackOpenService},
		{"vulnerable service", AttackOpenService},
		{"AbuseFBLUnitedInternet", AttackSpam},
		{"copyright infringement", AttackCopyright},
		{"DDoS", AttackUnknown},
		{"", AttackUnknown},
	}
	for _, tt := range tests {
		if got := attackFromWords(tt.in); got != tt.want {
			t.Errorf("attackFromWords(%q) = %s, want %s", tt.in, got, tt.want)
		}
	}
}

func TestARFNotSpam(t *testing.T) {
	raw := "From: fbl@isp.example\r\nContent-Type: multipart/report; report-type=feedback-report; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: message/feedback-report\r\n\r\nFeedback-Type: not-spam\r\nSource-IP: 192.0.2.1\r\n\r\n--b--\r\n"
	res, err := Parse([]byte(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notices) != 0 || !strings.Contains(res.Reason, "not-spam") {
		t.Errorf("got %d notices, reason %q; want none because of not-spam", len(res.Notices), res.Reason)
	}
}
