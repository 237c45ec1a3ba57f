package statement

var english = table{
	Greeting:     "Hello,",
	Regarding:    "this is our statement on your report %s of %s about %s.",
	Reported:     "You reported %s traffic.",
	Rate:         "Measured rate: %s.",
	Events:       "Your log holds %d lines, from %s to %s.",
	FoundHead:    "What we found:",
	Suspect:      "- the likely cause: %s %s on host %s%s",
	Finding:      "- %s",
	EvidenceLine: "- evidence %q from %s, taken %s, sha256 %s",
	NothingFound: "- our investigation is ongoing; it has not identified the cause yet.",
	DoneHead:     "What we did (times in UTC):",
	Action:       "- %s: %s",
	Inspected:    "we inspected the server",
	Lifted:       "the provider's block was lifted",
	UnblockAsked: "we asked the provider to lift the block",
	Window:       "a time-boxed access window for our administrators, until %s",
	PreventHead:  "What prevents a repeat:",
	Prevent: map[string]string{
		"images":  "- images are updated and containers update automatically",
		"ssh":     "- SSH accepts keys only, and accounts are restricted",
		"audit":   "- a security audit of the server was run (Lynis)",
		"backups": "- backups of the server are in place",
	},
	Closing: "Kind regards,",
	Kinds: map[string]string{
		"process": "process", "container": "container", "vm": "virtual machine",
		"account": "account", "ssh_key": "SSH key",
	},
}
