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
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/providers/internal/emulator"
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

// Server is the emulator. Its FailNext fails requests before they are
// authenticated; its Requests are "METHOD /path?query".
type Server struct {
	emulator.Controls
	core *emulator.Server

	apps        map[string]string // application key → secret
	consumers   map[string]*consumer
	rulePending int
	queryID     int

	blocks     []IPBlock
	antihack   map[netip.Addr]*Antihack
	spam       map[netip.Addr]*Spam
	mitigation map[netip.Addr]*Mitigation
	firewalls  map[netip.Addr]*firewall
	dedicated  map[string]*Dedicated
	vps        map[string]*VPS
	tickets    tickets // tickets.go
	// vmacs are each dedicated server's virtual MACs, in the order added.
	vmacs map[string][]VirtualMAC
}

// VirtualMAC is a virtual MAC of a dedicated server and the failover /
// additional IPs on it, each with the name of the VM the customer gave
// (GET /dedicated/server/{name}/virtualMac/{mac}/virtualAddress/{ip}).
type VirtualMAC struct {
	MAC  string // 02:00:00:ab:cd:ef
	Type string // ovh | vmware
	// VMs maps each IP on the MAC to its virtualMachineName.
	VMs map[string]string
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
		vmacs:      map[string][]VirtualMAC{},
	}
	s.core = emulator.New(t, emulator.Options{Unrouted: func(w http.ResponseWriter, _ *http.Request, status int) {
		if status == http.StatusMethodNotAllowed {
			apiError(w, status, "Client::MethodNotAllowed", "", "Method not allowed")
			return
		}
		invalidURL(w)
	}})
	s.Controls = s.core.Controls()
	s.core.Use(s.queryIDGate, s.core.Faults(func(w http.ResponseWriter, status int) {
		apiError(w, status, "Server::InternalServerError", "", "Internal server error")
	}), s.authorize)
	s.routes()
	s.ticketRoutes()
	return s
}

// URL is the endpoint to give go-ovh (no trailing slash).
func (s *Server) URL() string { return s.core.URL() + "/1.0" }

// AddConsumerKey registers a consumer key granted only the given rules.
func (s *Server) AddConsumerKey(ck string, rules ...AccessRule) {
	s.core.Lock()
	defer s.core.Unlock()
	s.consumers[ck] = &consumer{rules: rules}
}

// ExpireConsumerKey makes ck invalid, as when its validity ran out.
func (s *Server) ExpireConsumerKey(ck string) {
	s.core.Lock()
	defer s.core.Unlock()
	if c := s.consumers[ck]; c != nil {
		c.expired = true
	}
}

// SetClockOffset sets the emulator's clock to the local clock plus d.
func (s *Server) SetClockOffset(d time.Duration) { s.core.SetClockOffset(d) }

// SetRulePending makes new firewalls and rules stay creationPending (and
// deleted rules removalPending) for n reads.
func (s *Server) SetRulePending(n int) {
	s.core.Lock()
	defer s.core.Unlock()
	s.rulePending = n
}

// AddIPBlock adds an IP block to the account.
func (s *Server) AddIPBlock(b IPBlock) {
	s.core.Lock()
	defer s.core.Unlock()
	s.blocks = append(s.blocks, b)
}

// SetAntihack puts ip under an anti-hack block.
func (s *Server) SetAntihack(ip string, a Antihack) {
	s.core.Lock()
	defer s.core.Unlock()
	s.antihack[netip.MustParseAddr(ip)] = &a
}

// SetSpam puts ip under an anti-spam block.
func (s *Server) SetSpam(ip string, sp Spam) {
	s.core.Lock()
	defer s.core.Unlock()
	s.spam[netip.MustParseAddr(ip)] = &sp
}

// SetMitigation puts ip on DDoS mitigation.
func (s *Server) SetMitigation(ip string, m Mitigation) {
	s.core.Lock()
	defer s.core.Unlock()
	s.mitigation[netip.MustParseAddr(ip)] = &m
}

// SetFirewall creates (or replaces) the firewall on ip with rules in state ok.
func (s *Server) SetFirewall(ip string, enabled bool, rules ...FirewallRule) {
	s.core.Lock()
	defer s.core.Unlock()
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
	s.core.Lock()
	defer s.core.Unlock()
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
	s.core.Lock()
	defer s.core.Unlock()
	if d.BootID == 0 {
		d.BootID = 1
	}
	s.dedicated[d.Name] = &d
}

// AddVPS adds a VPS.
func (s *Server) AddVPS(v VPS) {
	s.core.Lock()
	defer s.core.Unlock()
	s.vps[v.Name] = &v
}

