package parser

import (
	"net/netip"
	"slices"
	"strings"
	"time"
)

// OVH mail (formats.md "OVH / OVHcloud mail"), English or French, is told
// apart by phrases of its body, never by its subject, whose wording OVH does
// not publish:
//
//   - anti-hack IP block, VPS "abnormal activity" (and the older "Your vps
//     server has been blocked"), anti-spam port-25 block: kind block, or
//     attack when the mail detects without blocking;
//   - VPS put in rescue mode, dedicated server put in rescue FTP, and the mail
//     with the read-only FTP access: kind rescue. Text after a label is
//     only taken from the rate line and the spam samples, so the login and
//     password of that mail never reach a notice (a test checks it);
//   - "[Abuse #ABCDFGHJKL]" tickets: kind complaint, the attack from words;
//   - "[TICKET#1234567890]" copies of any of these: case is the ticket;
//   - monitoring tickets, invoices, newsletters: no notice, and a reason.
//
// The attack log rows become events, and the attack is named from them.

// Bounds on the work one OVH mail may cause.
const (
	maxOVHIPs = 64 // notices of one mail: one per IP it names as ours
	// maxOVHProse is how much of the text is searched for marker phrases:
	// OVH says what happened before the log, which may run to 1000 rows.
	maxOVHProse = 4 << 10
	// maxOVHPhraseScan is how much of it the phrase tables read: the
	// opening sentences and the anti-spam sample lines come first.
	maxOVHPhraseScan = 3 << 10
)

// matchOVH accepts all mail from OVH's sending domains, so that the mails that
// hold no notice (invoices, monitoring tickets) get a precise reason; parseOVH
// tells the kinds apart by the body. A colleague's forward with the OVH mail
// attached does not match and is left to Parse, which opens the attachment.
func matchOVH(m *mail) bool {
	return ovhSenderDomain(m.fromDomain)
}

// ovhCountryDomains are the domains of OVH's national sites, from which
// mail in the customer's language may come. They make a mail OVH's for
// reading only: DKIM trusts ovhDomains (dkim.go) alone.
var ovhCountryDomains = []string{
	"ovh.es", "ovh.it", "ovh.pl", "ovh.pt", "ovh.ie", "ovh.nl", "ovh.cz", "ovh.lt", "ovh.fi",
	"ovh.sn", "ovh.ma", "ovh.tn", "ovh.com.au", "ovh.co.za", "ovhcloud.de", "ovhcloud.fr",
}

