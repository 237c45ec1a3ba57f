package pipeline

import (
	"context"
	"net"
	"sync"
	"time"
)

// dnsCache resolves DKIM keys with a bounded wait and remembers answers for a
// while: a burst of mail from one provider asks DNS once per selector.
type dnsCache struct {
	ttl     time.Duration
	timeout time.Duration
	lookup  func(ctx context.Context, name string) ([]string, error)

	mu      sync.Mutex
	entries map[string]dnsEntry
}

type dnsEntry struct {
	txt     []string
	err     error
	expires time.Time
}

func newDNSCache() *dnsCache {
	return &dnsCache{
		ttl:     10 * time.Minute,
		timeout: 5 * time.Second,
		lookup:  net.DefaultResolver.LookupTXT,
		entries: map[string]dnsEntry{},
	}
}

// LookupTXT has the signature parser.Options wants. A timeout gives a
// temporary failure, which the parser turns into "none", never "pass".
func (c *dnsCache) LookupTXT(name string) ([]string, error) {
	now := time.Now()
	c.mu.Lock()
	e, ok := c.entries[name]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.txt, e.err
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	txt, err := c.lookup(ctx, name)
	ttl := c.ttl
	if err != nil {
		ttl = time.Minute // retry failures sooner
	}
	c.mu.Lock()
	if len(c.entries) > 1024 {
		clear(c.entries) // bounded: selectors are few, a flood of names is not
	}
	c.entries[name] = dnsEntry{txt: txt, err: err, expires: now.Add(ttl)}
	c.mu.Unlock()
	return txt, err
}
