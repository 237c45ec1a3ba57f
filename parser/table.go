package parser

import (
	"strings"
)

// tableColumn is what a column of a log table holds.
type tableColumn int

const (
	colNone tableColumn = iota // a column the events do not take ("Action")
	colTime
	colSrc
	colSrcPort
	colDst
	colDstPort
	colProto
	colReason
	colBytes
)

// maxTableHeaderScan bounds the lines searched for a table's header.
const maxTableHeaderScan = 2000

// headedTable reads the events of the first log table in text whose header
// names its columns (tableColumns): the table a third party's report lays
// out in aligned columns, or separated by tabs. A row's words belong to the
// column under which they start, so that a value of several words ("Web
// Attack") stays one. Rows end at the first line that is not one.
func headedTable(text string) []Event {
	for n := 0; text != "" && n < maxTableHeaderScan; n++ {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		if len(line) > 400 || !containsAny(line, sourceWords) {
			continue
		}
		tabbed := isTabbed(line)
		if cols, ok := tableHeader(tableWords(line, tabbed)); ok {
			return tableRows(text, cols, tabbed)
		}
	}
	return nil
}

// sourceWords are the parts of the source column's names (tableColumns)
// that a header must hold: a cheap test that spares splitting prose.
var sourceWords = []string{"src", "Src", "SRC", "ource", "OURCE", "ttacker", "TTACKER", "ffender", "FFENDER"}

// isTabbed reports a line whose cells are separated by tabs, whose rows
// are read cell by cell rather than by where their words start.
func isTabbed(line string) bool {
	return strings.Count(line, "\t") >= 2 && !strings.Contains(line, "  ")
}

// tableWords returns the words of a line, or with tabbed its cells, each
// placed at its index: cell i of a row is under cell i of the header.
func tableWords(line string, tabbed bool) []lineWord {
	if !tabbed {
		return lineWords(line)
	}
	var cells []lineWord
	for i, cell := range strings.Split(line, "\t") {
		if cell = strings.TrimSpace(cell); cell != "" {
			cells = append(cells, lineWord{i * tabCell, cell})
		}
	}
	return cells
}

// tabCell spaces the cells of a tabbed line apart, so that a cell's words
// never reach the next cell's start.
const tabCell = 1 << 10

// headerCell is one column of a header: where it starts and what it holds.
type headerCell struct {
	start int
	col   tableColumn
}

// tableHeader reads line as a header: at least three known columns, one
// of them the source IP, and one a time, a port or a destination.
func tableHeader(words []lineWord) ([]headerCell, bool) {
	if len(words) < 3 || len(words) > 24 {
		return nil, false
	}
	var cells []headerCell
	var seen [colBytes + 1]bool
	known := 0
	for i := 0; i < len(words); i++ {
		w := words[i]
		name := columnKey(w.text)
		// "Source IP": two words one space apart that name one column.
		if i+1 < len(words) && words[i+1].start == w.start+len(w.text)+1 {
			if c, ok := tableColumns[name+columnKey(words[i+1].text)]; ok {
				cells = append(cells, headerCell{w.start, c})
				seen[c], known = true, known+1
				i++
				continue
			}
		}
		c := tableColumns[name]
		if c != colNone {
			if seen[c] && c != colTime { // "Date  Time" are read together
				return nil, false // a repeated column is no header of ours
			}
			seen[c], known = true, known+1
		}
		cells = append(cells, headerCell{w.start, c})
	}
	// Most of a header's words name columns; prose that names a few is none.
	ok := known >= 3 && known*2 >= len(cells) && seen[colSrc] && (seen[colTime] || seen[colSrcPort] || seen[colDst] || seen[colDstPort])
	return cells, ok
}

// tableRows reads the rows under a header, up to maxEvents.
func tableRows(text string, cols []headerCell, tabbed bool) []Event {
	var events []Event
	for text != "" && len(events) < maxEvents {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		if strings.Trim(line, "-=+| \t") == "" {
			if len(events) > 0 && strings.TrimSpace(line) == "" {
				break
			}
			continue // a rule under the header
		}
		e, ok := tableRow(tableWords(line, tabbed), cols)
		if !ok {
			break
		}
		events = append(events, e)
	}
	return events
}

// tableRow reads one row: each word goes to the last column that starts at
// or before it (a value may start one place early when its column is
// right-aligned under a longer header).
func tableRow(words []lineWord, cols []headerCell) (Event, bool) {
	var values [colBytes + 1]string
	for _, w := range words {
		c := cols[0].col
		for _, cell := range cols[1:] {
			if cell.start > w.start+1 {
				break
			}
			c = cell.col
		}
		if values[c] != "" {
			values[c] += " "
		}
		values[c] += w.text
	}
	src, dst := values[colSrc], values[colDst]
	if !validIP(src) || dst != "" && !isRowHost(dst) {
		return Event{}, false
	}
	e := Event{
		Time:   reportTime(values[colTime]),
		Src:    withPortString(src, values[colSrcPort]),
		Dst:    withPortString(dst, values[colDstPort]),
		Proto:  lowerProto(values[colProto]),
		Bytes:  atoiOr(values[colBytes], 0),
		Reason: values[colReason],
	}
	return e, true
}

// withPortString joins host and port when port is one.
func withPortString(host, port string) string {
	if host == "" || !isPort(port) {
		return host
	}
	return joinHostPort(host, port)
}

// lineWord is a word of a line and where it starts. A tab counts as the
// eight columns it would fill, so that a table laid out with tabs lines up.
type lineWord struct {
	start int
	text  string
}

func lineWords(line string) []lineWord {
	var words []lineWord
	col, start, begin := 0, -1, 0
	for i := 0; i <= len(line); i++ {
		if i == len(line) || line[i] == ' ' || line[i] == '\t' {
			if start >= 0 {
				words = append(words, lineWord{start, line[begin:i]})
				start = -1
			}
			if i < len(line) && line[i] == '\t' {
				col = (col/8 + 1) * 8
			} else {
				col++
			}
			continue
		}
		if start < 0 {
			start, begin = col, i
		}
		col++
	}
	return words
}

// columnKey is a header word compared without case and separators.
func columnKey(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'A' <= c && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		case 'a' <= c && c <= 'z', '0' <= c && c <= '9':
			b.WriteByte(c)
		}
	}
	return b.String()
}
