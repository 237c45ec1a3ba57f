package parser

import (
	"os"
	"strings"
	"testing"
)

func TestReplyOf(t *testing.T) {
	tests := []struct {
		file string
		want Reply
	}{
		{"hetzner-netscan-2024-qp.eml", Reply{MessageID: "netscan-2024@hetzner.example",
			Subject: "Abuse Message [AbuseID:9F3A21:0B]: NetscanOutLevel: Netscan detected from 37.27.128.19",
			To:      "network-abuse@hetzner.com", StatementLink: "https://abuse.hetzner.com/statements/?token=77aa"}},
		{"hetzner-abuse-ntp.eml", Reply{MessageID: "abuse-ntp@hetzner.example",
			Subject: "Abuse Message [AbuseID:5D1E02:3C]: AbuseNormal: Exploitable NTP server used for an attack: 88.99.12.34",
			To:      "abuse@hetzner.com"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile("testdata/" + tt.file)
			if err != nil {
				t.Fatal(err)
			}
			got, err := ReplyOf(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got.MessageID != tt.want.MessageID || got.Subject != tt.want.Subject || got.To != tt.want.To ||
				got.StatementLink != tt.want.StatementLink || got.Ticket != "" {
				t.Errorf("ReplyOf = %+v, want %+v", got, tt.want)
			}
		})
	}
	raw := "From: support@ovh.net\r\nReply-To: OVH <ticket+ABCDFGHJKL@abuse.ovh.net>\r\nSubject: [TICKET#8123456789] x\r\nReferences: <a@x> <b@y>\r\nMessage-ID: <m@ovh>\r\n\r\nbody\r\n"
	got, err := ReplyOf([]byte(raw))
	if err != nil {
		t.Fatal(err)
	}
	if got.Ticket != "8123456789" || got.To != "ticket+ABCDFGHJKL@abuse.ovh.net" || strings.Join(got.References, " ") != "a@x b@y" {
		t.Errorf("ReplyOf = %+v", got)
	}
}
