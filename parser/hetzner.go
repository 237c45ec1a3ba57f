package parser

// matchHetzner reports whether m is a Hetzner notice. Placeholder until the format lands.
func matchHetzner(m *mail) bool { return false }

// parseHetzner returns the notices of a Hetzner mail.
func parseHetzner(m *mail) ([]Notice, string) { return nil, "not implemented" }
