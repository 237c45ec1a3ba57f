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
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
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

// Server is the Robot emulator.
type Server struct {
	srv *httptest.Server

	mu          sync.Mutex
	offset      time.Duration
	user, pass  string
	failedLogin map[string][]time.Time // by client address
	lockedUntil map[string]time.Time
	limits      map[string]int
	window      time.Duration
	maxKey      string
	calls       map[string][]time.Time
	applyDelay  time.Duration
	failNext    []int
	requests    []string

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
		limits: map[string]int{}, window: time.Hour, maxKey: "max_requests", calls: map[string][]time.Time{},
		ips: map[string]*ipEntry{}, servers: map[int]*Dedicated{}, rescues: map[int]*rescue{}, firewalls: map[int]*Firewall{},
	}
	for k, v := range Limits {
		e.limits[k] = v
	}
	e.srv = httptest.NewServer(http.HandlerFunc(e.serve))
	if t != nil {
		t.Cleanup(e.Close)
	}
	return e
}

// URL is the endpoint to give the client.
func (e *Server) URL() string { return e.srv.URL }

// Close stops the emulator.
func (e *Server) Close() { e.srv.Close() }

func (e *Server) now() time.Time { return time.Now().Add(e.offset) }

// Advance moves the emulator's clock forward.
func (e *Server) Advance(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.offset += d
}

// SetLimit sets family's limit to n requests per window (Robot: per hour).
func (e *Server) SetLimit(family string, n int, window time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.limits[family] = n
	e.window = window
}

// SetMaxRequestKey names the rate-limit field: "max_requests" (what Robot
// sends) or "max_request" (what it documents).
func (e *Server) SetMaxRequestKey(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.maxKey = key
}

// SetApplyDelay is how long the firewall stays "in process" after a change.
func (e *Server) SetApplyDelay(d time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.applyDelay = d
}

// FailNext makes the next authenticated requests fail with these statuses
// (503 is answered as maintenance).
func (e *Server) FailNext(statuses ...int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.failNext = append(e.failNext, statuses...)
}

// Requests returns "METHOD /path" of every request received, logins that
// failed included.
func (e *Server) Requests() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.requests...)
}

// AddDedicated adds a server, its main IP, an inactive rescue system and a
// disabled, empty firewall.
func (e *Server) AddDedicated(s Dedicated) {
	e.mu.Lock()
	defer e.mu.Unlock()
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
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ips[ip] = &ipEntry{ip: ip, server: server}
}

// SetLocked locks or unlocks an IP, as Hetzner does on abuse.
func (e *Server) SetLocked(ip string, locked bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ips[ip].locked = locked
}

// SetRescue activates (os, arch) or deactivates the rescue system.
func (e *Server) SetRescue(server int, active bool, os, arch string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.rescues[server] = &rescue{active: active, os: os, arch: arch}
}

// SetFirewall replaces a server's firewall, applied at once.
func (e *Server) SetFirewall(server int, fw Firewall) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.firewalls[server] = &fw
}

// Firewall returns a server's firewall as it stands.
func (e *Server) Firewall(server int) Firewall {
	e.mu.Lock()
	defer e.mu.Unlock()
	fw := *e.firewalls[server]
	fw.applyUntil = time.Time{}
	return fw
}

