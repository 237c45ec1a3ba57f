package statement

var german = table{
	Greeting:     "Guten Tag,",
	Regarding:    "hier ist unsere Stellungnahme zu Ihrer Meldung %s vom %s zu %s.",
	Reported:     "Sie haben %s-Verkehr gemeldet.",
	Rate:         "Gemessene Rate: %s.",
	Events:       "Ihr Protokoll enthält %d Zeilen, von %s bis %s.",
	FoundHead:    "Was wir gefunden haben:",
	Suspect:      "- die wahrscheinliche Ursache: %s %s auf Host %s%s",
	Finding:      "- %s",
	EvidenceLine: "- Beleg %q von %s, erhoben %s, sha256 %s",
	NothingFound: "- unsere Untersuchung läuft noch; die Ursache ist noch nicht gefunden.",
	DoneHead:     "Was wir getan haben (Zeiten in UTC):",
	Action:       "- %s: %s",
	Inspected:    "wir haben den Server untersucht",
	Lifted:       "die Sperre des Providers wurde aufgehoben",
	UnblockAsked: "wir haben den Provider gebeten, die Sperre aufzuheben",
	Window:       "ein befristeter Zugang für unsere Administratoren, bis %s",
	PreventHead:  "Was eine Wiederholung verhindert:",
	Prevent: map[string]string{
		"images":  "- die Images sind aktuell und Container aktualisieren sich automatisch",
		"ssh":     "- SSH nimmt nur Schlüssel an, und die Konten sind eingeschränkt",
		"audit":   "- ein Sicherheitsaudit des Servers wurde durchgeführt (Lynis)",
		"backups": "- Sicherungen des Servers sind eingerichtet",
	},
	Closing: "Mit freundlichen Grüßen",
	Kinds: map[string]string{
		"process": "Prozess", "container": "Container", "vm": "virtuelle Maschine",
		"account": "Konto", "ssh_key": "SSH-Schlüssel",
	},
}
