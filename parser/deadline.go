package parser

import (
	"slices"
	"strings"
	"time"
)

// readDeadline returns the deadline a notice states, in RFC 3339: an
// absolute time after one of deadlineLeads, else the mail's date plus the
// hours of "within 24 hours". "" when there is none, or when its time has
// no zone: a deadline is never guessed.
func readDeadline(flat string, date time.Time) string {
	// One pass finds which leads of both tables occur; only those are
	// looked for.
	found, _ := deadlineLeadSet.scan(flat)
	if t, ok := afterLead(flat, deadlineLeads, found, readWhen); ok {
		return t.Format(time.RFC3339)
	}
	if date.IsZero() {
		return ""
	}
	if h, ok := afterLead(flat, deadlineWithin, found>>len(deadlineLeads), readHours); ok {
		return date.Add(time.Duration(h) * time.Hour).Format(time.RFC3339)
	}
	return ""
}

// afterLead calls read on the text after each occurrence of each lead found
// (bit i for leads[i]), in the order of leads, until it reads a value.
func afterLead[T any](flat string, leads []string, found signalMask, read func(string) (T, bool)) (T, bool) {
	for i, lead := range leads {
		if !found.has(signal(i)) {
			continue
		}
		for rest := flat; ; {
			j := strings.Index(rest, lead)
			if j < 0 {
				break
			}
			rest = rest[j+len(lead):]
			if v, ok := read(rest); ok {
				return v, true
			}
		}
	}
	var zero T
	return zero, false
}

// apostrophes split an elided word: "d'une", "un'ora".
var apostrophes = strings.NewReplacer("'", " ", "’", " ")

// readHours reads "24 hours", "5 days", "une heure", "un'ora" from the
// start of s, in hours: up to two weeks.
func readHours(s string) (int, bool) {
	if s = s[:min(len(s), 24)]; strings.ContainsAny(s, "'’") {
		s = apostrophes.Replace(s)
	}
	f := strings.Fields(s)
	if len(f) < 2 {
		return 0, false
	}
	n := atoiOr(f[0], 0)
	if hasName(deadlineOne, f[0]) {
		n = 1
	}
	switch {
	case hasAnyPrefix(f[1], deadlineHourWords):
	case hasAnyPrefix(f[1], deadlineDayWords):
		n *= 24
	default:
		return 0, false
	}
	return n, n > 0 && n <= 24*14
}

// deadlineLeadSet finds the leads of both tables in one pass: a lead's
// signal is its place in deadlineLeads, then in deadlineWithin after them.
var deadlineLeadSet = func() *phraseSet {
	leads := append(slices.Clone(deadlineLeads), deadlineWithin...)
	if len(leads) > 64 {
		panic("parser: more deadline leads than a signal mask holds")
	}
	phrases := make([]phrase, len(leads))
	for i, l := range leads {
		phrases[i] = phrase{l, signal(i), -1}
	}
	return newPhraseSet(phrases)
}()

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// readWhen reads a date, a time and a zone from the start of s:
// "[the ]2018-08-07 13:31:04 +0200", "05.03.2025 12:11:00 +0100",
// "14/03/2025 à 18:00 (heure de paris)", "05.03.2025, 12:11 uhr mez".
func readWhen(s string) (time.Time, bool) {
	s = strings.TrimPrefix(s, "the ")
	// Most leads are common words that no date follows: a cheap test first.
	if len(s) < 10 || s[0] < '0' || s[0] > '9' {
		return time.Time{}, false
	}
	f := strings.Fields(s[:min(len(s), 64)])
	if len(f) < 2 {
		return time.Time{}, false
	}
	y, mo, d, ok := readDate(strings.TrimRight(f[0], ",")) // "05.03.2025,"
	if !ok {
		return time.Time{}, false
	}
	f = f[1:]
	for len(f) > 0 && isConnector(f[0]) {
		f = f[1:]
	}
	if len(f) == 0 {
		return time.Time{}, false
	}
	h, mi, sec, ok := readClock(strings.TrimRight(f[0], ".,;:)"))
	if !ok {
		return time.Time{}, false
	}
	zone := strings.Join(f[1:min(len(f), 4)], " ")
	zone = strings.TrimPrefix(strings.TrimPrefix(zone, "uhr"), " ")
	local := time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.UTC)
	if local.Month() != time.Month(mo) || local.Day() != d {
		return time.Time{}, false
	}
	if hasAnyPrefix(strings.TrimLeft(zone, "("), deadlineCentralEurope) || hasAnyPrefix(strings.TrimLeft(zone, "("), []string{"heure de paris", "heure de berlin"}) {
		return centralEurope(local), true
	}
	first, _, _ := strings.Cut(zone, " ")
	off, ok := logOffset(strings.ToUpper(strings.Trim(first, "().,;:")))
	if !ok {
		return time.Time{}, false
	}
	if off == "Z" {
		return local, true
	}
	sign := 1
	if off[0] == '-' {
		sign = -1
	}
	secs := sign * (atoiOr(off[1:3], 0)*3600 + atoiOr(off[4:], 0)*60)
	return time.Date(y, time.Month(mo), d, h, mi, sec, 0, time.FixedZone("", secs)), true
}

