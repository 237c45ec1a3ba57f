package parser

import (
	"testing"
	"time"
)

// TestReadDeadline: the deadlines providers state, in their languages and
// date forms; a time without a zone is not guessed.
func TestReadDeadline(t *testing.T) {
	date := time.Date(2024, 6, 10, 10, 5, 0, 0, time.FixedZone("", 2*3600))
	tests := []struct {
		name string
		body string
		date time.Time
		want string
	}{
		{"scan report", "your server can be blocked at any time after the 2018-08-07 13:31:04 +0200.", date, "2018-08-07T13:31:04+02:00"},
		{"wrapped and quoted", "> your server can be blocked at any time after the\n> 2018-08-07 13:31:04 +0200", date, "2018-08-07T13:31:04+02:00"},
		{"not resolved", "In the event that it is not successfully resolved by 2024-04-13 15:00:00 +0200, your server can be blocked.", date, "2024-04-13T15:00:00+02:00"},
		{"utc", "can be blocked at any time after 2024-04-13 15:00:00 UTC", date, "2024-04-13T15:00:00Z"},
		{"no zone is not guessed", "can be blocked at any time after 2024-04-13 15:00:00", time.Time{}, ""},
		{"within hours", "please send a statement within 24 hours", date, "2024-06-11T10:05:00+02:00"},
		{"within the deadline first", "not received information within the deadline; answer within 48 hours", date, "2024-06-12T10:05:00+02:00"},
		{"within hours without a date", "within 24 hours", time.Time{}, ""},
		{"German date and offset", "kann Ihr Server jederzeit nach dem 05.03.2025 12:11:00 +0100 gesperrt werden", date, "2025-03-05T12:11:00+01:00"},
		{"French, Paris time in winter", "supprimer ce contenu avant le 14/03/2025 à 18:00 (heure de Paris).", date, "2025-03-14T18:00:00+01:00"},
		{"French, Paris time in summer", "avant le 14/07/2025 à 18:00 (heure de Paris)", date, "2025-07-14T18:00:00+02:00"},
		{"German, Uhr MESZ", "bis zum 20.08.2025, 09:00 Uhr MESZ", date, "2025-08-20T09:00:00+02:00"},
		{"English, ISO with zone name", "remove the content before 2025-03-14 18:00 CET", date, "2025-03-14T18:00:00+01:00"},
		{"Eastern time", "no later than 2025-03-14 18:00 EST", date, "2025-03-14T18:00:00-05:00"},
		{"last Sunday of March, before the change", "avant le 30/03/2025 à 01:30 (heure de Paris)", date, "2025-03-30T01:30:00+01:00"},
		{"last Sunday of October, after the change", "avant le 26/10/2025 à 03:00 (heure de Paris)", date, "2025-10-26T03:00:00+01:00"},
		{"French, within hours", "merci de nous répondre sous 72 heures", date, "2024-06-13T10:05:00+02:00"},
		{"German, within hours", "innerhalb von 24 Stunden", date, "2024-06-11T10:05:00+02:00"},
		{"French, one hour in words", "supprimer ce contenu dans un délai d'une heure", date, "2024-06-10T11:05:00+02:00"},
		{"English, one hour in words", "take it down within one hour", date, "2024-06-10T11:05:00+02:00"},
		{"Italian, elided one", "rimuovere il contenuto entro un'ora", date, "2024-06-10T11:05:00+02:00"},
		{"Spanish, days", "en un plazo de 5 días a partir de la recepción", date, "2024-06-15T10:05:00+02:00"},
		{"German, days", "innerhalb von 3 Tagen", date, "2024-06-13T10:05:00+02:00"},
		{"more than two weeks is no deadline", "within 30 days", date, ""},
		{"a few is no number", "within a few hours", date, ""},
		{"French 12h00", "sans retour avant le 16/01/2027 à 12h00 (heure de Paris)", date, "2027-01-16T12:00:00+01:00"},
		{"German, bis spätestens", "bis spätestens 2026-06-12 14:00 +02:00", date, "2026-06-12T14:00:00+02:00"},
		{"a lead word before a log row is no deadline", "sent by 2025-03-05 08:11:00 116.203.41.9", date, ""},
		{"impossible date", "before 2025-02-30 18:00 CET", date, ""},
		{"French date without zone", "avant le 14/03/2025 à 18:00.", date, ""},
		{"none", "thank you", date, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := readDeadline(flatten(tt.body), tt.date); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}
