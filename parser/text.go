package parser

import (
	"encoding/binary"
	"net/netip"
	"strings"
)

// firstIP returns the first IP address in s that is a whole word, or "".
func firstIP(s string) string {
	ip, _ := nextIP(s)
	return ip
}

// firstHostIP is firstIP that passes over a network written as a range
// ("88.198.10.8/29: … 88.198.10.13"): a report names the network, then the
// host. The first range's address is the answer when no host follows.
func firstHostIP(s string) string {
	network := ""
	for rest := s; ; {
		ip, after := nextIP(rest)
		if ip == "" {
			return network
		}
		if len(after) < 2 || after[0] != '/' || after[1] < '0' || after[1] > '9' {
			return ip
		}
		if network == "" {
			network = ip
		}
		rest = after
	}
}

// nextIP returns the first IPv4 or IPv6 address in s and the rest of s after
// it, or "" when there is none. An address must stand as a word: "1.2.3.4.5"
// is no address.
func nextIP(s string) (ip, rest string) {
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
		if addr, err := netip.ParseAddr(tok); err == nil && addr.Zone() == "" {
			return addr.String(), s[j:]
		}
	}
	return "", ""
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
	// Every mail goes through here. Indexing a buffer is faster than
	// strings.Builder.WriteByte, and a usual text fits the one on the stack,
	// so that the result is the only allocation.
	var stack [4 << 10]byte
	buf := stack[:]
	if len(text) > len(stack) {
		buf = make([]byte, len(text)) // the output is never longer
	}
	n := 0
	space, lineStart := false, true
	for i := 0; i < len(text); {
		switch c := text[i]; {
		case c == '\n':
			space, lineStart = true, true
			i++
			continue
		case c == ' ' || c == '\t' || c == '\r' || lineStart && c == '>':
			space = true
			i++
			continue
		}
		if space && n > 0 {
			buf[n] = ' '
			n++
		}
		space, lineStart = false, false
		// The rest of the word, and of the words after it while they are
		// separated by single spaces: eight bytes at a time, then by byte.
		for ; i+8 <= len(text); i, n = i+8, n+8 {
			w, ok := lowerPlain8(binary.LittleEndian.Uint64([]byte(text[i : i+8])))
			if !ok {
				break
			}
			binary.LittleEndian.PutUint64(buf[n:], w)
		}
		for ; i < len(text); i++ {
			c := text[i]
			if c <= ' ' && (c == ' ' || c == '\n' || c == '\t' || c == '\r') {
				break
			}
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
			n++
		}
	}
	return string(buf[:n])
}

// lowerPlain8 lowers the ASCII capitals among the eight bytes of w, which
// flatten may then copy as they are (ok): no byte below ' ' (tab, line end,
// other controls), no two spaces in a row and no space last, so that each
// space is a single one between kept bytes. The tests work on the eight
// bytes at once (SWAR), each marking a byte in its top bit.
func lowerPlain8(w uint64) (_ uint64, ok bool) {
	const ones, tops = 0x0101010101010101, 0x8080808080808080
	if (w-' '*ones)&^w&tops != 0 { // some byte is below ' '
		return 0, false
	}
	notSpace := w ^ ' '*ones // zero where w has a space
	spaces := ^((notSpace&^tops + ^uint64(tops)) | notSpace | ^uint64(tops))
	if spaces&(spaces<<8) != 0 || spaces>>63 != 0 {
		return 0, false
	}
	low := w &^ tops // the low seven bits: adding to them never carries
	upper := (low + (0x80-'A')*ones) &^ (low + (0x80-'Z'-1)*ones) &^ w & tops
	return w | upper>>2, true // 0x80>>2 is the case bit
}

// replyPrefixes start the subject of a reply in the mail clients of our
// providers' staff and customers ("Re:", German "AW:", Nordic "SV:"/"VS:",
// Dutch "Antw:", Polish "Odp:", Italian "R:"/"Rif:"), lower case. Forward
// prefixes ("Fwd:", "WG:", "TR:", "I:") are not among them: a forward is
// the same mail passed on, a reply is a new one.
var replyPrefixes = []string{"re", "aw", "sv", "vs", "antw", "antwort", "odp", "r", "rif", "res", "ynt"}

// isReplySubject reports whether subject starts with a reply prefix,
// counted or not ("Re[2]:"), with or without a space before the colon.
func isReplySubject(subject string) bool {
	word, _, ok := strings.Cut(strings.TrimSpace(subject), ":")
	if !ok || len(word) > 12 {
		return false
	}
	word = strings.TrimSpace(word)
	if i := strings.IndexByte(word, '['); i > 0 && strings.HasSuffix(word, "]") {
		word = word[:i]
	}
	return hasName(replyPrefixes, word)
}

// forwardFromLabels are the labels of the sender line that a mail client
// writes above a mail it forwards inline, in the languages of our
// providers' customers ("From:", "Von:", "De :", "Da:", "Od:", …), lower case.
var forwardFromLabels = []string{"from", "von", "de", "da", "od", "van", "fra", "från", "lähettäjä"}

// forwardedFrom reports whether text holds the sender line of a mail
// forwarded inline whose address's domain is one that sender accepts. Only
// a sender line counts: a quoted "To: abuse@provider" of our own reply is
// not the provider writing.
func forwardedFrom(text string, sender func(domain string) bool) bool {
	for rest := text; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		label, value, ok := strings.Cut(strings.Trim(unquote(line), "*\r"), ":")
		label = strings.TrimSpace(strings.Trim(label, "*"))
		if !ok || len(label) > 12 || !strings.Contains(value, "@") || !hasName(forwardFromLabels, label) {
			continue
		}
		addr := fromAddress(strings.Trim(value, "* \r"))
		if at := strings.LastIndexByte(addr, '@'); at > 0 && sender(addr[at+1:]) {
			return true
		}
	}
	return false
}
