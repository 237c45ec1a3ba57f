package hetzner

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
)

// Cloud grants live in a firewall of their own, named cloudFirewallName(ip)
// and applied to the server while a grant lasts: Cloud firewalls applied
// together add up, so its rules open the hole without touching the
// operator's firewalls. Each source gets three inbound rules (TCP, UDP and
// ICMP) described ruleName(source).
func cloudFirewallName(ip netip.Addr) string { return RulePrefix + ip.String() }

func grantRules(source netip.Prefix) []hcloud.FirewallRule {
	src := net.IPNet{IP: net.IP(source.Masked().Addr().AsSlice()), Mask: net.CIDRMask(source.Bits(), source.Addr().BitLen())}
	desc := ruleName(source)
	all := "1-65535"
	var rules []hcloud.FirewallRule
	for _, proto := range []hcloud.FirewallRuleProtocol{hcloud.FirewallRuleProtocolTCP, hcloud.FirewallRuleProtocolUDP, hcloud.FirewallRuleProtocolICMP} {
		r := hcloud.FirewallRule{Direction: hcloud.FirewallRuleDirectionIn, SourceIPs: []net.IPNet{src}, Protocol: proto, Description: &desc}
		if proto != hcloud.FirewallRuleProtocolICMP {
			r.Port = &all
		}
		rules = append(rules, r)
	}
	return rules
}

func isGrantRule(r hcloud.FirewallRule, source netip.Prefix) bool {
	return r.Description != nil && *r.Description == ruleName(source)
}

// cloudAllow opens source → ip. A server with no firewall applied filters
// nothing at the Cloud edge, and applying one would drop every other inbound
// packet, so there the grant changes nothing and says so in Rule.State.
func (p *Provider) cloudAllow(ctx context.Context, ip netip.Addr, t *cloudTarget, source netip.Prefix, comment string) (providers.Rule, error) {
	fail := func(err error) (providers.Rule, error) {
		return providers.Rule{}, fmt.Errorf("hetzner: allow %s on %s: %w", source, ip, p.cloudError(err))
	}
	if t.server == nil {
		return fail(errkind.Permanent(errors.New("the IP is not assigned to a cloud server")))
	}
	name := cloudFirewallName(ip)
	rule := providers.Rule{Provider: "hetzner", IP: ip, Source: source, Action: providers.ActionAllow, Comment: comment, Ours: true}
	ours, _, err := p.cloud.Firewall.GetByName(ctx, name)
	if err != nil {
		return fail(err)
	}
	others := slices.ContainsFunc(t.server.PublicNet.Firewalls, func(f *hcloud.ServerFirewallStatus) bool {
		return ours == nil || f.Firewall.ID != ours.ID
	})
	if !others {
		rule.State = "unfiltered"
		p.logger.InfoContext(ctx, "no cloud firewall filters the server: nothing to open", "ip", ip, "server", t.server.Name)
		return rule, nil
	}

	if ours == nil {
		res, _, err := p.cloud.Firewall.Create(ctx, hcloud.FirewallCreateOpts{
			Name:    name,
			Labels:  map[string]string{"managed-by": "abusewatch"},
			Rules:   grantRules(source),
			ApplyTo: []hcloud.FirewallResource{serverResource(t.server)},
		})
		if err != nil {
			return fail(fmt.Errorf("creating firewall %s: %w", name, err))
		}
		if err := p.cloud.Action.WaitFor(ctx, res.Actions...); err != nil {
			return fail(fmt.Errorf("applying firewall %s: %w", name, err))
		}
		rule.Ref, rule.Restore, rule.State = strconv.FormatInt(res.Firewall.ID, 10), providers.RestoreDelete, "ok"
		p.logger.InfoContext(ctx, "cloud firewall created for a grant", "ip", ip, "source", source, "firewall", name)
		return rule, nil
	}

	rule.Ref, rule.State = strconv.FormatInt(ours.ID, 10), "ok"
	if !slices.ContainsFunc(ours.Rules, func(r hcloud.FirewallRule) bool { return isGrantRule(r, source) }) {
		actions, _, err := p.cloud.Firewall.SetRules(ctx, ours, hcloud.FirewallSetRulesOpts{Rules: append(slices.Clone(ours.Rules), grantRules(source)...)})
		if err != nil {
			return fail(fmt.Errorf("adding rules to firewall %s: %w", name, err))
		}
		if err := p.cloud.Action.WaitFor(ctx, actions...); err != nil {
			return fail(fmt.Errorf("applying firewall %s: %w", name, err))
		}
	}
	if !appliedTo(ours, t.server) {
		actions, _, err := p.cloud.Firewall.ApplyResources(ctx, ours, []hcloud.FirewallResource{serverResource(t.server)})
		if err != nil {
			return fail(fmt.Errorf("applying firewall %s: %w", name, err))
		}
		if err := p.cloud.Action.WaitFor(ctx, actions...); err != nil {
			return fail(fmt.Errorf("applying firewall %s: %w", name, err))
		}
	}
	p.logger.InfoContext(ctx, "cloud firewall rules added for a grant", "ip", ip, "source", source, "firewall", name)
	return rule, nil
}

