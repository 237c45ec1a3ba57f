package parser

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Size caps checked before unmarshalling: real reports are a few hundred
// bytes, and a decoder must not be handed a hostile megabyte document.
const (
	maxXARFYAMLBytes = 64 << 10
	maxXARFJSONBytes = 1 << 20
)

// xarf2 is the YAML report of X-ARF v0.2 (report.txt): the fields a notice
// takes. Source-Type is not needed: the source is read as an IP or a URL.
type xarf2 struct {
	ReportedFrom string `yaml:"Reported-From"`
	ReportType   string `yaml:"Report-Type"`
	ReportID     string `yaml:"Report-ID"`
	Source       string `yaml:"Source"`
	Port         string `yaml:"Port"`
	Destination  string `yaml:"Destination"`
	Date         string `yaml:"Date"`
}

// xarf40 is the JSON report of XARF 4.0.0 as xarf-spec publishes it now:
// snake_case names at the top level, the version as "4.0.0".
type xarf40 struct {
	XARFVersion string `json:"xarf_version"`
	ReportID    string `json:"report_id"`
	Timestamp   string `json:"timestamp"`
	Reporter    struct {
		Org     string `json:"org"`
		Contact string `json:"contact"`
	} `json:"reporter"`
	SourceIdentifier string          `json:"source_identifier"`
	SourcePort       json.RawMessage `json:"source_port"`
	Category         string          `json:"category"`
	Type             string          `json:"type"`
	DestinationIP    string          `json:"destination_ip"`
	DestinationPort  json.RawMessage `json:"destination_port"`
}

// errNotXARF4 marks a JSON report whose Version is not 4.
var errNotXARF4 = errors.New("not 4")

// xarf4 is the JSON report of XARF v4 (xarf.json or an inline document).
type xarf4 struct {
	Version      json.RawMessage `json:"Version"` // "4", sometimes written as a number
	ReporterInfo struct {
		ReporterOrg          string `json:"ReporterOrg"`
		ReporterOrgEmail     string `json:"ReporterOrgEmail"`
		ReporterContactEmail string `json:"ReporterContactEmail"`
	} `json:"ReporterInfo"`
	Report struct {
		ReportClass     string          `json:"ReportClass"`
		ReportType      string          `json:"ReportType"`
		Date            string          `json:"Date"`
		SourceIP        string          `json:"SourceIp"`
		SourcePort      json.RawMessage `json:"SourcePort"`
		DestinationIP   string          `json:"DestinationIp"`
		DestinationPort json.RawMessage `json:"DestinationPort"`
	} `json:"Report"`
}

// matchXARF accepts the X-XARF header of v0.2 and the JSON document of v4.
// A report.txt with the X-ARF fields counts too: some tools leave the
// header out.
func matchXARF(m *mail) bool {
	if m.header.has("X-Xarf") {
		return true
	}
	if _, ok := xarfJSONPart(m); ok {
		return true
	}
	for _, p := range m.parts {
		if strings.EqualFold(p.filename, "report.txt") && bytes.Contains(p.body, []byte("Report-Type:")) {
			return true
		}
	}
	return false
}

// parseXARF returns the one notice of an X-ARF v0.2 or XARF v4 report,
// with the lines of an auth log that comes with it as events after the
// report's own.
func parseXARF(m *mail) ([]Notice, string) {
	notices, reason := readXARF(m)
	for i := range notices {
		if n := &notices[i]; n.IP != "" {
			n.Events = append(n.Events, attachedAuthLog(m, n.IP)...)
		}
	}
	return notices, reason
}

func readXARF(m *mail) ([]Notice, string) {
	if body, ok := xarfJSONPart(m); ok {
		notices, err := parseXARF4(body)
		if errors.Is(err, errNotXARF4) {
			// A JSON document with the v0.2 names (drafts called it 0.3):
			// JSON is YAML, so the v0.2 reader takes it.
			if r, err := decodeXARF2(body); err == nil {
				return xarf2Notices(r), ""
			}
		}
		if err != nil {
			return nil, err.Error()
		}
		return notices, ""
	}
	body, ok := xarfYAMLPart(m)
	if !ok {
		return nil, "X-ARF mail without a report.txt part"
	}
	r, err := decodeXARF2(body)
	if err != nil {
		return nil, err.Error()
	}
	return xarf2Notices(r), ""
}

