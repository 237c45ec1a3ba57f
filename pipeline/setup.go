package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/setup"
	"github.com/abusewatch/abusewatch/statement"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
	"github.com/abusewatch/abusewatch/web"
)

// Built is a pipeline wired from a configuration, with what it holds open.
type Built struct {
	Pipeline *Pipeline
	Store    *store.Store
	Registry *providers.Registry // nil without providers

	metrics *Metrics
	cfgPath string // for errors that tell what to add where
	log     *slog.Logger
	// publicURL is http.public_url, read at start like the rest of http.
	publicURL string
}

// Close releases the store.
func (b *Built) Close() error { return b.Store.Close() }

// FromConfig opens the store and wires every configured part: chat
// channels, provider clients, triage jobs and the inventory.
func FromConfig(ctx context.Context, cfg *config.Config, log *slog.Logger, options ...Option) (*Built, error) {
	var so setupOptions
	for _, o := range options {
		o(&so)
	}
	if so.lookupTXT == nil {
		so.lookupTXT = newDNSCache().LookupTXT
	}
	st, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	b := &Built{Store: st, metrics: so.metrics, cfgPath: cfg.Path, log: log.With("component", "pipeline"), publicURL: cfg.HTTP.PublicURL}
	opts := Options{
		Store:            st,
		Logger:           log.With("component", "pipeline"),
		Parser:           parserOptions(cfg, so.lookupTXT),
		TrustedReporters: cfg.Parser.TrustedReporters,
		KeepMessageBytes: cfg.Parser.KeepMessageBytes,
		Lease:            cfg.Workers.Lease,
	}
	if opts.Notifier, err = b.newNotifier(cfg.Notify); err != nil {
		return nil, errors.Join(err, st.Close())
	}
	if cfg.Providers.OVH != nil || cfg.Providers.Hetzner != nil {
		reg, err := setup.FromConfig(cfg, log.With("component", "providers"))
		if err != nil {
			return nil, errors.Join(err, st.Close())
		}
		b.Registry, opts.Providers, opts.Firewall = reg, reg, reg
		if t, ok := reg.Provider("ovh").(TicketReplier); ok {
			opts.Tickets = t
		}
		if so.metrics != nil {
			opts.Providers = countingProviders{reg, so.metrics}
		}
	}
	if cfg.SMTP != nil {
		if opts.Mailer, err = statement.NewMailer(*cfg.SMTP, log.With("component", "statement")); err != nil {
			return nil, errors.Join(err, st.Close())
		}
	}
	if cfg.Triage.Kit || len(cfg.Triage.Jobs) > 0 || len(cfg.Inventory) > 0 {
		inv, err := triage.NewInventory(cfg.Inventory)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("inventory: %w", err), st.Close())
		}
		runner := triage.NewRunner(cfg.Triage, triage.Options{Logger: log.With("component", "triage")})
		if cfg.Triage.Kit || len(cfg.Triage.Jobs) > 0 {
			opts.Triage = &Triage{Config: cfg.Triage, Inventory: inv, Runner: runner}
		}
		// Containment needs only the inventory and SSH; the daemon builds
		// it too, but no task of it can reach it.
		opts.Contain = &Contain{Inventory: inv, Connector: SSHConnector{Runner: runner}}
	}
	if so.metrics != nil {
		so.metrics.attachStore(st)
		so.metrics.setDashboard(Dashboard{
			Handler: web.Handler(st, web.Options{Logger: log.With("component", "web"), Refresh: time.Minute}),
			Token:   cfg.HTTP.AuthToken,
		})
		so.metrics.attachRegistry(b.Registry)
	}
	b.Pipeline = New(opts)
	if b.Registry != nil {
		b.Registry.OnAuthFailure(b.Pipeline.providerAuthFailed)
	}
	return b, nil
}

// newNotifier checks and builds chat channels, counted in the metrics like
// the configured ones; nil when there are none. A reload builds the new
// channels with it before it changes anything, then calls
// Pipeline.setNotifier.
func (b *Built) newNotifier(channels []config.Channel) (*notify.Notifier, error) {
	if len(channels) == 0 {
		return nil, nil
	}
	opts := notify.Options{PublicURL: b.publicURL}
	if b.metrics != nil {
		opts.OnSend = b.metrics.delivered
	}
	return notify.New(channels, opts)
}