func isConnector(w string) bool {
	for _, c := range deadlineConnectors {
		if w == c {
			return true
		}
	}
	return false
}

// readDate reads 2025-03-14, 14.03.2025 or 14/03/2025 (day first: the
// providers write European dates).
func readDate(w string) (y, mo, d int, ok bool) {
	switch {
	case len(w) == 10 && w[4] == '-' && w[7] == '-' && allDigits(w[:4]) && allDigits(w[5:7]) && allDigits(w[8:]):
		return atoiOr(w[:4], 0), atoiOr(w[5:7], 0), atoiOr(w[8:], 0), true
	case len(w) == 10 && (w[2] == '.' || w[2] == '/') && w[5] == w[2] && allDigits(w[:2]) && allDigits(w[3:5]) && allDigits(w[6:]):
		return atoiOr(w[6:], 0), atoiOr(w[3:5], 0), atoiOr(w[:2], 0), true
	}
	return 0, 0, 0, false
}

// readClock reads 18:00 or 18:00:05, and the French 18h00.
func readClock(w string) (h, mi, s int, ok bool) {
	if len(w) == 5 && w[2] == 'h' {
		w = w[:2] + ":" + w[3:]
	}
	if len(w) != 5 && len(w) != 8 || w[2] != ':' || !allDigits(w[:2]) || !allDigits(w[3:5]) {
		return 0, 0, 0, false
	}
	if len(w) == 8 {
		if w[5] != ':' || !allDigits(w[6:]) {
			return 0, 0, 0, false
		}
		s = atoiOr(w[6:], 0)
	}
	h, mi = atoiOr(w[:2], 0), atoiOr(w[3:5], 0)
	return h, mi, s, h <= 23 && mi <= 59 && s <= 59
}

// centralEurope places a wall-clock time of Paris or Berlin: CET, or CEST
// from the last Sunday of March, 02:00, to the last Sunday of October,
// 03:00 (EU rules since 1996). The hour that repeats in October is read as
// summer time.
func centralEurope(local time.Time) time.Time {
	cet, cest := time.FixedZone("CET", 3600), time.FixedZone("CEST", 7200)
	y := local.Year()
	start := lastSunday(y, time.March).Add(2 * time.Hour)
	end := lastSunday(y, time.October).Add(3 * time.Hour)
	zone := cet
	if !local.Before(start) && local.Before(end) {
		zone = cest
	}
	return time.Date(y, local.Month(), local.Day(), local.Hour(), local.Minute(), local.Second(), 0, zone)
}

// lastSunday is the last Sunday of month m of year y, at midnight (UTC,
// as a wall clock).
func lastSunday(y int, m time.Month) time.Time {
	t := time.Date(y, m+1, 0, 0, 0, 0, 0, time.UTC)
	return t.AddDate(0, 0, -int(t.Weekday()))
}