// xarf2Notices returns the one notice of an X-ARF v0.2 report.
func xarf2Notices(r xarf2) []Notice {
	n := Notice{Kind: KindComplaint, Attack: attackFromWords(r.ReportType), Case: r.ReportID, Reporter: r.ReportedFrom}
	attackReport := n.Attack == AttackBruteforce || n.Attack == AttackPortscan
	n.IP = firstIP(r.Source) // also the host of a URL source
	if n.IP == "" && !attackReport {
		// A content report whose Source is a URL by name gives the address
		// that serves it as the Destination.
		n.IP = firstIP(r.Destination)
	}
	e := Event{Time: reportTime(r.Date), Src: n.IP, Reason: r.ReportType}
	switch {
	case !isPort(r.Port) || n.IP == "":
	case attackReport:
		// An attack report's port is the attacked service's, on the victim.
		if ip := firstIP(r.Destination); ip != "" {
			e.Dst = joinHostPort(ip, r.Port)
		}
	default:
		e.Src = joinHostPort(n.IP, r.Port) // a content report's port is the site's
	}
	n.Events = []Event{e}
	return []Notice{n}
}

// xarfYAMLPart returns the YAML report of an X-ARF v0.2 mail: the part named
// report.txt, else the text part that holds its fields.
func xarfYAMLPart(m *mail) ([]byte, bool) {
	for _, p := range m.parts {
		if strings.EqualFold(p.filename, "report.txt") {
			return p.body, true
		}
	}
	for _, p := range m.parts {
		if p.contentType == "text/plain" && bytes.Contains(p.body, []byte("Reported-From:")) && bytes.Contains(p.body, []byte("Report-Type:")) {
			return p.body, true
		}
	}
	return nil, false
}

func decodeXARF2(body []byte) (xarf2, error) {
	if len(body) > maxXARFYAMLBytes {
		return xarf2{}, fmt.Errorf("X-ARF report.txt of %d bytes is larger than %d", len(body), maxXARFYAMLBytes)
	}
	r, ok := flatXARF2(body)
	if !ok {
		r = xarf2{}
		if err := yaml.Unmarshal(body, &r); err != nil {
			return r, fmt.Errorf("X-ARF report.txt is not valid YAML: %v", err)
		}
	}
	if r.ReportType == "" && r.Source == "" {
		return r, fmt.Errorf("X-ARF report.txt has neither Report-Type nor Source")
	}
	return r, nil
}

// flatXARF2 reads the common report.txt that is a flat list of "Name: value"
// lines with plain or single-quoted values, many times faster than the YAML
// decoder. ok is false for anything else (nesting, flow or block values,
// double quotes, comments, repeated names), which goes to the YAML decoder.
func flatXARF2(body []byte) (r xarf2, ok bool) {
	var seen nameSet
	text := string(body)
	for len(text) > 0 {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" || line == "---" {
			continue
		}
		name, value, found := strings.Cut(line, ":")
		value = strings.TrimSpace(value)
		if !found || name == "" || strings.ContainsAny(name[:1], " \t#-") || !plainYAMLValue(value) {
			return xarf2{}, false
		}
		if seen.repeated(name) {
			return xarf2{}, false // YAML rejects a repeated key
		}
		if dst := r.field(name); dst != nil {
			if strings.HasPrefix(value, "'") {
				value = strings.ReplaceAll(value[1:len(value)-1], "''", "'")
			}
			*dst = value
		}
	}
	return r, true
}

// nameSet remembers names: in an array for the few of a usual report, in a
// map beyond, so that a hostile report costs linear time.
type nameSet struct {
	few  [16]string
	n    int
	many map[string]bool
}

// repeated reports whether name was seen before, and remembers it.
func (s *nameSet) repeated(name string) bool {
	if slices.Contains(s.few[:s.n], name) || s.many[name] {
		return true
	}
	if s.n < len(s.few) {
		s.few[s.n] = name
		s.n++
		return false
	}
	if s.many == nil {
		s.many = map[string]bool{}
	}
	s.many[name] = true
	return false
}

// field returns where the report keeps the field name, or nil.
func (r *xarf2) field(name string) *string {
	switch name {
	case "Reported-From":
		return &r.ReportedFrom
	case "Report-Type":
		return &r.ReportType
	case "Report-ID":
		return &r.ReportID
	case "Source":
		return &r.Source
	case "Port":
		return &r.Port
	case "Destination":
		return &r.Destination
	case "Date":
		return &r.Date
	}
	return nil
}

