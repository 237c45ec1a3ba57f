package triage

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/abusewatch/abusewatch/config"
)

// Inventory maps our IPs to the hosts that own them and to their hypervisors.
type Inventory struct {
	hosts  []config.Host
	byIP   map[netip.Addr]int
	byName map[string]int
}

// NewInventory indexes hosts. It copies them, and refuses an inventory where
// an IP is claimed twice, a name is not a strict host name (it is what {host}
// expands to) or repeated, or a hypervisor is unknown or forms a cycle.
func NewInventory(hosts []config.Host) (*Inventory, error) {
	inv := &Inventory{
		hosts:  append([]config.Host(nil), hosts...),
		byIP:   map[netip.Addr]int{},
		byName: map[string]int{},
	}
	var errs []error
	for i, h := range inv.hosts {
		if !validHostname(h.Name) {
			errs = append(errs, fmt.Errorf("inventory[%d]: name %q is not a valid host name", i, h.Name))
		}
		if prev, dup := inv.byName[h.Name]; dup {
			errs = append(errs, fmt.Errorf("inventory[%d]: name %q already used by inventory[%d]", i, h.Name, prev))
		}
		inv.byName[h.Name] = i
		for _, s := range h.IPs {
			ip, err := netip.ParseAddr(s)
			if err != nil || ip.Zone() != "" {
				errs = append(errs, fmt.Errorf("inventory[%d] (%s): %q is not an IP address", i, h.Name, s))
				continue
			}
			ip = ip.Unmap()
			if prev, dup := inv.byIP[ip]; dup {
				errs = append(errs, fmt.Errorf("inventory[%d] (%s): %s already belongs to %s", i, h.Name, ip, inv.hosts[prev].Name))
				continue
			}
			inv.byIP[ip] = i
		}
	}
	for i, h := range inv.hosts {
		if err := inv.checkParents(h); err != nil {
			errs = append(errs, fmt.Errorf("inventory[%d] (%s): %w", i, h.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("triage: %w", err)
	}
	return inv, nil
}

// checkParents follows the hypervisor chain of h to its end.
func (inv *Inventory) checkParents(h config.Host) error {
	seen := map[string]bool{h.Name: true}
	for name := h.Hypervisor; name != ""; {
		i, ok := inv.byName[name]
		if !ok {
			return fmt.Errorf("hypervisor %q is not in the inventory", name)
		}
		if seen[name] {
			return fmt.Errorf("hypervisor chain loops through %q", name)
		}
		seen[name] = true
		name = inv.hosts[i].Hypervisor
	}
	return nil
}

// Lookup returns the host that owns ip and, for a VM or container, the
// hypervisor that carries it (nil otherwise). An IPv4-mapped IPv6 address
// finds its IPv4 owner. The hosts are copies: a caller cannot change the
// inventory that concurrent runs share.
func (inv *Inventory) Lookup(ip netip.Addr) (host, hypervisor *config.Host, ok bool) {
	i, ok := inv.byIP[ip.WithZone("").Unmap()]
	if !ok {
		return nil, nil, false
	}
	host, hypervisor = inv.at(i)
	return host, hypervisor, true
}

// Host returns the inventory host named name (a copy) and its hypervisor
// (nil when it has none).
func (inv *Inventory) Host(name string) (host, hypervisor *config.Host, ok bool) {
	i, ok := inv.byName[name]
	if !ok {
		return nil, nil, false
	}
	host, hypervisor = inv.at(i)
	return host, hypervisor, true
}

// at returns copies of host i and of its hypervisor (nil when it has none).
func (inv *Inventory) at(i int) (host, hypervisor *config.Host) {
	h := inv.hosts[i]
	if h.Hypervisor != "" {
		hv := inv.hosts[inv.byName[h.Hypervisor]]
		hypervisor = &hv
	}
	return &h, hypervisor
}
