// Package ovhtest is an in-process emulator of the parts of the OVHcloud API
// v1 that abusewatch calls: IP blocks, anti-hack, anti-spam, mitigation, the
// Edge Network Firewall, dedicated servers and VPS.
//
// It enforces what the real API enforces on those calls: the signed
// X-Ovh-* headers, the clock skew window, consumer keys that expire and carry
// access rules, percent-encoded IP blocks in paths, and OVH's error bodies.
// Tests and `abusewatch demo` seed it through the Add*/Set* methods.
package ovhtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Default credentials that New registers with every right granted.
const (
	AppKey      = "emu-app-key"
	AppSecret   = "emu-app-secret"
	ConsumerKey = "emu-consumer-key"
)

// MaxSkew is how far a request timestamp may be from the emulator's clock.
const MaxSkew = 30 * time.Second

// AccessRule grants a method on a path pattern, as OVH consumer keys do
// ("GET /ip/*"; * matches anything, / included).
type AccessRule struct {
	Method string
	Path   string
}

// IPBlock is an IP block of the account.
type IPBlock struct {
	Block    string // "51.91.10.0/24"
	Type     string // dedicated, vps, failover, cloud, …
	RoutedTo string // serviceName of the server or VPS
}

// Antihack is an anti-hack block on one IP.
type Antihack struct {
	State        string    // blocked | unblocking
	BlockedSince time.Time // when the block started
	Time         int       // seconds before an unblock is accepted
}

// Spam is an anti-spam block on one IP.
type Spam struct {
	State string // blockedForSpam | unblocking | unblocked
	Date  time.Time
	Time  int // seconds before an unblock is accepted
}

// Mitigation is the DDoS mitigation on one IP.
type Mitigation struct {
	Auto  bool
	State string // ok, creationPending, …
}

// FirewallRule is one Edge Network Firewall rule.
type FirewallRule struct {
	Sequence        int    `json:"sequence"`
	Action          string `json:"action"`   // permit | deny
	Protocol        string `json:"protocol"` // ipv4, tcp, udp, icmp, …
	Source          string `json:"source"`   // CIDR, "" for any
	DestinationPort string `json:"destinationPort,omitempty"`
	State           string `json:"state"` // creationPending | ok | removalPending

	pending int // GETs left before the pending state settles
}

// Dedicated is a dedicated server.
type Dedicated struct {
	Name       string // ns1234.ip-51-91-10.eu
	State      string // ok, error, hacked, hackedBlocked
	BootID     int
	BootType   string // harddisk, rescue, network, …
	PowerState string // poweron, poweroff
}

// VPS is a VPS.
type VPS struct {
	Name        string // vps-1a2b3c.vps.ovh.net
	State       string // running, stopped, rescued, maintenance, …
	NetbootMode string // local | rescue
}

type consumer struct {
	expired bool
	rules   []AccessRule
}

type firewall struct {
	enabled bool
	state   string // creationPending | ok
	pending int    // reads left in creationPending
	rules   map[int]*FirewallRule
}

// Server is the emulator.
type Server struct {
	srv *httptest.Server

	mu          sync.Mutex
	apps        map[string]string // application key → secret
	consumers   map[string]*consumer
	clockOffset time.Duration
	rulePending int
	failNext    []int
	requests    []string
	queryID     int

	blocks     []IPBlock
	antihack   map[netip.Addr]*Antihack
	spam       map[netip.Addr]*Spam
	mitigation map[netip.Addr]*Mitigation
	firewalls  map[netip.Addr]*firewall
	dedicated  map[string]*Dedicated
	vps        map[string]*VPS
}

// New starts an emulator holding the default application and consumer key
// with every right. With t non-nil it is closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{
		apps:       map[string]string{AppKey: AppSecret},
		consumers:  map[string]*consumer{ConsumerKey: {rules: []AccessRule{{"GET", "/*"}, {"POST", "/*"}, {"PUT", "/*"}, {"DELETE", "/*"}}}},
		antihack:   map[netip.Addr]*Antihack{},
		spam:       map[netip.Addr]*Spam{},
		mitigation: map[netip.Addr]*Mitigation{},
		firewalls:  map[netip.Addr]*firewall{},
		dedicated:  map[string]*Dedicated{},
		vps:        map[string]*VPS{},
	}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// URL is the endpoint to give go-ovh (no trailing slash).
