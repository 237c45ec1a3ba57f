package ovh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/abusewatch/abusewatch/providers"
)

// esc percent-encodes an IP block for a path: 51.91.10.0/24 → 51.91.10.0%2F24.
func esc(s string) string { return url.PathEscape(s) }

// Resolve implements providers.Provider: the narrowest IP block holding ip
// and the service it is routed to.
func (p *Provider) Resolve(ctx context.Context, ip netip.Addr) (providers.Service, error) {
	svc, _, err := p.resolve(ctx, ip, nil)
	return svc, err
}

func (p *Provider) resolve(ctx context.Context, ip netip.Addr, raw map[string]json.RawMessage) (providers.Service, netip.Prefix, error) {
	var blocks []string
	path := "/ip?ip=" + url.QueryEscape(ip.String())
	r, err := p.call(ctx, http.MethodGet, path, nil, &blocks)
	if err != nil {
		return providers.Service{}, netip.Prefix{}, fmt.Errorf("ovh: resolve %s: %w", ip, err)
	}
	keep(raw, path, r)
	var best netip.Prefix
	for _, b := range blocks {
		pfx, err := netip.ParsePrefix(b)
		if err != nil {
			// A lone IP comes back without a length on some accounts.
			a, aerr := netip.ParseAddr(b)
			if aerr != nil {
				continue
			}
			pfx = netip.PrefixFrom(a, a.BitLen())
		}
		if pfx.Contains(ip) && (!best.IsValid() || pfx.Bits() > best.Bits()) {
			best = pfx
		}
	}
	if !best.IsValid() {
		return providers.Service{}, netip.Prefix{}, fmt.Errorf("ovh: %s: %w", ip, providers.ErrNotOurs)
	}
	var info struct {
		Type     string `json:"type"`
		RoutedTo struct {
			ServiceName string `json:"serviceName"`
		} `json:"routedTo"`
	}
	path = "/ip/" + esc(best.String())
	r, err = p.call(ctx, http.MethodGet, path, nil, &info)
	if err != nil {
		return providers.Service{}, netip.Prefix{}, fmt.Errorf("ovh: resolve %s: %w", ip, err)
	}
	keep(raw, path, r)
	return providers.Service{Provider: "ovh", Name: info.RoutedTo.ServiceName, Type: info.Type, Block: best.String()}, best, nil
}

// ServiceIPs returns the addresses routed to an OVH service (a dedicated
// server or VPS named by a notice that gives no IP): the single-address
// blocks of GET /ip?routedTo.serviceName=…, in the API's order.
func (p *Provider) ServiceIPs(ctx context.Context, service string) ([]netip.Addr, error) {
	var blocks []string
	if _, err := p.call(ctx, http.MethodGet, "/ip?routedTo.serviceName="+url.QueryEscape(service), nil, &blocks); err != nil {
		return nil, fmt.Errorf("ovh: addresses of %s: %w", service, err)
	}
	var out []netip.Addr
	for _, b := range blocks {
		if pfx, err := netip.ParsePrefix(b); err == nil && pfx.IsSingleIP() {
			out = append(out, pfx.Addr())
		} else if a, err := netip.ParseAddr(b); err == nil {
			out = append(out, a)
		}
	}
	return out, nil
}

func keep(raw map[string]json.RawMessage, path string, r json.RawMessage) {
	if raw != nil && r != nil {
		raw[path] = r
	}
}

// get reads path into out, recording the answer; found is false on 404.
func (p *Provider) get(ctx context.Context, raw map[string]json.RawMessage, path string, out any) (found bool, err error) {
	r, err := p.call(ctx, http.MethodGet, path, nil, out)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	keep(raw, path, r)
	return true, nil
}

type antihack struct {
	State        string    `json:"state"`
	BlockedSince time.Time `json:"blockedSince"`
	Time         int       `json:"time"`
}

type spam struct {
	State string    `json:"state"`
	Date  time.Time `json:"date"`
	Time  int       `json:"time"`
}

