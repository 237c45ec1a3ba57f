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
