package ovh

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"

	"github.com/abusewatch/abusewatch/providers"
)

// Unblock implements providers.Provider: it lifts the anti-hack and the
// anti-spam block on ip. OVH refuses while its timer runs, so that case is
// answered from the timer without asking.
func (p *Provider) Unblock(ctx context.Context, ip netip.Addr) error {
	_, block, err := p.resolve(ctx, ip, nil)
	if err != nil {
		return err
	}
	b := "/ip/" + esc(block.String())
	lifted := 0

	var ah antihack
	found, err := p.get(ctx, nil, b+"/antihack/"+ip.String(), &ah)
	if err != nil {
		return fmt.Errorf("ovh: antihack %s: %w", ip, err)
	}
	if found && ah.State == "blocked" {
		if ah.Time > 0 {
			return fmt.Errorf("ovh: unblock %s: anti-hack block: %w: still blocked for %d seconds", ip, providers.ErrTooEarly, ah.Time)
		}
		if _, err := p.call(ctx, http.MethodPost, b+"/antihack/"+ip.String()+"/unblock", nil, nil); err != nil {
			return fmt.Errorf("ovh: unblock %s: anti-hack block: %w", ip, err)
		}
		p.logger.InfoContext(ctx, "anti-hack unblock requested", "ip", ip)
		lifted++
	}

	var sp spam
	found, err = p.get(ctx, nil, b+"/spam/"+ip.String(), &sp)
	if err != nil {
		return fmt.Errorf("ovh: antispam %s: %w", ip, err)
	}
	if found && sp.State == "blockedForSpam" {
		if sp.Time > 0 {
			return fmt.Errorf("ovh: unblock %s: anti-spam block: %w: still blocked for %d seconds", ip, providers.ErrTooEarly, sp.Time)
		}
		if _, err := p.call(ctx, http.MethodPost, b+"/spam/"+ip.String()+"/unblock", nil, nil); err != nil {
			return fmt.Errorf("ovh: unblock %s: anti-spam block: %w", ip, err)
		}
		p.logger.InfoContext(ctx, "anti-spam unblock requested", "ip", ip)
		lifted++
	}
	if lifted == 0 {
		return fmt.Errorf("ovh: unblock %s: %w", ip, providers.ErrNotBlocked)
	}
	return nil
}
