package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/setup"
)

// providerAuthFailed tells the team, once per refusal, that a provider API
// refused abusewatch's credentials; its client calls it no more until the
// configuration is reloaded, so state reads of its servers fail meanwhile.
func (p *Pipeline) providerAuthFailed(ctx context.Context, f providers.AuthFailure) {
	detail := fmt.Sprintf("%s %s API refused the credentials at %s (%s); abusewatch makes no call to it until they are fixed and the configuration reloaded (SIGHUP)",
		f.Provider, f.API, f.Since.UTC().Format(time.RFC3339), f.Error)
	p.enqueueStandalone(ctx, fmt.Sprintf("provider-auth:%s:%s:%d", f.Provider, f.API, f.Since.UnixNano()),
		notify.ProviderAuthFailed, f.Provider, "", detail)
}

// reloadProviders applies next's provider settings to the running
// registry: changed settings replace the clients (new credentials, a fresh
// budget and latch); unchanged ones let every client try its credentials
// once more, for a secret fixed at the provider's side. Nothing changes on
// an error. It returns false when the change needs a restart: providers
// configured where there were none, or all of them removed.
func (b *Built) reloadProviders(running, next *config.Config, log *slog.Logger) (bool, error) {
	hasNext := next.Providers.OVH != nil || next.Providers.Hetzner != nil
	if b.Registry == nil || !hasNext {
		return b.Registry == nil && !hasNext, nil
	}
	if reflect.DeepEqual(running.Providers, next.Providers) {
		b.Registry.ResetAuth()
		return true, nil
	}
	reg, err := setup.FromConfig(next, log.With("component", "providers"))
	if err != nil {
		return false, err
	}
	b.Registry.Replace(reg)
	return true, nil
}
