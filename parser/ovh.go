package parser

// matchOVH reports whether m is a OVH notice. Placeholder until the format lands.
func matchOVH(m *mail) bool { return false }

// parseOVH returns the notices of a OVH mail.
func parseOVH(m *mail) ([]Notice, string) { return nil, "not implemented" }
