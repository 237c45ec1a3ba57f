// Package cloudtest is an in-process emulator of the Hetzner Cloud API
// calls abusewatch makes through hcloud-go: servers, Primary and Floating
// IPs, firewalls and their actions.
//
// Answers are built from hcloud-go's own schema types, so they have the
// shapes hcloud-go decodes. It checks the bearer token, sends RateLimit-*
// headers and answers 429 past the hourly limit, and validates firewall
// rules and resources as the API does.
package cloudtest

import (
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/abusewatch/abusewatch/providers/internal/emulator"
)

// Token is the API token New accepts.
const Token = "emu-cloud-token"

// created stamps every seeded resource, so answers are reproducible.
var created = time.Date(2026, 1, 5, 10, 0, 0, 0, time.UTC)

// Instance seeds a cloud server. Its IPv4 becomes a Primary IP too, as in
// the real Cloud.
type Instance struct {
	ID            int64
	Name          string
	Status        string // running, off, …
	IPv4          string
	IPv4Blocked   bool
	IPv6Net       string // 2a01:4f8:c012:abcd::/64
	Locked        bool
	RescueEnabled bool
}

// PrimaryIP seeds a Primary IP; ServerID 0 leaves it unassigned.
type PrimaryIP struct {
	ID       int64
	Name     string
	IP       string
	ServerID int64
	Blocked  bool
}

// FloatingIP seeds a Floating IP; ServerID 0 leaves it unassigned.
type FloatingIP struct {
	ID       int64
	Name     string
	IP       string
	ServerID int64
	Blocked  bool
}

// Server is the emulator. Its FailNext fails authenticated requests (503
// unavailable, 502 bad_gateway, others service_error); its Requests are
// "METHOD /path?query".
type Server struct {
	emulator.Controls
	core *emulator.Server

	limit     emulator.Window
	nextID    int64
	servers   map[int64]*Instance
	primary   map[int64]*PrimaryIP
	floating  map[int64]*FloatingIP
	firewalls map[int64]*schema.Firewall
	actions   map[int64]schema.Action
}

// New starts an emulator with the Cloud's limit of 3600 requests an hour.
// With t non-nil it is closed when the test ends.
func New(t testing.TB) *Server {
	s := &Server{limit: emulator.Window{Limit: 3600, Period: time.Hour}, nextID: 1000, servers: map[int64]*Instance{}, primary: map[int64]*PrimaryIP{},
		floating: map[int64]*FloatingIP{}, firewalls: map[int64]*schema.Firewall{}, actions: map[int64]schema.Action{}}
	s.core = emulator.New(t, emulator.Options{Unrouted: func(w http.ResponseWriter, _ *http.Request, status int) {
		if status == http.StatusMethodNotAllowed {
			apiError(w, status, "method_not_allowed", "method not allowed")
			return
		}
		apiError(w, http.StatusNotFound, "not_found", "not found")
	}})
	s.Controls = s.core.Controls()
	s.core.Use(s.authenticate, s.rateLimit, s.core.Faults(s.fault))
	s.core.Handle("GET /v1/servers", s.listServers)
	s.core.Handle("GET /v1/servers/{id}", s.getServer)
	s.core.Handle("GET /v1/primary_ips", s.listPrimaryIPs)
	s.core.Handle("GET /v1/floating_ips", s.listFloatingIPs)
	s.core.Handle("GET /v1/actions", s.listActions)
	s.core.Handle("GET /v1/firewalls", s.listFirewalls)
	s.core.Handle("POST /v1/firewalls", s.createFirewall)
	s.core.Handle("GET /v1/firewalls/{id}", s.firewallHandler(s.getFirewall))
	s.core.Handle("DELETE /v1/firewalls/{id}", s.firewallHandler(s.deleteFirewall))
	s.core.Handle("POST /v1/firewalls/{id}/actions/set_rules", s.firewallHandler(s.setRules))
	s.core.Handle("POST /v1/firewalls/{id}/actions/apply_to_resources", s.firewallHandler(s.applyTo))
	s.core.Handle("POST /v1/firewalls/{id}/actions/remove_from_resources", s.firewallHandler(s.removeFrom))
	return s
}

// URL is the endpoint to give hcloud.WithEndpoint.
func (s *Server) URL() string { return s.core.URL() + "/v1" }

// SetLimit sets the hourly request limit.
func (s *Server) SetLimit(n int) {
	s.core.Lock()
	defer s.core.Unlock()
	s.limit.Limit = n
}