func (s *Server) URL() string { return s.srv.URL + "/1.0" }

// Close stops the emulator.
func (s *Server) Close() { s.srv.Close() }

// AddConsumerKey registers a consumer key granted only the given rules.
func (s *Server) AddConsumerKey(ck string, rules ...AccessRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.consumers[ck] = &consumer{rules: rules}
}

// ExpireConsumerKey makes ck invalid, as when its validity ran out.
func (s *Server) ExpireConsumerKey(ck string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.consumers[ck]; c != nil {
		c.expired = true
	}
}

// SetClockOffset sets the emulator's clock to the local clock plus d.
func (s *Server) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.clockOffset = d
}

// SetRulePending makes new firewalls and rules stay creationPending (and
// deleted rules removalPending) for n reads.
func (s *Server) SetRulePending(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rulePending = n
}

// FailNext makes the next requests fail with the given HTTP statuses, in order.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext = append(s.failNext, statuses...)
}

// Requests returns "METHOD /path?query" of every request received.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// AddIPBlock adds an IP block to the account.
func (s *Server) AddIPBlock(b IPBlock) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.blocks = append(s.blocks, b)
}

// SetAntihack puts ip under an anti-hack block.
func (s *Server) SetAntihack(ip string, a Antihack) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.antihack[netip.MustParseAddr(ip)] = &a
}

// SetSpam puts ip under an anti-spam block.
func (s *Server) SetSpam(ip string, sp Spam) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.spam[netip.MustParseAddr(ip)] = &sp
}

// SetMitigation puts ip on DDoS mitigation.
func (s *Server) SetMitigation(ip string, m Mitigation) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mitigation[netip.MustParseAddr(ip)] = &m
}

// SetFirewall creates (or replaces) the firewall on ip with rules in state ok.
func (s *Server) SetFirewall(ip string, enabled bool, rules ...FirewallRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fw := &firewall{enabled: enabled, state: "ok", rules: map[int]*FirewallRule{}}
	for _, r := range rules {
		r.State = "ok"
		fw.rules[r.Sequence] = &r
	}
	s.firewalls[netip.MustParseAddr(ip)] = fw
}

// Firewall returns the firewall on ip: whether it exists, is enabled, and
// its rules by sequence.
func (s *Server) Firewall(ip string) (exists, enabled bool, rules []FirewallRule) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fw := s.firewalls[netip.MustParseAddr(ip)]
	if fw == nil {
		return false, false, nil
	}
	for seq := range 20 {
		if r := fw.rules[seq]; r != nil {
			rules = append(rules, *r)
		}
	}
	return true, fw.enabled, rules
}

// AddDedicated adds a dedicated server.
func (s *Server) AddDedicated(d Dedicated) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d.BootID == 0 {
		d.BootID = 1
	}
	s.dedicated[d.Name] = &d
}

// AddVPS adds a VPS.
func (s *Server) AddVPS(v VPS) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.vps[v.Name] = &v
}

func (s *Server) now() time.Time { return time.Now().Add(s.clockOffset) }

