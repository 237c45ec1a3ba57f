package statement

import (
	"fmt"
	"sort"
)

// table is one language's wording of a statement. Each language has its
// own file (lang_en.go, lang_fr.go, lang_de.go); format verbs are filled in
// the order their comments give.
type table struct {
	Greeting string
	// Regarding: the provider's case, the mail's date, the IP.
	Regarding string
	// Reported: the attack as the provider named it.
	Reported string
	// Rate: the rate the provider measured.
	Rate string
	// Events: the number of log lines, the first and last time.
	Events string
	// FoundHead opens what the investigation found; Suspect: kind, name,
	// host, details. EvidenceLine: job, host, time, sha256.
	FoundHead, Suspect, Finding, EvidenceLine string
	// NothingFound is said when triage implicated nothing (yet).
	NothingFound string
	// DoneHead opens what was done; Action: time, what.
	DoneHead, Action string
	// Inspected, Lifted, UnblockAsked; Window: until when an admin window
	// was open.
	Inspected, Lifted, UnblockAsked, Window string
	// PreventHead opens the measures; Prevent holds one line per measure.
	PreventHead string
	Prevent     map[string]string
	Closing     string
	// Kinds names the suspect kinds.
	Kinds map[string]string
}

// tables are the languages a statement can be written in.
var tables = map[string]*table{"en": &english, "fr": &french, "de": &german}

// languages lists the language codes a statement can be written in.
func languages() []string {
	var out []string
	for k := range tables {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// Measures are the prevention measures an operator can record
// (`statement --prevention`): the runbook's list.
var Measures = []string{"images", "ssh", "audit", "backups"}

func lookup(lang string) (*table, error) {
	t, ok := tables[lang]
	if !ok {
		return nil, fmt.Errorf("statement: language %q is not one of %v", lang, languages())
	}
	return t, nil
}
