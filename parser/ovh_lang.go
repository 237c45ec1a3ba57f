package parser

import "slices"

// OVH writes to a customer in the account's language. What each language
// says is data: one ovhLang table per file (ovh_lang_XX.go), all compiled
// into one phraseSet that reads a mail in one pass. The structure of the
// mail (sender, log table, wrapper lines, service names, sample lines)
// does not depend on the language and is read by ovh.go; the phrases only
// tell the kinds apart, so a language no table knows still gives a notice.
//
// Phrases are in the lower case flatten makes: ASCII letters lowered,
// runs of white space as one space. Accented capitals are not lowered by
// flatten, so phrases avoid them; French ones are also cut around accented
// letters so that a mail whose charset was mangled still reads.

// ovhLang is the phrases of one language.
type ovhLang struct {
	code string // ISO 639-1, for --explain
	// vpsAlert: "abnormal activity has been detected on your VPS".
	vpsAlert []string
	// vpsBlocked: the older "your vps server has been blocked".
	vpsBlocked []string
	// rescue: a VPS "placed in rescue mode", a dedicated server "presenting
	// too great a threat" (put in rescue FTP).
	rescue []string
	// blocked: the words of a measure taken ("blocked", "suspended"): with
	// an alert or the anti-spam layer, the mail is a block.
	blocked []string
	// lifted: a measure taken back ("has been unblocked", "the block has
	// been lifted"), past tense only: a block notice says how to unblock.
	// It beats blocked, whose words it contains.
	lifted []string
	// antispam: "our anti-spam protection layer has detected".
	antispam []string
	// complaint: an abuse ticket forwarding a third party's complaint.
	complaint []string
	// invoice and newsletter: mail from OVH that is no abuse notice.
	invoice, newsletter []string
	// wrappers: the "- START OF ADDITIONAL INFORMATION -" lines, lower case
	// (strings.ToLower, accents and all), without the dashes.
	wrappers []string
	// messageID: the label of the Message-ID in anti-spam sample lines.
	messageID []string
	// reporterLabels: the label of the line of an abuse ticket that names
	// who complained ("Complainant: Name <address>"), lower case.
	reporterLabels []string
	// attackWords: words of a complaint that name the attack.
	attackWords []attackWord
}

// attackWord is a word of a complaint and the attack it names.
type attackWord struct {
	word   string
	attack Attack
}

// ovhLangs are the languages read; the order is the order of --explain.
var ovhLangs = []*ovhLang{&ovhEnglish, &ovhFrench, &ovhGerman, &ovhSpanish, &ovhItalian, &ovhPolish, &ovhPortuguese}

// The signals that OVH phrases give.
const (
	sigVPSAlert signal = iota
	sigVPSBlocked
	sigRescue
	sigBlocked
	sigAntispam
	sigComplaint
	sigInvoice
	sigNewsletter
	sigSamples // "destination ip": the anti-spam sample lines, in every language
	sigRescueFTP
	sigAttackDetail
	sigLifted
)

// ovhKindSignals are the signals that decide a kind by themselves.
const ovhKindSignals = signalMask(1<<sigVPSAlert | 1<<sigVPSBlocked | 1<<sigRescue | 1<<sigAntispam | 1<<sigComplaint | 1<<sigRescueFTP | 1<<sigLifted)

// maxPhraseLen bounds the phrases of the tables: a scan resumed that far
// back finds a phrase cut by the end of the first part.
const maxPhraseLen = 64

// ovhSignalNames name the signals for --explain.
var ovhSignalNames = [...]string{
	sigVPSAlert: "VPS alert", sigVPSBlocked: "VPS blocked", sigRescue: "rescue", sigBlocked: "measure taken",
	sigAntispam: "anti-spam layer", sigComplaint: "complaint", sigInvoice: "invoice", sigNewsletter: "newsletter",
	sigSamples: "anti-spam sample lines", sigRescueFTP: "rescue FTP", sigAttackDetail: "attack detail", sigLifted: "measure lifted",
}

// ovhStructure are language-independent phrases: OVH's own labels, which
// its mails keep in English whatever the language.
var ovhStructure = []phrase{
	{"destination ip", sigSamples, -1},
	{"rescue ftp", sigRescueFTP, -1},
	{"rescue-ftp", sigRescueFTP, -1},
	{"ftp rescue", sigRescueFTP, -1},
	{"attack detail", sigAttackDetail, -1},
}

// ovhPhrases is every table compiled.
var ovhPhrases = compileOVHLangs()

func compileOVHLangs() *phraseSet {
	phrases := append([]phrase(nil), ovhStructure...)
	for i, l := range ovhLangs {
		for _, group := range []struct {
			list []string
			sig  signal
		}{
			{l.vpsAlert, sigVPSAlert}, {l.vpsBlocked, sigVPSBlocked}, {l.rescue, sigRescue},
			{l.blocked, sigBlocked}, {l.lifted, sigLifted}, {l.antispam, sigAntispam}, {l.complaint, sigComplaint},
			{l.invoice, sigInvoice}, {l.newsletter, sigNewsletter},
		} {
			for _, p := range group.list {
				if len(p) > maxPhraseLen {
					panic("parser: OVH phrase longer than maxPhraseLen: " + p)
				}
				phrases = append(phrases, phrase{p, group.sig, i})
			}
		}
	}
	return newPhraseSet(phrases)
}

// ovhLangNames lists the languages of a scan's mask, for --explain.
func ovhLangNames(mask uint64) string {
	s := ""
	for i, l := range ovhLangs {
		if mask&(1<<uint(i)) != 0 {
			if s != "" {
				s += ","
			}
			s += l.code
		}
	}
	return s
}

// ovhSignalList names the signals of a mask, for --explain.
func ovhSignalList(m signalMask) string {
	s := ""
	for i, name := range ovhSignalNames {
		if m.has(signal(i)) {
			if s != "" {
				s += ", "
			}
			s += name
		}
	}
	return s
}

// ovhMessageIDLabels are the sample-line labels of every language.
var ovhMessageIDLabels = func() []string {
	var out []string
	for _, l := range ovhLangs {
		for _, label := range l.messageID {
			if !slices.Contains(out, label) {
				out = append(out, label)
			}
		}
	}
	return out
}()

// ovhReporterLabels are the reporter labels of every language.
var ovhReporterLabels = func() []string {
	var out []string
	for _, l := range ovhLangs {
		out = append(out, l.reporterLabels...)
	}
	return out
}()

// ovhWrapperNames are the wrapper lines of every language, lower case.
var ovhWrapperNames = func() []string {
	var out []string
	for _, l := range ovhLangs {
		out = append(out, l.wrappers...)
	}
	return out
}()

// ovhAttackOrder is the order in which complaint words are tried: the first
// attack with a word in the mail wins, so that a phishing complaint that
// mentions the spam it came with stays phishing.
var ovhAttackOrder = []Attack{
	AttackPhishing, AttackMalware, AttackCopyright, AttackSpamvertised, AttackSpam,
	AttackBlacklist, AttackBruteforce, AttackPortscan, AttackNetscan,
}

// ovhAttackWordSet finds the complaint words of every language in one
// pass; a word's signal is the place of its attack in ovhAttackOrder.
var ovhAttackWordSet = func() *phraseSet {
	var phrases []phrase
	for _, l := range ovhLangs {
		for _, w := range l.attackWords {
			if i := slices.Index(ovhAttackOrder, w.attack); i >= 0 {
				phrases = append(phrases, phrase{w.word, signal(i), -1})
			}
		}
	}
	return newPhraseSet(phrases)
}()
