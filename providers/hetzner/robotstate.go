package hetzner

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"strconv"

	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
)

// robotState reads what Robot shows beside the IP (rip, read by route, and
// its answer ripRaw): the server, its rescue system and its firewall.
func (p *Provider) robotState(ctx context.Context, ip netip.Addr, rip *robot.IP, ripRaw json.RawMessage) (*providers.State, error) {
	raw := map[string]json.RawMessage{"/ip/" + ip.String(): ripRaw}
	num := strconv.Itoa(rip.ServerNumber)
	st := &providers.State{Provider: "hetzner", IP: ip, Service: num, ServiceType: "robot", Raw: raw}
	if rip.Locked {
		st.Blocked = true
		st.Blocks = []providers.Block{{Source: providers.SourceRobotLock, State: "locked"}}
	}

	srv, r, err := p.robot.GetServer(ctx, rip.ServerNumber)
	if err != nil {
		return nil, fmt.Errorf("hetzner: robot server %s: %w", num, err)
	}
	raw["/server/"+num] = r
	st.ServerStatus = srv.Status

	res, r, err := p.robot.GetRescue(ctx, rip.ServerNumber)
	if err != nil {
		return nil, fmt.Errorf("hetzner: robot rescue %s: %w", num, err)
	}
	raw["/boot/"+num+"/rescue"] = redactPassword(r)
	st.Rescue = res.Active

	fw, r, err := p.robot.GetFirewall(ctx, rip.ServerNumber)
	if robot.IsCode(err, robot.CodeFirewallNotFound) {
		return st, nil // a product without the Robot firewall
	}
	if err != nil {
		return nil, fmt.Errorf("hetzner: robot firewall %s: %w", num, err)
	}
	raw["/firewall/"+num] = r
	st.Firewall = &providers.Firewall{Enabled: fw.Status == robot.FirewallActive, Status: fw.Status, Rules: []providers.Rule{}}
	for _, rule := range fw.Rules.Input {
		st.Firewall.Rules = append(st.Firewall.Rules, robotRule(ip, rule))
	}
	return st, nil
}

func robotRule(ip netip.Addr, r robot.Rule) providers.Rule {
	out := providers.Rule{Provider: "hetzner", IP: ip, Action: providers.ActionDeny, Ref: r.Name, Comment: r.Name, Ours: isOurs(r)}
	if r.Action == "accept" {
		out.Action = providers.ActionAllow
	}
	out.Source, _ = netip.ParsePrefix(r.SrcIP)
	return out
}

// redactPassword blanks the root password Robot shows while the rescue
// system is active: a raw answer is stored and printed, a password must not be.
func redactPassword(r json.RawMessage) json.RawMessage {
	var env map[string]map[string]any
	if json.Unmarshal(r, &env) != nil || env["rescue"]["password"] == nil {
		return r
	}
	env["rescue"]["password"] = "REDACTED"
	out, err := json.Marshal(env)
	if err != nil {
		return nil
	}
	return out
}
