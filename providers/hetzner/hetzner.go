// Package hetzner implements providers.Provider for a Hetzner account:
// dedicated servers through the Robot webservice (package robot) and cloud
// servers through hcloud-go. One provider value covers both; an IP goes to
// whichever API knows it, both asked at once.
package hetzner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud"

	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
)

// RulePrefix starts the name (Robot) or description (Cloud) of every
// firewall rule abusewatch makes, followed by the source address: that is
// how Revoke and OurRules recognise them.
const RulePrefix = "abusewatch-"

// CloudConfig configures the Cloud API client.
type CloudConfig struct {
	Endpoint   string // default https://api.hetzner.cloud/v1
	Token      string
	HTTPClient *http.Client
	// PollInterval is the wait between reads of a running action (default 1s).
	PollInterval time.Duration
}

// Config configures the provider; a nil Robot or Cloud leaves that API out.
type Config struct {
	Robot *robot.Config
	Cloud *CloudConfig
	// PollInterval is the wait between reads while a Robot firewall is
	// "in process" (default 5s; Robot takes 20–30s to apply a change).
	PollInterval time.Duration
	// Now is the clock stamping State.CheckedAt (default time.Now).
	Now func() time.Time
	// Sleep waits between polls (default a timer that stops with ctx).
	Sleep func(ctx context.Context, d time.Duration) error
}

// Provider is a Hetzner account.
type Provider struct {
	robot        *robot.Client
	cloud        *hcloud.Client
	cloudLatch   *providers.AuthLatch
	logger       *slog.Logger
	pollInterval time.Duration
	now          func() time.Time
	sleep        func(ctx context.Context, d time.Duration) error
}

var _ providers.Provider = (*Provider)(nil)

// New returns a Hetzner provider. It makes no request.
func New(cfg Config, logger *slog.Logger) (*Provider, error) {
	if cfg.Robot == nil && cfg.Cloud == nil {
		return nil, errors.New("hetzner: configure the Robot, the Cloud API or both")
	}
	p := &Provider{logger: logger, pollInterval: cfg.PollInterval, now: cfg.Now, sleep: cfg.Sleep}
	if p.pollInterval <= 0 {
		p.pollInterval = 5 * time.Second
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = providers.Sleep
	}
	if cfg.Robot != nil {
		rc, err := robot.New(*cfg.Robot, logger.With("api", "robot"))
		if err != nil {
			return nil, fmt.Errorf("hetzner: %w", err)
		}
		p.robot = rc
	}
	if c := cfg.Cloud; c != nil {
		if c.Token == "" {
			return nil, errors.New("hetzner: cloud token is required")
		}
		// No retries inside hcloud-go (it would retry a rate limit blindly,
		// five times): its errors are classified here, and the pipeline
		// retries by that one rule.
		opts := []hcloud.ClientOption{hcloud.WithToken(c.Token), hcloud.WithApplication("abusewatch", ""),
			hcloud.WithRetryOpts(hcloud.RetryOpts{MaxRetries: 0})}
		if c.Endpoint != "" {
			opts = append(opts, hcloud.WithEndpoint(c.Endpoint))
		}
		// The Cloud answers an unknown or revoked token with 401.
		p.cloudLatch = providers.NewAuthLatch("hetzner", "cloud", func(status int, _ []byte) bool { return status == http.StatusUnauthorized })
		opts = append(opts, hcloud.WithHTTPClient(p.cloudLatch.Client(c.HTTPClient, 60*time.Second)))
		if c.PollInterval > 0 {
			opts = append(opts, hcloud.WithPollOpts(hcloud.PollOpts{BackoffFunc: hcloud.ConstantBackoff(c.PollInterval)}))
		}
		p.cloud = hcloud.NewClient(opts...)
	}
	return p, nil
}

// Name implements providers.Provider.
func (p *Provider) Name() string { return "hetzner" }

// AuthLatches implements providers.AuthLatches: Robot's and the Cloud's,
// each stopping its own API only.
func (p *Provider) AuthLatches() []*providers.AuthLatch {
	var out []*providers.AuthLatch
	if p.robot != nil {
		out = append(out, p.robot.AuthLatch())
	}
	if p.cloudLatch != nil {
		out = append(out, p.cloudLatch)
	}
	return out
}

// target is where an IP lives: exactly one of robotIP and cloud is set.
type target struct {
	robotIP  *robot.IP
	robotRaw json.RawMessage // the answer robotIP came from
	cloud    *cloudTarget
}