// apiError writes an error the way OVH does: a JSON body with class and
// message (and the errorCode of auth failures) and an X-Ovh-QueryID header.
func apiError(w http.ResponseWriter, status int, class, code, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	body := map[string]string{"class": class, "message": msg}
	if code != "" {
		body["errorCode"] = code
		body["httpCode"] = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	_ = json.NewEncoder(w).Encode(body)
}

func notFound(w http.ResponseWriter, what string) {
	apiError(w, http.StatusNotFound, "Client::NotFound", "", fmt.Sprintf("The requested object (%s) does not exist", what))
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queryID++
	w.Header().Set("X-Ovh-QueryID", fmt.Sprintf("EU.ext-emu.%d", s.queryID))
	s.requests = append(s.requests, r.Method+" "+r.URL.RequestURI())

	raw, ok := strings.CutPrefix(r.URL.EscapedPath(), "/1.0")
	if !ok {
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
		return
	}
	// Split on the escaped path so that a percent-encoded block stays one segment.
	var segs []string
	for _, p := range strings.Split(strings.Trim(raw, "/"), "/") {
		seg, err := url.PathUnescape(p)
		if err != nil {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid path")
			return
		}
		segs = append(segs, seg)
	}
	if len(s.failNext) > 0 {
		status := s.failNext[0]
		s.failNext = s.failNext[1:]
		apiError(w, status, "Server::InternalServerError", "", "Internal server error")
		return
	}
	if r.Method == http.MethodGet && strings.Join(segs, "/") == "auth/time" {
		reply(w, s.now().Unix())
		return
	}
	if !s.authorize(w, r, body, "/"+strings.Join(segs, "/")) {
		return
	}
	s.route(w, r, segs, body)
}

// authorize checks the signed headers, the consumer key and its rights.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request, body []byte, decodedPath string) bool {
	secret, ok := s.apps[r.Header.Get("X-Ovh-Application")]
	if !ok {
		apiError(w, http.StatusForbidden, "Client::Forbidden", "INVALID_KEY", "Invalid application key")
		return false
	}
	ts, err := strconv.ParseInt(r.Header.Get("X-Ovh-Timestamp"), 10, 64)
	if err != nil {
		apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Missing or invalid X-Ovh-Timestamp header")
		return false
	}
	if d := s.now().Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		apiError(w, http.StatusUnauthorized, "Client::Unauthorized", "QUERY_TIME_OUT", "Query out of time")
		return false
	}
	ck := r.Header.Get("X-Ovh-Consumer")
	fullURL := s.srv.URL + r.URL.RequestURI()
	sum := sha1.Sum([]byte(secret + "+" + ck + "+" + r.Method + "+" + fullURL + "+" + string(body) + "+" + strconv.FormatInt(ts, 10)))
	if r.Header.Get("X-Ovh-Signature") != "$1$"+hex.EncodeToString(sum[:]) {
		apiError(w, http.StatusBadRequest, "Client::BadRequest", "INVALID_SIGNATURE", "Invalid signature")
		return false
	}
	c := s.consumers[ck]
	if c == nil || c.expired {
		apiError(w, http.StatusForbidden, "Client::Forbidden", "INVALID_CREDENTIAL", "This credential is not valid")
		return false
	}
	for _, rule := range c.rules {
		if rule.Method == r.Method && globMatch(rule.Path, decodedPath) {
			return true
		}
	}
	apiError(w, http.StatusForbidden, "Client::Forbidden", "NOT_GRANTED_CALL", "This call has not been granted")
	return false
}

// globMatch matches OVH access rule paths, where * stands for anything.
func globMatch(pattern, p string) bool {
	parts := strings.Split(pattern, "*")
	if len(parts) == 1 {
		return pattern == p
	}
	if !strings.HasPrefix(p, parts[0]) {
		return false
	}
	p = p[len(parts[0]):]
	for i, part := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(p, part)
		}
		j := strings.Index(p, part)
		if j < 0 {
			return false
		}
		p = p[j+len(part):]
	}
	return true
}

