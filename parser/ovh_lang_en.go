package parser

// ovhEnglish is OVH's English (every en-* locale writes the same text).
var ovhEnglish = ovhLang{
	code:       "en",
	vpsAlert:   []string{"abnormal activity"},
	vpsBlocked: []string{"your vps server has been blocked", "actions not permitted by rules"},
	rescue: []string{
		"placed in rescue mode", "been placed in rescue", "put in rescue mode",
		"too great a threat", "great a threat to our network",
	},
	blocked:    []string{"blocked", "suspended"},
	lifted:     []string{"has been unblocked", "have unblocked", "is unblocked", "is no longer blocked", "been lifted", "has been lifted", "have lifted", "has been reactivated", "is unblocked again", "ip unblocked"},
	antispam:   []string{"anti-spam protection layer", "antispam protection layer", "anti-spam protection has detected"},
	complaint:  []string{"you are hosting", "received a complaint", "we have been notified", "has been reported to us"},
	invoice:    []string{"invoice"},
	newsletter: []string{"newsletter", "unsubscribe"},
	wrappers: []string{
		"start of additional information", "end of additional information", "logs start", "logs end",
	},
	messageID:      []string{"Message-ID"},
	reporterLabels: []string{"complainant", "reporter", "reported by", "complaint from", "report source", "source of the report", "source of report"},
	attackWords: []attackWord{
		{"phishing", AttackPhishing},
		{"malware", AttackMalware}, {"malicious software", AttackMalware},
		{"copyright infringement", AttackCopyright}, {"dmca", AttackCopyright},
		{"infring", AttackCopyright}, {"copyright holder", AttackCopyright}, {"copyright owner", AttackCopyright},
		{"spamvertis", AttackSpamvertised},
		{"spam", AttackSpam}, {"unsolicited", AttackSpam},
		{"blacklist", AttackBlacklist}, {"blocklist", AttackBlacklist},
		{"brute force", AttackBruteforce}, {"login failure", AttackBruteforce}, {"failed login", AttackBruteforce}, {"brute-force", AttackBruteforce}, {"bruteforce", AttackBruteforce},
		{"port scan", AttackPortscan}, {"portscan", AttackPortscan},
		{"scan", AttackNetscan},
	},
}
