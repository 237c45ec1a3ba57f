package hetzner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
)

// cloudTarget is what holds an IP in the Cloud: a server, and the Primary or
// Floating IP it is (a server's own addresses are Primary IPs too).
type cloudTarget struct {
	server   *hcloud.Server
	primary  *hcloud.PrimaryIP
	floating *hcloud.FloatingIP
}

func (t *cloudTarget) service() providers.Service {
	switch {
	case t.server != nil:
		return providers.Service{Provider: "hetzner", Name: t.server.Name, Type: "cloud_server"}
	case t.primary != nil:
		return providers.Service{Provider: "hetzner", Name: t.primary.Name, Type: "primary_ip"}
	default:
		return providers.Service{Provider: "hetzner", Name: t.floating.Name, Type: "floating_ip"}
	}
}

func ipIn(ip netip.Addr, addr net.IP, network *net.IPNet) bool {
	std := net.IP(ip.AsSlice())
	return addr != nil && addr.Equal(std) || network != nil && network.Contains(std)
}

// findCloud looks ip up as a Primary IP, then a Floating IP, then a
// server's public address; nil when the project does not hold it.
func (p *Provider) findCloud(ctx context.Context, ip netip.Addr) (*cloudTarget, error) {
	t := &cloudTarget{}
	var serverID int64
	var err error
	if ip.Is4() {
		// ?ip= matches IPv4 exactly; IPv6 Primary IPs are /64 networks.
		t.primary, _, err = p.cloud.PrimaryIP.GetByIP(ctx, ip.String())
		if err != nil {
			return nil, fmt.Errorf("hetzner: cloud primary ip %s: %w", ip, p.cloudError(err))
		}
		if t.primary != nil && t.primary.AssigneeType == "server" {
			serverID = t.primary.AssigneeID
		}
	}
	if t.primary == nil {
		fips, err := p.cloud.FloatingIP.All(ctx)
		if err != nil {
			return nil, fmt.Errorf("hetzner: cloud floating ips: %w", p.cloudError(err))
		}
		for _, f := range fips {
			if ipIn(ip, f.IP, f.Network) {
				t.floating = f
				if f.Server != nil {
					serverID = f.Server.ID
				}
				break
			}
		}
	}
	if serverID != 0 {
		t.server, _, err = p.cloud.Server.GetByID(ctx, serverID)
		if err != nil {
			return nil, fmt.Errorf("hetzner: cloud server %d: %w", serverID, p.cloudError(err))
		}
	}
	if t.server == nil && t.primary == nil && t.floating == nil {
		servers, err := p.cloud.Server.All(ctx)
		if err != nil {
			return nil, fmt.Errorf("hetzner: cloud servers: %w", p.cloudError(err))
		}
		for _, s := range servers {
			if ipIn(ip, s.PublicNet.IPv4.IP, nil) || ipIn(ip, nil, s.PublicNet.IPv6.Network) {
				t.server = s
				break
			}
		}
	}
	if t.server == nil && t.primary == nil && t.floating == nil {
		return nil, nil
	}
	return t, nil
}

func record(raw map[string]json.RawMessage, path string, v any) {
	if b, err := json.Marshal(v); err == nil {
		raw[path] = b
	}
}