func (s *Server) route(w http.ResponseWriter, r *http.Request, segs []string, body []byte) {
	m := r.Method
	switch {
	case len(segs) == 1 && segs[0] == "ip" && m == http.MethodGet:
		s.listBlocks(w, r.URL.Query().Get("ip"), r.URL.Query().Get("routedTo.serviceName"))
	case len(segs) >= 2 && segs[0] == "ip":
		s.routeIP(w, m, segs[1], segs[2:], body)
	case len(segs) == 3 && segs[0] == "dedicated" && segs[1] == "server" && m == http.MethodGet:
		d := s.dedicated[segs[2]]
		if d == nil {
			notFound(w, "serviceName = "+segs[2])
			return
		}
		reply(w, map[string]any{"name": d.Name, "state": d.State, "bootId": d.BootID, "powerState": d.PowerState,
			"rescueMail": nil, "monitoring": true, "datacenter": "gra3"})
	case len(segs) == 5 && segs[0] == "dedicated" && segs[1] == "server" && segs[3] == "boot" && m == http.MethodGet:
		d := s.dedicated[segs[2]]
		if d == nil || strconv.Itoa(d.BootID) != segs[4] {
			notFound(w, "bootId = "+segs[4])
			return
		}
		reply(w, map[string]any{"bootId": d.BootID, "bootType": d.BootType, "kernel": d.BootType, "description": d.BootType})
	case len(segs) == 2 && segs[0] == "vps" && m == http.MethodGet:
		v := s.vps[segs[1]]
		if v == nil {
			notFound(w, "serviceName = "+segs[1])
			return
		}
		reply(w, map[string]any{"name": v.Name, "state": v.State, "netbootMode": v.NetbootMode, "zone": "Region OpenStack: os-gra7"})
	default:
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
	}
}

// listBlocks serves GET /ip, filtered as the API does by the IP a block
// holds and by the service it is routed to.
func (s *Server) listBlocks(w http.ResponseWriter, ip, routedTo string) {
	out := []string{}
	var addr netip.Addr
	if ip != "" {
		var err error
		if addr, err = netip.ParseAddr(ip); err != nil {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid IP address: "+ip)
			return
		}
	}
	for _, b := range s.blocks {
		if (ip == "" || netip.MustParsePrefix(b.Block).Contains(addr)) && (routedTo == "" || b.RoutedTo == routedTo) {
			out = append(out, b.Block)
		}
	}
	reply(w, out)
}

func (s *Server) block(name string) (netip.Prefix, bool) {
	for _, b := range s.blocks {
		if b.Block == name {
			return netip.MustParsePrefix(b.Block), true
		}
	}
	return netip.Prefix{}, false
}

// routeIP serves /ip/{block}/…; rest is what follows the block.
func (s *Server) routeIP(w http.ResponseWriter, m, blockName string, rest []string, body []byte) {
	pfx, ok := s.block(blockName)
	if !ok {
		notFound(w, "ip = "+blockName)
		return
	}
	if len(rest) == 0 {
		if m != http.MethodGet {
			apiError(w, http.StatusMethodNotAllowed, "Client::MethodNotAllowed", "", "Method not allowed")
			return
		}
		for _, b := range s.blocks {
			if b.Block == blockName {
				reply(w, map[string]any{"ip": b.Block, "type": b.Type, "routedTo": map[string]any{"serviceName": b.RoutedTo},
					"description": nil, "canBeTerminated": false, "country": "fr"})
			}
		}
		return
	}
	var ip netip.Addr
	if len(rest) >= 2 {
		var err error
		ip, err = netip.ParseAddr(rest[1])
		if err != nil || !pfx.Contains(ip) {
			notFound(w, "ip = "+rest[1])
			return
		}
	}
	switch rest[0] {
	case "antihack":
		s.serveAntihack(w, m, pfx, ip, rest)
	case "spam":
		s.serveSpam(w, m, pfx, ip, rest)
	case "mitigation":
		s.serveMitigation(w, m, pfx, ip, rest)
	case "firewall":
		s.serveFirewall(w, m, pfx, ip, rest, body)
	default:
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
	}
}

func (s *Server) serveAntihack(w http.ResponseWriter, m string, pfx netip.Prefix, ip netip.Addr, rest []string) {
	switch {
	case len(rest) == 1 && m == http.MethodGet:
		out := []string{}
		for a := range s.antihack {
			if pfx.Contains(a) {
				out = append(out, a.String())
			}
		}
		reply(w, out)
	case len(rest) == 2 && m == http.MethodGet:
		a := s.antihack[ip]
		if a == nil {
			notFound(w, "ipBlocked = "+ip.String())
			return
		}
		reply(w, map[string]any{"ipBlocked": ip.String(), "state": a.State, "blockedSince": a.BlockedSince.Format(time.RFC3339),
			"time": a.Time, "logs": "Attack detected from this IP"})
	case len(rest) == 3 && rest[2] == "unblock" && m == http.MethodPost:
		a := s.antihack[ip]
		if a == nil {
			notFound(w, "ipBlocked = "+ip.String())
			return
		}
		if a.Time > 0 {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", fmt.Sprintf("This IP address is still blocked for %d seconds", a.Time))
			return
		}
		delete(s.antihack, ip)
		reply(w, nil)
	default:
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
	}
}

