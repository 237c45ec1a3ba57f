package parser

import (
	"encoding/json"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestOVHLogRows(t *testing.T) {
	ntp := Event{Time: "2025-12-05T17:00:45+01:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}
	syn := Event{Time: "2025-07-14T22:13:05+02:00", Src: "192.0.2.46:41234", Dst: "198.51.100.20:443", Proto: "tcp", Bytes: 60, Reason: "ATTACK:TCP_SYN"}
	host := Event{Time: "2025-09-18T14:22:31+02:00", Src: "vps1234:55046", Dst: "198.51.100.140:80", Proto: "udp", Bytes: 1010, Reason: "ATTACK:UDP"}
	const ntpRow = "2025.12.05 17:00:45 CET 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP"
	tests := []struct {
		name string
		text string
		want []Event
		rate string
	}{
		{"single spaced, CET", "dateTime srcIp:srcPort dstIp:dstPort protocol flags bytes reason\n" + ntpRow + "\n", []Event{ntp}, ""},
		{"CEST", "2025.07.14 22:13:05 CEST 192.0.2.46:41234 198.51.100.20:443 TCP SYN 60 ATTACK:TCP_SYN", []Event{syn}, ""},
		{"aligned columns", "2025.07.14  22:13:05   CEST  192.0.2.46:41234\t198.51.100.20:443   TCP   SYN    60   ATTACK:TCP_SYN\n", []Event{syn}, ""},
		{"host name src", "2025.09.18 14:22:31 CEST vps1234:55046 198.51.100.140:80 UDP --- 1010 ATTACK:UDP\n", []Event{host}, ""},
		{"wrapped mid-row", "2025.09.18 14:22:31 CEST vps1234:55046 198.51.100.140:80 UDP ---\n1010 ATTACK:UDP\n", []Event{host}, ""},
		{"wrapped twice", "2025.09.18 14:22:31 CEST\nvps1234:55046 198.51.100.140:80\nUDP --- 1010 ATTACK:UDP\n", []Event{host}, ""},
		{"rows run together (HTML pre)", "- START - dateTime srcIp:srcPort " + ntpRow + " " + ntpRow + " - END -", []Event{ntp, ntp}, ""},
		{"quoted", "> " + ntpRow + "\n>\n", []Event{ntp}, ""},
		{"rate and wrappers", "Attack detail : 187Kpps/5Mbps\n\n- START OF ADDITIONAL INFORMATION -\n" + ntpRow + "\n- END OF ADDITIONAL INFORMATION -\n", []Event{ntp}, "187Kpps/5Mbps"},
		{"rate without space", "attack detail: 5Mpps/40Gbps\n", nil, "5Mpps/40Gbps"},
		{"UTC", "2025.12.05 16:00:45 UTC 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T16:00:45Z", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"truncated row then good row", "2025.12.05 17:00:44 CET 141.94.78.0:123\n" + ntpRow, []Event{ntp}, ""},
		{"truncated row at blank line", "2025.12.05 17:00:44 CET 141.94.78.0:123 185.211.78.1:80\n\n1010 ATTACK:UDP\n", nil, ""},
		{"prose after complete row is no column", ntpRow + "\nRegards, the team.\n", []Event{ntp}, ""},
		{"Canadian zone", "2025.12.05 17:00:45 EST 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45-05:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"Pacific summer", "2025.12.05 17:00:45 PDT 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45-07:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"Singapore", "2025.12.05 17:00:45 SGT 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45+08:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"numeric offset", "2025.12.05 17:00:45 +0100 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45+01:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"numeric offset with colon", "2025.12.05 17:00:45 -05:00 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45-05:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"UTC plus offset", "2025.12.05 17:00:45 UTC+02:00 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45+02:00", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"zero offset", "2025.12.05 17:00:45 +0000 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", []Event{{Time: "2025-12-05T17:00:45Z", Src: "141.94.78.0:123", Dst: "185.211.78.1:80", Proto: "udp", Bytes: 28, Reason: "ATTACK:UDP"}}, ""},
		{"ambiguous zone", "2025.12.05 17:00:45 IST 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"unknown zone", "2025.12.05 17:00:45 XYZ 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"offset out of range", "2025.12.05 17:00:45 +1500 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"impossible date", "2025.02.30 17:00:45 CET 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"bad clock", "2025.12.05 25:00:45 CET 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"port out of range", "2025.12.05 17:00:45 CET 141.94.78.0:70000 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"no port", "2025.12.05 17:00:45 CET 141.94.78.0 185.211.78.1:80 UDP --- 28 ATTACK:UDP", nil, ""},
		{"missing flags column", "2025.12.05 17:00:45 CET 141.94.78.0:123 185.211.78.1:80 UDP 28 ATTACK:UDP\n", nil, ""},
		{"bytes not a number", "2025.12.05 17:00:45 CET 141.94.78.0:123 185.211.78.1:80 UDP --- x28 ATTACK:UDP", nil, ""},
		{"protocol not a word", "2025.12.05 17:00:45 CET 141.94.78.0:123 185.211.78.1:80 17 --- 28 ATTACK:UDP", nil, ""},
		{"date alone", "2025.12.05", nil, ""},
		{"empty", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := scanOVHLog(tt.text)
			if !reflect.DeepEqual(got.events, tt.want) {
				t.Errorf("events\n got %+v\nwant %+v", got.events, tt.want)
			}
			if got.rate != tt.rate {
				t.Errorf("rate %q, want %q", got.rate, tt.rate)
			}
		})
	}
}

func TestOVHLogCap(t *testing.T) {
	row := "2025.12.05 17:00:45 CET 141.94.78.0:123 185.211.78.1:80 UDP --- 28 ATTACK:UDP\n"
	if got := len(scanOVHLog(strings.Repeat(row, maxEvents+500)).events); got != maxEvents {
		t.Fatalf("%d events, want the cap %d", got, maxEvents)
	}
}

func TestOVHMatch(t *testing.T) {
	tests := []struct {
		from string
		want bool
	}{
		{"noreply@ovh.net", true},
		{"support@ovh.com", true},
		{"news@events.ovhcloud.com", true},
		{"noreply@robot.ovh.net", true},
		{"abuse@kimsufi.com", true},
		{"abuse@notovh.com", false},
		{"ovh.com@example.net", false},
		{"abuse@hetzner.com", false},
	}
	for _, tt := range tests {
		m := &mail{from: tt.from, fromDomain: tt.from[strings.LastIndexByte(tt.from, '@')+1:]}
		if got := matchOVH(m); got != tt.want {
			t.Errorf("matchOVH(%s) = %v, want %v", tt.from, got, tt.want)
		}
	}
}

// ovhMail builds a plain-text mail from OVH.
func ovhMail(subject, body string) []byte {
	return []byte("From: OVHcloud <noreply@ovh.net>\r\nTo: admin@example.com\r\nSubject: " + subject +
		"\r\nDate: Fri, 05 Dec 2025 17:04:12 +0100\r\nMessage-ID: <t@ovh.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" +
		strings.ReplaceAll(body, "\n", "\r\n"))
}

func TestOVHDetect(t *testing.T) {
	const row = "2025.12.05 17:00:45 CET 192.0.2.45:123 203.0.113.7:80 UDP --- 468 ATTACK:UDP\n"
	type want struct {
		kind    Kind
		attack  Attack
		ips     []string
		service string
		caseID  string
		reason  string // for kind none
		unrec   bool   // complaint/unknown, marked unrecognised
	}
	tests := []struct {
		name, subject, body string
		want                want
	}{
		{"ip block", "Anti-hack", "The IP address 192.0.2.45 had to be blocked by our services due to the various alerts received.\n" + row,
			want{kind: KindBlock, attack: AttackNTPAmp, ips: []string{"192.0.2.45"}}},
		{"ip block wrapped sentence", "x", "The IP address 192.0.2.45 had to\nbe blocked by our services.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{"192.0.2.45"}}},
		{"ip block French", "x", "L’adresse IP 192.0.2.45 a dû être bloquée par nos services.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{"192.0.2.45"}}},
		{"French threat is no block", "x", "Sans réponse, l'adresse IP 192.0.2.45 sera bloquée. Vous hébergez une page de phishing.\n",
			want{kind: KindComplaint, attack: AttackPhishing, ips: []string{"192.0.2.45"}}},
		{"two IPs, two sentences", "x", "The IP address 192.0.2.1 had to be blocked.\nThe IP address 192.0.2.2 had to be blocked.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{"192.0.2.1", "192.0.2.2"}}},
		{"list of IPs", "x", "The IP addresses 192.0.2.1, 192.0.2.2 and 192.0.2.3 have been blocked.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{"192.0.2.1", "192.0.2.2", "192.0.2.3"}}},
		{"log src is not a named IP", "x", "Abnormal activity has been detected on your VPS vps-1.vps.ovh.net. It has been blocked.\n" + row + strings.Replace(row, "192.0.2.45", "192.0.2.46", 1),
			want{kind: KindBlock, attack: AttackNTPAmp, ips: []string{"192.0.2.45"}, service: "vps-1.vps.ovh.net"}},
		{"VPS alert without block", "x", "Abnormal activity has been detected on your VPS vps-1.vps.ovh.net.\n",
			want{kind: KindAttack, attack: AttackUnknown, ips: []string{""}, service: "vps-1.vps.ovh.net"}},
		{"old VPS block", "x", "Your vps server has been blocked. Actions not permitted by rules were detected.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{""}}},
		{"VPS rescue", "x", "Your VPS has been placed in rescue mode.\nvps-2.vps.ovh.net\n",
			want{kind: KindRescue, attack: AttackUnknown, ips: []string{""}, service: "vps-2.vps.ovh.net"}},
		{"VPS rescue French", "x", "Votre VPS a été placé en mode rescue.\n",
			want{kind: KindRescue, attack: AttackUnknown, ips: []string{""}}},
		{"rescue advice is no rescue", "x", "Abnormal activity has been detected on your VPS vps-1.vps.ovh.net and it has been blocked. Redémarrez-le en mode rescue, or reboot it in rescue mode.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{""}, service: "vps-1.vps.ovh.net"}},
		{"dedicated rescue FTP", "x", "Your server ns3012345.ip-192-0-2.eu is presenting too great a threat to our network. We had to place it in 'rescue FTP' mode.\n",
			want{kind: KindRescue, attack: AttackUnknown, ips: []string{""}, service: "ns3012345.ip-192-0-2.eu"}},
		{"dedicated rescue FTP French", "x", "Votre serveur ns3012345.ip-192-0-2.eu : nous avons dû le placer en mode « rescue FTP ».\n",
			want{kind: KindRescue, attack: AttackUnknown, ips: []string{""}, service: "ns3012345.ip-192-0-2.eu"}},
		{"spam block", "x", "Our anti-spam protection layer has detected that your IP 192.0.2.80 is sending spam.\nWe have blocked the port 25.\nDestination IP: 198.51.100.1 - Message-ID: <a@b> - Spam score: 300\n",
			want{kind: KindBlock, attack: AttackSpam, ips: []string{"192.0.2.80"}}},
		{"spam French, IP on its own line", "x", "Notre protection Antispam a détecté un envoi important de spam à partir d'une de vos IP:\n192.0.2.81\nNous avons bloqué le port 25.\n",
			want{kind: KindBlock, attack: AttackSpam, ips: []string{"192.0.2.81"}}},
		{"spam detected, not blocked", "x", "Our anti-spam protection layer has detected that your IP 192.0.2.80 is sending spam.\n",
			want{kind: KindAttack, attack: AttackSpam, ips: []string{"192.0.2.80"}}},
		{"abuse ticket, domain only", "[Abuse #BCDFGHJKLM] Phishing", "Vous hébergez une page de phishing sur compte.example.\n",
			want{kind: KindComplaint, attack: AttackPhishing, ips: []string{""}, caseID: "BCDFGHJKLM"}},
		{"abuse id in the body", "Complaint", "Ref: [Abuse #XKCDPLMNRT]\nBrute force attempts on SSH from 192.0.2.5.\n",
			want{kind: KindComplaint, attack: AttackBruteforce, ips: []string{"192.0.2.5"}, caseID: "XKCDPLMNRT"}},
		{"abuse id must be 10 capitals", "[Abuse #complaints] x", "Nothing to see.\n",
			want{kind: KindComplaint, attack: AttackUnknown, ips: []string{""}, unrec: true}},
		{"ticket copy", "[TICKET#1234567890] Anti-hack", "> The IP address 192.0.2.45 had to be blocked by our services.\n> " + row,
			want{kind: KindBlock, attack: AttackNTPAmp, ips: []string{"192.0.2.45"}, caseID: "1234567890"}},
		{"log only", "x", row,
			want{kind: KindAttack, attack: AttackNTPAmp, ips: []string{"192.0.2.45"}}},
		{"monitoring beats rescue", "[TICKET#7654321098] OVH Monitoring", "No answer to ping. Server placed in rescue mode for tests.\n",
			want{reason: "ovh: monitoring ticket, not an abuse notice"}},
		{"monitoring in the body only", "Server down", "OVH Monitoring: no answer to ping.\n",
			want{reason: "ovh: monitoring ticket, not an abuse notice"}},
		{"abuse notice naming the monitoring", "x", "Alerts of OVH Monitoring: the IP address 192.0.2.45 had to be blocked.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{"192.0.2.45"}}},
		{"invoice", "Votre facture", "Votre facture est disponible.\n",
			want{reason: "ovh: invoice, not an abuse notice"}},
		{"newsletter", "Summit", "Come to our summit. Unsubscribe here.\n",
			want{reason: "ovh: newsletter, not an abuse notice"}},
		{"other mail from OVH is read by a person", "Welcome", "Your account is ready.\n",
			want{kind: KindComplaint, attack: AttackUnknown, ips: []string{""}, unrec: true}},
		{"support ticket without abuse marks", "[TICKET#1234567890] Disk replaced", "The disk was replaced.\n",
			want{reason: "ovh: support ticket without an abuse marker, not an abuse notice"}},
		{"German VPS rescue", "x", "Auf Ihrem VPS vps-9.vps.ovh.net wurde ungewöhnliche Aktivität festgestellt. Ihr VPS wurde in den Rescue-Modus versetzt.\n",
			want{kind: KindRescue, attack: AttackUnknown, ips: []string{""}, service: "vps-9.vps.ovh.net"}},
		{"Polish spam, no colon after the score", "x", "Ochrona Anty-spamowa wykryła dużą wysyłkę spamu z jednego z adresów IP:\n192.0.2.90\nruch wychodzący na port 25 został zawieszony.\nDestination IP: 198.51.100.1 - Wiadomość-ID: a@b - Spam score 300\n",
			want{kind: KindBlock, attack: AttackSpam, ips: []string{"192.0.2.90"}}},
		{"unknown language, log and wrapper", "x", "Hyvä asiakas,\n\n- LISÄTIETOJEN ALKU -\n" + row + "- LISÄTIETOJEN LOPPU -\n",
			want{kind: KindAttack, attack: AttackNTPAmp, ips: []string{"192.0.2.45"}}},
		{"German IP block in other words", "x", "Guten Tag, die IP-Adresse 192.0.2.77 wurde von uns gesperrt.\n",
			want{kind: KindBlock, attack: AttackUnknown, ips: []string{"192.0.2.77"}}},
		{"an unpaid invoice is no block", "Facture", "Votre facture pour 192.0.2.78 est impayée : le service sera suspendu.\n",
			want{reason: "ovh: invoice, not an abuse notice"}},
		{"unknown language, service name only", "x", "Hyvä asiakas, palvelimenne ns3012345.ip-192-0-2.eu on uhka.\n",
			want{kind: KindComplaint, attack: AttackUnknown, ips: []string{""}, service: "ns3012345.ip-192-0-2.eu", unrec: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Parse(ovhMail(tt.subject, tt.body), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tt.want.reason != "" {
				if len(res.Notices) != 0 || res.Reason != tt.want.reason {
					t.Fatalf("got %d notices, reason %q; want none, %q", len(res.Notices), res.Reason, tt.want.reason)
				}
				return
			}
			if (res.Unrecognised != "") != tt.want.unrec {
				t.Errorf("unrecognised %q, want it set: %v", res.Unrecognised, tt.want.unrec)
			}
			if len(res.Notices) != len(tt.want.ips) {
				t.Fatalf("got %d notices (reason %q), want %d", len(res.Notices), res.Reason, len(tt.want.ips))
			}
			for i, n := range res.Notices {
				checkNotice(t, n)
				if n.Provider != ProviderOVH || n.Kind != tt.want.kind || n.Attack != tt.want.attack || n.IP != tt.want.ips[i] ||
					n.Service != tt.want.service || n.Case != tt.want.caseID {
					t.Errorf("notice %d: provider %s kind %s attack %s ip %q service %q case %q; want %+v",
						i, n.Provider, n.Kind, n.Attack, n.IP, n.Service, n.Case, tt.want)
				}
			}
		})
	}
}

// TestOVHMultiIPEvents checks that each notice of a multi-IP mail carries its
// own log lines.
func TestOVHMultiIPEvents(t *testing.T) {
	body := "The IP addresses 192.0.2.1 and 192.0.2.2 had to be blocked.\n" +
		"2025.12.05 17:00:45 CET 192.0.2.1:123 203.0.113.7:80 UDP --- 468 ATTACK:UDP\n" +
		"2025.12.05 17:00:46 CET 192.0.2.2:40000 203.0.113.7:80 TCP SYN 60 ATTACK:TCP_SYN\n"
	res, err := Parse(ovhMail("x", body), Options{})
	if err != nil || len(res.Notices) != 2 {
		t.Fatalf("err %v, %d notices", err, len(res.Notices))
	}
	for i, want := range []Attack{AttackNTPAmp, AttackSYNFlood} {
		n := res.Notices[i]
		if len(n.Events) != 1 || n.Attack != want {
			t.Errorf("notice %d (%s): %d events, attack %s; want 1, %s", i, n.IP, len(n.Events), n.Attack, want)
		}
	}
}

// TestOVHCredentialsNotLeaked parses the rescue-FTP credential mails: the
// notice says the server is in rescue, and nothing of it holds the password
// or the login.
func TestOVHCredentialsNotLeaked(t *testing.T) {
	tests := []struct {
		file    string
		secrets []string
	}{
		{"testdata/ovh-rescue-ftp-credentials-en.eml", []string{"Zr7#Tq2!vK9e", "Zr7", "ftpro8842"}},
		{"testdata/ovh-rescue-ftp-credentials-fr.eml", []string{"pW4=Hx8#ne3Q", "pW4", "ftpro5531"}},
	}
	for _, tt := range tests {
		raw, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		res, err := Parse(raw, Options{})
		if err != nil || len(res.Notices) != 1 {
			t.Fatalf("%s: err %v, %d notices", tt.file, err, len(res.Notices))
		}
		n := res.Notices[0]
		if n.Kind != KindRescue || !strings.HasPrefix(n.Service, "ns") {
			t.Errorf("%s: kind %s service %q, want rescue of the ns server", tt.file, n.Kind, n.Service)
		}
		out, err := json.Marshal(res.Notices)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tt.secrets {
			if strings.Contains(string(out), s) || strings.Contains(res.Reason, s) {
				t.Errorf("%s: the notice leaks %q: %s", tt.file, s, out)
			}
		}
	}
}

func TestOVHCase(t *testing.T) {
	tests := []struct {
		subject, text string
		id            string
		abuse         bool
	}{
		{"[Abuse #ABCDFGHJKL] Phishing", "", "ABCDFGHJKL", true},
		{"Re: [abuse#BCDFGHJKLM]", "", "BCDFGHJKLM", true},
		{"[Abuse #ABCDFGHJKLM] eleven letters", "", "", false},
		{"[Abuse #ABCDFGHJK] nine letters", "", "", false},
		{"[Abuse #abcdfghjkl] lower case", "", "", false},
		{"[TICKET#1234567890] Copy", "", "1234567890", false},
		{"[TICKET#1234567890] Re: [Abuse #ABCDFGHJKL]", "", "ABCDFGHJKL", true},
		{"Ticket #98765 x", "", "98765", false},
		{"no id", "see ticket #1234567 and [Abuse #QWRTZPSDFG]", "QWRTZPSDFG", true},
		{"#", "#", "", false},
		{"abuse #", "", "", false},
		{"issue #12345", "", "", false},
	}
	for _, tt := range tests {
		id, abuse := ovhCase(&mail{subject: tt.subject, text: tt.text})
		if id != tt.id || abuse != tt.abuse {
			t.Errorf("ovhCase(%q, %q) = %q, %v; want %q, %v", tt.subject, tt.text, id, abuse, tt.id, tt.abuse)
		}
	}
}

func TestOVHService(t *testing.T) {
	tests := []struct{ flat, want string }{
		{"abnormal activity on your vps vps-1a2b3c4d.vps.ovh.net (ipv4: 192.0.2.60).", "vps-1a2b3c4d.vps.ovh.net"},
		{"your vps vps123456.ovh.net.", "vps123456.ovh.net"},
		{"your server ns3012345.ip-51-68-12.eu is presenting", "ns3012345.ip-51-68-12.eu"},
		{"server ns3012345.ip-51-68-12.eu, then vps-1.vps.ovh.net", "ns3012345.ip-51-68-12.eu"},
		{"https://www.ovh.com/manager/#/vps/vps-9.vps.ovh.ca/dashboard", "vps-9.vps.ovh.ca"},
		{"as your server ks3001234.kimsufi.com is presenting", "ks3001234.kimsufi.com"},
		{"visit www.kimsufi.com or ks12.kimsufi.com.evil.example", ""},
		{"src vps1234:55046 and your vps", ""},
		{"ns.ip-", ""},
		{"", ""},
	}
	for _, tt := range tests {
		if got := ovhService(tt.flat); got != tt.want {
			t.Errorf("ovhService(%q) = %q, want %q", tt.flat, got, tt.want)
		}
	}
}

// TestOVHHostile checks that a mail built to cause work stays bounded: at most
// maxOVHIPs notices, at most maxEvents events, no panic on cut-off input.
func TestOVHHostile(t *testing.T) {
	var many strings.Builder
	for i := range 300 {
		many.WriteString("The IP address 10.0." + strconv.Itoa(i/250) + "." + strconv.Itoa(i%250) + " had to be blocked.\n")
	}
	oneLine := strings.Repeat("2025.12.05 17:00:45 CET 192.0.2.1:123 203.0.113.7:80 UDP --- 468 ATTACK:UDP ", 3*maxEvents)
	full := "The IP address 192.0.2.1 had to be blocked.\nAttack detail : 1Kpps/1Mbps\n" +
		"2025.12.05 17:00:45 CET 192.0.2.1:123 203.0.113.7:80 UDP --- 468 ATTACK:UDP\n[Abuse #ABCDFGHJKL] ticket #12345\n"
	tests := []struct {
		name      string
		body      string
		maxNotice int
	}{
		{"many blocked IPs", many.String(), maxOVHIPs},
		{"rows on one line", "The IP address 192.0.2.1 had to be blocked.\n" + oneLine, 1},
	}
	for i := range len(full) {
		tests = append(tests, struct {
			name      string
			body      string
			maxNotice int
		}{"cut at " + strconv.Itoa(i), full[:i], 1})
	}
	for _, tt := range tests {
		res, err := Parse(ovhMail("[Abuse #", tt.body), Options{})
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if len(res.Notices) > tt.maxNotice || tt.name == "many blocked IPs" && len(res.Notices) != maxOVHIPs {
			t.Errorf("%s: %d notices, want at most %d", tt.name, len(res.Notices), tt.maxNotice)
		}
		for _, n := range res.Notices {
			checkNotice(t, n)
			if len(n.Events) > maxEvents {
				t.Errorf("%s: %d events, want at most %d", tt.name, len(n.Events), maxEvents)
			}
		}
	}
}

func TestOVHReporter(t *testing.T) {
	tests := []struct{ prose, want string }{
		{"Hello,\nComplainant: Rights Ltd <notices@rights.example>\nURL: x", "notices@rights.example"},
		{"Plaignant : rights@studio.example\n", "rights@studio.example"},
		{"Beschwerdeführer: Kanzlei Beispiel\n", "Kanzlei Beispiel"},
		{"  reported by:   CERT Example <cert@cert.example>  \n", "cert@cert.example"},
		{"Adresse IP : 51.68.200.31\nSource du signalement : Netcraft\n", "Netcraft"},
		{"Report source: Phish Watch <feeds@phishwatch.example>\n", "feeds@phishwatch.example"},
		{"Fonte della segnalazione: CERT-Esempio\n", "CERT-Esempio"},
		{"Our complainant: said so\n", ""},
		{"Please reply to the complainant: within 72 hours\n", ""},
		{"no label here", ""},
	}
	for _, tt := range tests {
		if got := ovhReporter(tt.prose); got != tt.want {
			t.Errorf("ovhReporter(%q) = %q, want %q", tt.prose, got, tt.want)
		}
	}
}
