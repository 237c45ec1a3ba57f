package providers

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"
)

// RegistryConfig tunes routing. Zero values take the defaults.
type RegistryConfig struct {
	// TTL is how long an owner found for an IP is remembered (default 1h).
	TTL time.Duration
	// NegativeTTL is how long "no provider owns this IP" is remembered
	// (default 5m): shorter, as an IP just ordered appears on the account soon.
	NegativeTTL time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Registry routes an IP to the provider account that holds it.
type Registry struct {
	cfg    RegistryConfig
	logger *slog.Logger

	mu        sync.Mutex
	providers []Provider // replaced whole by Replace, never changed in place
	cache     map[netip.Addr]route
	onAuth    func(context.Context, AuthFailure)
}

type route struct {
	provider Provider // nil: nobody owns the IP
	service  Service
	expires  time.Time
}

// NewRegistry returns a registry asking ps, all at once.
func NewRegistry(cfg RegistryConfig, logger *slog.Logger, ps ...Provider) *Registry {
	if cfg.TTL <= 0 {
		cfg.TTL = time.Hour
	}
	if cfg.NegativeTTL <= 0 {
		cfg.NegativeTTL = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Registry{providers: ps, cfg: cfg, logger: logger, cache: map[netip.Addr]route{}}
}

// Providers returns the configured providers.
func (r *Registry) Providers() []Provider {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.providers
}

// Replace puts the providers of next in place of r's, as a reload does with
// changed provider settings: calls made from now on use them, with fresh
// credentials and latches; what r remembered of routes is dropped.
func (r *Registry) Replace(next *Registry) {
	ps := next.Providers()
	r.mu.Lock()
	r.providers = ps
	r.cache = map[netip.Addr]route{}
	hook := r.onAuth
	r.mu.Unlock()
	if hook != nil {
		r.OnAuthFailure(hook)
	}
}

// latches returns the authentication latches of every provider.
func (r *Registry) latches() []*AuthLatch {
	var out []*AuthLatch
	for _, p := range r.Providers() {
		if l, ok := p.(AuthLatches); ok {
			out = append(out, l.AuthLatches()...)
		}
	}
	return out
}

// OnAuthFailure sets fn to be called once each time an endpoint refuses
// its credentials (and its client stops calling it).
func (r *Registry) OnAuthFailure(fn func(context.Context, AuthFailure)) {
	r.mu.Lock()
	r.onAuth = fn
	r.mu.Unlock()
	for _, l := range r.latches() {
		l.OnFailure(fn)
	}
}

// AuthFailures lists the endpoints that refused their credentials and are
// no longer called.
func (r *Registry) AuthFailures() []AuthFailure {
	var out []AuthFailure
	for _, l := range r.latches() {
		if f := l.Failure(); f != nil {
			out = append(out, *f)
		}
	}
	return out
}

// ResetAuth lets every client try its credentials again, as a reload does
// when the provider settings are unchanged (a secret fixed at the
// provider's side, for instance).
func (r *Registry) ResetAuth() {
	for _, l := range r.latches() {
		l.Reset()
	}
}

// Provider returns the configured provider called name, or nil.
func (r *Registry) Provider(name string) Provider {
	for _, p := range r.Providers() {
		if p.Name() == name {
			return p
		}
	}
	return nil
}

// Lookup returns the provider holding ip and its service, or ErrNotOurs.
// A provider failing to answer is reported, and the failure is not cached.
func (r *Registry) Lookup(ctx context.Context, ip netip.Addr) (Provider, Service, error) {
	ip = ip.Unmap()
	now := r.cfg.Now()
	r.mu.Lock()
	rt, ok := r.cache[ip]
	r.mu.Unlock()
	if ok && now.Before(rt.expires) {
		if rt.provider == nil {
			return nil, Service{}, fmt.Errorf("no configured provider holds %s: %w", ip, ErrNotOurs)
		}
		return rt.provider, rt.service, nil
	}

	var asks []func(context.Context) (route, error)
	for _, p := range r.Providers() {
		asks = append(asks, func(ctx context.Context) (route, error) {
			svc, err := p.Resolve(ctx, ip)
			return route{provider: p, service: svc}, err
		})
	}
	rt, ok, errs := FirstHolder(ctx, asks...)
	if ok {
		rt.expires = now.Add(r.cfg.TTL)
		r.store(ip, rt)
		r.logger.DebugContext(ctx, "routed IP", "ip", ip, "provider", rt.provider.Name(), "service", rt.service.Name)
		return rt.provider, rt.service, nil
	}
	if len(errs) > 0 {
		return nil, Service{}, fmt.Errorf("routing %s: %w", ip, errors.Join(errs...))
	}
	r.store(ip, route{expires: now.Add(r.cfg.NegativeTTL)})
	return nil, Service{}, fmt.Errorf("no configured provider holds %s: %w", ip, ErrNotOurs)
}

// Forget drops what the registry remembers about ip.
func (r *Registry) Forget(ip netip.Addr) {
	r.mu.Lock()
	delete(r.cache, ip.Unmap())
	r.mu.Unlock()
}

func (r *Registry) store(ip netip.Addr, rt route) {
	r.mu.Lock()
	r.cache[ip] = rt
	r.mu.Unlock()
}

// ServiceIPs returns the addresses a provider routes to one of its services
// (OVH service name, Robot server number), for a notice that names no IP; ErrNotOurs when the
// provider is not configured or cannot tell.
func (r *Registry) ServiceIPs(ctx context.Context, provider, service string) ([]netip.Addr, error) {
	p, ok := r.Provider(provider).(interface {
		ServiceIPs(ctx context.Context, service string) ([]netip.Addr, error)
	})
	if !ok {
		return nil, fmt.Errorf("%s cannot list the addresses of %s: %w", provider, service, ErrNotOurs)
	}
	return p.ServiceIPs(ctx, service)
}

// VirtualMachine asks the provider holding ip which VM it is on (nil when
// the provider cannot tell or the IP is on none).
func (r *Registry) VirtualMachine(ctx context.Context, ip netip.Addr) (*VirtualMachine, error) {
	p, _, err := r.Lookup(ctx, ip)
	if errors.Is(err, ErrNotOurs) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	vm, ok := p.(interface {
		VirtualMachine(ctx context.Context, ip netip.Addr) (*VirtualMachine, error)
	})
	if !ok {
		return nil, nil
	}
	return vm.VirtualMachine(ctx, ip.Unmap())
}

// State reads the live state of ip from the provider holding it.
func (r *Registry) State(ctx context.Context, ip netip.Addr) (*State, error) {
	p, _, err := r.Lookup(ctx, ip)
	if err != nil {
		return nil, err
	}
	return p.State(ctx, ip.Unmap())
}
