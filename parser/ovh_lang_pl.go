package parser

// ovhPolish is OVH's Polish (pl-pl). Its sample lines write "Wiadomość-ID:"
// and "Spam score 300" without a colon.
var ovhPolish = ovhLang{
	code:     "pl",
	vpsAlert: []string{"nieprawidłową aktywność", "nieprawidlowa aktywnosc", "nietypową aktywność"},
	rescue: []string{
		"przełączony w tryb rescue", "przelaczony w tryb rescue", "w tryb rescue", "zbyt duże zagrożenie", "zbyt duze zagrozenie",
	},
	blocked: []string{"zablokowan", "zawieszon"},
	// Past forms only: "odblokowanie" (the unblocking, a noun) is how a
	// block notice says what to do next, and "zostanie" is future.
	lifted: []string{
		"został odblokowan", "została odblokowan", "zostało odblokowan", "zostały odblokowan", "jest już odblokowan",
		"odblokowaliśmy", "odblokowalismy", "zdjęliśmy blokad", "została zniesiona", "zostało zniesione", "zniesiono blokad",
	},
	antispam:   []string{"ochrona anty-spamowa", "ochrona antyspamowa", "wysyłkę spamu", "wysylke spamu"},
	complaint:  []string{"skarg", "zgłoszenie naruszenia"},
	invoice:    []string{"faktura"},
	newsletter: []string{"wypisz się", "rezygnacja z subskrypcji"},
	wrappers: []string{
		"początek dodatkowych informacji", "koniec dodatkowych informacji",
		"poczatek dodatkowych informacji",
	},
	messageID:      []string{"Wiadomość-ID", "Wiadomosc-ID", "Message-ID"},
	reporterLabels: []string{"zgłaszający", "zglaszajacy", "zgłoszone przez", "źródło zgłoszenia", "zrodlo zgloszenia"},
	attackWords: []attackWord{
		{"niechcian", AttackSpam},
		{"złośliwe oprogramowanie", AttackMalware},
		{"prawa autorskie", AttackCopyright},
	},
}
