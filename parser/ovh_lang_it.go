package parser

// ovhItalian is OVH's Italian (it-it). Its documentation quotes the
// anti-spam mail only; the anti-hack phrases follow the wording of its
// other languages and the structure of the mail carries the rest.
var ovhItalian = ovhLang{
	code:     "it",
	vpsAlert: []string{"attività anomala", "attivita anomala", "attività anormale"},
	rescue: []string{
		"in modalità rescue", "in modalita rescue", "minaccia troppo grande", "minaccia troppo grave",
	},
	blocked:    []string{"bloccat", "sospes"},
	lifted:     []string{"stato sbloccat", "stata sbloccat", "abbiamo sbloccato", "stato rimosso", "stato revocat", "non è più bloccat"},
	antispam:   []string{"protezione antispam", "protezione anti-spam", "invio importante di spam"},
	complaint:  []string{"una segnalazione", "un reclamo"},
	invoice:    []string{"fattura"},
	newsletter: []string{"annullare l'iscrizione", "disiscriviti"},
	wrappers: []string{
		"inizio delle informazioni aggiuntive", "fine delle informazioni aggiuntive",
		"inizio informazioni aggiuntive", "fine informazioni aggiuntive",
	},
	messageID:      []string{"Message-ID", "ID messaggio"},
	reporterLabels: []string{"segnalante", "reclamante", "segnalato da", "fonte della segnalazione", "origine della segnalazione"},
	attackWords: []attackWord{
		{"non richiest", AttackSpam}, {"non sollecitat", AttackSpam},
		{"diritto d'autore", AttackCopyright},
		{"forza bruta", AttackBruteforce},
	},
}
