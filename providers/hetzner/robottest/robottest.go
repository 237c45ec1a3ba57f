// Package robottest is an in-process emulator of the Hetzner Robot
// webservice calls abusewatch makes: /ip, /server, /boot/{n}/rescue and
// /firewall.
//
// It enforces what Robot enforces: HTTP Basic auth with the caller locked
// out for 10 minutes after 3 failed logins, form-encoded POST bodies only,
// one-key JSON envelopes, error envelopes, hourly limits per endpoint family
// answered with 403 RATE_LIMIT_EXCEEDED, and a firewall that stays
// "in process" for a while after each change (409 FIREWALL_IN_PROCESS) and
// holds at most 10 rules per direction. Its clock can be advanced, so tests
// wait out limits and locks without sleeping.
package robottest

import (
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/providers/internal/emulator"
)

// Default credentials of New.
const (
	User     = "#ws+emu1234"
	Password = "emu-robot-password"
)

// Limits per hour of the real Robot, per endpoint family.
var Limits = map[string]int{"/ip": 5000, "/server": 200, "/boot": 500, "POST /reset": 50}

// Dedicated seeds a Robot server; its main IP is added as an IP of the account.
type Dedicated struct {
	Number  int
	Name    string
	IP      string
	Product string
	DC      string
	Status  string // ready | in process
}

// Rule is a firewall rule; fields as in Robot's JSON.
type Rule struct {
	IPVersion string `json:"ip_version"`
	Name      string `json:"name"`
	DstIP     string `json:"dst_ip"`
	SrcIP     string `json:"src_ip"`
	DstPort   string `json:"dst_port"`
	SrcPort   string `json:"src_port"`
	Protocol  string `json:"protocol"`
	TCPFlags  string `json:"tcp_flags"`
	Action    string `json:"action"`
}

// Firewall is a server's firewall.
type Firewall struct {
	Status       string // active | disabled
	FilterIPv6   bool
	WhitelistHOS bool
	Input        []Rule
	Output       []Rule

	applyUntil time.Time // "in process" until then
}

type ipEntry struct {
	ip      string
	server  int
	locked  bool
	warning bool
}

type rescue struct {
	active   bool
	os, arch string
}

// LockAfter failed logins from one address within LockFor, Robot blocks
// that address for LockFor, whatever the password of its next requests.
const (
	LockAfter = 3
	LockFor   = 10 * time.Minute
)

// Server is the Robot emulator. Its FailNext fails authenticated requests
// (a 503 is answered as maintenance); its Requests are "METHOD /path",
// failed logins included.
type Server struct {
	emulator.Controls
	core *emulator.Server

	user, pass   string
	failedLogin  map[string][]time.Time // by client address, within LockFor
	failedLogins int                    // ever
	lockedUntil  map[string]time.Time
	limits       map[string]*emulator.Window
	maxKey       string
	applyDelay   time.Duration

	ips       map[string]*ipEntry
	servers   map[int]*Dedicated
	rescues   map[int]*rescue
	firewalls map[int]*Firewall
}

// New starts an emulator accepting User and Password, with Robot's hourly
// limits. With t non-nil it is closed when the test ends.
func New(t testing.TB) *Server {
	e := &Server{
		user: User, pass: Password,
		failedLogin: map[string][]time.Time{}, lockedUntil: map[string]time.Time{},
		limits: map[string]*emulator.Window{}, maxKey: "max_requests",
		ips: map[string]*ipEntry{}, servers: map[int]*Dedicated{}, rescues: map[int]*rescue{}, firewalls: map[int]*Firewall{},
	}
	for k, v := range Limits {
		e.limits[k] = &emulator.Window{Limit: v, Period: time.Hour}
	}
	e.core = emulator.New(t, emulator.Options{
		Record: func(r *http.Request) string { return r.Method + " " + r.URL.Path },
		Unrouted: func(w http.ResponseWriter, _ *http.Request, status int) {
			if status == http.StatusMethodNotAllowed {
				robotError(w, status, "METHOD_NOT_ALLOWED", "Method not allowed", nil)
				return
			}
			robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found", nil)
		},
	})
	e.Controls = e.core.Controls()
	e.core.Use(e.login, e.rateLimit, e.core.Faults(func(w http.ResponseWriter, status int) {
		if status == http.StatusServiceUnavailable {
			robotError(w, status, "MAINTENANCE", "The webservice is in maintenance", nil)
		} else {
			robotError(w, status, "INTERNAL_ERROR", "Internal error", nil)
		}
	}), formOnly)
	e.core.Handle("GET /ip/{ip}", e.getIP)
	e.core.Handle("GET /server", e.listServers)
	e.core.Handle("GET /server/{number}", e.getServer)
	e.core.Handle("GET /boot/{number}/rescue", e.getRescue)
	e.core.Handle("GET /firewall/{number}", e.getFirewall)
	e.core.Handle("POST /firewall/{number}", e.postFirewall)
	return e
}