// apiError writes an error the way OVH does: a JSON body with class and
// message (and the errorCode of auth failures) and an X-Ovh-QueryID header.
func apiError(w http.ResponseWriter, status int, class, code, msg string) {
	body := map[string]string{"class": class, "message": msg}
	if code != "" {
		body["errorCode"] = code
		body["httpCode"] = fmt.Sprintf("%d %s", status, http.StatusText(status))
	}
	emulator.WriteJSON(w, status, body)
}

func notFound(w http.ResponseWriter, what string) {
	apiError(w, http.StatusNotFound, "Client::NotFound", "", fmt.Sprintf("The requested object (%s) does not exist", what))
}

func invalidURL(w http.ResponseWriter) {
	apiError(w, http.StatusNotFound, "Client::NotFound", "", "Got an invalid (or empty) URL")
}

func reply(w http.ResponseWriter, v any) { emulator.WriteJSON(w, http.StatusOK, v) }

// queryIDGate stamps every answer with an X-Ovh-QueryID, as OVH does.
func (s *Server) queryIDGate(w http.ResponseWriter, _ *http.Request) bool {
	s.queryID++
	w.Header().Set("X-Ovh-QueryID", fmt.Sprintf("EU.ext-emu.%d", s.queryID))
	return true
}

// authorize checks the signed headers, the consumer key and its rights;
// GET /auth/time is the one call that needs none.
func (s *Server) authorize(w http.ResponseWriter, r *http.Request) bool {
	decodedPath, ok := strings.CutPrefix(r.URL.Path, "/1.0")
	if !ok {
		invalidURL(w)
		return false
	}
	if r.Method == http.MethodGet && decodedPath == "/auth/time" {
		return true
	}
	decodedPath = "/" + strings.Trim(decodedPath, "/")
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
	if d := s.core.Now().Sub(time.Unix(ts, 0)); d > MaxSkew || d < -MaxSkew {
		apiError(w, http.StatusUnauthorized, "Client::Unauthorized", "QUERY_TIME_OUT", "Query out of time")
		return false
	}
	ck := r.Header.Get("X-Ovh-Consumer")
	fullURL := s.core.URL() + r.URL.RequestURI()
	sum := sha1.Sum([]byte(secret + "+" + ck + "+" + r.Method + "+" + fullURL + "+" + string(emulator.Body(r)) + "+" + strconv.FormatInt(ts, 10)))
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

func (s *Server) routes() {
	c := s.core
	c.Handle("GET /1.0/auth/time", func(w http.ResponseWriter, _ *http.Request) { reply(w, s.core.Now().Unix()) })
	c.Handle("GET /1.0/ip", s.listBlocks)
	c.Handle("GET /1.0/ip/{block}", s.inBlock(s.getBlock))
	c.Handle("GET /1.0/ip/{block}/antihack", s.inBlock(listIn(func() map[netip.Addr]*Antihack { return s.antihack })))
	c.Handle("GET /1.0/ip/{block}/antihack/{ip}", s.inBlock(s.getAntihack))
	c.Handle("POST /1.0/ip/{block}/antihack/{ip}/unblock", s.inBlock(s.unblockAntihack))
	c.Handle("GET /1.0/ip/{block}/spam", s.inBlock(listIn(func() map[netip.Addr]*Spam { return s.spam })))
	c.Handle("GET /1.0/ip/{block}/spam/{ip}", s.inBlock(s.getSpam))
	c.Handle("POST /1.0/ip/{block}/spam/{ip}/unblock", s.inBlock(s.unblockSpam))
	c.Handle("GET /1.0/ip/{block}/mitigation", s.inBlock(listIn(func() map[netip.Addr]*Mitigation { return s.mitigation })))
	c.Handle("GET /1.0/ip/{block}/mitigation/{ip}", s.inBlock(s.getMitigation))
	c.Handle("GET /1.0/ip/{block}/firewall", s.inBlock(listIn(func() map[netip.Addr]*firewall { return s.firewalls })))
	c.Handle("POST /1.0/ip/{block}/firewall", s.inBlock(s.addFirewall))
	c.Handle("GET /1.0/ip/{block}/firewall/{ip}", s.onFirewall(s.getFirewall))
	c.Handle("PUT /1.0/ip/{block}/firewall/{ip}", s.onFirewall(s.putFirewall))
	c.Handle("DELETE /1.0/ip/{block}/firewall/{ip}", s.onFirewall(s.deleteFirewall))
	c.Handle("GET /1.0/ip/{block}/firewall/{ip}/rule", s.onFirewall(s.listRules))
	c.Handle("POST /1.0/ip/{block}/firewall/{ip}/rule", s.onFirewall(s.addRule))
	c.Handle("GET /1.0/ip/{block}/firewall/{ip}/rule/{seq}", s.onRule(s.getRule))
	c.Handle("DELETE /1.0/ip/{block}/firewall/{ip}/rule/{seq}", s.onRule(s.deleteRule))
	c.Handle("GET /1.0/dedicated/server/{name}", s.getDedicated)
	c.Handle("GET /1.0/dedicated/server/{name}/boot/{id}", s.getBoot)
	c.Handle("GET /1.0/vps/{name}", s.getVPS)
	c.Handle("GET /1.0/dedicated/server/{name}/virtualMac", s.listVirtualMACs)
	c.Handle("GET /1.0/dedicated/server/{name}/virtualMac/{mac}", s.onVirtualMAC(func(w http.ResponseWriter, _ *http.Request, m VirtualMAC) {
		reply(w, map[string]any{"macAddress": m.MAC, "type": m.Type})
	}))
	c.Handle("GET /1.0/dedicated/server/{name}/virtualMac/{mac}/virtualAddress", s.onVirtualMAC(func(w http.ResponseWriter, _ *http.Request, m VirtualMAC) {
		ips := make([]string, 0, len(m.VMs))
		for ip := range m.VMs {
			ips = append(ips, ip)
		}
		slices.Sort(ips)
		reply(w, ips)
	}))
	c.Handle("GET /1.0/dedicated/server/{name}/virtualMac/{mac}/virtualAddress/{ip}", s.onVirtualMAC(func(w http.ResponseWriter, r *http.Request, m VirtualMAC) {
		ip := r.PathValue("ip")
		name, ok := m.VMs[ip]
		if !ok {
			notFound(w, "ipAddress = "+ip)
			return
		}
		reply(w, map[string]any{"ipAddress": ip, "virtualMachineName": name})
	}))
}

// AddVirtualMAC gives the dedicated server named server a virtual MAC.
func (s *Server) AddVirtualMAC(server string, m VirtualMAC) {
	s.core.Lock()
	defer s.core.Unlock()
	s.vmacs[server] = append(s.vmacs[server], m)
}

func (s *Server) listVirtualMACs(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	if s.dedicated[name] == nil {
		notFound(w, "serviceName = "+name)
		return
	}
	macs := []string{}
	for _, m := range s.vmacs[name] {
		macs = append(macs, m.MAC)
	}
	reply(w, macs)
}

// onVirtualMAC finds the path's {mac} on the server {name}.
func (s *Server) onVirtualMAC(h func(w http.ResponseWriter, r *http.Request, m VirtualMAC)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name, mac := r.PathValue("name"), r.PathValue("mac")
		if s.dedicated[name] == nil {
			notFound(w, "serviceName = "+name)
			return
		}
		i := slices.IndexFunc(s.vmacs[name], func(m VirtualMAC) bool { return m.MAC == mac })
		if i < 0 {
			notFound(w, "macAddress = "+mac)
			return
		}
		h(w, r, s.vmacs[name][i])
	}
}

