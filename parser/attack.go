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
func attackFromEvents(events []Event) Attack {
	counts := map[Attack]int{}
	for _, e := range events {
		counts[attackOfEvent(e)]++
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

func attackOfEvent(e Event) Attack {
	if a, ok := attackFromLabel(e.Reason); ok {
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

// atoiOr returns the integer in s, or def.
func atoiOr(s string, def int) int {
	if n, err := strconv.Atoi(s); err == nil {
		return n
	}
	return def
}
