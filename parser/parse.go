package parser

import (
	"errors"
	"fmt"
	"strings"

	"github.com/abusewatch/abusewatch/internal/notice"
	gomail "github.com/emersion/go-message/mail"
)

// DefaultMaxBytes is the largest mail parsed when Options.MaxBytes is zero.
const DefaultMaxBytes = notice.DefaultMaxBytes

// Bounds on forwarded mail: how deep one is opened, and how many are
// opened in all for one Parse (each level may hold many: without a total,
// a hostile mail would cost exponential time).
const (
	maxForwardDepth = 3
	maxForwarded    = 8
)

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
	// OwnAddresses are the addresses abusewatch sends from (smtp.from): a
	// mail From one of them is our own, a copy of a statement that quotes
	// the provider's notice, and holds no notice.
	OwnAddresses []string
	// Explain records in Result.Explain which format and rules read the
	// mail (abusewatch parse --explain). It costs time: off in the pipeline.
	Explain bool
}

// ErrTooLarge rejects a mail above Options.MaxBytes.
var ErrTooLarge = errors.New("mail too large")

// ErrMalformed rejects a mail whose structure cannot be read.
var ErrMalformed = errors.New("malformed mail")

// format is one kind of notice mail: a provider's own, or a standard report.
type format struct {
	name     string // for --explain
	provider string
	// match says whether the mail is of this format; it must be cheap.
	match func(m *mail) bool
	// parse returns the notices, or none and the reason the mail holds none.
	// A reason given with notices says the mail was not understood: the
	// notices are the best guess, and the Result is marked unrecognised.
	// Parse fills in the fields common to every notice of the mail.
	parse func(m *mail) (notices []Notice, reason string)
	// signers are the DKIM domains (and their subdomains) that vouch for the
	// format; nil means the domain of the From address.
	signers []string
}

// formats are tried in order; the provider formats come before the standard
// reports because providers forward ARF reports inside their own mail.
var formats = [...]format{
	{name: "hetzner", provider: ProviderHetzner, match: matchHetzner, parse: parseHetzner, signers: hetznerDomains},
	{name: "ovh", provider: ProviderOVH, match: matchOVH, parse: parseOVH, signers: ovhDomains},
	{name: "spamcop", provider: ProviderGeneric, match: matchSpamCop, parse: parseSpamCop, signers: spamcopDomains},
	{name: "arf", provider: ProviderGeneric, match: matchARF, parse: parseARF},
	{name: "xarf", provider: ProviderGeneric, match: matchXARF, parse: parseXARF},
	{name: "ovh forwarded inline", provider: ProviderOVH, match: matchOVHInline, parse: parseOVH, signers: ovhDomains},
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
	budget := maxForwarded
	return parseDepth(raw, opts, 0, &budget)
}

// parseDepth parses one mail at depth forwards down; budget is how many
// more forwarded mails this Parse may open.
func parseDepth(raw []byte, opts Options, depth int, budget *int) (res Result, _ error) {
	m, err := readMail(raw)
	if err != nil {
		return Result{Reason: err.Error()}, fmt.Errorf("parser: %w", err)
	}
	m.explain = opts.Explain
	res = Result{
		MessageID: m.messageID,
		Date:      m.date,
		Subject:   m.subject,
		From:      m.from,
		Authentic: AuthNone,
	}
	defer func() { res.Explain = m.trace }()
	if depth == 0 && ownAddress(m.from, opts.OwnAddresses) {
		res.Reason = "our own mail: From " + m.from + " is abusewatch's sender (smtp.from)"
		m.note("none: ", res.Reason)
		return res, nil
	}
	// At any depth: a bounce returns our own statement, which quotes the
	// notice it answers.
	if reason := notANotice(m); reason != "" {
		res.Reason = reason
		m.note("none: ", res.Reason)
		return res, nil
	}
	for i := range formats {
		f := &formats[i]
		if !f.match(m) {
			continue
		}
		if m.explain {
			m.note("format ", f.name, ": ", matchWhy(f, m))
		}
		res.Format, res.Provider = f.name, f.provider
		res.Authentic = authenticate(raw, m, f.signers, opts)
		notices, reason := f.parse(m)
		if len(notices) == 0 {
			if reason == "" {
				reason = "no notice found"
			}
			res.Reason = f.provider + ": " + reason
			m.note("none: ", res.Reason)
			if f.provider == ProviderGeneric {
				// A broken report may come with a good one forwarded inside.
				if inner, ok := parseForwarded(m, opts, depth, budget); ok {
					return inner, nil
				}
			}
			return res, nil
		}
		if reason != "" {
			res.Unrecognised = f.provider + ": " + reason
			m.note("unrecognised: ", res.Unrecognised)
		}
		res.Notices = finish(notices, f.provider, &res, m)
		return res, nil
	}
	if inner, ok := parseForwarded(m, opts, depth, budget); ok {
		return inner, nil
	}
	res.Reason = "not an abuse notice: no provider or report format recognised"
	m.note("none: ", res.Reason)
	return res, nil
}

