package providers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"testing"
	"time"
)

// fakeProvider owns a fixed set of IPs and counts Resolve calls.
type fakeProvider struct {
	name  string
	owns  map[netip.Addr]bool
	err   error
	calls int
}

func (f *fakeProvider) Name() string { return f.name }
func (f *fakeProvider) Resolve(_ context.Context, ip netip.Addr) (Service, error) {
	f.calls++
	if f.err != nil {
		return Service{}, f.err
	}
	if f.owns[ip] {
		return Service{Provider: f.name, Name: "srv-" + f.name, Type: "dedicated"}, nil
	}
	return Service{}, ErrNotOurs
}
func (f *fakeProvider) State(context.Context, netip.Addr) (*State, error) {
	return &State{Provider: f.name}, nil
}
func (f *fakeProvider) Unblock(context.Context, netip.Addr) error { return nil }
func (f *fakeProvider) Allow(context.Context, netip.Addr, netip.Prefix, string) (Rule, error) {
	return Rule{}, nil
}
func (f *fakeProvider) Revoke(context.Context, netip.Addr, netip.Prefix, Rule) error { return nil }
func (f *fakeProvider) OurRules(context.Context, netip.Addr) ([]Rule, error)         { return nil, nil }

func TestRegistryRoutesAndCaches(t *testing.T) {
	a := netip.MustParseAddr("51.91.10.20")
	b := netip.MustParseAddr("88.99.1.2")
	none := netip.MustParseAddr("192.0.2.1")
	ovh := &fakeProvider{name: "ovh", owns: map[netip.Addr]bool{a: true}}
	hz := &fakeProvider{name: "hetzner", owns: map[netip.Addr]bool{b: true}}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	r := NewRegistry(RegistryConfig{TTL: time.Hour, NegativeTTL: time.Minute, Now: func() time.Time { return now }},
		slog.New(slog.NewTextHandler(io.Discard, nil)), ovh, hz)
	ctx := context.Background()

	tests := []struct {
		name             string
		ip               netip.Addr
		advance          time.Duration
		want             string // provider name, "" for ErrNotOurs
		ovhCalls, hzCall int    // cumulative Resolve calls after the step
	}{
		// Every provider is asked at once, so an uncached lookup calls each.
		{"first provider owns", a, 0, "ovh", 1, 1},
		{"cached", a, 0, "ovh", 1, 1},
		{"second provider owns", b, 0, "hetzner", 2, 2},
		{"nobody owns", none, 0, "", 3, 3},
		{"negative answer cached", none, 30 * time.Second, "", 3, 3},
		{"negative answer expires sooner", none, time.Minute, "", 4, 4},
		{"positive answer still cached", a, 0, "ovh", 4, 4},
		{"positive answer expires", a, time.Hour, "ovh", 5, 5},
	}
	for _, tt := range tests {
		now = now.Add(tt.advance)
		p, _, err := r.Lookup(ctx, tt.ip)
		if tt.want == "" {
			if !errors.Is(err, ErrNotOurs) {
				t.Fatalf("%s: err = %v, want ErrNotOurs", tt.name, err)
			}
		} else if err != nil || p.Name() != tt.want {
			t.Fatalf("%s: got %v, %v; want %s", tt.name, p, err, tt.want)
		}
		if ovh.calls != tt.ovhCalls || hz.calls != tt.hzCall {
			t.Fatalf("%s: Resolve calls ovh=%d hetzner=%d, want %d %d", tt.name, ovh.calls, hz.calls, tt.ovhCalls, tt.hzCall)
		}
	}
}

func TestRegistryDoesNotCacheFailures(t *testing.T) {
	ip := netip.MustParseAddr("51.91.10.20")
	broken := &fakeProvider{name: "ovh", err: errors.New("ovh: 503")}
	r := NewRegistry(RegistryConfig{}, slog.New(slog.NewTextHandler(io.Discard, nil)), broken)
	for range 2 {
		_, _, err := r.Lookup(context.Background(), ip)
		if err == nil || errors.Is(err, ErrNotOurs) {
			t.Fatalf("err = %v, want the provider's failure", err)
		}
	}
	if broken.calls != 2 {
		t.Fatalf("Resolve calls = %d, want 2 (a failure must not be cached)", broken.calls)
	}
}

// stalledProvider answers nothing until its call is cancelled, like an API
// behind a dead network path.
type stalledProvider struct {
	fakeProvider
	cancelled chan struct{}
}

func (s *stalledProvider) Resolve(ctx context.Context, _ netip.Addr) (Service, error) {
	<-ctx.Done()
	close(s.cancelled)
	return Service{}, ctx.Err()
}

// TestRegistryLookupDoesNotWait: a provider that hangs delays no other
// provider's answer, and its call is cancelled once the IP is routed.
func TestRegistryLookupDoesNotWait(t *testing.T) {
	ip := netip.MustParseAddr("88.99.1.2")
	stalled := &stalledProvider{fakeProvider: fakeProvider{name: "ovh"}, cancelled: make(chan struct{})}
	hz := &fakeProvider{name: "hetzner", owns: map[netip.Addr]bool{ip: true}}
	r := NewRegistry(RegistryConfig{}, slog.New(slog.DiscardHandler), stalled, hz)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	p, _, err := r.Lookup(ctx, ip)
	if err != nil || p.Name() != "hetzner" {
		t.Fatalf("Lookup = %v, %v; want hetzner while ovh hangs", p, err)
	}
	select {
	case <-stalled.cancelled:
	case <-ctx.Done():
		t.Fatal("the hanging provider's call was not cancelled")
	}
}