// URL is the endpoint to give the client.
func (e *Server) URL() string { return e.core.URL() }

// Advance moves the emulator's clock forward.
func (e *Server) Advance(d time.Duration) { e.core.Advance(d) }

// SetLimit sets family's limit to n requests per window (Robot: per hour).
func (e *Server) SetLimit(family string, n int, window time.Duration) {
	e.core.Lock()
	defer e.core.Unlock()
	e.limits[family] = &emulator.Window{Limit: n, Period: window}
}

// SetMaxRequestKey names the rate-limit field: "max_requests" (what Robot
// sends) or "max_request" (what it documents).
func (e *Server) SetMaxRequestKey(key string) {
	e.core.Lock()
	defer e.core.Unlock()
	e.maxKey = key
}

// SetApplyDelay is how long the firewall stays "in process" after a change.
func (e *Server) SetApplyDelay(d time.Duration) {
	e.core.Lock()
	defer e.core.Unlock()
	e.applyDelay = d
}

// FailedLogins is how many requests came with a wrong user or password
// (those refused while the address was blocked not included).
func (e *Server) FailedLogins() int {
	e.core.Lock()
	defer e.core.Unlock()
	return e.failedLogins
}

// AddDedicated adds a server, its main IP, an inactive rescue system and a
// disabled, empty firewall.
func (e *Server) AddDedicated(s Dedicated) {
	e.core.Lock()
	defer e.core.Unlock()
	if s.Status == "" {
		s.Status = "ready"
	}
	e.servers[s.Number] = &s
	e.ips[s.IP] = &ipEntry{ip: s.IP, server: s.Number}
	e.rescues[s.Number] = &rescue{}
	e.firewalls[s.Number] = &Firewall{Status: "disabled"}
}

// AddIP adds an additional IP routed to server.
func (e *Server) AddIP(ip string, server int) {
	e.core.Lock()
	defer e.core.Unlock()
	e.ips[ip] = &ipEntry{ip: ip, server: server}
}

// SetLocked locks or unlocks an IP, as Hetzner does on abuse.
func (e *Server) SetLocked(ip string, locked bool) {
	e.core.Lock()
	defer e.core.Unlock()
	e.ips[ip].locked = locked
}

// SetRescue activates (os, arch) or deactivates the rescue system.
func (e *Server) SetRescue(server int, active bool, os, arch string) {
	e.core.Lock()
	defer e.core.Unlock()
	e.rescues[server] = &rescue{active: active, os: os, arch: arch}
}

// SetFirewall replaces a server's firewall, applied at once.
func (e *Server) SetFirewall(server int, fw Firewall) {
	e.core.Lock()
	defer e.core.Unlock()
	e.firewalls[server] = &fw
}

// Firewall returns a server's firewall as it stands.
func (e *Server) Firewall(server int) Firewall {
	e.core.Lock()
	defer e.core.Unlock()
	fw := *e.firewalls[server]
	fw.applyUntil = time.Time{}
	return fw
}

