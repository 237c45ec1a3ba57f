package parser

// matchXARF reports whether m is a XARF notice. Placeholder until the format lands.
func matchXARF(m *mail) bool { return false }

// parseXARF returns the notices of a XARF mail.
func parseXARF(m *mail) ([]Notice, string) { return nil, "not implemented" }