func robotError(w http.ResponseWriter, status int, code, msg string, extra map[string]any) {
	body := map[string]any{"status": status, "code": code, "message": msg}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func reply(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func family(method, path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "reset" && method == http.MethodPost {
		return "POST /reset"
	}
	return "/" + seg
}

func (e *Server) serve(w http.ResponseWriter, r *http.Request) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, r.Method+" "+r.URL.Path)
	now := e.now()
	client, _, _ := net.SplitHostPort(r.RemoteAddr)

	if until, ok := e.lockedUntil[client]; ok && now.Before(until) {
		robotError(w, http.StatusUnauthorized, "UNAUTHORIZED", "Too many failed logins: blocked for 10 minutes", nil)
		return
	}
	user, pass, ok := r.BasicAuth()
	if !ok || user != e.user || pass != e.pass {
		fails := append(e.failedLogin[client], now)
		for len(fails) > 0 && now.Sub(fails[0]) > 10*time.Minute {
			fails = fails[1:]
		}
		e.failedLogin[client] = fails
		if len(fails) >= 3 {
			e.lockedUntil[client] = now.Add(10 * time.Minute)
			e.failedLogin[client] = nil
		}
		// Robot answers a failed login with a bare 401 and no envelope.
		w.Header().Set("WWW-Authenticate", `Basic realm="Webservice"`)
		http.Error(w, "Unauthorized", http.StatusUnauthorized)
		return
	}
	e.failedLogin[client] = nil

	fam := family(r.Method, r.URL.Path)
	if limit, ok := e.limits[fam]; ok {
		calls := e.calls[fam]
		for len(calls) > 0 && now.Sub(calls[0]) >= e.window {
			calls = calls[1:]
		}
		if len(calls) >= limit {
			e.calls[fam] = calls
			wait := int(calls[0].Add(e.window).Sub(now).Seconds() + 0.999)
			robotError(w, http.StatusForbidden, "RATE_LIMIT_EXCEEDED", "Rate limit exceeded",
				map[string]any{e.maxKey: limit, "interval": max(wait, 1)})
			return
		}
		e.calls[fam] = append(calls, now)
	}
	if len(e.failNext) > 0 {
		status := e.failNext[0]
		e.failNext = e.failNext[1:]
		if status == http.StatusServiceUnavailable {
			robotError(w, status, "MAINTENANCE", "The webservice is in maintenance", nil)
		} else {
			robotError(w, status, "INTERNAL_ERROR", "Internal error", nil)
		}
		return
	}
	if r.Method == http.MethodPost && r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "Invalid input parameters: the body must be application/x-www-form-urlencoded",
			map[string]any{"missing": []string{"status"}, "invalid": nil})
		return
	}
	e.route(w, r, now)
}

func (e *Server) route(w http.ResponseWriter, r *http.Request, now time.Time) {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) == 2 && segs[0] == "ip" && r.Method == http.MethodGet:
		ip := e.ips[segs[1]]
		if ip == nil {
			robotError(w, http.StatusNotFound, "IP_NOT_FOUND", "IP not found", nil)
			return
		}
		srv := e.servers[ip.server]
		reply(w, map[string]any{"ip": map[string]any{"ip": ip.ip, "server_ip": srv.IP, "server_number": srv.Number,
			"locked": ip.locked, "separate_mac": nil, "traffic_warnings": ip.warning, "traffic_hourly": 50, "traffic_daily": 50, "traffic_monthly": 5}})
	case len(segs) == 2 && segs[0] == "server" && r.Method == http.MethodGet:
		srv := e.server(w, segs[1])
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
	case len(segs) == 3 && segs[0] == "boot" && segs[2] == "rescue" && r.Method == http.MethodGet:
		srv := e.server(w, segs[1])
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
	case len(segs) == 2 && segs[0] == "firewall":
		srv := e.server(w, segs[1])
		if srv == nil {
			return
		}
		switch r.Method {
		case http.MethodGet:
			reply(w, e.firewallJSON(srv, now))
		case http.MethodPost:
			e.postFirewall(w, r, srv, now)
		default:
			robotError(w, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED", "Method not allowed", nil)
		}
	default:
		robotError(w, http.StatusNotFound, "NOT_FOUND", "Not found", nil)
	}
}

func (e *Server) server(w http.ResponseWriter, num string) *Dedicated {
	n, err := strconv.Atoi(num)
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
func (e *Server) postFirewall(w http.ResponseWriter, r *http.Request, srv *Dedicated, now time.Time) {
	fw := e.firewalls[srv.Number]
	if now.Before(fw.applyUntil) {
		robotError(w, http.StatusConflict, "FIREWALL_IN_PROCESS", "The firewall cannot be updated while it is in process", nil)
		return
	}
	if err := r.ParseForm(); err != nil {
		robotError(w, http.StatusBadRequest, "INVALID_INPUT", "Invalid input parameters", nil)
		return
	}
	next, invalid := decodeForm(r.PostForm)
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
