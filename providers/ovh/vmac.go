package ovh

import (
	"context"
	"fmt"
	"net/netip"
	"net/url"

	"github.com/abusewatch/abusewatch/providers"
)

// VirtualMachine names the VM behind a failover / additional IP of a
// dedicated server: the server the IP is routed to, the virtual MAC that
// carries it and the name the customer gave the VM. It is nil when the IP
// is on no virtual MAC (a server's own IP) or not routed to a dedicated
// server (a VPS: 404 on its virtualMac list).
func (p *Provider) VirtualMachine(ctx context.Context, ip netip.Addr) (*providers.VirtualMachine, error) {
	svc, _, err := p.resolve(ctx, ip, nil)
	if err != nil {
		return nil, err
	}
	server := "/dedicated/server/" + url.PathEscape(svc.Name)
	var macs []string
	if found, err := p.get(ctx, nil, server+"/virtualMac", &macs); err != nil || !found {
		return nil, wrapVM(ip, err)
	}
	for _, mac := range macs {
		base := server + "/virtualMac/" + url.PathEscape(mac)
		var ips []string
		if _, err := p.get(ctx, nil, base+"/virtualAddress", &ips); err != nil {
			return nil, wrapVM(ip, err)
		}
		for _, a := range ips {
			if addr, err := netip.ParseAddr(a); err != nil || addr.Unmap() != ip {
				continue
			}
			var vm struct {
				IPAddress          string `json:"ipAddress"`
				VirtualMachineName string `json:"virtualMachineName"`
			}
			var info struct {
				MACAddress string `json:"macAddress"`
				Type       string `json:"type"`
			}
			if _, err := p.get(ctx, nil, base+"/virtualAddress/"+url.PathEscape(a), &vm); err != nil {
				return nil, wrapVM(ip, err)
			}
			if _, err := p.get(ctx, nil, base, &info); err != nil {
				return nil, wrapVM(ip, err)
			}
			return &providers.VirtualMachine{Provider: "ovh", Server: svc.Name, MAC: mac, MACType: info.Type, Name: vm.VirtualMachineName}, nil
		}
	}
	return nil, nil
}

func wrapVM(ip netip.Addr, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("ovh: virtual MAC of %s: %w", ip, err)
}
