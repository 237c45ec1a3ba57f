package ovh

import (
	"context"
	"net/netip"
	"reflect"
	"testing"

	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

// TestVirtualMachine: a failover IP routed to a hypervisor is named by the
// virtual MAC that carries it; the hypervisor's own IP, an IP on no MAC
// and a VPS name no VM.
func TestVirtualMachine(t *testing.T) {
	emu := ovhtest.New(t)
	const hv = "ns3012345.ip-192-0-2.eu"
	emu.AddDedicated(ovhtest.Dedicated{Name: hv, State: "ok"})
	emu.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.70/32", Type: "dedicated", RoutedTo: hv})
	emu.AddIPBlock(ovhtest.IPBlock{Block: "198.51.100.8/29", Type: "failover", RoutedTo: hv})
	emu.AddVirtualMAC(hv, ovhtest.VirtualMAC{MAC: "02:00:00:aa:bb:01", Type: "ovh", VMs: map[string]string{"198.51.100.9": "web-vm"}})
	emu.AddVirtualMAC(hv, ovhtest.VirtualMAC{MAC: "02:00:00:aa:bb:02", Type: "vmware", VMs: map[string]string{"198.51.100.10": "ntp-vm", "198.51.100.11": "ntp-vm"}})
	emu.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.63/32", Type: "vps", RoutedTo: "vps-1.vps.ovh.net"})
	emu.AddVPS(ovhtest.VPS{Name: "vps-1.vps.ovh.net", State: "running"})
	p, _ := newTest(t, emu, nil)
	for _, tt := range []struct {
		ip   string
		want *providers.VirtualMachine
	}{
		{"198.51.100.10", &providers.VirtualMachine{Provider: "ovh", Server: hv, MAC: "02:00:00:aa:bb:02", MACType: "vmware", Name: "ntp-vm"}},
		{"198.51.100.9", &providers.VirtualMachine{Provider: "ovh", Server: hv, MAC: "02:00:00:aa:bb:01", MACType: "ovh", Name: "web-vm"}},
		{"198.51.100.12", nil}, // in the failover block, on no MAC
		{"192.0.2.70", nil},    // the hypervisor's own IP
		{"192.0.2.63", nil},    // a VPS has no virtual MACs
	} {
		got, err := p.VirtualMachine(context.Background(), netip.MustParseAddr(tt.ip))
		if err != nil {
			t.Errorf("%s: %v", tt.ip, err)
			continue
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %+v, want %+v", tt.ip, got, tt.want)
		}
	}
	if _, err := p.VirtualMachine(context.Background(), netip.MustParseAddr("203.0.113.1")); err == nil {
		t.Error("an IP of no block of the account: no error")
	}
}
