package parser

import (
	"bytes"
	"errors"
	"os"
	"strings"
	"testing"
)

func TestParseRejectsHostileInput(t *testing.T) {
	bigHeader := "From: a@example.net\r\nX-Junk: " + strings.Repeat("a", maxHeaderBytes) + "\r\n\r\nbody\r\n"
	var manyParts strings.Builder
	manyParts.WriteString("From: a@example.net\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
	for range maxParts + 10 {
		manyParts.WriteString("--b\r\nContent-Type: text/plain\r\n\r\nx\r\n")
	}
	manyParts.WriteString("--b--\r\n")

	tests := []struct {
		name    string
		raw     []byte
		opts    Options
		wantErr error
	}{
		{"over the size limit", bytes.Repeat([]byte("a"), 2048), Options{MaxBytes: 1024}, ErrTooLarge},
		{"header over the limit", []byte(bigHeader), Options{}, ErrMalformed},
		{"too many MIME parts", []byte(manyParts.String()), Options{}, ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse(tt.raw, tt.opts)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if res.Reason == "" {
				t.Error("a rejected mail must say why in Reason")
			}
			if len(res.Notices) != 0 {
				t.Errorf("rejected mail produced %d notices", len(res.Notices))
			}
		})
	}
}

func TestParseNotANotice(t *testing.T) {
	raw := "From: friend@example.org\r\nSubject: lunch?\r\nMessage-ID: <x@example.org>\r\n\r\nSee you at noon.\r\n"
	res, err := Parse([]byte(raw), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Notices) != 0 || res.Reason == "" {
		t.Fatalf("got %d notices, reason %q; want none with a reason", len(res.Notices), res.Reason)
	}
	n := res.None()
	if n.Kind != KindNone || n.MessageID != "x@example.org" || n.Subject != "lunch?" || n.Events == nil {
		t.Errorf("None() = %+v", n)
	}
}

func TestHTMLToText(t *testing.T) {
	in := `<html><head><style>p{color:red}</style></head><body><p>The IP address&nbsp;<b>135.125.1.2</b>
had to be blocked.</p><table><tr><td>a</td><td>b</td></tr></table><script>alert(1)</script>end</body></html>`
	got := htmlToText([]byte(in))
	for _, want := range []string{"The IP address\u00a0135.125.1.2 had to be blocked.", "a  b", "end"} {
		if !strings.Contains(got, want) {
			t.Errorf("htmlToText missing %q in %q", want, got)
		}
	}
	for _, bad := range []string{"color:red", "alert(1)", "<b>"} {
		if strings.Contains(got, bad) {
			t.Errorf("htmlToText kept %q: %q", bad, got)
		}
	}
}

