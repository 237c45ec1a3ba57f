package parser

import (
	"strconv"
	"strings"
)

// reflectorPorts name the amplification attack carried by UDP answers sent
// from a well-known service port of ours.
var reflectorPorts = map[string]Attack{
	"123":   AttackNTPAmp,
	"53":    AttackDNSAmp,
	"11211": AttackMemcachedAmp,
	"1900":  AttackSSDPAmp,
}

// attackFromLabel maps a provider's own label to the vocabulary. ok is false
// for labels that only name a protocol (ATTACK:UDP), which need the ports.
func attackFromLabel(label string) (a Attack, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(label)) {
	case "ATTACK:TCP_SYN", "TCP_SYN", "SYN":
		return AttackSYNFlood, true
	case "ATTACK:TCP", "ATTACK:TCP_ACK", "ATTACK:TCP_RST", "ATTACK:TCP_OTHER":
		return AttackTCPFlood, true
	case "ATTACK:ICMP", "ICMP":
		return AttackICMPFlood, true
	case "ATTACK:NTP":
		return AttackNTPAmp, true
	case "ATTACK:DNS":
		return AttackDNSAmp, true
	case "NETSCANOUTLEVEL", "NETSCANINLEVEL", "NETSCAN":
		return AttackNetscan, true
	case "PORTSCAN":
		return AttackPortscan, true
	}
	return "", false
}

// attackFromEvents names the attack in a provider's log: its own label
// first, then for UDP the reflector port the traffic came from, else the
// protocol. It returns AttackUnknown for an empty log.
func attackFromEvents(events []Event) Attack { return mostCommonAttack(events, attackOfEvent) }

func attackOfEvent(e Event) Attack {
	if a := attackOfReason(e.Reason); a != AttackUnknown {
		return a
	}
	switch strings.ToLower(e.Proto) {
	case "udp":
		_, port := splitHostPort(e.Src)
		if a, ok := reflectorPorts[port]; ok {
			return a
		}
		return AttackUDPFlood
	case "tcp":
		return AttackTCPFlood
	case "icmp":
		return AttackICMPFlood
	}
	return AttackUnknown
}

// attackOfReason names the attack of a log row's reason: a provider's
// label, else the words of a third party's column ("SSH Brute Force").
func attackOfReason(reason string) Attack {
	if a, ok := attackFromLabel(reason); ok {
		return a
	}
	if reason == "" {
		return AttackUnknown
	}
	return attackFromWords(reason)
}

// attackFromReasons names the attack that the reasons of a log's rows
// give most often. Unlike attackFromEvents it does not fall back to the
// protocol: in a third party's table TCP rows are connections, not a flood.
func attackFromReasons(events []Event) Attack {
	return mostCommonAttack(events, func(e Event) Attack { return attackOfReason(e.Reason) })
}

// mostCommonAttack returns the attack that of names for most events,
// AttackUnknown when it names none.
func mostCommonAttack(events []Event, of func(Event) Attack) Attack {
	counts := map[Attack]int{}
	for _, e := range events {
		if a := of(e); a != AttackUnknown {
			counts[a]++
		}
	}
	best, n := AttackUnknown, 0
	for a, c := range counts {
		// Ties go to the more specific name so that the answer is stable.
		if c > n || c == n && a < best {
			best, n = a, c
		}
	}
	return best
}

// atoiOr returns the integer in s, or def.
func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