// parseOVH returns the notices of an OVH mail: one per IP that the mail names
// as blocked or spamming, else one. A mail from OVH that no rule classifies
// and that is not known to be something else (invoice, newsletter,
// monitoring) is still a notice, marked unrecognised by the reason.
func parseOVH(m *mail) ([]Notice, string) {
	// The prose is what precedes the log, which scanOVHLog reads from text.
	prose := m.text[:min(len(m.text), maxOVHProse)]
	if i := strings.Index(prose, "dateTime srcIp"); i >= 0 {
		prose = prose[:i]
	}
	flat, subject := flatten(prose), flatten(m.subject)
	// A monitoring ticket ("[TICKET#…] OVH Monitoring") is sorted out first:
	// its technician may write that the server was placed in rescue mode for
	// tests, which is no abuse measure. The body alone does not decide it, lest
	// an abuse notice that names the monitoring be lost.
	if isOVHMonitoring(subject) {
		return nil, ovhMonitoringReason
	}
	log := scanOVHLog(m.text)
	id, abuseCase := ovhCase(m)
	if !abuseCase && isOVHAbuseSender(m.from) {
		abuseCase = true // OVH's abuse team writes from ticket+<ref>@abuse.ovh.net
	}
	v := classifyOVH(m, flat, abuseCase, log)
	service := ovhService(flat)
	if service == "" {
		service = ovhService(flatten(m.subject)) // "vps612345.ovh.net - VPS blocked"
	}
	unrecognised := ""
	if v.kind == "" {
		// An invoice or a newsletter names the services it bills or
		// announces; a wrapper line or an attack detail is abuse mail's own,
		// unless the header says the mail went to a list: a newsletter may
		// quote an attack's detail, an abuse notice never has subscribers.
		list := isListMail(m.header)
		if list {
			v.sig |= 1 << sigNewsletter
		}
		billed := v.sig.has(sigInvoice) || v.sig.has(sigNewsletter)
		structure := service != "" && !billed || log.wrapper != "" ||
			v.sig.has(sigAttackDetail) && !list
		reason, known := ovhNotAbuseReason(subject+" "+flat, id, v.sig, structure)
		if known {
			return nil, reason
		}
		v.kind, unrecognised = KindComplaint, "OVH mail that no rule classifies: "+reason
	}
	if v.kind == KindComplaint && isReplySubject(m.subject) && ovhSenderDomain(m.fromDomain) {
		// OVH answering in a case's thread (a reminder, a question) is news
		// on the case; its notices never start with "Re:".
		v.kind, v.why = KindStatus, "OVH's reply in the thread of a case"
	}
	if len(log.events) == 0 && v.kind == KindComplaint {
		// A complaint without OVH's log may paste the complainant's table
		// or auth log.
		log.events = pastedEvents(m.text)
	}
	m.note("ovh: kind ", string(v.kind), ": ", orNothing(v.why))
	if log.wrapper != "" {
		m.note("ovh: wrapper line ", log.wrapper)
	}

	base := Notice{Kind: v.kind, Service: service, Case: id, Rate: log.rate, Deadline: readDeadline(flat, m.date),
		Reporter: ovhReporter(prose)}
	ips := v.ips
	if len(ips) == 0 {
		ip := fallbackIP(flat, log.events)
		if ip == "" {
			ip = firstIP(m.subject)
		}
		if ip == "" && service == "" && id == "" && len(log.events) == 0 && isListMail(m.header) {
			// Mail to subscribers that names no IP, server, case or log talks
			// about blocks and rescues ("no more servers placed in rescue
			// mode"), it reports none.
			return nil, "newsletter (sent to a list; names no IP, server, case or log), not an abuse notice"
		}
		ips = []string{ip}
		m.note("ovh: ip ", orNothing(ip), " from the log, the text or the subject (no sentence names it)")
	} else {
		m.note("ovh: ip from the sentence that names it")
	}
	notices := make([]Notice, 0, len(ips))
	var report struct {
		read      bool
		ip        string
		a         Attack
		complaint complaintMail
	}
	for _, ip := range ips {
		n := base
		n.IP = ip
		n.Events = log.events
		if len(ips) > 1 {
			n.Events = eventsOf(log.events, ip)
		}
		if v.spam {
			// The full slice expression makes append copy: notices never share events.
			n.Events = append(n.Events[:len(n.Events):len(n.Events)], spamSamples(m.text, ip)...)
		}
		n.Attack = v.attackOf(n.Events, flat)
		if n.Kind == KindComplaint && (n.IP == "" || n.Attack == AttackUnknown) {
			// OVH may forward a standard report with the complaint: read once.
			if !report.read {
				report.ip, report.a = forwardedReport(m)
				report.read = true
			}
			if n.IP == "" {
				n.IP = report.ip
			}
			if n.Attack == AttackUnknown && report.a != "" {
				n.Attack = report.a
			}
		}
		if n.Kind == KindComplaint && (n.IP == "" || n.Attack == AttackUnknown || n.Reporter == "" || len(n.Events) == 0) {
			// The complainant's own mail, attached, says who wrote and may
			// paste its log: read once.
			if !report.complaint.read {
				report.complaint = attachedComplaint(m)
			}
			c := report.complaint
			if n.IP == "" {
				n.IP = c.ip
			}
			if n.Attack == AttackUnknown {
				n.Attack = c.attack
			}
			if n.Reporter == "" {
				n.Reporter = c.reporter
			}
			if len(n.Events) == 0 && n.IP == c.ip {
				n.Events = c.events
			}
		}
		notices = append(notices, n)
	}
	return notices, unrecognised
}

// complaintMail is what the complainant's own mail, attached to an OVH
// ticket, says: who wrote, the IP it is about and the attack it names.
type complaintMail struct {
	read         bool
	ip, reporter string
	attack       Attack  // what its words name; AttackUnknown when none
	events       []Event // of the log it pastes, for ip
}

// attachedComplaint reads the first attached mail that is not OVH's own
// (message/rfc822): the IP of its subject, else the first of its text, and
// its author and the attack of its words. OVH forwards a complaint this way
// when its ticket text names no IP, or a generic "abusive use".
func attachedComplaint(m *mail) complaintMail {
	c := complaintMail{read: true, attack: AttackUnknown}
	for _, p := range m.parts {
		if p.contentType != "message/rfc822" {
			continue
		}
		inner, err := readMail(p.body)
		if err != nil || ovhSenderDomain(inner.fromDomain) {
			continue
		}
		flat := flatten(inner.text[:min(len(inner.text), maxOVHProse)])
		c.ip = firstIP(inner.subject)
		if c.ip == "" {
			c.ip = fallbackIP(flat, nil)
		}
		if c.ip != "" {
			c.reporter = inner.from
			c.attack = complaintAttack(flatten(inner.subject) + " " + flat)
			c.events = eventsOf(pastedEvents(inner.text), c.ip)
			return c
		}
	}
	return c
}

// ovhSenderDomain reports a domain OVH writes from (ovhDomains, or a
// national site's: for reading, not for trust).
func ovhSenderDomain(domain string) bool {
	return domainIn(domain, ovhDomains) || domainIn(domain, ovhCountryDomains)
}

