package parser

// ovhFrench is OVH's French (fr-fr, fr-ca). Phrases are cut around accented
// letters where they can be, for mail whose charset was mangled.
var ovhFrench = ovhLang{
	code:     "fr",
	vpsAlert: []string{"anormale"},
	rescue: []string{
		"placé en mode rescue", "placée en mode rescue", "plac? en mode rescue", "placã© en mode rescue",
		"mis en mode rescue", "menace trop importante", "une menace trop",
	},
	blocked:    []string{"bloqu", "suspendu"},
	lifted:     []string{"avons débloqu", "avons debloqu", "été débloqu", "ete debloqu", "est débloqu", "est debloqu", "été levé", "ete leve", "avons levé", "avons leve", "est plus bloqu"},
	antispam:   []string{"protection antispam", "protection anti-spam", "un envoi important de spam"},
	complaint:  []string{"bergez une page", "bergez du contenu", "une plainte", "un signalement"},
	invoice:    []string{"facture"},
	newsletter: []string{"sabonner", "sinscri", "se désinscrire", "désabonner"},
	wrappers: []string{
		"début des informations complémentaires", "fin des informations complémentaires",
		"debut des informations complementaires", "fin des informations complementaires",
	},
	messageID:      []string{"Message-ID"},
	reporterLabels: []string{"plaignant", "signalé par", "signale par", "plainte de", "source du signalement", "origine du signalement", "auteur du signalement"},
	attackWords: []attackWord{
		{"non sollicit", AttackSpam},
		{"hameçonnage", AttackPhishing}, {"hameconnage", AttackPhishing},
		{"logiciel malveillant", AttackMalware}, {"logiciels malveillants", AttackMalware},
		{"droit d'auteur", AttackCopyright}, {"droits d'auteur", AttackCopyright}, {"droits d’auteur", AttackCopyright},
		{"liste noire", AttackBlacklist},
		{"force brute", AttackBruteforce},
		{"scan de port", AttackPortscan},
	},
}