// cloudState normalizes what the Cloud shows. Raw keeps the API's own
// shapes, rebuilt from hcloud-go's values (it does not keep the bodies).
func (p *Provider) cloudState(ctx context.Context, ip netip.Addr, t *cloudTarget) (*providers.State, error) {
	svc := t.service()
	raw := map[string]json.RawMessage{}
	st := &providers.State{Provider: "hetzner", IP: ip, Service: svc.Name, ServiceType: svc.Type, Raw: raw}
	blocked := false
	if f := t.floating; f != nil {
		record(raw, "/floating_ips/"+strconv.FormatInt(f.ID, 10), hcloud.SchemaFromFloatingIP(f))
		blocked = blocked || f.Blocked
	}
	if pr := t.primary; pr != nil {
		record(raw, "/primary_ips/"+strconv.FormatInt(pr.ID, 10), hcloud.SchemaFromPrimaryIP(pr))
		blocked = blocked || pr.Blocked
	}
	if s := t.server; s != nil {
		record(raw, "/servers/"+strconv.FormatInt(s.ID, 10), hcloud.SchemaFromServer(s))
		pn := s.PublicNet
		blocked = blocked || pn.IPv4.Blocked && ipIn(ip, pn.IPv4.IP, nil) || pn.IPv6.Blocked && ipIn(ip, nil, pn.IPv6.Network)
		st.Locked = s.Locked
		st.Rescue = s.RescueEnabled
		st.ServerStatus = string(s.Status)
		fw, err := p.cloudFirewalls(ctx, ip, s, raw)
		if err != nil {
			return nil, err
		}
		st.Firewall = fw
	}
	if blocked {
		st.Blocked = true
		st.Blocks = []providers.Block{{Source: providers.SourceCloudIP, State: "blocked"}}
	}
	return st, nil
}

// cloudFirewalls reads the firewalls applied to the server. Cloud rules
// only ever allow: once any firewall applies, other inbound traffic drops.
func (p *Provider) cloudFirewalls(ctx context.Context, ip netip.Addr, s *hcloud.Server, raw map[string]json.RawMessage) (*providers.Firewall, error) {
	fw := &providers.Firewall{Status: "none", Rules: []providers.Rule{}}
	for _, applied := range s.PublicNet.Firewalls {
		f, _, err := p.cloud.Firewall.GetByID(ctx, applied.Firewall.ID)
		if err != nil {
			return nil, fmt.Errorf("hetzner: cloud firewall %d: %w", applied.Firewall.ID, p.cloudError(err))
		}
		if f == nil {
			continue
		}
		record(raw, "/firewalls/"+strconv.FormatInt(f.ID, 10), hcloud.SchemaFromFirewall(f))
		fw.Enabled = true
		fw.Status = string(applied.Status)
		for _, r := range f.Rules {
			if r.Direction != hcloud.FirewallRuleDirectionIn {
				continue
			}
			for _, src := range r.SourceIPs {
				pfx, _ := netip.ParsePrefix(src.String())
				desc := ""
				if r.Description != nil {
					desc = *r.Description
				}
				fw.Rules = append(fw.Rules, providers.Rule{Provider: "hetzner", IP: ip, Source: pfx, Action: providers.ActionAllow,
					Ref: strconv.FormatInt(f.ID, 10), Comment: desc, Ours: f.Name == cloudFirewallName(ip)})
			}
		}
	}
	return fw, nil
}

// cloudError classifies an error of hcloud-go where it arises: an unknown
// or revoked token, a refusal, a missing object and invalid input are
// permanent; a rate limit lifts at its RateLimit-Reset; 5xx answers,
// unavailability, conflicts and locks pass after a while (Retry-After when
// sent). The network's errors stay unclassified (temporary), and those of
// the auth latch permanent.
func (p *Provider) cloudError(err error) error {
	var herr hcloud.Error
	if !errors.As(err, &herr) {
		return err
	}
	var h http.Header
	status := 0
	if resp := herr.Response(); resp != nil && resp.Response != nil {
		h, status = resp.Header, resp.StatusCode
	}
	now := time.Now() // the headers name wall-clock times, whatever p.now stamps
	switch {
	case herr.Code == hcloud.ErrorCodeRateLimitExceeded:
		wait := time.Duration(0)
		if reset, perr := strconv.ParseInt(h.Get("RateLimit-Reset"), 10, 64); perr == nil {
			wait = max(time.Unix(reset, 0).Sub(now), 0)
		}
		return errkind.Temporary(err, wait)
	case status >= 500, hcloud.IsError(err, hcloud.ErrorCodeConflict, hcloud.ErrorCodeLocked, hcloud.ErrorCodeTimeout,
		hcloud.ErrorCodeMaintenance, hcloud.ErrorCodeServiceError, hcloud.ErrorCodeUnknownError):
		return errkind.Temporary(err, providers.RetryAfter(h, now))
	}
	return errkind.Permanent(err)
}
