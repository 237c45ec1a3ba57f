// Package safetext makes text from mail safe to show: on a terminal, in a
// chat message, in a page. It is the one place that decides which characters
// are shown as escapes and how an over-long value is cut, so that the CLI, chat
// and the dashboard show the same hostile string the same way.
package safetext

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Visible makes control characters visible, for chat and for a terminal: a
// mail can hold ESC sequences (clear the screen, set the window title), BEL,
// carriage returns that overwrite a line, line breaks that forge a line, and
// Unicode controls that reorder text (bidi overrides) or hide it. They are
// written as Go escapes (\x1b, \n, \u202e); invalid UTF-8 as \xNN.
func Visible(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isHiddenControl(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
		i += size
	}
	return b.String()
}

// isPlain is the fast path of Visible: printable ASCII only.
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// isHiddenControl lists the non-ASCII characters a terminal or a chat client
// acts on without showing: C1 controls (0x9b is CSI on many terminals),
// zero-width and bidi formatting characters, the BOM.
func isHiddenControl(r rune) bool {
	return r >= 0x80 && r < 0xa0 ||
		r >= 0x200b && r <= 0x200f || r >= 0x202a && r <= 0x202e ||
		r >= 0x2060 && r <= 0x2069 || r == 0xfeff
}

// Shorten cuts s to at most limit runes, marking the cut with an ellipsis and
// the number of characters left out, so that a 5,000-character id from a
// mail cannot fill a screen or a message.
func Shorten(s string, limit int) string {
	n := utf8.RuneCountInString(s)
	if limit <= 0 || n <= limit {
		return s
	}
	mark := fmt.Sprintf("…(+%d)", n-limit)
	keep := max(limit-utf8.RuneCountInString(mark), 1)
	i := 0
	for range keep {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + mark
}
