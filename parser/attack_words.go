package parser

// attackWords map words of a complaint, a report type or a subject to the
// vocabulary. They are matched against the text lowered and with spaces,
// dashes and underscores removed ("Exploitable NTP server" is
// "exploitablentpserver"), in order: the first that occurs wins, so the more
// specific words come first. A complaint that names a reflection service
// reports the amplification attack it serves; an open service named without
// an attack stays open_service.
var attackWords = []attackWord{
	{"phish", AttackPhishing},
	// Reflection services: the amplification they are abused for.
	{"monlist", AttackNTPAmp},
	{"exploitablentp", AttackNTPAmp},
	{"ntpserver", AttackNTPAmp},
	{"openntp", AttackNTPAmp},
	{"ntpamplif", AttackNTPAmp},
	{"ntpreflect", AttackNTPAmp},
	{"ntpddos", AttackNTPAmp},
	{"openresolver", AttackDNSAmp},
	{"opendnsresolver", AttackDNSAmp},
	{"opendns", AttackDNSAmp},
	{"dnsresolver", AttackDNSAmp},
	{"openrecursive", AttackDNSAmp},
	{"recursivedns", AttackDNSAmp},
	{"dnsamplif", AttackDNSAmp},
	{"dnsreflect", AttackDNSAmp},
	{"memcache", AttackMemcachedAmp},
	{"ssdp", AttackSSDPAmp},
	{"upnp", AttackSSDPAmp},
	{"spamvertis", AttackSpamvertised},
	{"spamtrap", AttackSpam},
	{"spam", AttackSpam},
	{"fbl", AttackSpam}, // a mail provider's feedback loop
	{"malware", AttackMalware},
	{"virus", AttackMalware},
	{"botnet", AttackMalware},
	{"trojan", AttackMalware},
	{"infected", AttackMalware},
	{"copyright", AttackCopyright},
	{"dmca", AttackCopyright},
	{"infring", AttackCopyright},
	// Open services reported without an attack.
	{"redis", AttackOpenService},
	{"elasticsearch", AttackOpenService},
	{"mongodb", AttackOpenService},
	{"openservice", AttackOpenService},
	{"exploitable", AttackOpenService},
	{"vulnerab", AttackOpenService},
	{"login", AttackBruteforce},
	{"brute", AttackBruteforce},
	{"sshattack", AttackBruteforce},
	{"portscan", AttackPortscan},
	{"netscan", AttackNetscan},
	{"netzwerkscan", AttackNetscan}, // German: "Netzwerk-Scan"
	{"networkscan", AttackNetscan},
	{"blacklist", AttackBlacklist},
	{"blocklist", AttackBlacklist},
}

// attackWordSet finds the words in one pass: each word's signal is its
// place in the list, so the first set bit is the word that wins.
var attackWordSet = func() *phraseSet {
	if len(attackWords) > 64 {
		panic("parser: more attack words than a signal mask holds")
	}
	phrases := make([]phrase, len(attackWords))
	for i, w := range attackWords {
		phrases[i] = phrase{w.word, signal(i), -1}
	}
	return newPhraseSet(phrases)
}()