// relayedSenderDomain is the domain of the original sender of a mail a
// list relayed under its own From (X-Original-Sender, X-Original-From,
// Reply-To), "" when it names none. It serves to read the mail, never to
// trust it.
func relayedSenderDomain(h header) string {
	for _, name := range []string{"X-Original-Sender", "X-Original-From", "Reply-To"} {
		if addr := fromAddress(h.get(name)); strings.Contains(addr, "@") {
			return addr[strings.LastIndexByte(addr, '@')+1:]
		}
	}
	return ""
}

// isListMail reports a mail sent to a list: it can be unsubscribed from
// (RFC 2369), or says it is bulk.
func isListMail(h header) bool {
	if h.has("List-Unsubscribe") || h.has("List-Id") {
		return true
	}
	switch strings.ToLower(strings.TrimSpace(h.get("Precedence"))) {
	case "bulk", "list":
		return true
	}
	return false
}

// isOVHAbuseSender reports the address of OVH's abuse tickets,
// ticket+<ref>[.defendant|.plaintiff|.other]@abuse.ovh.net.
func isOVHAbuseSender(from string) bool {
	return strings.HasPrefix(from, "ticket+") && strings.HasSuffix(from, "@abuse.ovh.net")
}

// ovhVerdict is what the words of an OVH mail say happened.
type ovhVerdict struct {
	kind Kind       // "" when no rule classifies the mail
	why  string     // the rule that gave the kind, for --explain
	sig  signalMask // the phrases found
	spam bool       // the anti-spam layer caught the IP: the attack is spam
	ips  []string   // our IPs that the mail names as blocked or spamming
}

// classifyOVH reads the kind of notice from the flattened body. Rescue beats
// block beats attack beats complaint: the more severe measure is the news.
// The phrases of every language are found in one pass (ovhPhrases); the
// structure of the mail decides when no phrase does.
func classifyOVH(m *mail, flat string, abuseCase bool, log ovhLog) ovhVerdict {
	// OVH says what happened before its log, in the first lines.
	// The opening is read first; the rest only when it said nothing that
	// tells the kind, so that the usual mail costs half a scan.
	head := flat[:min(len(flat), maxOVHPhraseScan/2)]
	sig, langs := ovhPhrases.scan(head)
	if sig&ovhKindSignals == 0 && len(flat) > len(head) {
		more, moreLangs := ovhPhrases.scan(flat[len(head)-min(len(head), maxPhraseLen) : min(len(flat), maxOVHPhraseScan)])
		sig, langs = sig|more, langs|moreLangs
	}
	v := ovhVerdict{sig: sig}
	if sig.has(sigBlocked) {
		v.ips = namedIPs(flat, ovhBlockPhrases) // each phrase wants a "blocked" word
	}
	if m.explain {
		m.note("ovh: phrases found: ", orNothing(ovhSignalList(sig)), "; languages: ", orNothing(ovhLangNames(langs)))
	}
	blockedIP := len(v.ips) > 0
	if strings.Contains(flat, "spam") {
		spamming := namedIPs(flat, ovhSpamPhrases)
		v.spam = len(spamming) > 0 || sig.has(sigAntispam) || sig.has(sigSamples)
		v.ips = appendNew(v.ips, spamming...)
	}
	vpsAlert := sig.has(sigVPSAlert) && strings.Contains(flat, "vps")
	blocked := sig.has(sigBlocked)
	logged := len(log.events) > 0
	switch {
	case sig.has(sigRescue), sig.has(sigRescueFTP):
		v.kind, v.why = KindRescue, "rescue phrase"
	case sig.has(sigLifted):
		v.kind, v.why = KindStatus, "a measure lifted"
	case blockedIP:
		v.kind, v.why = KindBlock, "a sentence names the blocked IP"
	case sig.has(sigVPSBlocked):
		v.kind, v.why = KindBlock, "VPS blocked phrase"
	case (vpsAlert || v.spam) && blocked:
		v.kind, v.why = KindBlock, "alert or anti-spam phrase with a measure taken"
	case v.spam && sig.has(sigSamples):
		// OVH sends the sample lines with the port-25 block only.
		v.kind, v.why = KindBlock, "anti-spam sample lines"
	case vpsAlert, v.spam:
		v.kind, v.why = KindAttack, "alert or anti-spam phrase, no measure taken"
	case abuseCase, sig.has(sigComplaint):
		v.kind, v.why = KindComplaint, "abuse id or complaint phrase"
	case logged && blocked:
		v.kind, v.why = KindBlock, "attack log with a measure taken"
	case blocked && !sig.has(sigInvoice) && !sig.has(sigNewsletter) && firstIP(flat[:min(len(flat), 400)]) != "":
		// "The IP address A.B.C.D had to be blocked" in a wording no table has.
		v.kind, v.why = KindBlock, "a measure taken on an IP named in the opening"
	case logged:
		v.kind, v.why = KindAttack, "attack log"
	}
	return v
}

