package parser

import (
	"slices"
	"testing"
)

func TestAuthLogEvents(t *testing.T) {
	log := `Apr  4 02:13:31 mail sshd[18211]: Failed password for root from 141.94.50.3 port 40122 ssh2
> Mar 30 21:14:02 srv4 sshd[29811]: Invalid user oracle from 141.94.50.3 port 53422
Mar 30 21:14:09 srv4 sshd[29819]: Connection closed by authenticating user root 141.94.50.3 port 53498 [preauth]
Mar 30 21:14:10 srv4 sshd[29820]: Failed password for root from 192.0.2.7 port 1022 ssh2
Mar 30 21:14:11 srv4 postfix/smtpd[1]: connect from unknown[141.94.50.3] port 25
Please check port 22 of 141.94.50.3 from your side.
Mar 30 21:14:12 srv4 sshd[29821]: Failed password for root from 141.94.50.3 port 99999 ssh2
Mar 30 21:14:13 srv4 sshd[29822]: Failed password for root from host.example port 4000 ssh2`
	var got []string
	for _, e := range authLogEvents(log, "141.94.50.3") {
		if e.Proto != "tcp" {
			t.Errorf("event %+v: proto %q, want tcp", e, e.Proto)
		}
		got = append(got, e.Src)
	}
	want := []string{"141.94.50.3:40122", "141.94.50.3:53422", "141.94.50.3:53498"}
	if !slices.Equal(got, want) {
		t.Errorf("authLogEvents for 141.94.50.3 = %v, want %v (quoted lines count; other hosts, other daemons, prose, bad ports and names do not)", got, want)
	}
	if n := len(authLogEvents(log, "")); n != 4 {
		t.Errorf("authLogEvents for any address: %d events, want 4", n)
	}
	if a := attackFromReasons(authLogEvents(log, "")); a != AttackBruteforce {
		t.Errorf("attack of an sshd log = %s, want bruteforce", a)
	}
}

func TestAttackFromReasons(t *testing.T) {
	for _, tc := range []struct {
		reasons []string
		want    Attack
	}{
		{[]string{"SSH Brute Force", "SSH Brute Force", "Port Scan"}, AttackBruteforce},
		{[]string{"ATTACK:TCP_SYN"}, AttackSYNFlood},
		{[]string{"", "DENY"}, AttackUnknown},
		{nil, AttackUnknown},
	} {
		var events []Event
		for _, r := range tc.reasons {
			events = append(events, Event{Reason: r, Proto: "tcp"})
		}
		if got := attackFromReasons(events); got != tc.want {
			t.Errorf("attackFromReasons(%q) = %s, want %s (never the protocol)", tc.reasons, got, tc.want)
		}
	}
}

func TestFlowLines(t *testing.T) {
	text := `Sample of the reflected packets (UTC):
> 2026-09-14 03:11:52 95.216.77.130:123 -> 192.0.2.66:28812 UDP 468 bytes
2026-09-14 03:11:53 95.216.77.130:123 => 192.0.2.66:80 udp
95.216.77.130:123 -> 192.0.2.66 UDP
the flow 95.216.77.130 -> 192.0.2.66:80 has no source port
10:00 a -> b`
	_, got := lineEvents(text, "")
	want := []Event{
		{Src: "95.216.77.130:123", Dst: "192.0.2.66:28812", Proto: "udp"},
		{Src: "95.216.77.130:123", Dst: "192.0.2.66:80", Proto: "udp"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("flowEvents = %+v, want %+v (both ends need a port)", got, want)
	}
	if a := attackFromEvents(pastedEvents(text)); a != AttackNTPAmp {
		t.Errorf("attack of UDP flows from port 123 = %s, want ntp_amplification", a)
	}
}