// route finds which API holds ip. Robot and the Cloud are asked at once,
// so that one API failing or slow (Robot after a refused login, say) never
// delays or fails the other's servers.
func (p *Provider) route(ctx context.Context, ip netip.Addr) (target, error) {
	var asks []func(context.Context) (target, error)
	if p.robot != nil {
		asks = append(asks, func(ctx context.Context) (target, error) {
			rip, raw, err := p.robot.GetIP(ctx, ip.String())
			switch {
			case err == nil:
				return target{robotIP: rip, robotRaw: raw}, nil
			case robot.IsCode(err, robot.CodeIPNotFound):
				return target{}, providers.ErrNotOurs
			}
			return target{}, fmt.Errorf("hetzner: %s: %w", ip, err)
		})
	}
	if p.cloud != nil {
		asks = append(asks, func(ctx context.Context) (target, error) {
			ct, err := p.findCloud(ctx, ip)
			if err == nil && ct == nil {
				err = providers.ErrNotOurs
			}
			return target{cloud: ct}, err
		})
	}
	t, ok, errs := providers.FirstHolder(ctx, asks...)
	switch {
	case ok:
		return t, nil
	case len(errs) > 0:
		return target{}, errors.Join(errs...)
	}
	return target{}, fmt.Errorf("hetzner: %s: %w", ip, providers.ErrNotOurs)
}

// Resolve implements providers.Provider.
func (p *Provider) Resolve(ctx context.Context, ip netip.Addr) (providers.Service, error) {
	t, err := p.route(ctx, ip)
	if err != nil {
		return providers.Service{}, err
	}
	if t.robotIP != nil {
		return providers.Service{Provider: "hetzner", Name: fmt.Sprint(t.robotIP.ServerNumber), Type: "robot"}, nil
	}
	return t.cloud.service(), nil
}

// ServiceIPs returns the addresses of a Robot server named by its number,
// for a notice that names the server but no IP: its main IP first (GET
// /server/{number} → server_ip), then its additional ones. ErrNotOurs when
// Robot is not configured, service is not a server number, or the account
// has no such server.
func (p *Provider) ServiceIPs(ctx context.Context, service string) ([]netip.Addr, error) {
	number, err := strconv.Atoi(service)
	if p.robot == nil || err != nil || number <= 0 {
		return nil, fmt.Errorf("hetzner: %q is no Robot server number: %w", service, providers.ErrNotOurs)
	}
	srv, _, err := p.robot.GetServer(ctx, number)
	if robot.IsCode(err, robot.CodeServerNotFound) {
		return nil, fmt.Errorf("hetzner: server %d: %w", number, providers.ErrNotOurs)
	}
	if err != nil {
		return nil, fmt.Errorf("hetzner: server %d: %w", number, err)
	}
	var out []netip.Addr
	for _, s := range append([]string{srv.ServerIP}, srv.IP...) {
		if a, err := netip.ParseAddr(s); err == nil && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out, nil
}

// State implements providers.Provider.
func (p *Provider) State(ctx context.Context, ip netip.Addr) (*providers.State, error) {
	t, err := p.route(ctx, ip)
	if err != nil {
		return nil, err
	}
	var st *providers.State
	if t.robotIP != nil {
		st, err = p.robotState(ctx, ip, t.robotIP, t.robotRaw)
	} else {
		st, err = p.cloudState(ctx, ip, t.cloud)
	}
	if err != nil {
		return nil, err
	}
	st.CheckedAt = p.now().UTC()
	return st, nil
}

// Unblock implements providers.Provider. Hetzner has no API to lift a Robot
// lock or a Cloud IP block: that happens through the abuse case.
func (p *Provider) Unblock(ctx context.Context, ip netip.Addr) error {
	st, err := p.State(ctx, ip)
	if err != nil {
		return err
	}
	if !st.Blocked {
		return fmt.Errorf("hetzner: unblock %s: %w", ip, providers.ErrNotBlocked)
	}
	return fmt.Errorf("hetzner: unblock %s: %w: answer the abuse case in Robot or the Cloud Console; Hetzner lifts the block when it is resolved",
		ip, providers.ErrUnsupported)
}

// Allow implements providers.Provider.
func (p *Provider) Allow(ctx context.Context, ip netip.Addr, source netip.Prefix, comment string) (providers.Rule, error) {
	t, err := p.route(ctx, ip)
	if err != nil {
		return providers.Rule{}, err
	}
	if t.robotIP != nil {
		return p.robotAllow(ctx, ip, t.robotIP.ServerNumber, source, comment)
	}
	return p.cloudAllow(ctx, ip, t.cloud, source, comment)
}

// Revoke implements providers.Provider.
func (p *Provider) Revoke(ctx context.Context, ip netip.Addr, source netip.Prefix, ref providers.Rule) error {
	t, err := p.route(ctx, ip)
	if err != nil {
		return err
	}
	if t.robotIP != nil {
		return p.robotRevoke(ctx, ip, t.robotIP.ServerNumber, source)
	}
	return p.cloudRevoke(ctx, ip, source)
}

// OurRules implements providers.Provider.
func (p *Provider) OurRules(ctx context.Context, ip netip.Addr) ([]providers.Rule, error) {
	t, err := p.route(ctx, ip)
	if err != nil {
		return nil, err
	}
	if t.robotIP != nil {
		return p.robotOurRules(ctx, ip, t.robotIP.ServerNumber)
	}
	return p.cloudOurRules(ctx, ip)
}