func (s *Server) getDedicated(w http.ResponseWriter, r *http.Request) {
	d := s.dedicated[r.PathValue("name")]
	if d == nil {
		notFound(w, "serviceName = "+r.PathValue("name"))
		return
	}
	reply(w, map[string]any{"name": d.Name, "state": d.State, "bootId": d.BootID, "powerState": d.PowerState,
		"rescueMail": nil, "monitoring": true, "datacenter": "gra3"})
}

func (s *Server) getBoot(w http.ResponseWriter, r *http.Request) {
	d := s.dedicated[r.PathValue("name")]
	if d == nil || strconv.Itoa(d.BootID) != r.PathValue("id") {
		notFound(w, "bootId = "+r.PathValue("id"))
		return
	}
	reply(w, map[string]any{"bootId": d.BootID, "bootType": d.BootType, "kernel": d.BootType, "description": d.BootType})
}

func (s *Server) getVPS(w http.ResponseWriter, r *http.Request) {
	v := s.vps[r.PathValue("name")]
	if v == nil {
		notFound(w, "serviceName = "+r.PathValue("name"))
		return
	}
	reply(w, map[string]any{"name": v.Name, "state": v.State, "netbootMode": v.NetbootMode, "zone": "Region OpenStack: os-gra7"})
}

// listBlocks serves GET /ip, filtered as the API does by the IP a block
// holds and by the service it is routed to.
func (s *Server) listBlocks(w http.ResponseWriter, r *http.Request) {
	ip, routedTo := r.URL.Query().Get("ip"), r.URL.Query().Get("routedTo.serviceName")
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

// inBlock resolves the path's {block} (percent-encoded: one segment) to a
// block of the account and its {ip}, when the pattern has one, to an
// address inside it; otherwise it answers not found.
func (s *Server) inBlock(h func(w http.ResponseWriter, r *http.Request, b IPBlock, ip netip.Addr)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("block")
		i := slices.IndexFunc(s.blocks, func(b IPBlock) bool { return b.Block == name })
		if i < 0 {
			notFound(w, "ip = "+name)
			return
		}
		b := s.blocks[i]
		var ip netip.Addr
		if raw := r.PathValue("ip"); raw != "" {
			var err error
			ip, err = netip.ParseAddr(raw)
			if err != nil || !netip.MustParsePrefix(b.Block).Contains(ip) {
				notFound(w, "ip = "+raw)
				return
			}
		}
		h(w, r, b, ip)
	}
}

