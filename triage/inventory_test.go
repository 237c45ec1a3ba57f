package triage

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/config"
)

func TestInventoryLookup(t *testing.T) {
	inv, err := NewInventory([]config.Host{
		{Name: "hv1", IPs: []string{"51.91.10.20"}, SSH: "root@hv1.example.net:22"},
		// The open NTP server inside this VM was used for amplification and
		// the provider blocked hv1: the VM's IP must lead to both.
		{Name: "vm-ntp", IPs: []string{"51.91.10.21", "2001:db8::21"}, Hypervisor: "hv1"},
		{Name: "ct1", IPs: []string{"10.0.0.5"}, Hypervisor: "vm-ntp"},
		{Name: "web1", IPs: []string{"192.0.2.7"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip           string
		host, parent string
		wantOK       bool
	}{
		{"51.91.10.21", "vm-ntp", "hv1", true},
		{"2001:db8::21", "vm-ntp", "hv1", true},
		{"::ffff:51.91.10.21", "vm-ntp", "hv1", true},
		{"51.91.10.20", "hv1", "", true},
		{"10.0.0.5", "ct1", "vm-ntp", true},
		{"192.0.2.7", "web1", "", true},
		{"192.0.2.8", "", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			host, hv, ok := inv.Lookup(netip.MustParseAddr(tc.ip))
			if ok != tc.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tc.wantOK)
			}
			if name(host) != tc.host || name(hv) != tc.parent {
				t.Fatalf("Lookup = %q, %q; want %q, %q", name(host), name(hv), tc.host, tc.parent)
			}
		})
	}

	host, _, _ := inv.Lookup(netip.MustParseAddr("192.0.2.7"))
	host.Name = "changed"
	if again, _, _ := inv.Lookup(netip.MustParseAddr("192.0.2.7")); again.Name != "web1" {
		t.Errorf("changing a looked-up host changed the inventory: %q", again.Name)
	}
}

func name(h *config.Host) string {
	if h == nil {
		return ""
	}
	return h.Name
}

func TestNewInventoryErrors(t *testing.T) {
	tests := []struct {
		name  string
		hosts []config.Host
		want  string
	}{
		{"ip claimed twice", []config.Host{{Name: "a", IPs: []string{"192.0.2.1"}}, {Name: "b", IPs: []string{"192.0.2.1"}}}, "already belongs to a"},
		{"mapped ip claimed twice", []config.Host{{Name: "a", IPs: []string{"192.0.2.1"}}, {Name: "b", IPs: []string{"::ffff:192.0.2.1"}}}, "already belongs to a"},
		{"duplicate name", []config.Host{{Name: "a"}, {Name: "a"}}, "already used"},
		{"unsafe name", []config.Host{{Name: "a;reboot"}}, "not a valid host name"},
		{"bad ip", []config.Host{{Name: "a", IPs: []string{"192.0.2.300"}}}, "not an IP address"},
		{"ip with zone", []config.Host{{Name: "a", IPs: []string{"fe80::1%eth0"}}}, "not an IP address"},
		{"unknown hypervisor", []config.Host{{Name: "a", Hypervisor: "b"}}, `hypervisor "b" is not in the inventory`},
		{"cycle", []config.Host{{Name: "a", Hypervisor: "b"}, {Name: "b", Hypervisor: "a"}}, "loops"},
		{"self", []config.Host{{Name: "a", Hypervisor: "a"}}, "loops"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewInventory(tc.hosts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewInventory = %v, want an error about %q", err, tc.want)
			}
		})
	}
}