func (s *Server) serveSpam(w http.ResponseWriter, m string, pfx netip.Prefix, ip netip.Addr, rest []string) {
	switch {
	case len(rest) == 1 && m == http.MethodGet:
		out := []string{}
		for a := range s.spam {
			if pfx.Contains(a) {
				out = append(out, a.String())
			}
		}
		reply(w, out)
	case len(rest) == 2 && m == http.MethodGet:
		sp := s.spam[ip]
		if sp == nil {
			notFound(w, "ipSpamming = "+ip.String())
			return
		}
		reply(w, map[string]any{"ipSpamming": ip.String(), "state": sp.State, "date": sp.Date.Format(time.RFC3339), "time": sp.Time})
	case len(rest) == 3 && rest[2] == "unblock" && m == http.MethodPost:
		sp := s.spam[ip]
		if sp == nil {
			notFound(w, "ipSpamming = "+ip.String())
			return
		}
		if sp.Time > 0 {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", fmt.Sprintf("This IP address is still blocked for %d seconds", sp.Time))
			return
		}
		sp.State = "unblocking"
		reply(w, map[string]any{"ipSpamming": ip.String(), "state": sp.State, "date": sp.Date.Format(time.RFC3339), "time": 0})
	default:
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
	}
}

func (s *Server) serveMitigation(w http.ResponseWriter, m string, pfx netip.Prefix, ip netip.Addr, rest []string) {
	switch {
	case len(rest) == 1 && m == http.MethodGet:
		out := []string{}
		for a := range s.mitigation {
			if pfx.Contains(a) {
				out = append(out, a.String())
			}
		}
		reply(w, out)
	case len(rest) == 2 && m == http.MethodGet:
		mi := s.mitigation[ip]
		if mi == nil {
			notFound(w, "ipOnMitigation = "+ip.String())
			return
		}
		reply(w, map[string]any{"ipOnMitigation": ip.String(), "auto": mi.Auto, "permanent": !mi.Auto, "state": mi.State})
	default:
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
	}
}

