package parser

import (
	"bytes"
	"strings"
)

// A complaint about login attempts often pastes the victim's auth log, as
// OpenSSH writes it ("Failed password for root from A.B.C.D port 40122
// ssh2", "Invalid user oracle from A.B.C.D port 53422"): fail2ban's X-ARF
// reports attach it, blocklist.de's reports quote it, and providers forward
// them. Each line that names an address and its source port is an event.
// The syslog time has no year and no zone, so it is not read: a time is
// never guessed.

// authLogEvents returns the events of the auth log lines in text whose
// address is ip ("" for any), up to maxEvents.
func authLogEvents(text, ip string) []Event {
	auth, _ := lineEvents(text, ip)
	return auth
}

// lineEvents reads text line by line, once, for the two kinds of pasted
// log lines: auth log lines whose address is ip ("" for any), and flow
// lines; up to maxEvents of each.
func lineEvents(text, ip string) (auth, flow []Event) {
	for rest := text; rest != "" && len(auth) < maxEvents && len(flow) < maxEvents; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = unquote(strings.TrimRight(line, "\r"))
		if e, ok := authLogEvent(line); ok {
			if host, _ := splitHostPort(e.Src); ip == "" || host == ip {
				auth = append(auth, e)
			}
		} else if e, ok := flowEvent(line); ok {
			flow = append(flow, e)
		}
	}
	return auth, flow
}

// authLogEvent reads "… <address> port <n> …" from an sshd line: the
// address must be the word right before "port".
func authLogEvent(line string) (Event, bool) {
	i := strings.Index(line, " port ")
	if i < 0 || !strings.Contains(line[:i], "sshd") { // " port " first: the rarer of the two
		return Event{}, false
	}
	host := line[strings.LastIndexByte(line[:i], ' ')+1 : i]
	port, _, _ := strings.Cut(line[i+len(" port "):], " ")
	if !validIP(host) || !isPort(port) {
		return Event{}, false
	}
	return Event{Src: joinHostPort(host, port), Proto: "tcp", Reason: "ssh login"}, true
}

// pastedEvents are the events of a third party's log pasted into a
// complaint: a table with a header, else auth log lines, else flow lines.
func pastedEvents(text string) []Event {
	if events := headedTable(text); len(events) > 0 {
		return events
	}
	auth, flow := lineEvents(text, "")
	if len(auth) > 0 {
		return auth
	}
	return flow
}

// flowArrows stand between the two ends of a flow line.
var flowArrows = []string{" -> ", " => ", " > ", " → "}

// flowEvent reads a line of a pasted capture or flow log that names a
// flow as "A.B.C.D:port -> E.F.G.H:port", with its protocol when a word
// after it names one ("2026-09-14 03:11:52 95.216.77.130:123 ->
// 192.0.2.66:28812 UDP 468 bytes"). Its time is not read: such lines give
// their zone, if at all, in a sentence above them.
func flowEvent(line string) (Event, bool) {
	if !strings.Contains(line, ">") && !strings.Contains(line, "→") {
		return Event{}, false // most lines: no arrow of flowArrows
	}
	for _, arrow := range flowArrows {
		i := strings.Index(line, arrow)
		if i < 0 {
			continue
		}
		src := line[strings.LastIndexByte(line[:i], ' ')+1 : i]
		after := strings.Fields(line[i+len(arrow):])
		if len(after) == 0 || !isEndpoint(src) || !isEndpoint(after[0]) {
			return Event{}, false
		}
		e := Event{Src: src, Dst: after[0]}
		for _, w := range after[1:min(len(after), 4)] {
			if p := lowerProto(w); p == "tcp" || p == "udp" || p == "icmp" {
				e.Proto = p
				break
			}
		}
		return e, true
	}
	return Event{}, false
}

// attachedAuthLog returns the auth log events for ip in the text parts of
// m (fail2ban attaches its log as logfile.log).
func attachedAuthLog(m *mail, ip string) []Event {
	for _, p := range m.parts {
		if strings.HasPrefix(p.contentType, "text/") && bytes.Contains(p.body, []byte("sshd")) {
			if events := authLogEvents(string(p.body), ip); len(events) > 0 {
				return events
			}
		}
	}
	return nil
}
