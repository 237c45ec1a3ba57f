package hetzner

import (
	"context"
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
)

var admin = netip.MustParsePrefix("203.0.113.7/32")

func TestRescuePasswordRedacted(t *testing.T) {
	e := newEnv(t)
	st, err := e.p.State(context.Background(), netip.MustParseAddr("88.99.10.30"))
	if err != nil {
		t.Fatal(err)
	}
	if raw := string(st.Raw["/boot/322/rescue"]); strings.Contains(raw, "emu-rescue-pw") || !strings.Contains(raw, "REDACTED") {
		t.Fatalf("rescue raw answer = %s", raw)
	}
}

// TestRobotAllowRevoke: our accept rule goes on top, every existing rule
// stays in order, the firewall's status is kept, and revoke restores the
// exact configuration, waiting while Robot applies each change.
func TestRobotAllowRevoke(t *testing.T) {
	tests := []struct {
		name   string
		server int
		ip     string
	}{
		{"active firewall with rules", 323, "88.99.10.40"},
		{"disabled empty firewall stays disabled", 321, "88.99.10.20"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.robot.SetApplyDelay(25 * time.Second) // Robot takes 20–30s; the emulator's clock moves only when the client waits
			before := e.robot.Firewall(tt.server)
			ip := netip.MustParseAddr(tt.ip)
			ctx := context.Background()

			rule, err := e.p.Allow(ctx, ip, admin, "grant 7")
			if err != nil {
				t.Fatal(err)
			}
			if rule.Ref != "abusewatch-203.0.113.7" || !rule.Ours || rule.Source != admin || rule.Restore != "" {
				t.Fatalf("rule = %+v", rule)
			}
			during := e.robot.Firewall(tt.server)
			wantTop := robottest.Rule{IPVersion: "ipv4", Name: "abusewatch-203.0.113.7", SrcIP: "203.0.113.7/32", DstIP: tt.ip + "/32", Action: "accept"}
			if during.Status != before.Status || len(during.Input) != len(before.Input)+1 || during.Input[0] != wantTop ||
				len(before.Input) > 0 && !reflect.DeepEqual(during.Input[1:], before.Input) {
				t.Fatalf("firewall during grant = %+v", during)
			}
			if _, err := e.p.Allow(ctx, ip, admin, "grant 7"); err != nil || len(e.robot.Firewall(tt.server).Input) != len(during.Input) {
				t.Fatalf("second allow: %v, %d rules (want idempotent)", err, len(e.robot.Firewall(tt.server).Input))
			}
			if err := e.p.Revoke(ctx, ip, admin, rule); err != nil {
				t.Fatal(err)
			}
			if after := e.robot.Firewall(tt.server); !reflect.DeepEqual(after, before) {
				t.Fatalf("after revoke %+v, want %+v", after, before)
			}
		})
	}
}

func TestRobotAllowLimit(t *testing.T) {
	e := newEnv(t)
	var rules []robottest.Rule
	for i := range 10 {
		rules = append(rules, robottest.Rule{IPVersion: "ipv4", Name: fmt.Sprintf("r%d", i), SrcIP: fmt.Sprintf("198.51.100.%d/32", i), Action: "accept"})
	}
	e.robot.SetFirewall(323, robottest.Firewall{Status: "active", Input: rules})
	_, err := e.p.Allow(context.Background(), netip.MustParseAddr("88.99.10.40"), admin, "")
	if err == nil || !strings.Contains(err.Error(), "holds 10 input rules") {
		t.Fatalf("err = %v, want the 10-rule limit", err)
	}
	if got := e.robot.Firewall(323); !reflect.DeepEqual(got.Input, rules) {
		t.Fatalf("a refused allow changed the firewall: %+v", got.Input)
	}
}

// TestRobotRevokeAfterChange: someone reordered the rules and added one
// during the grant; revoke removes ours by content and keeps theirs.
func TestRobotRevokeAfterChange(t *testing.T) {
	e := newEnv(t)
	ip := netip.MustParseAddr("88.99.10.40")
	ctx := context.Background()
	rule, err := e.p.Allow(ctx, ip, admin, "")
	if err != nil {
		t.Fatal(err)
	}
	fw := e.robot.Firewall(323)
	changed := []robottest.Rule{
		fw.Input[1],
		{IPVersion: "ipv4", Name: "new-monitoring", SrcIP: "192.0.2.10/32", Action: "accept"},
		fw.Input[0], // ours, moved down
		fw.Input[2], fw.Input[3],
	}
	e.robot.SetFirewall(323, robottest.Firewall{Status: "active", Input: changed})

	ours, err := e.p.OurRules(ctx, ip)
	if err != nil || len(ours) != 1 || ours[0].Source != admin {
		t.Fatalf("OurRules = %+v, %v", ours, err)
	}
	if err := e.p.Revoke(ctx, ip, admin, rule); err != nil {
		t.Fatal(err)
	}
	want := []robottest.Rule{changed[0], changed[1], changed[3], changed[4]}
	if got := e.robot.Firewall(323).Input; !reflect.DeepEqual(got, want) {
		t.Fatalf("after revoke %+v, want %+v", got, want)
	}
}

