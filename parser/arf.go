package parser

// matchARF reports whether m is a ARF notice. Placeholder until the format lands.
func matchARF(m *mail) bool { return false }

// parseARF returns the notices of a ARF mail.
func parseARF(m *mail) ([]Notice, string) { return nil, "not implemented" }
