package ovh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"slices"
	"strconv"

	"github.com/abusewatch/abusewatch/providers"
)

// maxRules is the Edge Network Firewall's limit: sequences 0 to 19.
const maxRules = 20

type fwRule struct {
	Sequence int    `json:"sequence"`
	Action   string `json:"action"`
	Protocol string `json:"protocol"`
	Source   string `json:"source"`
	State    string `json:"state"`
}

// ours tells a rule Allow could have made: permit, every protocol, from one
// address. OVH rules carry no comment, so content is all there is; callers
// match the sources against their own grants.
func (r fwRule) ours() bool {
	if r.Action != "permit" || r.Protocol != "ipv4" {
		return false
	}
	pfx, err := netip.ParsePrefix(r.Source)
	return err == nil && pfx.IsSingleIP()
}

func (r fwRule) normalize(ip netip.Addr) providers.Rule {
	out := providers.Rule{Provider: "ovh", IP: ip, Action: providers.ActionDeny, Ref: strconv.Itoa(r.Sequence), State: r.State, Ours: r.ours()}
	if r.Action == "permit" {
		out.Action = providers.ActionAllow
	}
	out.Source, _ = netip.ParsePrefix(r.Source)
	return out
}

type fwPaths struct{ list, fw, rules string }

func paths(block netip.Prefix, ip netip.Addr) fwPaths {
	list := "/ip/" + esc(block.String()) + "/firewall"
	fw := list + "/" + ip.String()
	return fwPaths{list: list, fw: fw, rules: fw + "/rule"}
}

type fwInfo struct {
	Enabled bool   `json:"enabled"`
	State   string `json:"state"`
}

// firewallState reads the firewall on ip; nil when there is none.
func (p *Provider) firewallState(ctx context.Context, raw map[string]json.RawMessage, b string, ip netip.Addr) (*providers.Firewall, error) {
	var info fwInfo
	path := b + "/firewall/" + ip.String()
	found, err := p.get(ctx, raw, path, &info)
	if err != nil {
		return nil, fmt.Errorf("ovh: firewall %s: %w", ip, err)
	}
	if !found {
		return nil, nil
	}
	rules, err := p.listRules(ctx, raw, path+"/rule")
	if err != nil {
		return nil, fmt.Errorf("ovh: firewall %s: %w", ip, err)
	}
	fw := &providers.Firewall{Enabled: info.Enabled, Status: info.State, Rules: []providers.Rule{}}
	for _, r := range rules {
		fw.Rules = append(fw.Rules, r.normalize(ip))
	}
	return fw, nil
}

func (p *Provider) listRules(ctx context.Context, raw map[string]json.RawMessage, path string) ([]fwRule, error) {
	var seqs []int
	if _, err := p.get(ctx, raw, path, &seqs); err != nil {
		return nil, err
	}
	slices.Sort(seqs)
	rules := make([]fwRule, 0, len(seqs))
	for _, seq := range seqs {
		var r fwRule
		found, err := p.get(ctx, raw, path+"/"+strconv.Itoa(seq), &r)
		if err != nil {
			return nil, err
		}
		if found { // removed between the two reads
			rules = append(rules, r)
		}
	}
	return rules, nil
}

func sourceOf(src netip.Prefix) string { return src.Masked().String() }

// Allow implements providers.Provider. The permit rule takes the lowest free
// sequence ahead of every deny rule, so it wins over them. A missing
// firewall is created; a disabled one is enabled unless it holds deny rules
// (enabling those would cut traffic the operator let through, and with the
// firewall off the source passes anyway). The rule is added before enabling,
// so there is no moment when the firewall filters without it.
func (p *Provider) Allow(ctx context.Context, ip netip.Addr, source netip.Prefix, comment string) (providers.Rule, error) {
	if !ip.Is4() || !source.Addr().Is4() {
		return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: the Edge Network Firewall filters IPv4 only", source, ip)
	}
	_, block, err := p.resolve(ctx, ip, nil)
	if err != nil {
		return providers.Rule{}, err
	}
	fp := paths(block, ip)
	restore := ""
	var info fwInfo
	found, err := p.get(ctx, nil, fp.fw, &info)
	if err != nil {
		return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: %w", source, ip, err)
	}
	if !found {
		if _, err := p.call(ctx, http.MethodPost, fp.list, map[string]string{"ipOnFirewall": ip.String()}, nil); err != nil {
			return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: creating the firewall: %w", source, ip, err)
		}
		restore = providers.RestoreDelete
		p.logger.InfoContext(ctx, "created edge firewall", "ip", ip)
		if err := p.waitFirewall(ctx, fp.fw); err != nil {
			return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: %w", source, ip, err)
		}
	}

	rules, err := p.listRules(ctx, nil, fp.rules)
	if err != nil {
		return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: %w", source, ip, err)
	}
	want := sourceOf(source)
	var rule fwRule
	if i := slices.IndexFunc(rules, func(r fwRule) bool { return r.ours() && r.Source == want }); i >= 0 {
		rule = rules[i]
	} else {
		seq, err := freeSequence(rules)
		if err != nil {
			return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: %w", source, ip, err)
		}
		body := map[string]any{"action": "permit", "protocol": "ipv4", "sequence": seq, "source": want}
		if _, err := p.call(ctx, http.MethodPost, fp.rules, body, &rule); err != nil {
			return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: adding rule %d: %w", source, ip, seq, err)
		}
	}
	if rule, err = p.waitRule(ctx, fp.rules+"/"+strconv.Itoa(rule.Sequence)); err != nil {
		return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: %w", source, ip, err)
	}

	hasDeny := slices.ContainsFunc(rules, func(r fwRule) bool { return r.Action == "deny" })
	if !info.Enabled && !hasDeny {
		if _, err := p.call(ctx, http.MethodPut, fp.fw, map[string]bool{"enabled": true}, nil); err != nil {
			return providers.Rule{}, fmt.Errorf("ovh: allow %s on %s: enabling the firewall: %w", source, ip, err)
		}
		if restore == "" {
			restore = providers.RestoreDisable
		}
	}
	out := rule.normalize(ip)
	out.Comment = comment
	out.Restore = restore
	p.logger.InfoContext(ctx, "edge firewall rule added", "ip", ip, "source", want, "sequence", rule.Sequence)
	return out, nil
}