// ovhReporter reads who complained from a labelled line of an abuse ticket,
// "Complainant: Rights Ltd <notices@rights.example>": the address when the
// line has one, else the name.
func ovhReporter(prose string) string {
	for rest := prose; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		label, value, ok := strings.Cut(strings.TrimSpace(line), ":")
		if !ok || len(label) > 32 || !hasName(ovhReporterLabels, strings.TrimSpace(label)) {
			continue
		}
		value = strings.TrimSpace(value)
		if addr := fromAddress(value); strings.Contains(addr, "@") {
			return addr
		}
		return value
	}
	return ""
}

// orNothing shows an empty list in --explain.
func orNothing(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// isOVHMonitoring reports a monitoring ticket ("[TICKET#…] OVH Monitoring").
func isOVHMonitoring(flat string) bool {
	if !strings.Contains(flat, "monitoring") {
		return false
	}
	return strings.Contains(flat, "ovh monitoring") || strings.Contains(flat, "monitoring ovh")
}

const ovhMonitoringReason = "monitoring ticket, not an abuse notice"

// ovhNotAbuseReason says why an OVH mail holds no notice; known is false
// when the mail is not known to be something else, so that it is not filed
// as none unread.
func ovhNotAbuseReason(flat, ticket string, sig signalMask, structure bool) (reason string, known bool) {
	if structure {
		return "OVH service name, wrapper line or attack detail, but no phrase says what happened", false
	}
	switch {
	case isOVHMonitoring(flat):
		return ovhMonitoringReason, true
	case sig.has(sigInvoice):
		return "invoice, not an abuse notice", true
	case sig.has(sigNewsletter):
		return "newsletter, not an abuse notice", true
	case ticket != "":
		return "support ticket without an abuse marker, not an abuse notice", true
	}
	return "no OVH abuse marker, no attack log, and not an invoice, newsletter or monitoring ticket", false
}

// ipPhrase finds our IPs in flattened text: the IPs listed right after lead
// and one of its tails, when the words after the list confirm what happened
// to them. The tails spare a search of the text per singular and plural.
type ipPhrase struct {
	lead    string
	tails   []string
	confirm func(after string) bool
}

var (
	// "The IP address 135.x.x.x had to be blocked by our services",
	// "L'adresse IP 135.x.x.x a dû être bloquée par nos services".
	ovhBlockPhrases = []ipPhrase{
		{"ip address", []string{" ", "es "}, blockedEN},
		{"adresse", []string{" ip ", "s ip "}, blockedFR},
	}
	// "your IP A.B.C.D is sending spam"; French names the IP after
	// "à partir d'une de vos IP:", on its own line.
	ovhSpamPhrases = []ipPhrase{
		{"your ip ", []string{""}, func(after string) bool { return strings.HasPrefix(after, " is sending spam") }},
		{"de vos ip", []string{""}, func(string) bool { return true }},
	}
)

func blockedEN(after string) bool {
	w := after[:min(len(after), 40)]
	return strings.Contains(w, "had to be blocked") || strings.Contains(w, "been blocked") ||
		strings.Contains(w, "was blocked") || strings.Contains(w, "were blocked")
}

// blockedFR wants a past tense ("a dû être bloquée", "ont été bloquées"), not
// a threat ("sera bloquée").
func blockedFR(after string) bool {
	w := strings.TrimLeft(after[:min(len(after), 40)], " )")
	return (strings.HasPrefix(w, "a ") || strings.HasPrefix(w, "ont ")) && strings.Contains(w, "bloqu")
}

// namedIPs returns the distinct IPs that the phrases name in flat.
func namedIPs(flat string, phrases []ipPhrase) []string {
	var out []string
	for _, p := range phrases {
		for i := 0; len(out) < maxOVHIPs; {
			j := strings.Index(flat[i:], p.lead)
			if j < 0 {
				break
			}
			i += j + len(p.lead)
			list, ok := afterTail(flat[i:], p.tails)
			if !ok {
				continue
			}
			if ips, end := readIPList(list); len(ips) > 0 && p.confirm(list[end:]) {
				out = appendNew(out, ips...)
			}
		}
	}
	return out
}

// afterTail returns s after the first of tails that starts it.
func afterTail(s string, tails []string) (string, bool) {
	for _, t := range tails {
		if strings.HasPrefix(s, t) {
			return s[len(t):], true
		}
	}
	return "", false
}

// appendNew appends the IPs not in list yet, up to maxOVHIPs.
func appendNew(list []string, ips ...string) []string {
	for _, ip := range ips {
		if len(list) < maxOVHIPs && !slices.Contains(list, ip) {
			list = append(list, ip)
		}
	}
	return list
}

// readIPList reads "1.2.3.4", "1.2.3.4, 5.6.7.8 and 9.9.9.9" or ": 1.2.3.4"
// from the start of s. end is the offset just after the last IP.
func readIPList(s string) (ips []string, end int) {
	for i := 0; len(ips) < maxOVHIPs; {
		i = skipListSeparators(s, i)
		j := i
		for j < len(s) && isIPChar(s[j]) {
			j++
		}
		tok := strings.TrimRight(s[i:j], ".:")
		addr, err := netip.ParseAddr(tok)
		if err != nil || addr.Zone() != "" {
			break
		}
		ips = append(ips, addr.String())
		end = i + len(tok)
		i = end
	}
	return ips, end
}

// skipListSeparators skips punctuation, "and"/"et" and non-ASCII bytes (the
// narrow no-break space French puts before a colon) from s[i:].
func skipListSeparators(s string, i int) int {
	for i < len(s) {
		switch {
		case strings.IndexByte(" ,;:(", s[i]) >= 0 || s[i] >= 0x80:
			i++
		case strings.HasPrefix(s[i:], "and "):
			i += len("and ")
		case strings.HasPrefix(s[i:], "et "):
			i += len("et ")
		default:
			return i
		}
	}
	return i
}

// fallbackIP picks the notice IP when no sentence names it: the source of the
// attack log when that is an address, else the first address in the text
// that is not a target in the log (the victims are not ours).
func fallbackIP(flat string, events []Event) string {
	for _, e := range events {
		if host, _ := splitHostPort(e.Src); validIP(host) {
			return host
		}
	}
	for rest := flat; ; {
		var ip string
		if ip, rest = nextIP(rest); ip == "" || !isTarget(events, ip) {
			return ip
		}
	}
}

func isTarget(events []Event, ip string) bool {
	for _, e := range events {
		if host, _ := splitHostPort(e.Dst); host == ip {
			return true
		}
	}
	return false
}

// attackOf names the attack: spam for the anti-spam layer, the words of a
// complaint without a log, else the log.
func (v ovhVerdict) attackOf(events []Event, flat string) Attack {
	switch {
	case v.spam:
		return AttackSpam
	case v.kind == KindComplaint || v.kind == KindStatus:
		// A complaint's words name its attack, and a follow-up's the
		// case's; a table it pastes only says which protocol the traffic
		// used.
		if a := complaintAttack(flat); a != AttackUnknown || len(events) == 0 {
			return a
		}
	}
	return attackFromEvents(events)
}

// complaintAttack names the attack of a complaint from its words, in the
// order of ovhAttackOrder.
func complaintAttack(flat string) Attack {
	if i, ok := ovhAttackWordSet.first(flat); ok {
		return ovhAttackOrder[i]
	}
	return AttackUnknown
}

// ovhService returns the first VPS or dedicated server name in flat:
// "vps-1a2b3c4d.vps.ovh.net", "vps123456.ovh.net", "ns3012345.ip-51-68-12.eu".
func ovhService(flat string) string {
	best, at := "", len(flat)
	for _, probe := range [...]string{"vps", ".ip-", ".kimsufi."} {
		for i := 0; i < at; {
			j := strings.Index(flat[i:], probe)
			if j < 0 {
				break
			}
			start, end := hostBounds(flat, i+j)
			if name := flat[start:end]; start < at && isServiceName(name) {
				best, at = name, start
				break
			}
			i += j + len(probe)
		}
	}
	return best
}

// hostBounds widens the position i of flat to the host name around it,
// without the dot that ends a sentence.
func hostBounds(flat string, i int) (start, end int) {
	start, end = i, i
	for start > 0 && isHostChar(flat[start-1]) {
		start--
	}
	for end < len(flat) && isHostChar(flat[end]) {
		end++
	}
	for end > start && (flat[end-1] == '.' || flat[end-1] == '-') {
		end--
	}
	return start, end
}

func isHostChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-'
}

