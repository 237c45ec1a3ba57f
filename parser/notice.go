// Package parser turns raw RFC 5322 mail into abuse notices.
//
// Parsing is a pure function of the bytes (plus an injectable DNS lookup for
// DKIM): it does no other I/O and keeps no state, so stored mail can be parsed
// again at any time when a provider changes its format.
package parser

import "time"

// Kind says what a notice reports.
type Kind string

// The kinds of notice, as in DESIGN.md "The notice".
const (
	KindAttack    Kind = "attack"    // attack or scan traffic seen from the IP, not blocked yet
	KindBlock     Kind = "block"     // the provider blocked the IP, a port or the server's network
	KindRescue    Kind = "rescue"    // the server or VPS was forced into rescue mode
	KindComplaint Kind = "complaint" // a third-party complaint forwarded by the provider
	KindStatus    Kind = "status"    // a follow-up on an existing case
	KindNone      Kind = "none"      // not an abuse notice
)

// Kinds lists the kinds of notice, for configuration checks.
func Kinds() []string {
	return []string{string(KindAttack), string(KindBlock), string(KindRescue), string(KindComplaint), string(KindStatus), string(KindNone)}
}

// Attacks lists the attack vocabulary, for configuration checks.
func Attacks() []string {
	var out []string
	for _, a := range []Attack{
		AttackUDPFlood, AttackSYNFlood, AttackTCPFlood, AttackICMPFlood, AttackNTPAmp, AttackDNSAmp,
		AttackMemcachedAmp, AttackSSDPAmp, AttackNetscan, AttackPortscan, AttackBruteforce, AttackSpam,
		AttackSpamvertised, AttackBlacklist, AttackPhishing, AttackMalware, AttackCopyright,
		AttackOpenService, AttackUnknown,
	} {
		out = append(out, string(a))
	}
	return out
}

// Providers lists the providers that send notices, for configuration checks.
func Providers() []string { return []string{ProviderOVH, ProviderHetzner, ProviderGeneric} }

// Attack is the attack vocabulary of DESIGN.md.
type Attack string

// The attack vocabulary.
const (
	AttackUDPFlood     Attack = "udp_flood"
	AttackSYNFlood     Attack = "syn_flood"
	AttackTCPFlood     Attack = "tcp_flood"
	AttackICMPFlood    Attack = "icmp_flood"
	AttackNTPAmp       Attack = "ntp_amplification"
	AttackDNSAmp       Attack = "dns_amplification"
	AttackMemcachedAmp Attack = "memcached_amplification"
	AttackSSDPAmp      Attack = "ssdp_amplification"
	AttackNetscan      Attack = "netscan"
	AttackPortscan     Attack = "portscan"
	AttackBruteforce   Attack = "bruteforce"
	AttackSpam         Attack = "spam"
	AttackSpamvertised Attack = "spamvertised"
	AttackBlacklist    Attack = "blacklist"
	AttackPhishing     Attack = "phishing"
	AttackMalware      Attack = "malware"
	AttackCopyright    Attack = "copyright"
	AttackOpenService  Attack = "open_service"
	AttackUnknown      Attack = "unknown"
)

// Providers that send notices.
const (
	ProviderOVH     = "ovh"
	ProviderHetzner = "hetzner"
	ProviderGeneric = "generic"
)

// Authenticity is the sender-authentication verdict for the mail.
type Authenticity string

// Authenticity verdicts.
const (
	AuthPass Authenticity = "pass" // a valid DKIM signature of the provider's domain
	AuthFail Authenticity = "fail" // a signature of the provider's domain that does not verify
	AuthNone Authenticity = "none" // no signature of the provider's domain, or not checked
)

// Notice is one abuse notice: the JSON printed by `abusewatch parse --json`.
// Field names and vocabularies are a public contract (DESIGN.md).
type Notice struct {
	File      string       `json:"file,omitempty"`
	Provider  string       `json:"provider"`
	Kind      Kind         `json:"kind"`
	Reason    string       `json:"reason,omitempty"`
	Attack    Attack       `json:"attack"`
	IP        string       `json:"ip"`
	Service   string       `json:"service"`
	Case      string       `json:"case"`
	Deadline  string       `json:"deadline"` // RFC 3339, "" when the mail states none
	Reporter  string       `json:"reporter"`
	Rate      string       `json:"rate"`
	Events    []Event      `json:"events"`
	Authentic Authenticity `json:"authentic"`
	MessageID string       `json:"message_id"`
	Date      string       `json:"date"` // RFC 3339
	Subject   string       `json:"subject"`
}

// Event is one log line quoted by the provider.
type Event struct {
	Time   string `json:"time"` // RFC 3339
	Src    string `json:"src"`  // ip:port, or host:port when the provider names a host
	Dst    string `json:"dst"`
	Proto  string `json:"proto"` // lower case: udp, tcp, icmp
	Bytes  int    `json:"bytes"`
	Reason string `json:"reason"`
}

// Result is what Parse found in one mail.
type Result struct {
	MessageID string
	Date      time.Time
	Subject   string
	From      string
	// Provider is the provider whose domain or marks the mail bears, also
	// when it holds no notice (OVH monitoring, Robot automation).
	Provider  string
	Authentic Authenticity
	// Notices is empty when the mail is not an abuse notice; Reason says why.
	Notices []Notice
	Reason  string
	// Unrecognised is set when the mail came from a provider's abuse senders
	// or carries a provider's abuse marks but no rule classified it: the
	// notices are then complaint/unknown, and it says what was not
	// understood, so that a person reads the mail.
	Unrecognised string
	// Format is the format that read the mail ("hetzner", "ovh", "arf",
	// "xarf", "" for none), and Explain the rules that fired, when
	// Options.Explain asked for them.
	Format  string
	Explain []string
}

// None is the `kind: none` notice printed for a mail that holds no notice.
func (r Result) None() Notice {
	return Notice{
		Provider:  r.Provider,
		Kind:      KindNone,
		Reason:    r.Reason,
		Attack:    AttackUnknown,
		Events:    []Event{},
		Authentic: r.Authentic,
		MessageID: r.MessageID,
		Date:      formatTime(r.Date),
		Subject:   r.Subject,
	}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(time.RFC3339)
}
