// Package providers defines what abusewatch asks of a hosting provider's API
// and the normalized answers: which service holds an IP, what the provider has
// done to it (blocked, locked, rescue), lifting a block, and opening a
// time-boxed hole in the provider's edge firewall.
//
// Each provider package (providers/ovh, providers/hetzner) implements Provider
// against the real API; providers/*/…test hold emulators of those APIs.
package providers

import (
	"context"
	"errors"
	"net/http"
	"net/netip"
	"strconv"
	"time"
)

// ErrNotOurs is returned by Resolve when the account does not hold the IP.
var ErrNotOurs = errors.New("the IP is not on this account")

// ErrTooEarly is returned by Unblock when the provider does not accept an
// unblock yet; the error text says how many seconds remain.
var ErrTooEarly = errors.New("too early to unblock")

// ErrNotBlocked is returned by Unblock when there is no block to lift.
var ErrNotBlocked = errors.New("not blocked")

// ErrUnsupported is returned when a provider has no API for an operation
// (Hetzner lifts a lock only through support, for instance).
var ErrUnsupported = errors.New("not supported by the provider's API")

// Provider is one hosting provider account.
//
// Every method takes the IP the abuse notice is about; implementations find
// the service themselves, so callers never handle provider identifiers.
type Provider interface {
	// Name is "ovh" or "hetzner".
	Name() string
	// Resolve reports the service holding ip on this account, or ErrNotOurs.
	Resolve(ctx context.Context, ip netip.Addr) (Service, error)
	// State reads everything the provider shows about ip and its server.
	State(ctx context.Context, ip netip.Addr) (*State, error)
	// Unblock asks the provider to lift an anti-hack / anti-spam block. When
	// it is too early the error says how long the block still holds.
	Unblock(ctx context.Context, ip netip.Addr) error
	// Allow opens source → ip at the provider's edge firewall and returns the
	// rule. It is idempotent: an identical rule of ours is returned as is.
	Allow(ctx context.Context, ip netip.Addr, source netip.Prefix, comment string) (Rule, error)
	// Revoke removes the rule Allow made for source, found by content so that
	// a stale ref or a firewall changed meanwhile does not matter, and
	// restores what Allow had to create or enable (ref.Restore). Revoking a
	// rule that is gone already is not an error.
	Revoke(ctx context.Context, ip netip.Addr, source netip.Prefix, ref Rule) error
	// OurRules lists the allow rules abusewatch made on ip, for reconciling
	// grants after a crash.
	OurRules(ctx context.Context, ip netip.Addr) ([]Rule, error)
}

// Service is what holds an IP on a provider account.
type Service struct {
	Provider string `json:"provider"`
	// Name is the provider's own name for the service: OVH serviceName,
	// Robot server number, Cloud server name.
	Name string `json:"name"`
	// Type is dedicated, vps, failover, cloud (OVH block types), robot,
	// cloud_server, primary_ip or floating_ip (Hetzner).
	Type string `json:"type"`
	// Block is the OVH IP block holding the IP ("" elsewhere).
	Block string `json:"block,omitempty"`
}

// RetryAfter reads an answer's Retry-After (seconds or an HTTP date): how
// long the server asked to be left alone; 0 when it did not say.
func RetryAfter(h http.Header, now time.Time) time.Duration {
	v := h.Get("Retry-After")
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		return time.Duration(max(secs, 0)) * time.Second
	}
	if at, err := http.ParseTime(v); err == nil {
		return max(at.Sub(now), 0)
	}
	return 0
}

// VirtualMachine is the VM a provider says holds an IP: the server it runs
// on and the virtual MAC its interface has (OVH virtual MACs).
type VirtualMachine struct {
	Provider string
	Server   string // the provider's name of the hypervisor (OVH serviceName)
	MAC      string
	MACType  string // ovh | vmware
	Name     string // the VM's name as the customer gave it
}

// Sleep waits d or until ctx ends, whichever comes first. Provider clients
// poll and back off with it.
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