func serverResource(s *hcloud.Server) hcloud.FirewallResource {
	return hcloud.FirewallResource{Type: hcloud.FirewallResourceTypeServer, Server: &hcloud.FirewallResourceServer{ID: s.ID}}
}

func appliedTo(f *hcloud.Firewall, s *hcloud.Server) bool {
	return slices.ContainsFunc(f.AppliedTo, func(r hcloud.FirewallResource) bool {
		return r.Type == hcloud.FirewallResourceTypeServer && r.Server != nil && r.Server.ID == s.ID
	})
}

// cloudRevoke removes source's rules from our firewall, and the firewall
// itself once no rule is left in it (whoever added the others).
func (p *Provider) cloudRevoke(ctx context.Context, ip netip.Addr, source netip.Prefix) error {
	fail := func(err error) error {
		return fmt.Errorf("hetzner: revoke %s on %s: %w", source, ip, p.cloudError(err))
	}
	name := cloudFirewallName(ip)
	ours, _, err := p.cloud.Firewall.GetByName(ctx, name)
	if err != nil {
		return fail(err)
	}
	if ours == nil {
		return nil
	}
	left := slices.DeleteFunc(slices.Clone(ours.Rules), func(r hcloud.FirewallRule) bool { return isGrantRule(r, source) })
	if len(left) > 0 {
		if len(left) == len(ours.Rules) {
			return nil
		}
		actions, _, err := p.cloud.Firewall.SetRules(ctx, ours, hcloud.FirewallSetRulesOpts{Rules: left})
		if err != nil {
			return fail(fmt.Errorf("removing rules from firewall %s: %w", name, err))
		}
		if err := p.cloud.Action.WaitFor(ctx, actions...); err != nil {
			return fail(err)
		}
		return nil
	}
	if len(ours.AppliedTo) > 0 {
		actions, _, err := p.cloud.Firewall.RemoveResources(ctx, ours, ours.AppliedTo)
		if err != nil {
			return fail(fmt.Errorf("detaching firewall %s: %w", name, err))
		}
		if err := p.cloud.Action.WaitFor(ctx, actions...); err != nil {
			return fail(err)
		}
	}
	if _, err := p.cloud.Firewall.Delete(ctx, ours); err != nil {
		return fail(fmt.Errorf("deleting firewall %s: %w", name, err))
	}
	p.logger.InfoContext(ctx, "cloud grant firewall deleted", "ip", ip, "firewall", name)
	return nil
}

func (p *Provider) cloudOurRules(ctx context.Context, ip netip.Addr) ([]providers.Rule, error) {
	ours, _, err := p.cloud.Firewall.GetByName(ctx, cloudFirewallName(ip))
	if err != nil {
		return nil, fmt.Errorf("hetzner: rules on %s: %w", ip, p.cloudError(err))
	}
	if ours == nil {
		return nil, nil
	}
	var out []providers.Rule
	seen := map[netip.Prefix]bool{}
	for _, r := range ours.Rules {
		for _, src := range r.SourceIPs {
			pfx, err := netip.ParsePrefix(src.String())
			if err != nil || seen[pfx] || !isGrantRule(r, pfx) {
				continue
			}
			seen[pfx] = true
			out = append(out, providers.Rule{Provider: "hetzner", IP: ip, Source: pfx, Action: providers.ActionAllow,
				Ref: strconv.FormatInt(ours.ID, 10), Comment: *r.Description, State: "ok", Ours: true})
		}
	}
	return out, nil
}