func isServiceName(name string) bool {
	switch {
	case strings.HasPrefix(name, "vps"):
		return strings.Contains(name, ".ovh.")
	case strings.HasPrefix(name, "ns"):
		_, domain, ok := strings.Cut(name, ".ip-")
		return ok && strings.Contains(domain, ".")
	case strings.HasPrefix(name, "ks"):
		// The name of a Kimsufi server ordered before the ns….ip- names.
		return strings.HasSuffix(name, ".kimsufi.com")
	}
	return false
}

// ovhCase returns the case id: the abuse id of "[Abuse #ABCDFGHJKL]" (abuse
// is then true), else the number of a support ticket "[TICKET#1234567890]"
// that copies a notice. The subject is read first, then the body.
func ovhCase(m *mail) (id string, abuse bool) {
	for _, s := range [...]string{m.subject, m.text} {
		if id := idAfterHash(s, "abuse", readAbuseID); id != "" {
			return id, true
		}
	}
	for _, s := range [...]string{m.subject, m.text} {
		if id := idAfterHash(s, "ticket", readTicketID); id != "" {
			return id, false
		}
	}
	return "", false
}

// idAfterHash returns the first id that read accepts after a "label #" or
// "label#" (any case) in s.
func idAfterHash(s, label string, read func(string) string) string {
	for i := 0; i < len(s); {
		j := strings.IndexByte(s[i:], '#')
		if j < 0 {
			return ""
		}
		hash := i + j
		before := strings.TrimSuffix(s[max(0, hash-len(label)-1):hash], " ")
		if len(before) >= len(label) && strings.EqualFold(before[len(before)-len(label):], label) {
			if id := read(s[hash+1:]); id != "" {
				return id
			}
		}
		i = hash + 1
	}
	return ""
}