// AddServer adds a server and the Primary IP of its IPv4.
func (s *Server) AddServer(in Instance) {
	s.core.Lock()
	defer s.core.Unlock()
	if in.Status == "" {
		in.Status = "running"
	}
	s.servers[in.ID] = &in
	if in.IPv4 != "" {
		s.primary[in.ID+100000] = &PrimaryIP{ID: in.ID + 100000, Name: "primary_ip-" + in.Name, IP: in.IPv4, ServerID: in.ID, Blocked: in.IPv4Blocked}
	}
}

// AddPrimaryIP adds a Primary IP.
func (s *Server) AddPrimaryIP(p PrimaryIP) {
	s.core.Lock()
	defer s.core.Unlock()
	s.primary[p.ID] = &p
}

// AddFloatingIP adds a Floating IP.
func (s *Server) AddFloatingIP(f FloatingIP) {
	s.core.Lock()
	defer s.core.Unlock()
	s.floating[f.ID] = &f
}

// AddFirewall adds a firewall applied to the given servers and returns its id.
func (s *Server) AddFirewall(name string, rules []schema.FirewallRule, serverIDs ...int64) int64 {
	s.core.Lock()
	defer s.core.Unlock()
	s.nextID++
	fw := &schema.Firewall{ID: s.nextID, Name: name, Labels: map[string]string{}, Created: created, Rules: rules, AppliedTo: []schema.FirewallResource{}}
	for _, id := range serverIDs {
		fw.AppliedTo = append(fw.AppliedTo, schema.FirewallResource{Type: "server", Server: &schema.FirewallResourceServer{ID: id}})
	}
	s.firewalls[fw.ID] = fw
	return fw.ID
}

// SetFirewallRules replaces the rules of the firewall called name, as
// someone editing it in the Console would.
func (s *Server) SetFirewallRules(name string, rules []schema.FirewallRule) {
	s.core.Lock()
	defer s.core.Unlock()
	for _, fw := range s.firewalls {
		if fw.Name == name {
			fw.Rules = rules
		}
	}
}

// Firewalls returns every firewall as it stands, by name.
func (s *Server) Firewalls() map[string]schema.Firewall {
	s.core.Lock()
	defer s.core.Unlock()
	out := map[string]schema.Firewall{}
	for _, fw := range s.firewalls {
		out[fw.Name] = *fw
	}
	return out
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	emulator.WriteJSON(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg, "details": nil}})
}

func meta(n int) schema.Meta {
	return schema.Meta{Pagination: &schema.MetaPagination{Page: 1, PerPage: max(n, 25), LastPage: 1, TotalEntries: n}}
}

// authenticate checks the bearer token, as the Cloud does before anything.
func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Authorization") != "Bearer "+Token {
		apiError(w, http.StatusUnauthorized, "unauthorized", "unable to authenticate")
		return false
	}
	return true
}

// rateLimit counts the request against the hourly limit and says so in the
// RateLimit-* headers of every answer.
func (s *Server) rateLimit(w http.ResponseWriter, _ *http.Request) bool {
	ok, remaining, reset := s.limit.Take(s.core.Now())
	w.Header().Set("RateLimit-Limit", strconv.Itoa(s.limit.Limit))
	w.Header().Set("RateLimit-Reset", strconv.FormatInt(reset.Unix(), 10))
	w.Header().Set("RateLimit-Remaining", strconv.Itoa(remaining))
	if !ok {
		apiError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "limit of "+strconv.Itoa(s.limit.Limit)+" requests per hour reached")
	}
	return ok
}

func (s *Server) fault(w http.ResponseWriter, status int) {
	switch status {
	case http.StatusServiceUnavailable:
		apiError(w, status, "unavailable", "service unavailable")
	case http.StatusBadGateway:
		apiError(w, status, "bad_gateway", "bad gateway")
	default:
		apiError(w, status, "service_error", "service error")
	}
}

func (s *Server) listServers(w http.ResponseWriter, r *http.Request) {
	var out []schema.Server
	for _, id := range sortedKeys(s.servers) {
		if name := r.URL.Query().Get("name"); name == "" || name == s.servers[id].Name {
			out = append(out, s.serverJSON(s.servers[id]))
		}
	}
	reply(w, http.StatusOK, map[string]any{"servers": nonNil(out), "meta": meta(len(out))})
}