// State implements providers.Provider.
func (p *Provider) State(ctx context.Context, ip netip.Addr) (*providers.State, error) {
	raw := map[string]json.RawMessage{}
	svc, block, err := p.resolve(ctx, ip, raw)
	if err != nil {
		return nil, err
	}
	st := &providers.State{Provider: "ovh", IP: ip, Service: svc.Name, ServiceType: svc.Type, Raw: raw}
	b := "/ip/" + esc(block.String())

	if err := p.blocks(ctx, raw, b, ip, st); err != nil {
		return nil, err
	}
	var mit struct {
		Auto  bool   `json:"auto"`
		State string `json:"state"`
	}
	found, err := p.get(ctx, raw, b+"/mitigation/"+ip.String(), &mit)
	if err != nil {
		return nil, fmt.Errorf("ovh: mitigation %s: %w", ip, err)
	}
	if found {
		st.Mitigation = &providers.Mitigation{Active: true, Auto: mit.Auto, State: mit.State}
	}
	if st.Firewall, err = p.firewallState(ctx, raw, b, ip); err != nil {
		return nil, err
	}
	if err := p.serverState(ctx, raw, svc, st); err != nil {
		return nil, err
	}
	st.CheckedAt = p.cfg.Now().UTC()
	return st, nil
}

// blocks fills the anti-hack and anti-spam blocks. unblocking still counts
// as blocked: traffic stays cut until OVH finishes.
func (p *Provider) blocks(ctx context.Context, raw map[string]json.RawMessage, b string, ip netip.Addr, st *providers.State) error {
	var ah antihack
	found, err := p.get(ctx, raw, b+"/antihack/"+ip.String(), &ah)
	if err != nil {
		return fmt.Errorf("ovh: antihack %s: %w", ip, err)
	}
	if found {
		since := ah.BlockedSince.UTC()
		st.Blocks = append(st.Blocks, providers.Block{Source: providers.SourceAntihack, State: ah.State, Since: &since, UnblockIn: ah.Time})
		st.Blocked = true
	}
	var sp spam
	found, err = p.get(ctx, raw, b+"/spam/"+ip.String(), &sp)
	if err != nil {
		return fmt.Errorf("ovh: antispam %s: %w", ip, err)
	}
	if found && sp.State != "unblocked" {
		since := sp.Date.UTC()
		st.Blocks = append(st.Blocks, providers.Block{Source: providers.SourceAntispam, State: sp.State, Since: &since, UnblockIn: sp.Time})
		st.Blocked = true
	}
	return nil
}

// serverState reads the dedicated server or VPS behind the IP. A failover
// IP may be routed to either, so both are tried.
func (p *Provider) serverState(ctx context.Context, raw map[string]json.RawMessage, svc providers.Service, st *providers.State) error {
	if svc.Name == "" {
		return nil
	}
	if svc.Type == "dedicated" || svc.Type == "failover" {
		var ded struct {
			State  string `json:"state"`
			BootID int    `json:"bootId"`
		}
		path := "/dedicated/server/" + esc(svc.Name)
		found, err := p.get(ctx, raw, path, &ded)
		if err != nil {
			return fmt.Errorf("ovh: dedicated server %s: %w", svc.Name, err)
		}
		if found {
			st.ServerStatus = ded.State
			st.Hacked = ded.State == "hacked" || ded.State == "hackedBlocked"
			st.Locked = st.Hacked
			var boot struct {
				BootType string `json:"bootType"`
			}
			if _, err := p.get(ctx, raw, fmt.Sprintf("%s/boot/%d", path, ded.BootID), &boot); err != nil {
				return fmt.Errorf("ovh: dedicated server %s boot: %w", svc.Name, err)
			}
			st.Rescue = boot.BootType == "rescue"
			return nil
		}
	}
	if svc.Type == "vps" || svc.Type == "failover" {
		var vps struct {
			State       string `json:"state"`
			NetbootMode string `json:"netbootMode"`
		}
		found, err := p.get(ctx, raw, "/vps/"+esc(svc.Name), &vps)
		if err != nil {
			return fmt.Errorf("ovh: vps %s: %w", svc.Name, err)
		}
		if found {
			st.ServerStatus = vps.State
			st.Rescue = vps.NetbootMode == "rescue" || vps.State == "rescued"
		}
	}
	return nil
}