// plainYAMLValue reports whether v means itself in YAML, or is one
// single-quoted string: no indicator that starts a structure, no comment, no
// null or other value that a string field would not take literally.
func plainYAMLValue(v string) bool {
	switch {
	case v == "":
		return false
	case v[0] == '\'':
		inner := v[1:]
		return len(inner) > 0 && inner[len(inner)-1] == '\'' && !strings.Contains(strings.ReplaceAll(inner[:len(inner)-1], "''", ""), "'")
	case strings.ContainsAny(v[:1], "[]{}|>&*!%@\"`#,?:-~"), strings.Contains(v, " #"), strings.Contains(v, ": "):
		return false
	case strings.EqualFold(v, "null"):
		return false
	}
	return true
}

// xarfJSONPart returns the XARF v4 document: an xarf.json attachment, a JSON
// part, or a text part that is a JSON object with a Version and a Report.
// The cheap first byte check keeps ordinary text from being searched.
func xarfJSONPart(m *mail) ([]byte, bool) {
	for _, p := range m.parts {
		switch {
		case strings.EqualFold(p.filename, "xarf.json") || p.contentType == "application/json":
			return p.body, true
		case p.contentType == "text/plain" && bytes.HasPrefix(bytes.TrimLeft(p.body, " \t\r\n"), []byte("{")) &&
			(bytes.Contains(p.body, []byte(`"Report"`)) && bytes.Contains(p.body, []byte(`"Version"`)) ||
				bytes.Contains(p.body, []byte(`"xarf_version"`))):
			return p.body, true
		}
	}
	return nil, false
}

func parseXARF4(body []byte) ([]Notice, error) {
	if len(body) > maxXARFJSONBytes {
		return nil, fmt.Errorf("XARF v4 document of %d bytes is larger than %d", len(body), maxXARFJSONBytes)
	}
	var r xarf4
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, fmt.Errorf("XARF v4 document is not valid JSON: %v", err)
	}
	if v := strings.Trim(string(r.Version), `"`); v != "4" {
		var r40 xarf40
		if json.Unmarshal(body, &r40) == nil && strings.HasPrefix(r40.XARFVersion, "4.") {
			return xarf40Notices(r40), nil
		}
		return nil, fmt.Errorf("XARF document of version %q: %w", v, errNotXARF4)
	}
	rep, who := r.Report, r.ReporterInfo
	return []Notice{xarf4Notice(xarf4Fields{
		typ: rep.ReportType, class: rep.ReportClass, date: rep.Date,
		// The organisation's address names the complainant across its
		// staff; the contact is the person who filed this report.
		reporter: cmp.Or(who.ReporterOrgEmail, who.ReporterContactEmail, who.ReporterOrg),
		src:      rep.SourceIP, srcPort: rep.SourcePort, dst: rep.DestinationIP, dstPort: rep.DestinationPort,
	})}, nil
}

// xarf40Notices returns the one notice of an XARF 4.0.0 report.
func xarf40Notices(r xarf40) []Notice {
	return []Notice{xarf4Notice(xarf4Fields{
		typ: r.Type, class: r.Category, reporter: cmp.Or(r.Reporter.Contact, r.Reporter.Org), id: r.ReportID, date: r.Timestamp,
		src: r.SourceIdentifier, srcPort: r.SourcePort, dst: r.DestinationIP, dstPort: r.DestinationPort,
	})}
}

// xarf4Fields are what a notice takes from an XARF v4 report, whichever
// names the report uses.
type xarf4Fields struct {
	typ, class, reporter, id, date string
	src, dst                       string
	srcPort, dstPort               json.RawMessage
}

// xarf4Notice builds the notice of an XARF v4 report: the attack by its
// type, else its class or category.
func xarf4Notice(f xarf4Fields) Notice {
	n := Notice{Kind: KindComplaint, Attack: attackFromWords(f.typ), Reporter: f.reporter, Case: f.id}
	if n.Attack == AttackUnknown {
		n.Attack = attackFromWords(f.class)
	}
	n.IP = firstIP(f.src)
	e := Event{Time: reportTime(f.date), Src: withPort(n.IP, f.srcPort), Reason: f.typ}
	if ip := firstIP(f.dst); ip != "" {
		e.Dst = withPort(ip, f.dstPort)
	}
	n.Events = []Event{e}
	return n
}

// withPort joins ip with a JSON port (a number or a string) when both are
// valid, else returns ip.
func withPort(ip string, port json.RawMessage) string {
	return withPortString(ip, strings.Trim(string(port), `"`))
}
