// Package setup builds the provider registry from the configuration. It
// lives apart from package providers, which the provider packages import,
// so that providers itself never imports them.
package setup

import (
	"fmt"
	"log/slog"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
	"github.com/abusewatch/abusewatch/providers/ovh"
)

// FromConfig returns a registry of the providers configured, OVH first.
// No request is made. Hetzner's Robot is used when robot_user is set and
// its Cloud API when a cloud token is.
func FromConfig(cfg *config.Config, logger *slog.Logger) (*providers.Registry, error) {
	var ps []providers.Provider
	if o := cfg.Providers.OVH; o != nil {
		p, err := ovh.New(ovh.Config{
			Endpoint:          o.Endpoint,
			ApplicationKey:    o.ApplicationKey,
			ApplicationSecret: o.ApplicationSecret,
			ConsumerKey:       o.ConsumerKey,
		}, logger.With("provider", "ovh"))
		if err != nil {
			return nil, fmt.Errorf("providers.ovh: %w", err)
		}
		ps = append(ps, p)
	}
	if h := cfg.Providers.Hetzner; h != nil {
		var hc hetzner.Config
		if h.RobotUser != "" {
			hc.Robot = &robot.Config{Endpoint: h.RobotEndpoint, User: h.RobotUser, Password: h.RobotPassword}
		}
		if h.CloudToken != "" {
			hc.Cloud = &hetzner.CloudConfig{Endpoint: h.CloudEndpoint, Token: h.CloudToken}
		}
		p, err := hetzner.New(hc, logger.With("provider", "hetzner"))
		if err != nil {
			return nil, fmt.Errorf("providers.hetzner: %w", err)
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, fmt.Errorf("no provider configured: add providers.ovh or providers.hetzner to %s", orDefault(cfg.Path))
	}
	return providers.NewRegistry(providers.RegistryConfig{}, logger, ps...), nil
}

func orDefault(path string) string {
	if path == "" {
		return "the config file"
	}
	return path
}
