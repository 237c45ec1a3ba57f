package notify

import (
	"net/url"
	"regexp"
	"sort"
	"strings"
)

// mask replaces every secret part of a URL.
const mask = "***"

// Redact returns rawURL with its credentials masked, for logs and the CLI.
//
// shoutrrr puts secrets in different places per service (the Slack token is
// the "host", the Mattermost token the first path segment, a Pushover user
// key the host, generic webhooks carry tokens in the path or in `@Header`
// query values), so the rule is conservative: user info is always masked,
// the host is shown only for services where it names a server, the path is
// masked whole except where the service's path layout is known, and only
// query values known to be harmless are shown.
func Redact(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		// Without a parse we cannot tell the secret parts from the rest.
		return mask
	}
	scheme := strings.ToLower(u.Scheme)
	base, _, _ := strings.Cut(scheme, "+")

	var b strings.Builder
	b.WriteString(scheme)
	b.WriteString("://")
	if u.User != nil {
		if name := u.User.Username(); userIsName(base) && name != "" {
			b.WriteString(url.PathEscape(name))
			if _, ok := u.User.Password(); ok {
				b.WriteString(":" + mask)
			}
			b.WriteString("@")
		} else {
			b.WriteString(mask + "@")
		}
	}
	if hostIsServer(base) {
		b.WriteString(u.Host)
	} else if u.Host != "" {
		b.WriteString(mask)
	}
	masked := false
	for i, seg := range pathSegments(u) {
		if pathSegmentShown(base, i) {
			b.WriteString("/" + seg)
			masked = false
		} else if !masked {
			// One mask stands for a run of hidden segments: their number is
			// a hint too.
			b.WriteString("/" + mask)
			masked = true
		}
	}
	if q := u.Query(); len(q) > 0 {
		keys := make([]string, 0, len(q))
		for k := range q {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for i, k := range keys {
			if i == 0 {
				b.WriteByte('?')
			} else {
				b.WriteByte('&')
			}
			// Keys are shown as written: `@Authorization` reads better
			// than its escaped form, and a key names, it does not hold.
			b.WriteString(k)
			b.WriteByte('=')
			if queryValueShown(k) {
				b.WriteString(url.QueryEscape(q.Get(k)))
			} else {
				b.WriteString(mask)
			}
		}
	}
	return b.String()
}

// hostIsServer reports whether the host part of a URL of this scheme is a
// server name rather than a token (slack://TOKEN-A/…, pushover://…@USERKEY,
// discord://TOKEN@ID, ifttt://KEY, wecom://KEY, teams://…@TENANT).
func hostIsServer(base string) bool {
	switch base {
	case "generic", "http", "https", "mattermost", "rocketchat", "gotify", "ntfy",
		"matrix", "zulip", "smtp", "signal", "opsgenie", "pagerduty", "googlechat",
		"hangouts", "bark", "lark", "logger":
		return true
	}
	return false
}

// userIsName reports whether the user part of a URL of this scheme names a
// user or a bot (mattermost://abusewatch@host/TOKEN, smtp://user:pass@host)
// rather than holding a token (discord://TOKEN@ID, telegram://TOKEN@telegram,
// teams://GROUP@TENANT/…, slack://xoxb:TOKEN@…). A name is no secret: masking
// it would mask every ordinary word it equals in every message. Unknown
// schemes keep the user part masked.
func userIsName(base string) bool {
	switch base {
	case "mattermost", "rocketchat", "smtp", "matrix", "zulip", "generic", "http", "https", "ntfy", "signal":
		return true
	}
	return false
}

// pathSegmentShown reports whether path segment i of this scheme is known not
// to be a secret: only Mattermost's optional channel (token first) qualifies.
func pathSegmentShown(base string, i int) bool {
	return base == "mattermost" && i == 1
}

// queryValueShown lists the shoutrrr query parameters that tune formatting
// and transport. Everything else, `@Header` and `$extra` values included,
// may carry a credential.
func queryValueShown(key string) bool {
	switch strings.ToLower(key) {
	case "disabletls", "template", "method", "contenttype", "titlekey", "messagekey", "title":
		return true
	}
	return false
}

