package hetzner

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
)

// ruleName names the rule of a grant: RulePrefix and the source address.
func ruleName(source netip.Prefix) string { return RulePrefix + source.Addr().String() }

func isOurs(r robot.Rule) bool { return strings.HasPrefix(r.Name, RulePrefix) }

func matches(r robot.Rule, source netip.Prefix) bool {
	return r.Name == ruleName(source) && r.SrcIP == source.Masked().String()
}

// robotAllow puts an accept rule for source at the top of the input rules.
// Robot replaces the whole configuration on each change, so the rules read
// are sent back with ours first. A disabled firewall stays disabled: it lets
// everything through already, and enabling it would apply its rules (and
// the implicit discard at their end) to everyone else.
func (p *Provider) robotAllow(ctx context.Context, ip netip.Addr, server int, source netip.Prefix, comment string) (providers.Rule, error) {
	rule := robot.Rule{IPVersion: "ipv4", Name: ruleName(source), SrcIP: source.Masked().String(),
		DstIP: netip.PrefixFrom(ip, ip.BitLen()).String(), Action: "accept"}
	if ip.Is6() {
		rule.IPVersion = "ipv6"
	}
	err := p.robotUpdate(ctx, server, func(fw *robot.Firewall) (bool, error) {
		if slices.ContainsFunc(fw.Rules.Input, func(r robot.Rule) bool { return matches(r, source) }) {
			return false, nil
		}
		if len(fw.Rules.Input) >= robot.MaxRules {
			return false, fmt.Errorf("the firewall of server %d holds %d input rules, the most Robot allows", server, robot.MaxRules)
		}
		fw.Rules.Input = append([]robot.Rule{rule}, fw.Rules.Input...)
		return true, nil
	})
	if err != nil {
		return providers.Rule{}, fmt.Errorf("hetzner: allow %s on %s: %w", source, ip, err)
	}
	out := robotRule(ip, rule)
	out.Comment = comment
	out.State = "ok"
	p.logger.InfoContext(ctx, "robot firewall rule added", "ip", ip, "source", source, "server", server)
	return out, nil
}

// robotRevoke removes our rule for source, wherever it is now, and keeps
// every other rule, including ones added since Allow.
func (p *Provider) robotRevoke(ctx context.Context, ip netip.Addr, server int, source netip.Prefix) error {
	err := p.robotUpdate(ctx, server, func(fw *robot.Firewall) (bool, error) {
		n := len(fw.Rules.Input)
		fw.Rules.Input = slices.DeleteFunc(fw.Rules.Input, func(r robot.Rule) bool { return matches(r, source) })
		return len(fw.Rules.Input) != n, nil
	})
	if err != nil {
		return fmt.Errorf("hetzner: revoke %s on %s: %w", source, ip, err)
	}
	return nil
}

func (p *Provider) robotOurRules(ctx context.Context, ip netip.Addr, server int) ([]providers.Rule, error) {
	fw, err := p.robotSettled(ctx, server)
	if err != nil {
		return nil, fmt.Errorf("hetzner: rules on %s: %w", ip, err)
	}
	var out []providers.Rule
	for _, r := range fw.Rules.Input {
		if isOurs(r) {
			out = append(out, robotRule(ip, r))
		}
	}
	return out, nil
}

// robotUpdate reads the settled firewall, lets change edit it, and posts it
// back unless change reports nothing to do; then waits until it is applied.
// A FIREWALL_IN_PROCESS answer (someone else's change landed in between)
// starts over from a fresh read, so that change never overwrites it.
func (p *Provider) robotUpdate(ctx context.Context, server int, change func(*robot.Firewall) (bool, error)) error {
	for {
		fw, err := p.robotSettled(ctx, server)
		if err != nil {
			return err
		}
		changed, err := change(fw)
		if err != nil || !changed {
			return err
		}
		_, err = p.robot.SetFirewall(ctx, server, fw)
		if robot.IsCode(err, robot.CodeFirewallInProcess) {
			if err := p.sleep(ctx, p.pollInterval); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		_, err = p.robotSettled(ctx, server)
		return err
	}
}

// robotSettled reads the firewall once it is no longer "in process".
func (p *Provider) robotSettled(ctx context.Context, server int) (*robot.Firewall, error) {
	for {
		fw, _, err := p.robot.GetFirewall(ctx, server)
		if err != nil {
			return nil, err
		}
		if fw.Status != robot.FirewallInProcess {
			return fw, nil
		}
		if err := p.sleep(ctx, p.pollInterval); err != nil {
			return nil, fmt.Errorf("waiting for the firewall of server %d to be applied: %w", server, err)
		}
	}
}
