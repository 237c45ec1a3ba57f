package parser

// Hetzner writes in English, and in German to German accounts. What its
// mails say is data here, in flattened lower case (flatten); the subject's
// AbuseID and category, the logs and the forwarded reports are read by
// hetzner.go whatever the language.

// hetznerLockPhrases make a mail a lock notice: "we unfortunately had to
// block the IP address(es) below", "We have blocked the following IP
// address(es)/product(s):".
var hetznerLockPhrases = []string{
	"had to block the ip address", "we have blocked the following", "we have locked the following",
	"had to lock the ip address",
	"folgende ip-adresse", "folgenden ip-adresse", "mussten wir die ip-adresse", "haben wir die folgende",
}

// hetznerLockListPhrases open the "- A.B.C.D" list of a lock (a line, lower case).
var hetznerLockListPhrases = []string{
	"blocked the following", "locked the following", "folgende ip-adresse", "folgenden ip-adresse", "folgende produkte",
}

// hetznerStatusPhrases make a mail a follow-up on a case: a statement
// taken, a deadline missed, a lock lifted.
var hetznerStatusPhrases = []string{
	"a statement has been successfully entered",
	"not received requested information from you within the deadline",
	"not successfully resolved by",
	"stellungnahme wurde erfolgreich", "erfolgreich eine stellungnahme", "stellungnahme eingetragen",
	"innerhalb der frist keine", "gesetzten frist keine", "frist keine stellungnahme",
	"no statement within the deadline", "not received a statement",
	// An unlock ends the lock: news on the case, not a new block.
	"have unlocked the ip", "has been unlocked", "removed the lock", "lifted the lock", "lock has been removed", "lock was removed", "lock was lifted",
	"sperre entfernt", "sperre wurde entfernt", "have been unlocked", "lock has been lifted", "block has been lifted",
	"wieder entsperrt", "wurde entsperrt", "wurden entsperrt", "sperre wurde aufgehoben", "sperre aufgehoben",
	"sperrung aufgehoben", "sperrung wurde aufgehoben", "wieder freigeschaltet", "wurde freigeschaltet",
	"ist ab sofort wieder erreichbar", "ist wieder erreichbar", "is reachable again", "is accessible again",
}

// conditionWords open a condition in Hetzner's two languages: a status
// phrase in a conditional sentence is a warning, not news.
var conditionWords = []string{"if", "should", "unless", "otherwise", "sollten", "sollte", "falls", "wenn", "sofern",
	"andernfalls", "ansonsten"}

// hetznerGenericTopics are topics of Hetzner's own template, the same for
// every kind of report: "information regarding spam and/or abuse from …",
// "Informationen bezüglich Spam und/oder Abuse von …".
var hetznerGenericTopics = []string{"spam and/or abuse", "abuse", "spam or abuse", "abuse and/or spam",
	"spam und/oder abuse", "spam oder abuse", "abuse und/oder spam", "spam und/oder missbrauch"}

// reporterLead opens the sentence that names who complained. A lead with
// a from word has the topic between the two: "information regarding
// phishing from soc@…"; one without is followed by the reporter at once.
type reporterLead struct {
	lead, from string
}

// hetznerReporterLeads: "We have received a notification regarding
// phishing from soc@…", "… information regarding spam and/or abuse from
// abuse-out@…", "… a notification from the German Federal Office for
// Information Security (BSI) for …", and Hetzner's German template "wir haben
// Informationen bezüglich Spam und/oder Abuse von … erhalten", "eine
// Benachrichtigung vom Bundesamt für Sicherheit … (BSI) für …".
var hetznerReporterLeads = []reporterLead{
	{"notification regarding ", " from "}, {"information regarding ", " from "},
	{"notification from ", ""}, {"a report from ", ""}, {"complaint from ", ""},
	{"informationen bezüglich ", " von "}, {"benachrichtigung bezüglich ", " von "}, {"hinweis bezüglich ", " von "},
	{"meldung bezüglich ", " von "}, {"sent to us by ", ""}, {"reported to us by ", ""},
	{"benachrichtigung vom ", ""}, {"benachrichtigung von ", ""}, {"beschwerde von ", ""}, {"beschwerde vom ", ""},
}

// Signals of hetznerPhrases.
const (
	sigHzLock signal = iota
	sigHzStatus
	sigHzLead
)

// hetznerPhrases finds the lock, follow-up and reporter phrases in one pass.
var hetznerPhrases = func() *phraseSet {
	var phrases []phrase
	for _, g := range []struct {
		list []string
		sig  signal
	}{{hetznerLockPhrases, sigHzLock}, {hetznerStatusPhrases, sigHzStatus}} {
		for _, p := range g.list {
			phrases = append(phrases, phrase{p, g.sig, -1})
		}
	}
	for _, l := range hetznerReporterLeads {
		phrases = append(phrases, phrase{l.lead, sigHzLead, -1})
	}
	return newPhraseSet(phrases)
}()
