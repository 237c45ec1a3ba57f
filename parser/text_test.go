package parser

import "testing"

// flattenByByte is flatten as its doc comment says, one byte at a time.
func flattenByByte(text string) string {
	var out []byte
	space, lineStart := false, true
	for i := 0; i < len(text); i++ {
		c := text[i]
		switch {
		case c == '\n':
			space, lineStart = true, true
		case c == ' ' || c == '\t' || c == '\r' || lineStart && c == '>':
			space = true
		default:
			if space && len(out) > 0 {
				out = append(out, ' ')
			}
			space, lineStart = false, false
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			out = append(out, c)
		}
	}
	return string(out)
}

// FuzzFlatten checks the word-at-a-time flatten against flattenByByte.
func FuzzFlatten(f *testing.F) {
	for _, s := range []string{
		"> Quoted\n>> Twice  \r\n a>b",
		"Long Words Separated By Single Spaces, And UPPER case: @[\\]^_`{|}~ 0123456789 \xc3\xa9t\xc3\xa9",
		"two  spaces\tTAB\x00NUL\x7fDEL trailing space ",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := flatten(s), flattenByByte(s); got != want {
			t.Fatalf("flatten(%q) = %q, want %q", s, got, want)
		}
	})
}

func TestFirstHostIP(t *testing.T) {
	tests := []struct{ text, want string }{
		{"Affected systems in your network 88.198.10.8/29:\n\"24940\",\"88.198.10.13\",\"6379\"", "88.198.10.13"},
		{"the network 2a01:4f8:10::/48 holds 2a01:4f8:10::25", "2a01:4f8:10::25"},
		{"only the range 88.198.10.8/29 is named", "88.198.10.8"},
		{"a path 88.198.10.8/x is no range", "88.198.10.8"},
		{"host 192.0.2.7 first, then 192.0.2.0/24", "192.0.2.7"},
		{"no address", ""},
	}
	for _, tt := range tests {
		if got := firstHostIP(tt.text); got != tt.want {
			t.Errorf("firstHostIP(%q) = %q, want %q", tt.text, got, tt.want)
		}
	}
}

func TestForwardedFrom(t *testing.T) {
	tests := []struct {
		text string
		want bool
	}{
		{"---------- Forwarded message ---------\nDa: OVHcloud <noreply@ovh.com>\nDate: mar 13 gen 2026\n", true},
		{"Von: OVHcloud <noreply@ovh.com>\nGesendet: Mittwoch\n", true},
		{"> *From:* OVH <support@ovh.pl>\n", true},
		{"De : OVH <abuse@ovh.net>\n", true},
		{"To: abuse@ovh.net\nSubject: our statement\n", false},
		{"From: Colleague <c@example.net>\nWe wrote to abuse@ovh.net yesterday.\n", false},
		{"From: OVH <noreply@ovh.com.evil.example>\n", false},
	}
	for _, tt := range tests {
		if got := forwardedFrom(tt.text, ovhSenderDomain); got != tt.want {
			t.Errorf("forwardedFrom(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
