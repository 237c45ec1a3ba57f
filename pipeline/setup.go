package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

// Built is a pipeline wired from a configuration, with what it holds open.
type Built struct {
	Pipeline *Pipeline
	Store    *store.Store
	Notifier *notify.Notifier // nil without channels
}

// Close releases the store.
func (b *Built) Close() error { return b.Store.Close() }

// FromConfig opens the store and wires every configured part. Provider
// clients and triage runners are added by the daemon (see Attach options).
func FromConfig(ctx context.Context, cfg *config.Config, log *slog.Logger) (*Built, error) {
	if err := os.MkdirAll(filepath.Dir(cfg.Store.Path), 0o700); err != nil {
		return nil, fmt.Errorf("store directory: %w", err)
	}
	st, err := store.Open(ctx, cfg.Store.Path)
	if err != nil {
		return nil, err
	}
	b := &Built{Store: st}
	opts := Options{
		Store:  st,
		Logger: log.With("component", "pipeline"),
		Parser: parser.Options{
			MaxBytes:        int(cfg.Parser.MaxMessageBytes),
			TrustAuthservID: cfg.Parser.TrustAuthservID,
			LookupTXT:       newDNSCache().LookupTXT,
		},
		Lease: cfg.Workers.Lease,
	}
	if len(cfg.Notify) > 0 {
		n, err := notify.New(cfg.Notify, notify.Options{})
		if err != nil {
			return nil, errors.Join(err, st.Close())
		}
		b.Notifier, opts.Notifier = n, n
	}
	b.Pipeline = New(opts)
	return b, nil
}