func robotError(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	body := map[string]any{"status": status, "code": code, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	emulator.WriteJSON(w, status, map[string]any{"error": body})
}

func reply(w http.ResponseWriter, v any) { emulator.WriteJSON(w, http.StatusOK, v) }

func family(method, path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "reset" && method == http.MethodPost {
		return "POST /reset"
	}
	return "/" + seg
}

// login is Robot's Basic auth: LockAfter failed logins from one address
// within LockFor block that address for LockFor, even for the right
// password.
func (e *Server) login(w http.ResponseWriter, r *http.Request) bool {
	now := e.core.Now()
	client, _, _ := net.SplitHostPort(r.RemoteAddr)
	if until, ok := e.lockedUntil[client]; ok && now.Before(until) {
		robotError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Too many failed logins: blocked for 10 minutes", nil)
		return false
	}
	user, pass, ok := r.BasicAuth()
	if ok && user == e.user && pass == e.pass {
		e.failedLogin[client] = nil
		return true
	}
	e.failedLogins++
	fails := append(e.failedLogin[client], now)
	for len(fails) > 0 && now.Sub(fails[0]) > LockFor {
		fails = fails[1:]
	}
	e.failedLogin[client] = fails
	if len(fails) >= LockAfter {
		e.lockedUntil[client] = now.Add(LockFor)
		e.failedLogin[client] = nil
	}
	// Robot answers a failed login with a bare 401 and no envelope.
	w.Header().Set("WWW-Authenticate", `Basic realm="Webservice"`)
	http.Error(w, "Unauthorized", http.StatusUnauthorized)
	return false
}

// rateLimit applies the hourly limit of the request's endpoint family.
func (e *Server) rateLimit(w http.ResponseWriter, r *http.Request) bool {
	l, ok := e.limits[family(r.Method, r.URL.Path)]
	if !ok {
		return true
	}
	now := e.core.Now()
	ok, _, reset := l.Take(now)
	if !ok {
		wait := int(reset.Sub(now).Seconds() + 0.999)
		robotError(w, http.StatusForbidden, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded",
			map[string]any{e.maxKey: l.Limit, "interval": max(wait, 1)})
	}
	return ok
}

// formOnly refuses a POST whose body is not form-encoded, as Robot does.
func formOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		return true
	}
	if _, err := emulator.Form(r); err != nil {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "Invalid input parameters: "+err.Error(),
			map[string]any{"missing": []string{"status"}, "invalid": nil})
		return false
	}
	return true
}

func (e *Server) getIP(w http.ResponseWriter, r *http.Request) {
	ip := e.ips[r.PathValue("ip")]
	if ip == nil {
		robotError(w, http.StatusNotFound, "IP_NOT_FOUND", "IP not found", nil)
		return
	}
	srv := e.servers[ip.server]
	reply(w, map[string]any{"ip": map[string]any{"ip": ip.ip, "server_ip": srv.IP, "server_number": srv.Number,
		"locked": ip.locked, "separate_mac": nil, "traffic_warnings": ip.warning, "traffic_hourly": 50, "traffic_daily": 50, "traffic_monthly": 5}})
}

func (e *Server) getServer(w http.ResponseWriter, r *http.Request) {
	srv := e.server(w, r)
	if srv == nil {
		return
	}
	var ips []string
	for _, ip := range e.ips {
		if ip.server == srv.Number {
			ips = append(ips, ip.ip)
		}
	}
	slices.Sort(ips)
	reply(w, map[string]any{"server": map[string]any{"server_ip": srv.IP, "server_number": srv.Number, "server_name": srv.Name,
		"product": srv.Product, "dc": srv.DC, "traffic": "unlimited", "status": srv.Status, "cancelled": false,
		"paid_until": "2027-01-31", "ip": ips, "subnet": nil}})
}

// listServers is GET /server: every server, in short form, by number.
func (e *Server) listServers(w http.ResponseWriter, _ *http.Request) {
	numbers := slices.Sorted(maps.Keys(e.servers))
	out := make([]map[string]any, 0, len(numbers))
	for _, n := range numbers {
		srv := e.servers[n]
		out = append(out, map[string]any{"server": map[string]any{"server_ip": srv.IP, "server_number": srv.Number,
			"server_name": srv.Name, "product": srv.Product, "dc": srv.DC, "status": srv.Status}})
	}
	reply(w, out)
}

func (e *Server) getRescue(w http.ResponseWriter, r *http.Request) {
	srv := e.server(w, r)
	if srv == nil {
		return
	}
	res := e.rescues[srv.Number]
	body := map[string]any{"server_ip": srv.IP, "server_number": srv.Number, "active": res.active,
		"os": []string{"linux", "vkvm"}, "arch": []int{64}, "password": nil, "authorized_key": []any{}, "host_key": []any{}}
	if res.active {
		// Active: os and arch are the chosen values, not lists.
		arch, _ := strconv.Atoi(res.arch)
		body["os"], body["arch"], body["password"] = res.os, arch, "emu-rescue-pw"
	}
	reply(w, map[string]any{"rescue": body})
}

func (e *Server) getFirewall(w http.ResponseWriter, r *http.Request) {
	if srv := e.server(w, r); srv != nil {
		reply(w, e.firewallJSON(srv, e.core.Now()))
	}
}

// server is the server the path's {number} names, or nil once it answered
// SERVER_NOT_FOUND.
func (e *Server) server(w http.ResponseWriter, r *http.Request) *Dedicated {
	n, err := strconv.Atoi(r.PathValue("number"))
	srv := e.servers[n]
	if err != nil || srv == nil {
		robotError(w, http.StatusNotFound, "SERVER_NOT_FOUND", "Server not found", nil)
		return nil
	}
	return srv
}

