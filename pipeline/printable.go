package pipeline

import "github.com/abusewatch/abusewatch/internal/safetext"

// Printable makes text from mail (subjects, case ids, parse reasons, errors
// quoting them) safe for a terminal: control characters are made visible,
// so that no escape sequence clears the screen, sets the window title or
// rings the bell, and the text is cut to at most limit characters (0: no
// cap), so that a 5,000-character id does not wreck a table. Chat messages
// get the same treatment, and more, from notify.
func Printable(s string, limit int) string { return safetext.Shorten(safetext.Visible(s), limit) }
