package hetzner

import (
	"context"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/abusewatch/abusewatch/providers"
)

// CheckOnline makes one authenticated call per configured API: Robot's
// server list (one login: a wrong password costs one of Robot's three
// failed logins, never more) and the Cloud's first server.
func (p *Provider) CheckOnline(ctx context.Context) []providers.OnlineCheck {
	var out []providers.OnlineCheck
	if p.robot != nil {
		_, err := p.robot.Do(ctx, "GET", "/server", nil)
		out = append(out, providers.OnlineCheck{API: "robot", Err: err})
	}
	if p.cloud != nil {
		_, _, err := p.cloud.Server.List(ctx, hcloud.ServerListOpts{ListOpts: hcloud.ListOpts{PerPage: 1}})
		out = append(out, providers.OnlineCheck{API: "cloud", Err: err})
	}
	return out
}