func (s *Server) getServer(w http.ResponseWriter, r *http.Request) {
	id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
	in := s.servers[id]
	if in == nil {
		apiError(w, http.StatusNotFound, "not_found", "server with ID '"+r.PathValue("id")+"' not found")
		return
	}
	reply(w, http.StatusOK, map[string]any{"server": s.serverJSON(in)})
}

func (s *Server) listPrimaryIPs(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out []schema.PrimaryIP
	for _, id := range sortedKeys(s.primary) {
		p := s.primary[id]
		if (q.Get("ip") == "" || q.Get("ip") == p.IP) && (q.Get("name") == "" || q.Get("name") == p.Name) {
			out = append(out, primaryJSON(p))
		}
	}
	reply(w, http.StatusOK, map[string]any{"primary_ips": nonNil(out), "meta": meta(len(out))})
}

func (s *Server) listFloatingIPs(w http.ResponseWriter, _ *http.Request) {
	var out []schema.FloatingIP
	for _, id := range sortedKeys(s.floating) {
		out = append(out, floatingJSON(s.floating[id]))
	}
	reply(w, http.StatusOK, map[string]any{"floating_ips": nonNil(out), "meta": meta(len(out))})
}

func (s *Server) listActions(w http.ResponseWriter, r *http.Request) {
	var out []schema.Action
	for _, v := range r.URL.Query()["id"] {
		id, _ := strconv.ParseInt(v, 10, 64)
		if a, ok := s.actions[id]; ok {
			out = append(out, a)
		}
	}
	reply(w, http.StatusOK, map[string]any{"actions": nonNil(out), "meta": meta(len(out))})
}

func reply(w http.ResponseWriter, status int, v any) { emulator.WriteJSON(w, status, v) }

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func (s *Server) serverJSON(in *Instance) schema.Server {
	out := schema.Server{ID: in.ID, Name: in.Name, Status: in.Status, Created: created, Locked: in.Locked, RescueEnabled: in.RescueEnabled,
		Labels: map[string]string{}, PrivateNet: []schema.ServerPrivateNet{}, Volumes: []int64{}, LoadBalancers: []int64{},
		ServerType: schema.ServerType{ID: 22, Name: "cpx11", Cores: 2, Memory: 2, Disk: 40, CPUType: "shared", Architecture: "x86"},
		Location:   schema.Location{ID: 1, Name: "fsn1", Country: "DE", City: "Falkenstein", NetworkZone: "eu-central"},
		PublicNet: schema.ServerPublicNet{
			IPv4:        schema.ServerPublicNetIPv4{ID: in.ID + 100000, IP: in.IPv4, Blocked: in.IPv4Blocked, DNSPtr: "static." + in.IPv4 + ".clients.your-server.de"},
			IPv6:        schema.ServerPublicNetIPv6{IP: in.IPv6Net, DNSPtr: []schema.ServerPublicNetIPv6DNSPtr{}},
			FloatingIPs: []int64{}, Firewalls: []schema.ServerFirewall{},
		}}
	if p := s.primary[in.ID+100000]; p != nil {
		out.PublicNet.IPv4.Blocked = p.Blocked
	}
	for _, id := range sortedKeys(s.floating) {
		if s.floating[id].ServerID == in.ID {
			out.PublicNet.FloatingIPs = append(out.PublicNet.FloatingIPs, id)
		}
	}
	for _, id := range sortedKeys(s.firewalls) {
		if slices.ContainsFunc(s.firewalls[id].AppliedTo, func(r schema.FirewallResource) bool { return r.Server != nil && r.Server.ID == in.ID }) {
			out.PublicNet.Firewalls = append(out.PublicNet.Firewalls, schema.ServerFirewall{ID: id, Status: "applied"})
		}
	}
	return out
}

func primaryJSON(p *PrimaryIP) schema.PrimaryIP {
	out := schema.PrimaryIP{ID: p.ID, Name: p.Name, IP: p.IP, Type: "ipv4", Blocked: p.Blocked, Created: created, Labels: map[string]string{},
		DNSPtr: []schema.PrimaryIPDNSPTR{}, Location: schema.Location{ID: 1, Name: "fsn1", Country: "DE", City: "Falkenstein", NetworkZone: "eu-central"}}
	if strings.Contains(p.IP, ":") {
		out.Type = "ipv6"
	}
	if p.ServerID != 0 {
		id := p.ServerID
		out.AssigneeID, out.AssigneeType = &id, "server"
	}
	return out
}

