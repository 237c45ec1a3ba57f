package parser

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultMaxBytes is the largest mail parsed when Options.MaxBytes is zero.
const DefaultMaxBytes = 25 << 20

// maxForwardDepth bounds how deep a mail forwarded as an attachment is opened.
const maxForwardDepth = 3

// Options tune Parse. The zero value is usable: no DKIM check, 25 MiB limit.
type Options struct {
	// MaxBytes rejects larger mail with ErrTooLarge (0: DefaultMaxBytes).
	MaxBytes int
	// LookupTXT resolves DKIM keys (net.LookupTXT in production). When nil,
	// DKIM is not verified and mail is "none" unless TrustAuthservID vouches for it.
	LookupTXT func(domain string) ([]string, error)
	// TrustAuthservID trusts the dkim results of Authentication-Results fields
	// added by the MTA with this authserv-id (our own, which strips forged ones).
	TrustAuthservID string
}

// ErrTooLarge rejects a mail above Options.MaxBytes.
var ErrTooLarge = errors.New("mail too large")

// ErrMalformed rejects a mail whose structure cannot be read.
var ErrMalformed = errors.New("malformed mail")

// format is one kind of notice mail: a provider's own, or a standard report.
type format struct {
	provider string
	// match says whether the mail is of this format; it must be cheap.
	match func(m *mail) bool
	// parse returns the notices, or none and the reason the mail holds none.
	// Parse fills in the fields common to every notice of the mail.
	parse func(m *mail) (notices []Notice, reason string)
	// signers are the DKIM domains (and their subdomains) that vouch for the
	// format; nil means the domain of the From address.
	signers []string
}

// formats are tried in order; the provider formats come before the standard
// reports because providers forward ARF reports inside their own mail.
var formats = [...]format{
	{provider: ProviderHetzner, match: matchHetzner, parse: parseHetzner, signers: hetznerDomains},
	{provider: ProviderOVH, match: matchOVH, parse: parseOVH, signers: ovhDomains},
	{provider: ProviderGeneric, match: matchARF, parse: parseARF},
	{provider: ProviderGeneric, match: matchXARF, parse: parseXARF},
}

// Parse reads one raw mail and returns the abuse notices in it. A mail that is
// not a notice gives a Result without notices and with a Reason. An error means
// the mail was rejected (too large, unreadable); it says why.
func Parse(raw []byte, opts Options) (Result, error) {
	limit := opts.MaxBytes
	if limit <= 0 {
		limit = DefaultMaxBytes
	}
	if len(raw) > limit {
		return Result{Reason: "too large"}, fmt.Errorf("parser: %w: %d bytes, limit %d", ErrTooLarge, len(raw), limit)
	}
	return parseDepth(raw, opts, 0)
}

func parseDepth(raw []byte, opts Options, depth int) (Result, error) {
	m, err := readMail(raw)
	if err != nil {
		return Result{Reason: err.Error()}, fmt.Errorf("parser: %w", err)
	}
	res := Result{
		MessageID: m.messageID,
		Date:      m.date,
		Subject:   m.subject,
		From:      m.from,
		Authentic: AuthNone,
	}
	for i := range formats {
		f := &formats[i]
		if !f.match(m) {
			continue
		}
		res.Authentic = authenticate(raw, m, f.signers, opts)
		notices, reason := f.parse(m)
		if len(notices) == 0 {
			if reason == "" {
				reason = "no notice found"
			}
			res.Reason = f.provider + ": " + reason
			return res, nil
		}
		res.Notices = finish(notices, f.provider, &res)
		return res, nil
	}
	if depth < maxForwardDepth {
		for _, p := range m.parts {
			if p.contentType != "message/rfc822" {
				continue
			}
			inner, err := parseDepth(p.body, opts, depth+1)
			if err == nil && len(inner.Notices) > 0 {
				return inner, nil
			}
		}
	}
	res.Reason = "not an abuse notice: no provider or report format recognised"
	return res, nil
}

// finish fills in what every notice of a mail shares.
func finish(notices []Notice, provider string, res *Result) []Notice {
	date := formatTime(res.Date)
	for i := range notices {
		n := &notices[i]
		if n.Provider == "" {
			n.Provider = provider
		}
		if n.Attack == "" {
			n.Attack = AttackUnknown
		}
		if n.Events == nil {
			n.Events = []Event{}
		}
		n.Authentic = res.Authentic
		n.MessageID = res.MessageID
		n.Date = date
		n.Subject = res.Subject
	}
	return notices
}

// domainIn reports whether domain is one of list or a subdomain of one.
func domainIn(domain string, list []string) bool {
	domain = strings.ToLower(strings.TrimSuffix(domain, "."))
	for _, d := range list {
		if domain == d || strings.HasSuffix(domain, "."+d) {
			return true
		}
	}
	return false
}
