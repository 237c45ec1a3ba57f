package parser

// ovhSpanish is OVH's Spanish (es-es, es-us).
var ovhSpanish = ovhLang{
	code:     "es",
	vpsAlert: []string{"actividad anómala", "actividad anomala", "actividad anormal"},
	rescue: []string{
		"colocado en modo rescue", "puesto en modo rescue", "amenaza demasiado grave", "amenaza demasiado",
	},
	blocked:    []string{"bloquead", "suspendid"},
	lifted:     []string{"sido desbloquead", "hemos desbloqueado", "sido levantad", "hemos levantado", "ya no está bloquead"},
	antispam:   []string{"protección antispam", "proteccion antispam", "envío de spam", "envio de spam"},
	complaint:  []string{"usted aloja", "una queja", "una denuncia"},
	invoice:    []string{"factura"},
	newsletter: []string{"darse de baja", "cancelar la suscripción"},
	wrappers: []string{
		"inicio de la información adicional", "fin de la información adicional",
		"inicio de la informacion adicional", "fin de la informacion adicional",
	},
	messageID:      []string{"Message-ID", "ID del mensaje"},
	reporterLabels: []string{"denunciante", "reclamante", "reportado por", "notificante", "fuente de la denuncia", "fuente del reporte", "origen de la denuncia"},
	attackWords: []attackWord{
		{"no solicitad", AttackSpam},
		{"suplantación de identidad", AttackPhishing},
		{"software malicioso", AttackMalware},
		{"derechos de autor", AttackCopyright},
		{"lista negra", AttackBlacklist},
		{"fuerza bruta", AttackBruteforce},
	},
}
