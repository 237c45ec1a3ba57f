package parser

import (
	"bytes"
	"errors"
	"regexp"
	"strings"

	"github.com/emersion/go-msgauth/authres"
	"github.com/emersion/go-msgauth/dkim"
)

// The sending domains of each provider (formats.md); subdomains count too.
var (
	ovhDomains = []string{"ovh.com", "ovh.net", "ovhcloud.com", "ovh.fr", "ovh.ca", "ovh.de",
		"ovh.co.uk", "ovh.us", "kimsufi.com", "soyoustart.com"}
	hetznerDomains = []string{"hetzner.com", "hetzner.de"}
)

// maxDKIMSignatures bounds the signatures verified in one mail (hostile input).
const maxDKIMSignatures = 5

// authenticate returns the DKIM verdict for the format's signing domains:
// pass when one of their signatures verifies, fail when one is present and
// none verifies, none when the mail carries none of theirs or nothing was
// checked. A trusted Authentication-Results field is read first.
func authenticate(raw []byte, m *mail, signers []string, opts Options) Authenticity {
	if signers == nil {
		if m.fromDomain == "" {
			return AuthNone
		}
		signers = []string{m.fromDomain}
	}
	if opts.TrustAuthservID != "" {
		if v := trustedAuthResults(m, signers, opts.TrustAuthservID); v != AuthNone {
			return v
		}
	}
	if opts.LookupTXT == nil || !m.header.has("Dkim-Signature") {
		return AuthNone
	}
	verifs, err := dkim.VerifyWithOptions(bytes.NewReader(raw), &dkim.VerifyOptions{
		LookupTXT:        opts.LookupTXT,
		MaxVerifications: maxDKIMSignatures,
	})
	if err != nil && !errors.Is(err, dkim.ErrTooManySignatures) {
		return AuthFail // the header itself is broken
	}
	verdict := AuthNone
	for _, v := range verifs {
		if !domainIn(v.Domain, signers) {
			continue
		}
		switch {
		case v.Err == nil:
			return AuthPass
		case dkim.IsTempFail(v.Err):
			// The key could not be fetched: not verified, but no evidence of forgery either.
		default:
			verdict = AuthFail
		}
	}
	return verdict
}

// commentRe matches RFC 5322 comments, which authres.Parse mis-reads.
var commentRe = regexp.MustCompile(`\([^()]*\)`)

// trustedAuthResults reads the verdict of our own MTA. Only the topmost
// Authentication-Results field with its authserv-id is its own (an MTA
// prepends its field; anything below came with the mail and may be forged),
// and a fail for one of the signers in any field with that id wins over a
// pass: a forger can add a pass, but never takes away the MTA's fail.
func trustedAuthResults(m *mail, signers []string, authservID string) Authenticity {
	verdict := AuthNone
	topmost := true
	for _, field := range m.header.values("Authentication-Results") {
		id, results, err := authres.Parse(commentRe.ReplaceAllString(field, ""))
		if err != nil || !strings.EqualFold(id, authservID) {
			continue
		}
		for _, r := range results {
			d, ok := r.(*authres.DKIMResult)
			if !ok || !domainIn(d.Domain, signers) {
				continue
			}
			switch {
			case d.Value == authres.ResultFail:
				return AuthFail
			case d.Value == authres.ResultPass && topmost:
				verdict = AuthPass
			case d.Value == authres.ResultTempError || d.Value == authres.ResultNone:
				// The MTA could not check: no evidence either way.
			case topmost && verdict == AuthNone:
				// neutral, policy, permerror: the MTA does not vouch for it.
				verdict = AuthFail
			}
		}
		topmost = false
	}
	return verdict
}

// Trust says who vouches for a notice so that it may trigger host actions,
// "" when nobody does. Only a DKIM pass counts, and only for the provider's
// own domains (a provider format verifies those alone) or, for ARF and
// X-ARF reports, whose signer is the From domain, when that domain is one of
// the operator's trusted reporters: anyone can DKIM-sign their own mail.
func Trust(n Notice, from string, trustedReporters []string) string {
	if n.Authentic != AuthPass {
		return ""
	}
	if n.Provider != ProviderGeneric {
		return "dkim:" + n.Provider
	}
	_, domain, ok := strings.Cut(from, "@")
	if !ok || domain == "" || !domainIn(domain, trustedReporters) {
		return ""
	}
	return "dkim:" + strings.ToLower(domain)
}
