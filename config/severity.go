package config

import "strings"

// The severity vocabulary, in one place: the kinds of notice that carry a
// severity (DESIGN.md "The notice"), least severe first. A severity's rank is
// its position, counted from 1; rank 0 is "none" (no severity, or a kind that
// carries none). Incidents store ranks, channel and triage filters name
// them in min_severity, chat messages and the CLI print the names.
func Severities() []string {
	return []string{"status", "complaint", "attack", "block", "rescue"}
}

// SeverityRank maps a severity name, or the notice kind of that name, to its
// rank: status 1 < complaint 2 < attack 3 < block 4 < rescue 5. Any other
// name has rank 0 and ok false.
func SeverityRank(name string) (rank int, ok bool) {
	for i, s := range Severities() {
		if strings.EqualFold(s, name) {
			return i + 1, true
		}
	}
	return 0, false
}

// SeverityName is the name of a rank, "none" for 0 or a rank out of range.
func SeverityName(rank int) string {
	if s := Severities(); rank >= 1 && rank <= len(s) {
		return s[rank-1]
	}
	return "none"
}

// severityList is the vocabulary as error messages spell it.
func severityList() string { return strings.Join(Severities(), ", ") }