// readAbuseID accepts the ten capital letters of an OVH abuse id.
func readAbuseID(s string) string {
	const n = 10
	if len(s) < n || len(s) > n && isAlnum(s[n]) {
		return ""
	}
	for i := range n {
		if s[i] < 'A' || s[i] > 'Z' {
			return ""
		}
	}
	return s[:n]
}

// readTicketID accepts the digits of a support ticket number.
func readTicketID(s string) string {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	if n < 5 || n > 20 || n < len(s) && isAlnum(s[n]) {
		return ""
	}
	return s[:n]
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// ovhLog is what a line-by-line read of an OVH body finds.
type ovhLog struct {
	events  []Event
	rate    string // "187Kpps/5Mbps" from "Attack detail : 187Kpps/5Mbps"
	wrapper string // the first "- START OF ADDITIONAL INFORMATION -" line, in any language
}

// scanOVHLog reads the attack log rows wherever they are: the wrappers
// ("- START OF ADDITIONAL INFORMATION -", "- LOGS START -", the French ones)
// are not needed, so a copy whose wrapper lost its accents to a charset
// mix-up still reads.
func scanOVHLog(text string) ovhLog {
	var log ovhLog
	var row logRow
	for len(text) > 0 && len(log.events) < maxEvents {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = unquote(line)
		switch {
		case line == "":
			log.events = row.flush(log.events) // a row never spans a blank line
		case isWrapperLine(line):
			log.events = row.flush(log.events)
			if log.wrapper == "" {
				log.wrapper = wrapperName(line)
			}
		case hasPrefixFold(line, "attack detail"):
			log.events = row.flush(log.events)
			if log.rate == "" {
				log.rate = rateOf(line[len("attack detail"):])
			}
		default:
			if row.n == len(row.col) {
				log.events = row.flush(log.events) // a complete row ends at its line end
			}
			if row.on || hasLogDate(line) {
				log.events = row.feed(line, log.events)
			}
		}
	}
	log.events = row.flush(log.events)
	return log
}

// isWrapperLine reports the "- START OF ADDITIONAL INFORMATION -" lines
// that OVH puts around its log, whatever their language: a dash, words in
// capitals, a dash.
func isWrapperLine(line string) bool {
	if len(line) < 7 || line[0] != '-' {
		return false // most lines: one test
	}
	for len(line) > 0 && (line[len(line)-1] == ' ' || line[len(line)-1] == '\t' || line[len(line)-1] == '\r') {
		line = line[:len(line)-1]
	}
	if len(line) < 7 || len(line) > 120 || !strings.HasPrefix(line, "- ") || !strings.HasSuffix(line, " -") {
		return false
	}
	letters := 0
	for i := 2; i < len(line)-2; i++ {
		switch c := line[i]; {
		case c >= 'a' && c <= 'z':
			return false // prose, a list item: the wrappers are in capitals
		case c >= 'A' && c <= 'Z':
			letters++
		}
	}
	return letters >= 4
}

// wrapperName names a wrapper line for --explain: the language table that
// knows it, else the line itself.
func wrapperName(line string) string {
	inner := strings.ToLower(strings.Trim(strings.TrimSpace(line), "- "))
	if slices.Contains(ovhWrapperNames, inner) {
		return "\"" + inner + "\" (known)"
	}
	return "\"" + inner + "\" (no language table knows it)"
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// rateOf reads the rate after "Attack detail": " : 187Kpps/5Mbps".
func rateOf(s string) string {
	w, _ := nextWord(strings.TrimLeft(s, " \t:"))
	return w
}

// logRow collects the nine columns of one row,
//
//	2025.12.05 17:00:45 CET 141.94.78.0:59173 185.211.78.1:80 UDP --- 28 ATTACK:UDP
//
// which a hard-wrapped copy spreads over two lines, and HTML turned into text
// may run together with the next rows on one line.
type logRow struct {
	col [9]string
	n   int
	on  bool // a date started a row
}

// feed adds the words of one line: a date starts a row, other words continue
// an open row until it has its nine columns.
func (r *logRow) feed(line string, events []Event) []Event {
	for {
		var w string
		if w, line = nextWord(line); w == "" {
			return events
		}
		switch {
		case isLogDate(w):
			events = r.flush(events)
			r.on = true
		case !r.on:
			continue
		case r.n == len(r.col):
			events = r.flush(events) // words after a complete row are not part of it
			continue
		}
		r.col[r.n] = w
		r.n++
	}
}

// flush appends the collected row to events when it is whole and valid, and
// starts over.
func (r *logRow) flush(events []Event) []Event {
	if r.on && r.n == len(r.col) && len(events) < maxEvents {
		if e, ok := ovhEvent(&r.col); ok {
			events = append(events, e)
		}
	}
	r.n, r.on = 0, false
	return events
}

// nextWord splits the first word off s, after any spaces and tabs.
func nextWord(s string) (word, rest string) {
	i := 0
	for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
		i++
	}
	j := i
	for j < len(s) && s[j] != ' ' && s[j] != '\t' {
		j++
	}
	return s[i:j], s[j:]
}

// hasLogDate is the cheap test that spares tokenising the lines of prose:
// whether a "2025.12.05" occurs in line.
func hasLogDate(line string) bool {
	for i := 4; i+6 <= len(line); i++ {
		j := strings.IndexByte(line[i:], '.')
		if j < 0 {
			return false
		}
		i += j
		if i+6 <= len(line) && line[i+3] == '.' && isLogDate(line[i-4:i+6]) {
			return true
		}
	}
	return false
}

// isLogDate accepts the "2025.12.05" that starts a row.
func isLogDate(w string) bool {
	return len(w) == 10 && w[4] == '.' && w[7] == '.' &&
		allDigits(w[:4]) && allDigits(w[5:7]) && allDigits(w[8:])
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// ovhEvent reads the columns: date time zone src dst protocol flags bytes
// reason. The flags (--- or SYN) are not kept: the reason says as much.
func ovhEvent(col *[9]string) (Event, bool) {
	when, ok := logTime(col[0], col[1], col[2])
	if !ok || !isEndpoint(col[3]) || !isEndpoint(col[4]) || !isLetters(col[5]) || !allDigits(col[7]) {
		return Event{}, false
	}
	bytes := atoiOr(col[7], -1)
	if bytes < 0 {
		return Event{}, false
	}
	return Event{Time: when, Src: col[3], Dst: col[4], Proto: lowerProto(col[5]), Bytes: bytes, Reason: col[8]}, true
}

// logTime turns "2025.12.05" "17:00:45" "CET" into RFC 3339. OVH names the
// zone of each row (Paris time in Europe, local time elsewhere), so the
// offset is never guessed.
func logTime(date, clock, zone string) (string, bool) {
	off, ok := logOffset(zone)
	if !ok || len(clock) != 8 || clock[2] != ':' || clock[5] != ':' ||
		!allDigits(clock[:2]) || !allDigits(clock[3:5]) || !allDigits(clock[6:]) {
		return "", false
	}
	y, mo, d := atoiOr(date[:4], 0), atoiOr(date[5:7], 0), atoiOr(date[8:], 0)
	h, mi, s := atoiOr(clock[:2], 0), atoiOr(clock[3:5], 0), atoiOr(clock[6:], 0)
	t := time.Date(y, time.Month(mo), d, h, mi, s, 0, time.UTC)
	// time.Date normalises 2025.02.30 into March: such a row is malformed.
	if t.Month() != time.Month(mo) || t.Day() != d || h > 23 || mi > 59 || s > 59 {
		return "", false
	}
	// The columns are checked digits: copying them beats time.Format.
	var buf [25]byte
	b := append(buf[:0], date[:4]...)
	b = append(append(b, '-'), date[5:7]...)
	b = append(append(b, '-'), date[8:]...)
	b = append(append(b, 'T'), clock...)
	return string(append(b, off...)), true
}

// logOffset maps the zone column to its RFC 3339 offset: a name of
// logZones, or a numeric offset ("+0100", "+01:00", "UTC+01:00").
func logOffset(zone string) (string, bool) {
	if off, ok := logZones[zone]; ok {
		return off, true
	}
	num := strings.TrimPrefix(strings.TrimPrefix(zone, "UTC"), "GMT")
	if len(num) == 5 && allDigits(num[1:]) {
		num = num[:3] + ":" + num[3:]
	}
	if len(num) != 6 || (num[0] != '+' && num[0] != '-') || num[3] != ':' || !allDigits(num[1:3]) || !allDigits(num[4:]) ||
		atoiOr(num[1:3], 99) > 14 || atoiOr(num[4:], 99) > 59 {
		return "", false
	}
	if num == "+00:00" || num == "-00:00" {
		return "Z", true
	}
	return num, true
}

// isEndpoint accepts "141.94.78.0:59173" and "vps1234:55046".
func isEndpoint(s string) bool {
	host, port := splitHostPort(s)
	if host == "" || !isPort(port) {
		return false
	}
	if validIP(host) {
		return true
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; !isHostChar(c) && (c < 'A' || c > 'Z') && c != '_' {
			return false
		}
	}
	return len(host) <= 253
}

func isLetters(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i] | 0x20; c < 'a' || c > 'z' {
			return false
		}
	}
	return s != "" && len(s) <= 10
}

