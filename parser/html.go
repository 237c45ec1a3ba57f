package parser

import (
	"html"
	"strings"
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
			b.WriteString(collapse(s))
			break
		}
		b.WriteString(collapse(s[:lt]))
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
				if end := strings.Index(strings.ToLower(s), "</"+name); end >= 0 {
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

// collapse turns the source line breaks of HTML text into spaces: in HTML only
// elements break lines.
func collapse(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(s)
}
