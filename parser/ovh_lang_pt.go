package parser

// ovhPortuguese is OVH's Portuguese (pt-pt). Its sample lines write
// "Mensagem-ID:".
var ovhPortuguese = ovhLang{
	code:     "pt",
	vpsAlert: []string{"atividade anómala", "atividade anomala", "atividade anormal"},
	rescue: []string{
		"colocado em modo rescue", "posto em modo rescue", "ameaça demasiado grande", "ameaca demasiado grande",
	},
	blocked:    []string{"bloquead", "suspens"},
	lifted:     []string{"foi desbloquead", "desbloqueamos", "foi levantad", "já não está bloquead"},
	antispam:   []string{"proteção antispam", "protecao antispam", "proteção anti-spam", "envio importante de spam"},
	complaint:  []string{"uma queixa", "uma denúncia"},
	invoice:    []string{"fatura"},
	newsletter: []string{"cancelar a subscrição"},
	wrappers: []string{
		"início das informações adicionais", "fim das informações adicionais",
		"inicio das informacoes adicionais", "fim das informacoes adicionais",
	},
	messageID:      []string{"Mensagem-ID", "Message-ID"},
	reporterLabels: []string{"reclamante", "denunciante", "reportado por", "fonte da denúncia", "fonte da denuncia", "origem da denúncia"},
	attackWords: []attackWord{
		{"não solicitad", AttackSpam}, {"nao solicitad", AttackSpam},
		{"direitos de autor", AttackCopyright},
		{"força bruta", AttackBruteforce},
	},
}