// lowerProto lowers the protocol without allocating for the usual ones.
func lowerProto(p string) string {
	switch p {
	case "UDP", "udp":
		return "udp"
	case "TCP", "tcp":
		return "tcp"
	case "ICMP", "icmp":
		return "icmp"
	}
	return strings.ToLower(p)
}

// spamSamples reads the sample lines of an anti-spam notice,
//
//	Destination IP: 203.0.113.5 - Message-ID: <…> - Spam score: 300
//
// (French puts a space before each colon, Polish writes "Wiadomość-ID:" and
// "Spam score 300") as events from ip, whose source port the mail does not
// give, to the SMTP port of the destination. The Message-ID in the reason
// lets the operator find the mail in the host's logs.
func spamSamples(text, ip string) []Event {
	const label = "Destination IP"
	var out []Event
	for len(out) < maxEvents {
		i := strings.Index(text, label)
		if i < 0 {
			break
		}
		line, rest, _ := strings.Cut(text[i:], "\n")
		text = rest
		// "<label>: value" fields joined by " - ": the labels after the
		// first are read by their shape, whatever their language.
		fields := strings.Split(line, " - ")
		dst := valueAfter(fields[0], label, true)
		if !validIP(dst) {
			continue
		}
		var score, id string
		for _, f := range fields[1:] {
			switch v := lastWord(f); {
			case strings.HasPrefix(f, "Spam score"):
				score = v
			case id == "" && isMessageIDLabel(f):
				id = cleanText(strings.Trim(v, "<>"), maxCaseLen)
			}
		}
		reason := "spam"
		if allDigits(score) {
			reason += " score " + score
		}
		if id != "" {
			reason += " Message-ID " + id
		}
		out = append(out, Event{Src: ip, Dst: joinHostPort(dst, "25"), Proto: "tcp", Reason: reason})
	}
	return out
}

