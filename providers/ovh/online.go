package ovh

import (
	"context"

	"github.com/abusewatch/abusewatch/providers"
)

// CheckOnline makes one authenticated call, the listing of the account's IP
// blocks that every lookup starts with, so that the consumer key's access
// rules are tried too.
func (p *Provider) CheckOnline(ctx context.Context) []providers.OnlineCheck {
	_, err := p.call(ctx, "GET", "/ip", nil, nil)
	return []providers.OnlineCheck{{API: "ovh", Err: err}}
}
