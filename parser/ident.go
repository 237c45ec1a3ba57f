package parser

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Identifiers and names taken from mail reach chat, terminals and the
// provider APIs: each is checked against the shape its source gives it, and
// anything else is dropped (with a note for --explain), never passed on.

// Length caps on strings from mail.
const (
	maxCaseLen     = 128
	maxServiceLen  = 128
	maxReporterLen = 128
)

// validCase reports whether id has the shape of a case id of provider:
// Hetzner's AbuseID "518908:22", OVH's abuse id "BCDFGHJKLM" or ticket
// number, or a report id of a standard report (a strict charset).
func validCase(provider, id string) bool {
	if id == "" || len(id) > maxCaseLen {
		return false
	}
	switch provider {
	case ProviderHetzner:
		return isAbuseID(id)
	case ProviderOVH:
		return readAbuseID(id) == id || readTicketID(id) == id
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; !isAlnum(c) && strings.IndexByte("._-@:+=/#", c) < 0 {
			return false
		}
	}
	return true
}

// cleanText returns s when it is at most max bytes of printable UTF-8
// without markup characters that chat services interpret, else "".
func cleanText(s string, max int) string {
	if len(s) > max || !utf8.ValidString(s) {
		return ""
	}
	for _, r := range s {
		if !unicode.IsPrint(r) || strings.ContainsRune("<>`|*[]{}$\\", r) {
			return ""
		}
	}
	return s
}

// validService accepts a provider's service name: a host name
// ("vps-1a2b3c4d.vps.ovh.net", "ns3012345.ip-51-68-12.eu") or a server number.
func validService(s string) bool {
	if s == "" || len(s) > maxServiceLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '.' && c != '-' && c != '_' {
			return false
		}
	}
	return true
}

// sanitize drops the fields of n that do not have their shape, saying so
// in the trace.
func sanitize(n *Notice, provider string, m *mail) {
	if n.Case != "" && !validCase(provider, n.Case) {
		m.note("case dropped: not the shape of a ", provider, " case id (", quoteShort(n.Case), ")")
		n.Case = ""
	}
	if n.Service != "" && !validService(n.Service) {
		m.note("service dropped: not a service name (", quoteShort(n.Service), ")")
		n.Service = ""
	}
	if n.Reporter != "" && cleanText(n.Reporter, maxReporterLen) == "" {
		m.note("reporter dropped: too long or not printable (", quoteShort(n.Reporter), ")")
		n.Reporter = ""
	}
}

// quoteShort shows the start of a dropped value, escaped, for --explain.
func quoteShort(s string) string {
	const show = 40
	if len(s) > show {
		s = s[:show] + "…"
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsPrint(r) {
			b.WriteRune(r)
		} else {
			b.WriteString("\\u")
			const hex = "0123456789abcdef"
			b.WriteByte(hex[r>>12&15])
			b.WriteByte(hex[r>>8&15])
			b.WriteByte(hex[r>>4&15])
			b.WriteByte(hex[r&15])
		}
	}
	return `"` + b.String() + `"`
}
