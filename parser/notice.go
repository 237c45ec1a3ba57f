// Package parser turns raw RFC 5322 mail into abuse notices.
//
// Parsing is a pure function of the bytes (plus an injectable DNS lookup for
// DKIM): it does no other I/O and keeps no state, so stored mail can be parsed
// again at any time when a provider changes its format.
package parser

import (
	"time"

	"github.com/abusewatch/abusewatch/internal/notice"
)

// The vocabularies of a notice are shared with the configuration's filters
// (internal/notice); parser's callers name them here.
type (
	// Kind says what a notice reports.
	Kind = notice.Kind
	// Attack is the attack vocabulary of DESIGN.md.
	Attack = notice.Attack
)

// The kinds of notice, as in DESIGN.md "The notice".
const (
	KindAttack    = notice.KindAttack
	KindBlock     = notice.KindBlock
	KindRescue    = notice.KindRescue
	KindComplaint = notice.KindComplaint
	KindStatus    = notice.KindStatus
	KindNone      = notice.KindNone
)

// The attack vocabulary.
const (
	AttackUDPFlood     = notice.AttackUDPFlood
	AttackSYNFlood     = notice.AttackSYNFlood
	AttackTCPFlood     = notice.AttackTCPFlood
	AttackICMPFlood    = notice.AttackICMPFlood
	AttackNTPAmp       = notice.AttackNTPAmp
	AttackDNSAmp       = notice.AttackDNSAmp
	AttackMemcachedAmp = notice.AttackMemcachedAmp
	AttackSSDPAmp      = notice.AttackSSDPAmp
	AttackNetscan      = notice.AttackNetscan
	AttackPortscan     = notice.AttackPortscan
	AttackBruteforce   = notice.AttackBruteforce
	AttackSpam         = notice.AttackSpam
	AttackSpamvertised = notice.AttackSpamvertised
	AttackBlacklist    = notice.AttackBlacklist
	AttackPhishing     = notice.AttackPhishing
	AttackMalware      = notice.AttackMalware
	AttackCopyright    = notice.AttackCopyright
	AttackOpenService  = notice.AttackOpenService
	AttackUnknown      = notice.AttackUnknown
)

// Providers that send notices.
const (
	ProviderOVH     = notice.ProviderOVH
	ProviderHetzner = notice.ProviderHetzner
	ProviderGeneric = notice.ProviderGeneric
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