func pathSegments(u *url.URL) []string {
	p := strings.Trim(u.EscapedPath(), "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// urlPattern finds URLs inside error text, such as the quoted request URL of
// a *url.Error ("Post \"http://host/hooks/TOKEN\": dial tcp …").
var urlPattern = regexp.MustCompile(`[A-Za-z][A-Za-z0-9+.-]*://[^\s"'<>]+`)

// scrubber removes channel URL secrets from free text: error messages of
// shoutrrr (which quote request URLs) and rendered messages.
type scrubber struct {
	// secrets, longest first so that a secret containing another is
	// replaced whole.
	secrets []string
}

// minSecretLen skips one- and two-character "secrets": masking them would
// shred every word of the text while hiding nothing that could not be guessed.
const minSecretLen = 3

// add records every part of rawURL that Redact masks, in the raw, escaped
// and unescaped spellings that may show up in text.
func (s *scrubber) add(rawURL string) {
	forms := []string{rawURL}
	if u, err := url.Parse(rawURL); err == nil {
		base, _, _ := strings.Cut(strings.ToLower(u.Scheme), "+")
		if u.User != nil {
			if !userIsName(base) {
				forms = append(forms, u.User.Username())
			}
			if p, ok := u.User.Password(); ok {
				forms = append(forms, p, u.User.String())
			}
		}
		if !hostIsServer(base) {
			forms = append(forms, u.Host, u.Hostname())
		}
		for i, seg := range pathSegments(u) {
			if !pathSegmentShown(base, i) {
				forms = append(forms, seg)
			}
		}
		for k, vs := range u.Query() {
			if !queryValueShown(k) {
				forms = append(forms, vs...)
			}
		}
		forms = append(forms, u.Fragment)
	}
	seen := make(map[string]bool, len(s.secrets))
	for _, sec := range s.secrets {
		seen[sec] = true
	}
	for _, f := range forms {
		variants := []string{f, url.PathEscape(f), url.QueryEscape(f)}
		if un, err := url.PathUnescape(f); err == nil {
			variants = append(variants, un)
		}
		if un, err := url.QueryUnescape(f); err == nil {
			variants = append(variants, un)
		}
		for _, v := range variants {
			if len(v) >= minSecretLen && !seen[v] {
				seen[v] = true
				s.secrets = append(s.secrets, v)
			}
		}
	}
	sort.Slice(s.secrets, func(i, j int) bool { return len(s.secrets[i]) > len(s.secrets[j]) })
}

// maskMark stands for a mask in text that is still to be escaped for a chat
// service, which must not escape the mask itself; unmask turns it into the
// mask. It is a private-use character: no text of ours holds one, and one
// in a mail only shows as a mask.
const maskMark = "\ue000"

// event masks every free-text string of ev with maskMark.
func (s *scrubber) event(ev Event) Event {
	ev.Service, ev.Case, ev.Detail = s.mark(ev.Service), s.mark(ev.Case), s.mark(ev.Detail)
	findings := make([]string, len(ev.Findings))
	for i, f := range ev.Findings {
		findings[i] = s.mark(f)
	}
	ev.Findings = findings
	return ev
}

func (s *scrubber) mark(text string) string {
	return strings.ReplaceAll(s.scrub(text), mask, maskMark)
}

func unmask(text string) string { return strings.ReplaceAll(text, maskMark, mask) }

// scrub masks every known secret in text. Rendered messages go through it:
// their other URLs (a provider's ticket link) stay readable.
func (s *scrubber) scrub(text string) string {
	for _, sec := range s.secrets {
		if len(sec) >= wordSecretLen {
			text = strings.ReplaceAll(text, sec, mask)
		} else {
			text = replaceWord(text, sec)
		}
	}
	return text
}

// wordSecretLen: shorter secrets are masked only where they stand alone, so
// that a conservatively masked path segment such as "hook" does not turn
// "webhook" into "web***". Token-length secrets are masked everywhere.
const wordSecretLen = 8

// replaceWord masks the occurrences of sec not glued to letters or digits.
func replaceWord(text, sec string) string {
	var b strings.Builder
	for {
		i := strings.Index(text, sec)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		end := i + len(sec)
		if (i > 0 && isWordByte(text[i-1])) || (end < len(text) && isWordByte(text[end])) {
			b.WriteString(text[:end])
		} else {
			b.WriteString(text[:i])
			b.WriteString(mask)
		}
		text = text[end:]
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}

// scrubError is scrub plus the redaction of every URL in the text, because
// error text from shoutrrr quotes request URLs that are spelled differently
// from the channel URL (mattermost://h/TOKEN is sent to http://h/hooks/TOKEN).
func (s *scrubber) scrubError(text string) string {
	return s.scrub(urlPattern.ReplaceAllStringFunc(text, Redact))
}