// isMessageIDLabel reports a "Message-ID: value" field: a label of the
// language tables, or of a language they lack, an "ID" of some kind.
func isMessageIDLabel(field string) bool {
	label, _, ok := strings.Cut(field, ":")
	if !ok {
		return false
	}
	label = strings.TrimSpace(label)
	return slices.Contains(ovhMessageIDLabels, label) || strings.Contains(label, "ID")
}

// lastWord returns the last word of s, without a trailing "<br>".
func lastWord(s string) string {
	s = strings.TrimSuffix(strings.TrimRight(s, " \t\r"), "<br>")
	s = strings.TrimRight(s, " \t")
	return s[strings.LastIndexAny(s, " \t:")+1:]
}

// valueAfter returns the word after "label:" or "label :" in line, or "";
// without needColon also after "label " alone.
func valueAfter(line, label string, needColon bool) string {
	i := strings.Index(line, label)
	if i < 0 {
		return ""
	}
	rest := strings.TrimLeft(line[i+len(label):], " \t")
	if r, ok := strings.CutPrefix(rest, ":"); ok {
		rest = r
	} else if needColon {
		return ""
	}
	w, _ := nextWord(rest)
	w = strings.TrimSuffix(w, "<br>")
	return w
}

// matchOVHInline accepts a mail from elsewhere that carries an OVH notice in
// its text (a colleague's inline forward, a copy through a ticket system):
// an "[Abuse #ABCDFGHJKL]" id in the subject, or OVH's attack log. A forward
// that attaches the mail is left to Parse, which opens the attachment. Mail
// to a list (a digest, a discussion) that quotes an OVH log is talk about a
// notice: it counts only with the forward's OVH sender line.
func matchOVHInline(m *mail) bool {
	if _, attached := m.partOfType("message/rfc822"); attached {
		return false
	}
	head := m.text[:min(len(m.text), 4<<10)]
	if forwardedFrom(head, ovhSenderDomain) {
		return true
	}
	if isListMail(m.header) {
		// A list that relays OVH's mail (a Google Group as abuse@) keeps
		// its sender in X-Original-Sender or Reply-To.
		return ovhSenderDomain(relayedSenderDomain(m.header))
	}
	if idAfterHash(m.subject, "abuse", readAbuseID) != "" || idAfterHash(head, "abuse", readAbuseID) != "" {
		return true
	}
	if strings.Contains(head, "Attack detail") {
		return true
	}
	i := strings.Index(m.text, "ATTACK:")
	return i >= 0 && hasLogDate(m.text[max(0, i-200):i])
}
