package parser

// ovhGerman is OVH's German (de-de), from the anti-hack ticket and the
// anti-spam mail its documentation quotes.
var ovhGerman = ovhLang{
	code:     "de",
	vpsAlert: []string{"ungewöhnliche aktivität", "ungewoehnliche aktivitaet", "auffällige aktivität", "anormale aktivität"},
	rescue: []string{
		"rescue-modus versetzt", "rescue modus versetzt", "in den rescue-modus", "zu große bedrohung", "zu grosse bedrohung",
	},
	blocked:    []string{"gesperrt", "blockiert"},
	lifted:     []string{"wurde entsperrt", "ist entsperrt", "haben entsperrt", "wurde aufgehoben", "haben aufgehoben", "wieder freigegeben", "nicht mehr gesperrt"},
	antispam:   []string{"antispam-schutz", "anti-spam-schutz", "spam-versand"},
	complaint:  []string{"beschwerde", "sie hosten"},
	invoice:    []string{"rechnung"},
	newsletter: []string{"abmelden", "abbestellen"},
	wrappers: []string{
		"beginn der zusätzlichen informationen", "ende der zusätzlichen informationen",
		"beginn der zusaetzlichen informationen", "ende der zusaetzlichen informationen",
	},
	messageID:      []string{"Message-ID", "Nachrichten-ID"},
	reporterLabels: []string{"beschwerdeführer", "beschwerdefuehrer", "gemeldet von", "melder", "quelle der meldung", "quelle der beschwerde", "hinweisgeber"},
	attackWords: []attackWord{
		{"unerwünschte e-mail", AttackSpam}, {"unverlangt", AttackSpam},
		{"schadsoftware", AttackMalware},
		{"urheberrecht", AttackCopyright},
	},
}
