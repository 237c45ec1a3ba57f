package parser

import (
	"net/netip"
	"strings"
)

// firstIP returns the first IP address in s that is a whole word, or "".
func firstIP(s string) string {
	for _, ip := range allIPs(s) {
		return ip
	}
	return ""
}

// allIPs returns the distinct IPv4 and IPv6 addresses in s, in order of
// appearance. An address must stand as a word: "1.2.3.4.5" is no address.
func allIPs(s string) []string {
	var out []string
	seen := map[string]bool{}
	for i := 0; i < len(s); {
		if !isIPChar(s[i]) {
			i++
			continue
		}
		j, seps := i, 0
		for j < len(s) && isIPChar(s[j]) {
			if s[j] == '.' || s[j] == ':' {
				seps++
			}
			j++
		}
		tok := s[i:j]
		i = j
		if seps < 2 {
			continue // no address: most tokens are words with hex letters ("a", "face")
		}
		tok = strings.TrimRight(tok, ".:")
		if strings.Count(tok, ":") == 1 {
			tok, _, _ = strings.Cut(tok, ":") // an IPv4 address with its port
		}
		if strings.Count(tok, ".") != 3 && strings.Count(tok, ":") < 2 {
			continue
		}
		addr, err := netip.ParseAddr(tok)
		if err != nil || addr.Zone() != "" {
			continue
		}
		ip := addr.String()
		if !seen[ip] {
			seen[ip] = true
			out = append(out, ip)
		}
	}
	return out
}

func isIPChar(c byte) bool {
	return c >= '0' && c <= '9' || c == '.' || c == ':' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validIP reports whether s is exactly one IP address.
func validIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}

// splitHostPort splits "1.2.3.4:80" or "vps1234:55046" at the last colon; an
// IPv6 address with a port must be bracketed.
func splitHostPort(s string) (host, port string) {
	if strings.HasPrefix(s, "[") {
		if end := strings.Index(s, "]:"); end > 0 {
			return s[1:end], s[end+2:]
		}
	}
	i := strings.LastIndexByte(s, ':')
	if i < 0 || strings.Count(s, ":") > 1 {
		return s, ""
	}
	return s[:i], s[i+1:]
}

// joinHostPort is the inverse of splitHostPort, bracketing IPv6 addresses.
func joinHostPort(host, port string) string {
	if strings.Contains(host, ":") {
		return "[" + host + "]:" + port
	}
	return host + ":" + port
}

// containsFold reports whether s contains substr, ignoring ASCII case.
func containsFold(s, substr string) bool {
	n := len(substr)
	for i := 0; i+n <= len(s); i++ {
		if strings.EqualFold(s[i:i+n], substr) {
			return true
		}
	}
	return false
}

// maxEvents bounds the log lines kept per notice: a hostile or huge log must
// not make the work or the stored notice unbounded.
const maxEvents = 1000

// unquote drops the "> " quote markers and the indentation of a line.
func unquote(line string) string {
	// A loop, not strings.TrimLeft, which builds its cutset on every call.
	i := 0
	for i < len(line) && (line[i] == '>' || line[i] == ' ' || line[i] == '\t') {
		i++
	}
	return line[i:]
}

// isPort reports whether s is a port number.
func isPort(s string) bool {
	n := atoiOr(s, -1)
	return n >= 0 && n <= 65535
}

// flatten returns text in ASCII lower case with every run of white space
// turned into one space and the "> " quote markers of each line dropped, so
// that phrases wrapped or quoted across lines can be found with one search.
func flatten(text string) string {
	// Indexing a buffer of the input's size (the output is never longer) is
	// faster than strings.Builder.WriteByte, and every mail goes through here.
	buf := make([]byte, len(text))
	n := 0
	space, lineStart := false, true
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\n':
			space, lineStart = true, true
		case c == ' ' || c == '\t' || c == '\r' || lineStart && c == '>':
			space = true
		default:
			if space && n > 0 {
				buf[n] = ' '
				n++
			}
			space, lineStart = false, false
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
			n++
		}
	}
	return string(buf[:n])
}