// freeSequence is the lowest sequence not taken and ahead of every deny rule.
func freeSequence(rules []fwRule) (int, error) {
	if len(rules) >= maxRules {
		return 0, fmt.Errorf("the firewall holds %d rules, the most OVH allows", maxRules)
	}
	limit := maxRules
	taken := map[int]bool{}
	for _, r := range rules {
		taken[r.Sequence] = true
		if r.Action == "deny" && r.Sequence < limit {
			limit = r.Sequence
		}
	}
	for seq := range limit {
		if !taken[seq] {
			return seq, nil
		}
	}
	return 0, fmt.Errorf("no free sequence ahead of the deny rule at sequence %d", limit)
}

// waitRule polls a rule until OVH has applied it.
func (p *Provider) waitRule(ctx context.Context, path string) (fwRule, error) {
	for {
		var r fwRule
		found, err := p.get(ctx, nil, path, &r)
		if err != nil {
			return r, err
		}
		if !found {
			return r, fmt.Errorf("%s: rule vanished while being created", path)
		}
		if r.State == "ok" {
			return r, nil
		}
		if err := p.sleep(ctx); err != nil {
			return r, fmt.Errorf("%s: waiting for state ok (now %s): %w", path, r.State, err)
		}
	}
}

// waitFirewall polls a firewall just created until OVH has set it up:
// rules are refused before.
func (p *Provider) waitFirewall(ctx context.Context, path string) error {
	for {
		var info fwInfo
		found, err := p.get(ctx, nil, path, &info)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("%s: firewall vanished while being created", path)
		}
		if info.State == "ok" {
			return nil
		}
		if err := p.sleep(ctx); err != nil {
			return fmt.Errorf("%s: waiting for state ok (now %s): %w", path, info.State, err)
		}
	}
}

// waitGone polls a rule until OVH has removed it.
func (p *Provider) waitGone(ctx context.Context, path string) error {
	for {
		found, err := p.get(ctx, nil, path, &fwRule{})
		if err != nil || !found {
			return err
		}
		if err := p.sleep(ctx); err != nil {
			return fmt.Errorf("%s: waiting for removal: %w", path, err)
		}
	}
}

func (p *Provider) sleep(ctx context.Context) error { return providers.Sleep(ctx, p.cfg.PollInterval) }

// Revoke implements providers.Provider. It removes every permit rule for
// source whatever its sequence, then undoes ref.Restore once no other
// rule of ours (another grant) is left on the firewall.
func (p *Provider) Revoke(ctx context.Context, ip netip.Addr, source netip.Prefix, ref providers.Rule) error {
	_, block, err := p.resolve(ctx, ip, nil)
	if err != nil {
		return err
	}
	fp := paths(block, ip)
	// A firewall removed meanwhile lists no rules: nothing left to revoke.
	rules, err := p.listRules(ctx, nil, fp.rules)
	if err != nil {
		return fmt.Errorf("ovh: revoke %s on %s: %w", source, ip, err)
	}
	want := sourceOf(source)
	var left []fwRule
	for _, r := range rules {
		if !r.ours() || r.Source != want {
			left = append(left, r)
			continue
		}
		path := fp.rules + "/" + strconv.Itoa(r.Sequence)
		if r.State != "removalPending" {
			if _, err := p.call(ctx, http.MethodDelete, path, nil, nil); err != nil {
				return fmt.Errorf("ovh: revoke %s on %s: deleting rule %d: %w", source, ip, r.Sequence, err)
			}
		}
		if err := p.waitGone(ctx, path); err != nil {
			return fmt.Errorf("ovh: revoke %s on %s: %w", source, ip, err)
		}
		p.logger.InfoContext(ctx, "edge firewall rule removed", "ip", ip, "source", want, "sequence", r.Sequence)
	}
	if slices.ContainsFunc(left, fwRule.ours) {
		return nil // another grant still needs the firewall as it is
	}
	switch ref.Restore {
	case providers.RestoreDelete:
		if len(left) > 0 {
			return nil // someone added rules meanwhile: keep them
		}
		if _, err := p.call(ctx, http.MethodDelete, fp.fw, nil, nil); err != nil && !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("ovh: revoke %s on %s: deleting the firewall Allow created: %w", source, ip, err)
		}
	case providers.RestoreDisable:
		if _, err := p.call(ctx, http.MethodPut, fp.fw, map[string]bool{"enabled": false}, nil); err != nil {
			return fmt.Errorf("ovh: revoke %s on %s: disabling the firewall Allow enabled: %w", source, ip, err)
		}
	}
	return nil
}

// OurRules implements providers.Provider.
func (p *Provider) OurRules(ctx context.Context, ip netip.Addr) ([]providers.Rule, error) {
	_, block, err := p.resolve(ctx, ip, nil)
	if err != nil {
		return nil, err
	}
	rules, err := p.listRules(ctx, nil, paths(block, ip).rules)
	if err != nil {
		return nil, fmt.Errorf("ovh: rules on %s: %w", ip, err)
	}
	var out []providers.Rule
	for _, r := range rules {
		if r.ours() {
			out = append(out, r.normalize(ip))
		}
	}
	return out, nil
}