func floatingJSON(f *FloatingIP) schema.FloatingIP {
	out := schema.FloatingIP{ID: f.ID, Name: f.Name, IP: f.IP, Type: "ipv4", Blocked: f.Blocked, Created: created, Labels: map[string]string{},
		DNSPtr: []schema.FloatingIPDNSPtr{}, HomeLocation: schema.Location{ID: 1, Name: "fsn1", Country: "DE", City: "Falkenstein", NetworkZone: "eu-central"}}
	if strings.Contains(f.IP, ":") {
		out.Type = "ipv6"
	}
	if f.ServerID != 0 {
		id := f.ServerID
		out.Server = &id
	}
	return out
}

// action records a finished action on resources and returns it.
func (s *Server) action(command string, res ...schema.ActionResourceReference) schema.Action {
	s.nextID++
	now := time.Now().UTC()
	a := schema.Action{ID: s.nextID, Status: "success", Command: command, Progress: 100, Started: now, Finished: &now, Resources: res}
	s.actions[a.ID] = a
	return a
}

func (s *Server) listFirewalls(w http.ResponseWriter, r *http.Request) {
	var out []schema.Firewall
	for _, id := range sortedKeys(s.firewalls) {
		if name := r.URL.Query().Get("name"); name == "" || name == s.firewalls[id].Name {
			out = append(out, *s.firewalls[id])
		}
	}
	reply(w, http.StatusOK, map[string]any{"firewalls": nonNil(out), "meta": meta(len(out))})
}

func (s *Server) createFirewall(w http.ResponseWriter, r *http.Request) {
	var in schema.FirewallCreateRequest
	if err := emulator.DecodeJSON(r, &in); err != nil || in.Name == "" {
		apiError(w, http.StatusBadRequest, "invalid_input", "invalid input: name is required")
		return
	}
	for _, fw := range s.firewalls {
		if fw.Name == in.Name {
			apiError(w, http.StatusConflict, "uniqueness_error", "name is already used")
			return
		}
	}
	rules, err := checkRules(in.Rules)
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_input", err.Error())
		return
	}
	if err := s.checkResources(in.ApplyTo); err != nil {
		apiError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	s.nextID++
	fw := &schema.Firewall{ID: s.nextID, Name: in.Name, Labels: map[string]string{}, Created: time.Now().UTC(), Rules: rules, AppliedTo: nonNil(in.ApplyTo)}
	if in.Labels != nil {
		fw.Labels = *in.Labels
	}
	s.firewalls[fw.ID] = fw
	var actions []schema.Action
	if len(in.ApplyTo) > 0 {
		actions = append(actions, s.action("apply_firewall", schema.ActionResourceReference{ID: fw.ID, Type: "firewall"}))
	}
	reply(w, http.StatusCreated, schema.FirewallCreateResponse{Firewall: *fw, Actions: nonNil(actions)})
}

// firewallHandler resolves the path's {id} to a firewall for h, or answers
// not_found.
func (s *Server) firewallHandler(h func(w http.ResponseWriter, r *http.Request, fw *schema.Firewall)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		fw := s.firewalls[id]
		if fw == nil {
			apiError(w, http.StatusNotFound, "not_found", "firewall with ID '"+r.PathValue("id")+"' not found")
			return
		}
		h(w, r, fw)
	}
}

func (s *Server) getFirewall(w http.ResponseWriter, _ *http.Request, fw *schema.Firewall) {
	reply(w, http.StatusOK, schema.FirewallGetResponse{Firewall: *fw})
}

func (s *Server) deleteFirewall(w http.ResponseWriter, _ *http.Request, fw *schema.Firewall) {
	if len(fw.AppliedTo) > 0 {
		apiError(w, http.StatusConflict, "resource_in_use", "firewall is still applied to resources")
		return
	}
	delete(s.firewalls, fw.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) setRules(w http.ResponseWriter, r *http.Request, fw *schema.Firewall) {
	var in schema.FirewallActionSetRulesRequest
	if err := emulator.DecodeJSON(r, &in); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_input", "invalid input")
		return
	}
	rules, err := checkRules(in.Rules)
	if err != nil {
		apiError(w, http.StatusBadRequest, "invalid_input", err.Error())
		return
	}
	fw.Rules = rules
	ref := schema.ActionResourceReference{ID: fw.ID, Type: "firewall"}
	reply(w, http.StatusCreated, schema.FirewallActionSetRulesResponse{Actions: []schema.Action{s.action("set_firewall_rules", ref)}})
}

