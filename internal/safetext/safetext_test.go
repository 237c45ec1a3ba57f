package safetext

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// Visible and Shorten are what the CLI prints mail through.
func TestVisible(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"plain text", "plain text"},
		{"\x1b[2J", `\x1b[2J`},
		{"\x1b]0;title\x07", `\x1b]0;title\x07`},
		{"a\r\nb\tc", `a\r\nb\tc`},
		{"\u202eexe", `\u202eexe`},
		{"\u009b31m", `\u009b31m`},
		{"ok \xff", `ok \xff`},
		{"café ✓", "café ✓"},
	} {
		if got := Visible(tt.in); got != tt.want {
			t.Errorf("Visible(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	long := strings.Repeat("A", 5000)
	if got := Shorten(long, 40); utf8.RuneCountInString(got) != 40 || !strings.HasSuffix(got, "…(+4960)") {
		t.Errorf("Shorten(5000 A, 40) = %q", got)
	}
	if got := Shorten("short", 40); got != "short" {
		t.Errorf("Shorten(short) = %q", got)
	}
}