func (s *Server) serveFirewall(w http.ResponseWriter, m string, pfx netip.Prefix, ip netip.Addr, rest []string, body []byte) {
	if len(rest) == 1 {
		switch m {
		case http.MethodGet:
			out := []string{}
			for a := range s.firewalls {
				if pfx.Contains(a) {
					out = append(out, a.String())
				}
			}
			reply(w, out)
		case http.MethodPost:
			var in struct {
				IPOnFirewall string `json:"ipOnFirewall"`
			}
			err := json.Unmarshal(body, &in)
			a, aerr := netip.ParseAddr(strings.TrimSuffix(in.IPOnFirewall, "/32"))
			if err != nil || aerr != nil || !pfx.Contains(a) {
				apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid ipOnFirewall")
				return
			}
			if s.firewalls[a] != nil {
				apiError(w, http.StatusConflict, "Client::Conflict::AlreadyExists", "", "This IP is already on the firewall")
				return
			}
			fw := &firewall{state: "creationPending", pending: s.rulePending, rules: map[int]*FirewallRule{}}
			if fw.pending == 0 {
				fw.state = "ok"
			}
			s.firewalls[a] = fw
			reply(w, map[string]any{"ipOnFirewall": a.String(), "enabled": false, "state": fw.state})
		default:
			apiError(w, http.StatusMethodNotAllowed, "Client::MethodNotAllowed", "", "Method not allowed")
		}
		return
	}
	fw := s.firewalls[ip]
	if fw == nil {
		notFound(w, "ipOnFirewall = "+ip.String())
		return
	}
	if len(rest) == 2 {
		switch m {
		case http.MethodGet:
			if fw.pending > 0 {
				fw.pending--
			} else {
				fw.state = "ok"
			}
			reply(w, map[string]any{"ipOnFirewall": ip.String(), "enabled": fw.enabled, "state": fw.state})
		case http.MethodPut:
			var in struct {
				Enabled *bool `json:"enabled"`
			}
			if err := json.Unmarshal(body, &in); err != nil || in.Enabled == nil {
				apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid body")
				return
			}
			fw.enabled = *in.Enabled
			reply(w, nil)
		case http.MethodDelete:
			delete(s.firewalls, ip)
			reply(w, nil)
		default:
			apiError(w, http.StatusMethodNotAllowed, "Client::MethodNotAllowed", "", "Method not allowed")
		}
		return
	}
	if rest[2] != "rule" {
		apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
		return
	}
	if len(rest) == 3 {
		s.serveRules(w, m, fw, body)
		return
	}
	seq, err := strconv.Atoi(rest[3])
	r := fw.rules[seq]
	if err != nil || r == nil {
		notFound(w, "sequence = "+rest[3])
		return
	}
	switch m {
	case http.MethodGet:
		if r.pending > 0 {
			r.pending--
		} else if r.State == "removalPending" {
			delete(fw.rules, seq)
			notFound(w, "sequence = "+rest[3])
			return
		} else {
			r.State = "ok"
		}
		reply(w, *r)
	case http.MethodDelete:
		if r.State == "creationPending" {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "The rule is being created")
			return
		}
		if s.rulePending == 0 {
			delete(fw.rules, seq)
		} else {
			r.State, r.pending = "removalPending", s.rulePending
		}
		reply(w, nil)
	default:
		apiError(w, http.StatusMethodNotAllowed, "Client::MethodNotAllowed", "", "Method not allowed")
	}
}

func (s *Server) serveRules(w http.ResponseWriter, m string, fw *firewall, body []byte) {
	switch m {
	case http.MethodGet:
		out := []int{}
		for seq := range 20 {
			if fw.rules[seq] != nil {
				out = append(out, seq)
			}
		}
		reply(w, out)
	case http.MethodPost:
		if fw.state != "ok" {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "The firewall is being created, try again later")
			return
		}
		var in struct {
			Action          string `json:"action"`
			Protocol        string `json:"protocol"`
			Sequence        *int   `json:"sequence"`
			Source          string `json:"source"`
			DestinationPort *int   `json:"destinationPort"`
		}
		if err := json.Unmarshal(body, &in); err != nil || in.Sequence == nil || (in.Action != "permit" && in.Action != "deny") || in.Protocol == "" {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid rule: action, protocol and sequence are required")
			return
		}
		if *in.Sequence < 0 || *in.Sequence > 19 {
			apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid sequence: must be between 0 and 19")
			return
		}
		if in.Source != "" {
			if _, err := netip.ParsePrefix(in.Source); err != nil {
				apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid source: "+in.Source)
				return
			}
		}
		if len(fw.rules) >= 20 {
			apiError(w, http.StatusForbidden, "Client::Forbidden", "", "You can not have more than 20 rules")
			return
		}
		if fw.rules[*in.Sequence] != nil {
			apiError(w, http.StatusConflict, "Client::Conflict::AlreadyExists", "", fmt.Sprintf("A rule with sequence %d already exists", *in.Sequence))
			return
		}
		r := &FirewallRule{Sequence: *in.Sequence, Action: in.Action, Protocol: in.Protocol, Source: in.Source, State: "creationPending", pending: s.rulePending}
		if in.DestinationPort != nil {
			r.DestinationPort = "eq " + strconv.Itoa(*in.DestinationPort)
		}
		if s.rulePending == 0 {
			r.State = "ok"
		}
		fw.rules[r.Sequence] = r
		reply(w, *r)
	default:
		apiError(w, http.StatusMethodNotAllowed, "Client::MethodNotAllowed", "", "Method not allowed")
	}
}
