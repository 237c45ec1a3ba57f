package parser

// logZones are the zone names an OVH log row may carry, with their RFC 3339
// offsets: OVHcloud's data centres and support desks are in Europe, North
// America and Asia-Pacific, and each writes its rows in its own time. A
// name that means two zones (IST, CST in Asia) is left out rather than
// guessed: its rows are dropped, not misdated. Numeric offsets ("+0100",
// "-05:00") are read in logOffset.
var logZones = map[string]string{
	"UTC": "Z", "GMT": "Z", "Z": "Z", "UT": "Z",
	"WET": "Z", "WEST": "+01:00", "BST": "+01:00",
	"CET": "+01:00", "CEST": "+02:00", "MET": "+01:00", "MEST": "+02:00",
	"EET": "+02:00", "EEST": "+03:00",
	"NST": "-03:30", "NDT": "-02:30",
	"AST": "-04:00", "ADT": "-03:00",
	"EST": "-05:00", "EDT": "-04:00",
	"CST": "-06:00", "CDT": "-05:00",
	"MST": "-07:00", "MDT": "-06:00",
	"PST": "-08:00", "PDT": "-07:00",
	"SGT": "+08:00", "AWST": "+08:00", "HKT": "+08:00",
	"JST": "+09:00", "KST": "+09:00",
	"AEST": "+10:00", "AEDT": "+11:00",
}