func (s *Server) getBlock(w http.ResponseWriter, _ *http.Request, b IPBlock, _ netip.Addr) {
	reply(w, map[string]any{"ip": b.Block, "type": b.Type, "routedTo": map[string]any{"serviceName": b.RoutedTo},
		"description": nil, "canBeTerminated": false, "country": "fr"})
}

// listIn serves the list of a block's IPs under one kind of measure; of
// returns the measures, read when the request is served.
func listIn[V any](of func() map[netip.Addr]V) func(w http.ResponseWriter, r *http.Request, b IPBlock, _ netip.Addr) {
	return func(w http.ResponseWriter, _ *http.Request, b IPBlock, _ netip.Addr) {
		pfx := netip.MustParsePrefix(b.Block)
		out := []string{}
		for a := range of() {
			if pfx.Contains(a) {
				out = append(out, a.String())
			}
		}
		slices.Sort(out)
		reply(w, out)
	}
}

func (s *Server) getAntihack(w http.ResponseWriter, _ *http.Request, _ IPBlock, ip netip.Addr) {
	a := s.antihack[ip]
	if a == nil {
		notFound(w, "ipBlocked = "+ip.String())
		return
	}
	reply(w, map[string]any{"ipBlocked": ip.String(), "state": a.State, "blockedSince": a.BlockedSince.Format(time.RFC3339),
		"time": a.Time, "logs": "Attack detected from this IP"})
}

func (s *Server) unblockAntihack(w http.ResponseWriter, _ *http.Request, _ IPBlock, ip netip.Addr) {
	a := s.antihack[ip]
	if a == nil {
		notFound(w, "ipBlocked = "+ip.String())
		return
	}
	if a.Time > 0 {
		stillBlocked(w, a.Time)
		return
	}
	delete(s.antihack, ip)
	reply(w, nil)
}

func stillBlocked(w http.ResponseWriter, seconds int) {
	apiError(w, http.StatusBadRequest, "Client::BadRequest", "", fmt.Sprintf("This IP address is still blocked for %d seconds", seconds))
}

func (s *Server) getSpam(w http.ResponseWriter, _ *http.Request, _ IPBlock, ip netip.Addr) {
	sp := s.spam[ip]
	if sp == nil {
		notFound(w, "ipSpamming = "+ip.String())
		return
	}
	reply(w, map[string]any{"ipSpamming": ip.String(), "state": sp.State, "date": sp.Date.Format(time.RFC3339), "time": sp.Time})
}

func (s *Server) unblockSpam(w http.ResponseWriter, _ *http.Request, _ IPBlock, ip netip.Addr) {
	sp := s.spam[ip]
	if sp == nil {
		notFound(w, "ipSpamming = "+ip.String())
		return
	}
	if sp.Time > 0 {
		stillBlocked(w, sp.Time)
		return
	}
	sp.State = "unblocking"
	reply(w, map[string]any{"ipSpamming": ip.String(), "state": sp.State, "date": sp.Date.Format(time.RFC3339), "time": 0})
}

func (s *Server) getMitigation(w http.ResponseWriter, _ *http.Request, _ IPBlock, ip netip.Addr) {
	mi := s.mitigation[ip]
	if mi == nil {
		notFound(w, "ipOnMitigation = "+ip.String())
		return
	}
	reply(w, map[string]any{"ipOnMitigation": ip.String(), "auto": mi.Auto, "permanent": !mi.Auto, "state": mi.State})
}