func (e *Server) firewallJSON(srv *Dedicated, now time.Time) map[string]any {
	fw := e.firewalls[srv.Number]
	status := fw.Status
	if now.Before(fw.applyUntil) {
		status = "in process"
	}
	nonNil := func(r []Rule) []Rule {
		if r == nil {
			return []Rule{}
		}
		return r
	}
	return map[string]any{"firewall": map[string]any{"server_ip": srv.IP, "server_number": srv.Number, "status": status,
		"filter_ipv6": fw.FilterIPv6, "whitelist_hos": fw.WhitelistHOS, "port": "main",
		"rules": map[string]any{"input": nonNil(fw.Input), "output": nonNil(fw.Output)}}}
}

// postFirewall replaces the configuration from the form, as Robot does.
func (e *Server) postFirewall(w http.ResponseWriter, r *http.Request) {
	srv := e.server(w, r)
	if srv == nil {
		return
	}
	now := e.core.Now()
	fw := e.firewalls[srv.Number]
	if now.Before(fw.applyUntil) {
		robotError(w, http.StatusConflict, "FIREWALL_IN_PROCESS", "The firewall cannot be updated while it is in process", nil)
		return
	}
	form, err := emulator.Form(r)
	if err != nil {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "Invalid input parameters", nil)
		return
	}
	next, invalid := decodeForm(form)
	if len(invalid) > 0 {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "Invalid input parameters", map[string]any{"missing": nil, "invalid": invalid})
		return
	}
	if len(next.Input) > 10 || len(next.Output) > 10 {
		robotError(w, http.StatusConflict, "FIREWALL_RULE_LIMIT_EXCEEDED", "The maximum number of 10 rules per direction is exceeded", nil)
		return
	}
	next.applyUntil = now.Add(e.applyDelay)
	e.firewalls[srv.Number] = next
	reply(w, e.firewallJSON(srv, now))
}

var ruleFields = map[string]bool{"ip_version": true, "name": true, "dst_ip": true, "src_ip": true, "dst_port": true,
	"src_port": true, "protocol": true, "tcp_flags": true, "action": true}

// decodeForm reads status, filter_ipv6, whitelist_hos and
// rules[dir][N][field]; it names every key or value it does not accept.
func decodeForm(form url.Values) (*Firewall, []string) {
	var invalid []string
	fw := &Firewall{Status: form.Get("status"), FilterIPv6: form.Get("filter_ipv6") == "true", WhitelistHOS: form.Get("whitelist_hos") == "true"}
	if fw.Status != "active" && fw.Status != "disabled" {
		invalid = append(invalid, "status")
	}
	rules := map[string]map[int]*Rule{"input": {}, "output": {}}
	for key, vals := range form {
		switch key {
		case "status", "filter_ipv6", "whitelist_hos":
			continue
		}
		var dir, field string
		var idx int
		rest, ok := strings.CutPrefix(key, "rules[")
		if ok {
			parts := strings.Split(strings.TrimSuffix(rest, "]"), "][")
			ok = len(parts) == 3
			if ok {
				dir, field = parts[0], parts[2]
				var err error
				idx, err = strconv.Atoi(parts[1])
				ok = err == nil && idx >= 0 && rules[dir] != nil && ruleFields[field]
			}
		}
		if !ok {
			invalid = append(invalid, key)
			continue
		}
		rule := rules[dir][idx]
		if rule == nil {
			rule = &Rule{}
			rules[dir][idx] = rule
		}
		v := vals[0]
		switch field {
		case "ip_version":
			rule.IPVersion = v
		case "name":
			rule.Name = v
		case "dst_ip":
			rule.DstIP = v
		case "src_ip":
			rule.SrcIP = v
		case "dst_port":
			rule.DstPort = v
		case "src_port":
			rule.SrcPort = v
		case "protocol":
			rule.Protocol = v
		case "tcp_flags":
			rule.TCPFlags = v
		case "action":
			rule.Action = v
		}
	}
	for dir, byIdx := range rules {
		out := make([]Rule, len(byIdx))
		for idx, r := range byIdx {
			if idx >= len(byIdx) {
				invalid = append(invalid, fmt.Sprintf("rules[%s][%d]", dir, idx)) // a gap in the numbering
				continue
			}
			if r.Action != "accept" && r.Action != "discard" {
				invalid = append(invalid, fmt.Sprintf("rules[%s][%d][action]", dir, idx))
			}
			out[idx] = *r
		}
		if len(out) == 0 {
			out = nil
		}
		if dir == "input" {
			fw.Input = out
		} else {
			fw.Output = out
		}
	}
	return fw, invalid
}
