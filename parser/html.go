package parser

import (
	"html"
	"strings"
	"unicode/utf8"
)

// htmlToText turns an HTML body into lines of text: block elements end lines,
// table cells are separated by spaces, script and style are dropped and
// entities decoded. It is enough for provider mails, which are simple tables
// and paragraphs; it is not a renderer.
func htmlToText(body []byte) string {
	var b strings.Builder
	b.Grow(len(body))
	s := string(body)
	for len(s) > 0 {
		lt := strings.IndexByte(s, '<')
		if lt < 0 {
			writeCollapsed(&b, s)
			break
		}
		writeCollapsed(&b, s[:lt])
		s = s[lt:]
		gt := strings.IndexByte(s, '>')
		if gt < 0 {
			break
		}
		name, closing := tagName(s[1:gt])
		s = s[gt+1:]
		switch name {
		case "script", "style", "head":
			if !closing {
				if end := closingTagIndex(s, name); end >= 0 {
					s = s[end:]
				} else {
					s = ""
				}
			}
		case "br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "pre", "blockquote":
			b.WriteByte('\n')
		case "td", "th":
			b.WriteByte(' ')
		}
	}
	return html.UnescapeString(b.String())
}

// closingTagIndex returns strings.Index(strings.ToLower(s), "</"+name)
// without lowering the whole document: up to the first byte above ASCII,
// offsets in s and in its lower-case form are the same.
func closingTagIndex(s, name string) int {
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] >= utf8.RuneSelf:
			return strings.Index(strings.ToLower(s), "</"+name)
		case s[i] == '<' && strings.HasPrefix(s[i+1:], "/") && hasPrefixFold(s[i+2:], name):
			return i
		}
	}
	return -1
}

// tagName returns the lower-case element name of a tag's inside ("/td", "br/").
func tagName(inside string) (name string, closing bool) {
	inside = strings.TrimSpace(inside)
	if strings.HasPrefix(inside, "/") {
		closing = true
		inside = inside[1:]
	}
	end := strings.IndexAny(inside, " \t\r\n/")
	if end >= 0 {
		inside = inside[:end]
	}
	return strings.ToLower(inside), closing
}

// writeCollapsed appends s with its source line breaks (\r\n, \n or \r)
// turned into spaces: in HTML only elements break lines.
func writeCollapsed(b *strings.Builder, s string) {
	start := 0
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\r' || c == '\n' {
			b.WriteString(s[start:i])
			b.WriteByte(' ')
			if c == '\r' && i+1 < len(s) && s[i+1] == '\n' {
				i++
			}
			start = i + 1
		}
	}
	b.WriteString(s[start:])
}
