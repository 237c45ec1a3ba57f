package ovh

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

const fwIP = "51.91.10.20"

var admin = netip.MustParsePrefix("203.0.113.7/32")

func fwEmu(t *testing.T) *ovhtest.Server {
	emu := ovhtest.New(t)
	emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns1.ip-51-91-10.eu"})
	return emu
}

type fwSnapshot struct {
	exists, enabled bool
	rules           []ovhtest.FirewallRule
}

func snapshot(emu *ovhtest.Server) fwSnapshot {
	e, en, r := emu.Firewall(fwIP)
	return fwSnapshot{e, en, r}
}

// TestAllowRevoke: the permit rule lands at the lowest free sequence ahead
// of any deny rule, existing rules are kept, and revoke brings the firewall
// back to exactly what it was (created → deleted, enabled → disabled).
func TestAllowRevoke(t *testing.T) {
	tests := []struct {
		name        string
		seed        func(*ovhtest.Server)
		wantSeq     string
		wantEnabled bool
		wantRestore string
	}{
		{"no firewall: created, enabled, then deleted", func(*ovhtest.Server) {}, "0", true, providers.RestoreDelete},
		{"disabled, no deny rule: enabled then disabled again", func(s *ovhtest.Server) {
			s.SetFirewall(fwIP, false, ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"})
		}, "1", true, providers.RestoreDisable},
		{"disabled with a deny rule: left disabled", func(s *ovhtest.Server) {
			s.SetFirewall(fwIP, false, ovhtest.FirewallRule{Sequence: 3, Action: "deny", Protocol: "ipv4"})
		}, "0", false, ""},
		{"no free sequence ahead of the first deny: refused, nothing changed", func(s *ovhtest.Server) {
			s.SetFirewall(fwIP, true,
				ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"},
				ovhtest.FirewallRule{Sequence: 1, Action: "permit", Protocol: "udp", Source: "198.51.100.0/24"},
				ovhtest.FirewallRule{Sequence: 3, Action: "permit", Protocol: "icmp"},
				ovhtest.FirewallRule{Sequence: 5, Action: "deny", Protocol: "ipv4"},
				ovhtest.FirewallRule{Sequence: 2, Action: "deny", Protocol: "tcp", Source: "192.0.2.0/24"},
			)
		}, "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := fwEmu(t)
			tt.seed(emu)
			emu.SetRulePending(2) // OVH takes a while to apply: the client polls until ok
			before := snapshot(emu)
			p, _ := newTest(t, emu, nil)
			ctx := context.Background()
			ip := netip.MustParseAddr(fwIP)
			rule, err := p.Allow(ctx, ip, admin, "grant 42")
			if tt.wantSeq == "" {
				if err == nil || !strings.Contains(err.Error(), "no free sequence ahead of the deny rule at sequence 2") {
					t.Fatalf("err = %v, want no free sequence", err)
				}
				if !reflect.DeepEqual(snapshot(emu), before) {
					t.Fatalf("a refused allow changed the firewall")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if rule.Ref != tt.wantSeq || rule.State != "ok" || rule.Restore != tt.wantRestore || !rule.Ours || rule.Source != admin || rule.Action != providers.ActionAllow {
				t.Fatalf("rule = %+v, want sequence %s restore %q", rule, tt.wantSeq, tt.wantRestore)
			}
			during := snapshot(emu)
			if during.enabled != tt.wantEnabled || len(during.rules) != len(before.rules)+1 {
				t.Fatalf("firewall during grant = %+v", during)
			}
			// Allow again: idempotent, same rule.
			again, err := p.Allow(ctx, ip, admin, "grant 42")
			if err != nil || again.Ref != rule.Ref || len(snapshot(emu).rules) != len(during.rules) {
				t.Fatalf("second allow = %+v, %v; rules %d", again, err, len(snapshot(emu).rules))
			}
			if err := p.Revoke(ctx, ip, admin, rule); err != nil {
				t.Fatal(err)
			}
			if after := snapshot(emu); !reflect.DeepEqual(after, before) {
				t.Fatalf("after revoke %+v, want %+v", after, before)
			}
		})
	}
}

func TestAllowPicksSequenceAheadOfDeny(t *testing.T) {
	emu := fwEmu(t)
	emu.SetFirewall(fwIP, true,
		ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"},
		ovhtest.FirewallRule{Sequence: 2, Action: "permit", Protocol: "udp"},
		ovhtest.FirewallRule{Sequence: 4, Action: "deny", Protocol: "ipv4"})
	emu.SetRulePending(2) // OVH takes a while: the client polls until ok
	p, _ := newTest(t, emu, nil)
	rule, err := p.Allow(context.Background(), netip.MustParseAddr(fwIP), admin, "")
	if err != nil {
		t.Fatal(err)
	}
	if rule.Ref != "1" || rule.State != "ok" {
		t.Fatalf("rule = %+v, want sequence 1 in state ok", rule)
	}
}

func TestAllowFull(t *testing.T) {
	emu := fwEmu(t)
	var rules []ovhtest.FirewallRule
	for seq := range 20 {
		rules = append(rules, ovhtest.FirewallRule{Sequence: seq, Action: "permit", Protocol: "tcp", Source: fmt.Sprintf("198.51.100.%d/32", seq)})
	}
	emu.SetFirewall(fwIP, true, rules...)
	p, _ := newTest(t, emu, nil)
	_, err := p.Allow(context.Background(), netip.MustParseAddr(fwIP), admin, "")
	if err == nil || !strings.Contains(err.Error(), "holds 20 rules") {
		t.Fatalf("err = %v, want the 20-rule limit", err)
	}
}

// TestRevokeAfterChange: someone renumbered the rules and added one while
// the grant ran; revoke finds ours by content, not by its stale sequence.
func TestRevokeAfterChange(t *testing.T) {
	emu := fwEmu(t)
	emu.SetFirewall(fwIP, true, ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"})
	p, _ := newTest(t, emu, nil)
	ctx := context.Background()
	ip := netip.MustParseAddr(fwIP)
	rule, err := p.Allow(ctx, ip, admin, "")
	if err != nil || rule.Ref != "1" {
		t.Fatalf("allow = %+v, %v", rule, err)
	}
	changed := []ovhtest.FirewallRule{
		{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"},
		{Sequence: 1, Action: "permit", Protocol: "ipv4", Source: "192.0.2.50/32"},
		{Sequence: 7, Action: "permit", Protocol: "ipv4", Source: admin.String()},
		{Sequence: 10, Action: "deny", Protocol: "ipv4"},
	}
	emu.SetFirewall(fwIP, true, changed...)

	ours, err := p.OurRules(ctx, ip)
	if err != nil || len(ours) != 2 || ours[1].Ref != "7" {
		t.Fatalf("OurRules = %+v, %v", ours, err)
	}
	if err := p.Revoke(ctx, ip, admin, rule); err != nil {
		t.Fatal(err)
	}
	_, enabled, left := emu.Firewall(fwIP)
	want := []ovhtest.FirewallRule{changed[0], changed[1], changed[3]}
	for i := range want {
		want[i].State = "ok"
	}
	if !enabled || !reflect.DeepEqual(left, want) {
		t.Fatalf("after revoke enabled=%v rules=%+v, want %+v", enabled, left, want)
	}
	// Revoking again finds nothing and is fine.
	if err := p.Revoke(ctx, ip, admin, rule); err != nil {
		t.Fatal(err)
	}
}