func (s *Server) applyTo(w http.ResponseWriter, r *http.Request, fw *schema.Firewall) {
	var in schema.FirewallActionApplyToResourcesRequest
	if err := emulator.DecodeJSON(r, &in); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_input", "invalid input")
		return
	}
	if err := s.checkResources(in.ApplyTo); err != nil {
		apiError(w, http.StatusNotFound, "not_found", err.Error())
		return
	}
	for _, res := range in.ApplyTo {
		if slices.ContainsFunc(fw.AppliedTo, func(a schema.FirewallResource) bool { return a.Server.ID == res.Server.ID }) {
			apiError(w, http.StatusConflict, "firewall_already_applied", "firewall is already applied to the server")
			return
		}
	}
	fw.AppliedTo = append(fw.AppliedTo, in.ApplyTo...)
	ref := schema.ActionResourceReference{ID: fw.ID, Type: "firewall"}
	reply(w, http.StatusCreated, schema.FirewallActionApplyToResourcesResponse{Actions: []schema.Action{s.action("apply_firewall", ref)}})
}

func (s *Server) removeFrom(w http.ResponseWriter, r *http.Request, fw *schema.Firewall) {
	var in schema.FirewallActionRemoveFromResourcesRequest
	if err := emulator.DecodeJSON(r, &in); err != nil {
		apiError(w, http.StatusBadRequest, "invalid_input", "invalid input")
		return
	}
	for _, res := range in.RemoveFrom {
		n := len(fw.AppliedTo)
		fw.AppliedTo = slices.DeleteFunc(fw.AppliedTo, func(a schema.FirewallResource) bool {
			return res.Server != nil && a.Server != nil && a.Server.ID == res.Server.ID
		})
		if len(fw.AppliedTo) == n {
			apiError(w, http.StatusConflict, "firewall_already_removed", "firewall is not applied to the resource")
			return
		}
	}
	ref := schema.ActionResourceReference{ID: fw.ID, Type: "firewall"}
	reply(w, http.StatusCreated, schema.FirewallActionRemoveFromResourcesResponse{Actions: []schema.Action{s.action("remove_firewall", ref)}})
}

func (s *Server) checkResources(res []schema.FirewallResource) error {
	for _, r := range res {
		if r.Type != "server" || r.Server == nil || s.servers[r.Server.ID] == nil {
			return fmt.Errorf("server resource %+v not found", r)
		}
	}
	return nil
}

// checkRules validates rules as the API does and returns them as stored.
func checkRules(in []schema.FirewallRuleRequest) ([]schema.FirewallRule, error) {
	out := []schema.FirewallRule{}
	for i, r := range in {
		switch r.Protocol {
		case "tcp", "udp":
			if r.Port == nil || *r.Port == "" {
				return nil, fmt.Errorf("rules[%d]: port is required for %s", i, r.Protocol)
			}
		case "icmp", "esp", "gre":
			if r.Port != nil {
				return nil, fmt.Errorf("rules[%d]: port is not allowed for %s", i, r.Protocol)
			}
		default:
			return nil, fmt.Errorf("rules[%d]: invalid protocol %q", i, r.Protocol)
		}
		if r.Direction == "in" && len(r.SourceIPs) == 0 || r.Direction == "out" && len(r.DestinationIPs) == 0 || r.Direction != "in" && r.Direction != "out" {
			return nil, fmt.Errorf("rules[%d]: invalid direction or missing ips", i)
		}
		for _, ip := range append(slices.Clone(r.SourceIPs), r.DestinationIPs...) {
			pfx, err := netip.ParsePrefix(ip)
			if err != nil || pfx.Masked() != pfx {
				return nil, fmt.Errorf("rules[%d]: invalid CIDR %q", i, ip)
			}
		}
		if r.Description != nil && len(*r.Description) > 255 {
			return nil, fmt.Errorf("rules[%d]: description too long", i)
		}
		out = append(out, schema.FirewallRule{Direction: r.Direction, SourceIPs: nonNil(r.SourceIPs), DestinationIPs: nonNil(r.DestinationIPs),
			Protocol: r.Protocol, Port: r.Port, Description: r.Description})
	}
	return out, nil
}
