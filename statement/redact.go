package statement

import (
	"regexp"
	"sort"
	"strings"
)

// mask stands in for a secret in a statement.
const mask = "[redacted]"

// secretPatterns find credentials by their shape, in the final text: a
// password, token or key given as name=value or name: value, a bearer
// token, a URL's secret query parameter, a private key block, and the
// prefixed tokens of common services. The value is group 2 (or the whole
// match when there is no group 2).
var secretPatterns = []*regexp.Regexp{
	regexp.MustCompile(`(?i)(\b[a-z0-9_-]*?(?:password|passwd|pass|pwd|passphrase|secret|token|api[_-]?key|access[_-]?key|secret[_-]?key|auth[_-]?token|client[_-]?secret)\b["']?\s*[:=]\s*["']?)([^\s"',;]+)`),
	regexp.MustCompile(`(?i)(\bbearer\s+)([A-Za-z0-9._~+/=-]{8,})`),
	regexp.MustCompile(`(?i)([?&](?:token|key|secret|password|sig|signature|access_token)=)([^&\s"'<>]+)`),
	regexp.MustCompile(`(?s)-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)`),
	regexp.MustCompile(`\b(?:AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{30,}|xox[abprs]-[A-Za-z0-9-]{10,}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})\b`),
}

// SecretsIn returns the values that secretPatterns find in text (evidence
// output, a provider's rescue mail), so that the same values are masked
// wherever else they show up, even bare.
func SecretsIn(text string) []string {
	var out []string
	for _, re := range secretPatterns {
		for _, m := range re.FindAllStringSubmatch(text, -1) {
			v := m[0]
			if len(m) > 2 {
				v = m[2]
			}
			if len(v) >= minSecretLen {
				out = append(out, v)
			}
		}
	}
	return out
}

// minSecretLen leaves short values alone: masking "on" or "1" would shred
// the text and hide nothing.
const minSecretLen = 4

// Redact masks in text every known secret and everything shaped like one,
// and says how many it masked.
func Redact(text string, known []string) (string, int) {
	n := 0
	secrets := append([]string(nil), known...)
	// Longest first, so that a secret that holds another is masked whole.
	sort.Slice(secrets, func(i, j int) bool { return len(secrets[i]) > len(secrets[j]) })
	for _, s := range secrets {
		if len(s) < minSecretLen {
			continue
		}
		if c := strings.Count(text, s); c > 0 {
			n += c
			text = strings.ReplaceAll(text, s, mask)
		}
	}
	for _, re := range secretPatterns {
		text = re.ReplaceAllStringFunc(text, func(m string) string {
			sm := re.FindStringSubmatch(m)
			if len(sm) > 2 {
				if sm[2] == mask || strings.HasPrefix(sm[2], mask) {
					return m
				}
				n++
				return sm[1] + mask
			}
			n++
			return mask
		})
	}
	return text, n
}
