// Package notice is what the parser and the configuration must agree on about
// an abuse notice without either importing the other (DESIGN.md: parser
// imports none of ours, and config is where every arrow ends): the
// vocabularies of "The notice", which configuration filters name, and the
// size limit of a mail that is parsed.
package notice

// DefaultMaxBytes is the largest mail parsed unless configured otherwise
// (parser.max_message_bytes).
const DefaultMaxBytes = 25 << 20

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

// Providers that send notices.
const (
	ProviderOVH     = "ovh"
	ProviderHetzner = "hetzner"
	ProviderGeneric = "generic"
)

// Providers lists the providers that send notices, for configuration checks.
func Providers() []string { return []string{ProviderOVH, ProviderHetzner, ProviderGeneric} }