func TestNextIP(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"blocked 51.91.10.20, and 51.91.10.20 again", []string{"51.91.10.20", "51.91.10.20"}},
		{"src 141.94.78.0:59173 dst 185.211.78.1:80", []string{"141.94.78.0", "185.211.78.1"}},
		{"version 1.2.3.4.5 is no address, nor 999.1.1.1", nil},
		{"v6 2001:db8::1 here", []string{"2001:db8::1"}},
		{"at the end 10.0.0.1.", []string{"10.0.0.1"}},
	}
	for _, tt := range tests {
		var got []string
		for ip, rest := nextIP(tt.in); ip != ""; ip, rest = nextIP(rest) {
			got = append(got, ip)
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("nextIP over %q: %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestAttackFromEvents(t *testing.T) {
	tests := []struct {
		name   string
		events []Event
		want   Attack
	}{
		{"ntp reflection", []Event{{Src: "51.91.10.20:123", Proto: "udp", Reason: "ATTACK:UDP"}}, AttackNTPAmp},
		{"dns reflection", []Event{{Src: "51.91.10.20:53", Proto: "udp"}}, AttackDNSAmp},
		{"memcached reflection", []Event{{Src: "51.91.10.20:11211", Proto: "udp"}}, AttackMemcachedAmp},
		{"ssdp reflection", []Event{{Src: "51.91.10.20:1900", Proto: "udp"}}, AttackSSDPAmp},
		{"plain udp", []Event{{Src: "51.91.10.20:40000", Proto: "udp", Reason: "ATTACK:UDP"}}, AttackUDPFlood},
		{"label wins over port", []Event{{Src: "51.91.10.20:123", Proto: "tcp", Reason: "ATTACK:TCP_SYN"}}, AttackSYNFlood},
		{"majority", []Event{
			{Src: "a:123", Proto: "udp"}, {Src: "a:123", Proto: "udp"}, {Src: "a:999", Proto: "udp"},
		}, AttackNTPAmp},
		{"empty", nil, AttackUnknown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := attackFromEvents(tt.events); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestFromAddress(t *testing.T) {
	tests := []struct{ from, want string }{
		{"OVH Abuse <Abuse@OVH.net>", "abuse@ovh.net"},
		{"abuse@ovh.net", "abuse@ovh.net"},
		{`"Hetzner, Network" <network-abuse@hetzner.com>`, "network-abuse@hetzner.com"},
		{"=?utf-8?q?Support_OVH?= <support@ovh.com>", "support@ovh.com"},
		{"abuse@ovh.net <attacker@evil.example>", "attacker@evil.example"},
		{"network-abuse@hetzner.com (Hetzner)", "network-abuse@hetzner.com"},
		{"", ""},
	}
	for _, tt := range tests {
		raw := "From: " + tt.from + "\r\nSubject: x\r\n\r\nbody\r\n"
		m, err := readMail([]byte(raw))
		if err != nil {
			t.Fatal(err)
		}
		if m.from != tt.want {
			t.Errorf("From %q: got %q, want %q", tt.from, m.from, tt.want)
		}
	}
}

func TestWriteNormalized(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\r\n", "a\nb\n\n"},
		{"a\rb", "a\nb\n"},
		{"no\u00a0break", "no break\n"},
		{"end\r", "end\n\n"},
		{"", "\n"},
	}
	for _, tt := range tests {
		var b strings.Builder
		writeNormalized(&b, []byte(tt.in))
		if b.String() != tt.want {
			t.Errorf("writeNormalized(%q) = %q, want %q", tt.in, b.String(), tt.want)
		}
	}
}

// TestOwnMail: a copy of our own statement quotes the provider's notice.
// As a reply to the provider it is none by its address (replyToProvider);
// one that is no reply (a statement sent fresh) is none only when its From
// is one of Options.OwnAddresses.
func TestOwnMail(t *testing.T) {
	reply, err := os.ReadFile("testdata/own/statement-copy.eml")
	if err != nil {
		t.Fatal(err)
	}
	if res, err := Parse(reply, Options{}); err != nil || len(res.Notices) != 0 || !strings.Contains(res.Reason, "reply sent to the provider") {
		t.Errorf("our reply to Hetzner: %d notices, reason %q, %v; want none", len(res.Notices), res.Reason, err)
	}
	fresh := bytes.Replace(reply, []byte("Subject: Re: "), []byte("Subject: "), 1)
	if res, err := Parse(fresh, Options{}); err != nil || len(res.Notices) == 0 {
		t.Fatalf("without OwnAddresses: %d notices, %v; the fixture should look like a notice", len(res.Notices), err)
	}
	for _, own := range []string{"abuse@example-hosting.net", "Abuse@Example-Hosting.NET"} {
		res, err := Parse(fresh, Options{OwnAddresses: []string{"ops@elsewhere.example", own}})
		if err != nil || len(res.Notices) != 0 || !strings.Contains(res.Reason, "our own mail") {
			t.Errorf("From %s among OwnAddresses: %d notices, reason %q, %v; want none", own, len(res.Notices), res.Reason, err)
		}
	}
}

// TestReplyToProvider: only a reply from someone else to the provider's
// addresses alone is taken for a statement.
func TestReplyToProvider(t *testing.T) {
	for _, tc := range []struct {
		name, from, to, subject string
		want                    bool
	}{
		{"our reply to Hetzner", "abuse@example.net", "network-abuse@hetzner.com", "Re: Abuse Message [AbuseID:1F3A9C2:0B]", true},
		{"our reply to an OVH ticket", "abuse@example.net", "ticket+PQTWXZRMND.defendant@abuse.ovh.net", "RE: [Abuse #PQTWXZRMND] x", true},
		{"German client", "abuse@example.net", "abuse@hetzner.de", "AW: Abuse Message [AbuseID:1F3A9C2:0B]", true},
		{"counted prefix", "abuse@example.net", "abuse@hetzner.com", "Re[2]: Abuse Message", true},
		{"Hetzner's answer to us", "abuse@hetzner.com", "abuse@example.net", "Re: Abuse Message [AbuseID:1F3A9C2:0B]", false},
		{"OVH writes to OVH", "support@ovh.com", "ticket+X@abuse.ovh.net", "Re: [Abuse #X]", false},
		{"a forward to the provider", "abuse@example.net", "abuse@hetzner.com", "Fwd: Abuse Message [AbuseID:1F3A9C2:0B]", false},
		{"a complaint to the provider", "soc@intel.example.com", "abuse@hetzner.com", "Abuse report: PortScan", false},
		{"also to the team", "abuse@example.net", "abuse@hetzner.com, team@example.net", "Re: Abuse Message", false},
		{"no To", "abuse@example.net", "", "Re: Abuse Message", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := "From: " + tc.from + "\r\nTo: " + tc.to + "\r\nSubject: " + tc.subject + "\r\n\r\nText.\r\n"
			m, err := readMail([]byte(raw))
			if err != nil {
				t.Fatal(err)
			}
			if got := replyToProvider(m); got != tc.want {
				t.Errorf("replyToProvider = %v, want %v", got, tc.want)
			}
		})
	}
}