// notANotice says why m is no notice whatever it quotes, "" when it may be
// one: a delivery status report (a bounce: providers never write one), or a
// reply to the provider.
func notANotice(m *mail) string {
	switch {
	case m.contentType == "multipart/report" && strings.EqualFold(m.reportType, "delivery-status"):
		return "a delivery status notification (a bounce), not a notice"
	case replyToProvider(m):
		return "a reply sent to the provider (a statement, as a copy), not a notice from it"
	}
	return ""
}

// replyToProvider reports a reply that goes to a provider's addresses only,
// from someone else: a customer's statement on a case (ours, copied to the
// watched mailbox, or a colleague's), which quotes the notice it answers.
// A provider writes from its own domains, and a third party's new
// complaint to a provider is no reply.
func replyToProvider(m *mail) bool {
	if !isReplySubject(m.subject) || providerDomain(m.fromDomain) {
		return false
	}
	to, err := gomail.ParseAddressList(m.header.get("To"))
	if err != nil || len(to) == 0 {
		return false
	}
	for _, a := range to {
		_, domain, _ := strings.Cut(a.Address, "@")
		if !providerDomain(domain) {
			return false
		}
	}
	return true
}

// providerDomain reports a domain OVH or Hetzner writes from.
func providerDomain(domain string) bool {
	return ovhSenderDomain(domain) || domainIn(domain, hetznerDomains)
}

// ownAddress reports whether from is one of own, case aside.
func ownAddress(from string, own []string) bool {
	return from != "" && hasName(own, from)
}

// parseForwarded reads the mails forwarded inside m that hold notices (a
// digest of reports forwards several) and notes them in m's trace, which
// the caller's Result takes. The Result is the first such mail's, with the
// notices of the others after its own; each notice keeps its own mail's
// Message-ID, date and verdict.
func parseForwarded(m *mail, opts Options, depth int, budget *int) (Result, bool) {
	if depth >= maxForwardDepth {
		return Result{}, false
	}
	var res Result
	read := 0
	for _, inner := range forwardedMails(m) {
		if *budget <= 0 {
			break
		}
		*budget--
		r, err := parseDepth(inner, opts, depth+1, budget)
		if err != nil || len(r.Notices) == 0 {
			continue
		}
		m.note("forwarded mail inside: read as such")
		m.trace = append(m.trace, r.Explain...)
		if read == 0 {
			res = r
		} else {
			res.Notices = append(res.Notices, r.Notices...)
		}
		read++
	}
	return res, read > 0
}

// matchWhy says why a format took the mail, for --explain.
func matchWhy(f *format, m *mail) string {
	switch {
	case f.signers != nil && domainIn(m.fromDomain, f.signers):
		return "sender domain " + m.fromDomain
	case f.provider == ProviderHetzner:
		return "AbuseID header or subject"
	case f.name == "arf":
		return "Content-Type multipart/report; report-type=feedback-report"
	case f.name == "xarf":
		return "X-XARF header or XARF JSON document"
	}
	return "OVH abuse id or attack log in the text of a mail from elsewhere"
}

// forwardedMails returns the mails that m carries: attached message/rfc822
// parts, text attachments that hold a mail with a report, and a report
// forwarded inline in the text.
func forwardedMails(m *mail) [][]byte {
	var out [][]byte
	for _, p := range m.parts {
		switch {
		case p.contentType == "message/rfc822":
			out = append(out, p.body)
		case strings.HasPrefix(p.contentType, "text/") && mayHoldReport(p.body):
			if inner := embeddedMail(p.body); inner != nil {
				out = append(out, inner)
			}
		}
	}
	return out
}

// finish fills in what every notice of a mail shares.
func finish(notices []Notice, provider string, res *Result, m *mail) []Notice {
	date := formatTime(res.Date)
	for i := range notices {
		n := &notices[i]
		if n.Provider == "" {
			n.Provider = provider
		}
		sanitize(n, n.Provider, m)
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
		if n := len(domain) - len(d); domain[max(n, 0):] == d && (n == 0 || n > 0 && domain[n-1] == '.') {
			return true
		}
	}
	return false
}