func (s *Server) addFirewall(w http.ResponseWriter, r *http.Request, b IPBlock, _ netip.Addr) {
	var in struct {
		IPOnFirewall string `json:"ipOnFirewall"`
	}
	err := emulator.DecodeJSON(r, &in)
	a, aerr := netip.ParseAddr(strings.TrimSuffix(in.IPOnFirewall, "/32"))
	if err != nil || aerr != nil || !netip.MustParsePrefix(b.Block).Contains(a) {
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
}

// onFirewall resolves {block}/firewall/{ip} to the firewall on ip.
func (s *Server) onFirewall(h func(w http.ResponseWriter, r *http.Request, ip netip.Addr, fw *firewall)) http.HandlerFunc {
	return s.inBlock(func(w http.ResponseWriter, r *http.Request, _ IPBlock, ip netip.Addr) {
		fw := s.firewalls[ip]
		if fw == nil {
			notFound(w, "ipOnFirewall = "+ip.String())
			return
		}
		h(w, r, ip, fw)
	})
}

func (s *Server) getFirewall(w http.ResponseWriter, _ *http.Request, ip netip.Addr, fw *firewall) {
	if fw.pending > 0 {
		fw.pending--
	} else {
		fw.state = "ok"
	}
	reply(w, map[string]any{"ipOnFirewall": ip.String(), "enabled": fw.enabled, "state": fw.state})
}

func (s *Server) putFirewall(w http.ResponseWriter, r *http.Request, _ netip.Addr, fw *firewall) {
	var in struct {
		Enabled *bool `json:"enabled"`
	}
	if err := emulator.DecodeJSON(r, &in); err != nil || in.Enabled == nil {
		apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "Invalid body")
		return
	}
	fw.enabled = *in.Enabled
	reply(w, nil)
}

func (s *Server) deleteFirewall(w http.ResponseWriter, _ *http.Request, ip netip.Addr, _ *firewall) {
	delete(s.firewalls, ip)
	reply(w, nil)
}

func (s *Server) listRules(w http.ResponseWriter, _ *http.Request, _ netip.Addr, fw *firewall) {
	out := []int{}
	for seq := range 20 {
		if fw.rules[seq] != nil {
			out = append(out, seq)
		}
	}
	reply(w, out)
}

func (s *Server) addRule(w http.ResponseWriter, r *http.Request, _ netip.Addr, fw *firewall) {
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
	if err := emulator.DecodeJSON(r, &in); err != nil || in.Sequence == nil || (in.Action != "permit" && in.Action != "deny") || in.Protocol == "" {
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
	rule := &FirewallRule{Sequence: *in.Sequence, Action: in.Action, Protocol: in.Protocol, Source: in.Source, State: "creationPending", pending: s.rulePending}
	if in.DestinationPort != nil {
		rule.DestinationPort = "eq " + strconv.Itoa(*in.DestinationPort)
	}
	if s.rulePending == 0 {
		rule.State = "ok"
	}
	fw.rules[rule.Sequence] = rule
	reply(w, *rule)
}

// onRule resolves …/rule/{seq} to the rule of that sequence.
func (s *Server) onRule(h func(w http.ResponseWriter, fw *firewall, rule *FirewallRule)) http.HandlerFunc {
	return s.onFirewall(func(w http.ResponseWriter, r *http.Request, _ netip.Addr, fw *firewall) {
		seq, err := strconv.Atoi(r.PathValue("seq"))
		rule := fw.rules[seq]
		if err != nil || rule == nil {
			notFound(w, "sequence = "+r.PathValue("seq"))
			return
		}
		h(w, fw, rule)
	})
}

func (s *Server) getRule(w http.ResponseWriter, fw *firewall, rule *FirewallRule) {
	switch {
	case rule.pending > 0:
		rule.pending--
	case rule.State == "removalPending":
		delete(fw.rules, rule.Sequence)
		notFound(w, "sequence = "+strconv.Itoa(rule.Sequence))
		return
	default:
		rule.State = "ok"
	}
	reply(w, *rule)
}

func (s *Server) deleteRule(w http.ResponseWriter, fw *firewall, rule *FirewallRule) {
	if rule.State == "creationPending" {
		apiError(w, http.StatusBadRequest, "Client::BadRequest", "", "The rule is being created")
		return
	}
	if s.rulePending == 0 {
		delete(fw.rules, rule.Sequence)
	} else {
		rule.State, rule.pending = "removalPending", s.rulePending
	}
	reply(w, nil)
}
