package parser

// deadlineLeads are followed by the time a deadline ends, in every language
// a provider writes to its customers in (lower case, as flatten makes). A
// lead counts only when a date with a time and a zone follows it
// (readWhen), so a lead that is also a common word costs nothing.
var deadlineLeads = []string{
	// English
	"can be blocked at any time after ", "can be locked at any time after ", "not successfully resolved by ",
	"no later than ", "at the latest by ", "before ", "by ", "until ", "deadline: ", "deadline ",
	// French
	"avant le ", "au plus tard le ", "d'ici le ", "jusqu'au ",
	// German
	"jederzeit nach dem ", "spätestens am ", "spätestens bis ", "bis spätestens ", "spätestens ", "bis zum ", "bis ", "frist: ",
	// Spanish, Italian, Polish, Portuguese
	"antes del ", "a más tardar el ", "entro il ", "entro e non oltre il ", "do dnia ", "najpóźniej do ", "até ao ", "até ",
}

// deadlineWithin opens a relative deadline, "within 24 hours": the mail's
// date plus the hours. The unit words follow the number.
var deadlineWithin = []string{"within ", "sous ", "dans un délai de ", "dans un délai d'", "dans un délai d’", "innerhalb von ",
	"innerhalb ", "entro ", "en un plazo de ", "w ciągu ", "no prazo de "}

// deadlineHourWords and deadlineDayWords are the units of deadlineWithin.
var (
	deadlineHourWords = []string{"hour", "heure", "stunde", "ora", "ore", "hora", "godzin"}
	deadlineDayWords  = []string{"day", "jour", "tag", "día", "dia", "giorn", "dni", "dzień"}
)

// deadlineOne is the number one in words, as a deadline writes it: "within
// one hour", "d'une heure", "innerhalb einer Stunde", "un'ora".
var deadlineOne = []string{"one", "an", "a", "une", "un", "einer", "eines", "una", "uno", "um", "uma", "jednej", "jednego"}

// deadlineConnectors stand between a date and its time: "14/03/2025 à 18:00".
var deadlineConnectors = []string{"à", "a", "at", "um", "alle", "ore", "o", "godz.", "às", "a las", "-", ","}

// deadlineCentralEurope name the time of Paris and Berlin, where OVHcloud
// and Hetzner write from: "(heure de Paris)", "MEZ", "Uhr MESZ".
var deadlineCentralEurope = []string{"paris", "berlin", "mez", "mesz", "heure française", "heure de france", "central european"}
