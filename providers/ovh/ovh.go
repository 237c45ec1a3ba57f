// Package ovh implements providers.Provider for the OVHcloud API v1 through
// github.com/ovh/go-ovh, adding what go-ovh leaves to its callers: retries
// with backoff, errors that say what to fix, and the multi-step flows
// (resolve an IP to its service, open a hole in the Edge Network Firewall).
package ovh

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	goovh "github.com/ovh/go-ovh/ovh"

	"github.com/abusewatch/abusewatch/providers"
)

// Config configures the client. Credentials left empty are read by go-ovh
// from /etc/ovh.conf, ~/.ovh.conf, ./ovh.conf and OVH_* variables.
type Config struct {
	// Endpoint is a go-ovh endpoint name (ovh-eu, ovh-ca, …) or a URL
	// without a trailing slash.
	Endpoint          string
	ApplicationKey    string
	ApplicationSecret string
	ConsumerKey       string

	// HTTPClient replaces go-ovh's default client.
	HTTPClient *http.Client
	// Attempts bounds the tries of one call on 5xx and timeouts (default 4).
	Attempts int
	// Backoff is the wait before the first retry, doubled each time (default 500ms).
	Backoff time.Duration
	// PollInterval is the wait between reads while a firewall change
	// settles (default 5s).
	PollInterval time.Duration
	// Now is the clock stamping State.CheckedAt (default time.Now).
	Now func() time.Time
}

// Provider is an OVHcloud account.
type Provider struct {
	cfg    Config
	logger *slog.Logger

	// go-ovh writes Client.Client.Timeout on every request, so concurrent
	// calls race; mu serializes them.
	mu    sync.Mutex
	c     *goovh.Client
	latch *providers.AuthLatch
}

var _ providers.Provider = (*Provider)(nil)

// New returns an OVH provider. It makes no request.
func New(cfg Config, logger *slog.Logger) (*Provider, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = goovh.OvhEU
	}
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 500 * time.Millisecond
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c, err := goovh.NewClient(cfg.Endpoint, cfg.ApplicationKey, cfg.ApplicationSecret, cfg.ConsumerKey)
	if err != nil {
		return nil, fmt.Errorf("ovh: %w", err)
	}
	if c.AppKey == "" {
		// go-ovh also accepts OAuth2 and access tokens; abusewatch documents
		// and tests application keys only.
		return nil, errors.New("ovh: no application_key configured (config file, /etc/ovh.conf, ~/.ovh.conf or OVH_APPLICATION_KEY)")
	}
	if c.ConsumerKey == "" {
		return nil, errors.New("ovh: no consumer_key configured")
	}
	latch := providers.NewAuthLatch("ovh", "ovh", credentialsRefused)
	// go-ovh sets the client's timeout on every request.
	c.Client = latch.Client(cfg.HTTPClient, 0)
	c.Client.Transport = retryAfterTransport{base: c.Client.Transport, now: cfg.Now}
	c.UserAgent = "abusewatch"
	return &Provider{cfg: cfg, logger: logger, c: c, latch: latch}, nil
}

// credentialsRefused tells OVH's answers to bad credentials (an unknown
// application key, a signature made with the wrong secret, an invalid or
// expired consumer key) from the rest: a call not granted or a clock out
// of the window is about one call, not the credentials.
func credentialsRefused(status int, body []byte) bool {
	if status != http.StatusForbidden && status != http.StatusBadRequest {
		return false
	}
	var e struct {
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(body, &e) != nil {
		return false
	}
	switch e.ErrorCode {
	case "INVALID_KEY", "INVALID_SIGNATURE", "INVALID_CREDENTIAL":
		return true
	}
	return false
}

// AuthLatches implements providers.AuthLatches.
func (p *Provider) AuthLatches() []*providers.AuthLatch { return []*providers.AuthLatch{p.latch} }

// Name implements providers.Provider.
func (p *Provider) Name() string { return "ovh" }