// TestRobotFirewallInProcess: a change posted while someone else's is
// still being applied (409 FIREWALL_IN_PROCESS) is retried from a fresh
// read, so their change survives.
func TestRobotFirewallInProcess(t *testing.T) {
	e := newEnv(t)
	e.robot.SetApplyDelay(20 * time.Second)
	// Someone else's change, posted through the API a moment ago.
	other := robottest.Rule{IPVersion: "ipv4", Name: "other", SrcIP: "192.0.2.1/32", Action: "accept"}
	e.robot.SetFirewall(323, robottest.Firewall{Status: "active", Input: []robottest.Rule{other}})
	if _, err := e.p.Allow(context.Background(), netip.MustParseAddr("88.99.10.40"), admin, ""); err != nil {
		t.Fatal(err)
	}
	got := e.robot.Firewall(323).Input
	if len(got) != 2 || got[0].Name != "abusewatch-203.0.113.7" || got[1] != other {
		t.Fatalf("firewall = %+v", got)
	}
}

// TestCloudAllowRevoke: a grant lives in its own firewall applied to the
// server; the operator's firewall is never touched; the grant firewall
// goes when its last grant does.
func TestCloudAllowRevoke(t *testing.T) {
	e := newEnv(t)
	ip := netip.MustParseAddr("49.12.1.12")
	ctx := context.Background()
	base := e.cloud.Firewalls()["base"]
	second := netip.MustParsePrefix("198.51.100.9/32")

	r1, err := e.p.Allow(ctx, ip, admin, "grant 1")
	if err != nil {
		t.Fatal(err)
	}
	if r1.Restore != providers.RestoreDelete || r1.State != "ok" || r1.Ref == "" {
		t.Fatalf("rule = %+v", r1)
	}
	ours, ok := e.cloud.Firewalls()["abusewatch-49.12.1.12"]
	if !ok || len(ours.Rules) != 3 || len(ours.AppliedTo) != 1 || ours.AppliedTo[0].Server.ID != 43 {
		t.Fatalf("grant firewall = %+v", ours)
	}
	for _, r := range ours.Rules {
		if r.Direction != "in" || !reflect.DeepEqual(r.SourceIPs, []string{"203.0.113.7/32"}) || *r.Description != "abusewatch-203.0.113.7" {
			t.Fatalf("grant rule = %+v", r)
		}
	}
	if _, err := e.p.Allow(ctx, ip, second, "grant 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.p.Allow(ctx, ip, admin, "grant 1"); err != nil || len(e.cloud.Firewalls()["abusewatch-49.12.1.12"].Rules) != 6 {
		t.Fatalf("allow again: %v; want idempotent, 6 rules", err)
	}
	got, err := e.p.OurRules(ctx, ip)
	if err != nil || len(got) != 2 {
		t.Fatalf("OurRules = %+v, %v", got, err)
	}

	if err := e.p.Revoke(ctx, ip, admin, r1); err != nil {
		t.Fatal(err)
	}
	if rules := e.cloud.Firewalls()["abusewatch-49.12.1.12"].Rules; len(rules) != 3 || rules[0].SourceIPs[0] != "198.51.100.9/32" {
		t.Fatalf("after the first revoke: %+v", rules)
	}
	if err := e.p.Revoke(ctx, ip, second, providers.Rule{}); err != nil {
		t.Fatal(err)
	}
	fws := e.cloud.Firewalls()
	if _, ok := fws["abusewatch-49.12.1.12"]; ok || !reflect.DeepEqual(fws["base"], base) {
		t.Fatalf("after the last revoke: %+v", fws)
	}
	// Revoking what is gone is fine.
	if err := e.p.Revoke(ctx, ip, second, providers.Rule{}); err != nil {
		t.Fatal(err)
	}
}

// TestCloudRevokeAfterChange: someone added a rule of theirs to the grant
// firewall; revoke removes ours and leaves the firewall, applied, with theirs.
func TestCloudRevokeAfterChange(t *testing.T) {
	e := newEnv(t)
	ip := netip.MustParseAddr("49.12.1.12")
	ctx := context.Background()
	if _, err := e.p.Allow(ctx, ip, admin, ""); err != nil {
		t.Fatal(err)
	}
	theirs := schema.FirewallRule{Direction: "in", SourceIPs: []string{"192.0.2.0/24"}, DestinationIPs: []string{},
		Protocol: "tcp", Port: ptr("22"), Description: ptr("ops")}
	fw := e.cloud.Firewalls()["abusewatch-49.12.1.12"]
	e.cloud.SetFirewallRules(fw.Name, append([]schema.FirewallRule{theirs}, fw.Rules...))

	if err := e.p.Revoke(ctx, ip, admin, providers.Rule{}); err != nil {
		t.Fatal(err)
	}
	fw = e.cloud.Firewalls()["abusewatch-49.12.1.12"]
	if !reflect.DeepEqual(fw.Rules, []schema.FirewallRule{theirs}) || len(fw.AppliedTo) != 1 {
		t.Fatalf("after revoke: %+v", fw)
	}
}

// TestCloudAllowUnfiltered: with no firewall applied nothing filters the
// server, and applying one would drop everything else: Allow changes nothing.
func TestCloudAllowUnfiltered(t *testing.T) {
	e := newEnv(t)
	rule, err := e.p.Allow(context.Background(), netip.MustParseAddr("49.12.1.11"), admin, "")
	if err != nil {
		t.Fatal(err)
	}
	if rule.State != "unfiltered" || len(e.cloud.Firewalls()) != 1 {
		t.Fatalf("rule = %+v, firewalls = %v", rule, e.cloud.Firewalls())
	}
}
