package parser

import (
	"strings"
	"testing"
)

// FuzzClosingTagIndex checks the search against lowering the whole document.
func FuzzClosingTagIndex(f *testing.F) {
	for _, s := range []string{"a</STYLE>b", "</Script", "é</head>", "</he\u0130d></head>", "x</st"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, name := range []string{"script", "style", "head"} {
			if got, want := closingTagIndex(s, name), strings.Index(strings.ToLower(s), "</"+name); got != want {
				t.Fatalf("%q, %s: %d, want %d", s, name, got, want)
			}
		}
	})
}
