package statement

var french = table{
	Greeting:     "Bonjour,",
	Regarding:    "voici notre réponse à votre signalement %s du %s concernant %s.",
	Reported:     "Vous avez signalé un trafic de type %s.",
	Rate:         "Débit mesuré : %s.",
	Events:       "Votre journal compte %d lignes, du %s au %s.",
	FoundHead:    "Ce que nous avons trouvé :",
	Suspect:      "- la cause probable : %s %s sur l'hôte %s%s",
	Finding:      "- %s",
	EvidenceLine: "- preuve %q de %s, relevée le %s, sha256 %s",
	NothingFound: "- notre enquête est en cours ; elle n'a pas encore identifié la cause.",
	DoneHead:     "Ce que nous avons fait (heures UTC) :",
	Action:       "- %s : %s",
	Inspected:    "nous avons inspecté le serveur",
	Lifted:       "le blocage de l'hébergeur a été levé",
	UnblockAsked: "nous avons demandé à l'hébergeur de lever le blocage",
	Window:       "une fenêtre d'accès limitée pour nos administrateurs, jusqu'au %s",
	PreventHead:  "Ce qui empêche une récidive :",
	Prevent: map[string]string{
		"images":  "- les images sont à jour et les conteneurs se mettent à jour automatiquement",
		"ssh":     "- SSH n'accepte que des clés, et les comptes sont restreints",
		"audit":   "- un audit de sécurité du serveur a été effectué (Lynis)",
		"backups": "- des sauvegardes du serveur sont en place",
	},
	Closing: "Cordialement,",
	Kinds: map[string]string{
		"process": "le processus", "container": "le conteneur", "vm": "la machine virtuelle",
		"account": "le compte", "ssh_key": "la clé SSH",
	},
}
