package pipeline

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/abusewatch/abusewatch/providers"
)

// State is what a provider has done to an IP and its server (`status`).
type State = providers.State

// Status reads the provider's state of ip, live, and notes on the timeline
// of each unresolved incident about ip that an operator looked.
func (b *Built) Status(ctx context.Context, ip netip.Addr) (*State, error) {
	if b.Registry == nil {
		return nil, b.noProviders()
	}
	st, err := b.Registry.State(ctx, ip)
	if err != nil {
		return nil, err
	}
	b.note(ctx, ip, "state", fmt.Sprintf("abusewatch status: %s says %s", st.Provider, stateSummary(st.Blocked, st.Locked || st.Hacked, st.Rescue)))
	return st, nil
}

// Unblock asks the provider holding ip to lift its anti-hack or anti-spam
// block, notes the request (or its failure) on the timeline of each
// unresolved incident about ip, and returns the provider's name.
func (b *Built) Unblock(ctx context.Context, ip netip.Addr) (provider string, err error) {
	if b.Registry == nil {
		return "", b.noProviders()
	}
	p, _, err := b.Registry.Lookup(ctx, ip)
	if err != nil {
		return "", err
	}
	if err := p.Unblock(ctx, ip); err != nil {
		b.note(ctx, ip, "unblock", fmt.Sprintf("abusewatch unblock: %s refused: %v", p.Name(), err))
		return "", err
	}
	b.note(ctx, ip, "unblock", fmt.Sprintf("abusewatch unblock: lifting the block of %s requested from %s", ip, p.Name()))
	return p.Name(), nil
}

func (b *Built) noProviders() error {
	path := b.cfgPath
	if path == "" {
		path = "the config file"
	}
	return fmt.Errorf("no provider configured: add providers.ovh or providers.hetzner to %s", path)
}

// note adds text to the timeline of every unresolved incident about ip. The
// provider call it records has happened: a failure here is logged, not
// returned.
func (b *Built) note(ctx context.Context, ip netip.Addr, kind, text string) {
	incidents, err := b.Store.Incidents(ctx, "open")
	var errs []error
	for _, inc := range incidents {
		if a, perr := netip.ParseAddr(inc.IP); perr == nil && a.Unmap() == ip.Unmap() {
			errs = append(errs, b.Store.AddTimeline(ctx, inc.ID, kind, text))
		}
	}
	if err = errors.Join(append(errs, err)...); err != nil {
		b.log.Warn("timeline entry not written", "ip", ip, "err", err)
	}
}
