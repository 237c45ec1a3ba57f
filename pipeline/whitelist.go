package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"syscall"
	"time"

	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/store"
)

// FirewallProvider routes a server IP to the provider account that holds it;
// providers.Registry is the real one.
type FirewallProvider interface {
	Lookup(ctx context.Context, ip netip.Addr) (providers.Provider, providers.Service, error)
	// Provider returns the configured provider called name, or nil.
	Provider(name string) providers.Provider
}

// Grant statuses. A grant is written pending before the provider is asked,
// so that a crash at any point leaves a row to reconcile against.
const (
	grantPending = "pending"
	grantActive  = "active"
	grantFailed  = "failed"
	grantRevoked = "revoked"
	grantExpired = "expired"
)

// Grant limits: a hole is for getting in to fix a server, not a standing rule.
const (
	DefaultGrant = 2 * time.Hour
	MaxGrant     = 24 * time.Hour
)

// pendingGrace is how long a pending grant may belong to a CLI still waiting
// for the provider (Robot takes 20–30s per change, retries and polls
// included); older pending grants were left by a crash.
const pendingGrace = 10 * time.Minute

// sweepWindow bounds which server IPs reconciliation reads the firewall of:
// those with a grant alive or ended recently. Older orphans would have been
// swept by an earlier reconciliation.
const sweepWindow = 7 * 24 * time.Hour

// errNoFirewall is returned when no provider is configured.
var errNoFirewall = errors.New("whitelisting needs a provider: configure providers.ovh or providers.hetzner")

// GrantRequest asks for source to reach ServerIP for For.
type GrantRequest struct {
	ServerIP netip.Addr
	Source   netip.Prefix
	For      time.Duration
	// Force allows a grant longer than MaxGrant.
	Force      bool
	By, Reason string
}

// Granted is a grant made, with the rule the provider reports.
type Granted struct {
	Grant store.Grant
	Rule  providers.Rule
}

// ParseSource reads an admin address or a small prefix and refuses what must
// never be whitelisted: anything wider than /24 (IPv4) or /48 (IPv6), and
// addresses the provider's edge never sees as a source (unspecified,
// loopback, private, shared, link-local, multicast).
func ParseSource(s string) (netip.Prefix, error) {
	var pfx netip.Prefix
	if a, err := netip.ParseAddr(s); err == nil {
		a = a.Unmap()
		pfx = netip.PrefixFrom(a, a.BitLen())
	} else if pfx, err = netip.ParsePrefix(s); err != nil {
		return netip.Prefix{}, fmt.Errorf("source %q is not an IP address or prefix", s)
	}
	return checkSource(pfx)
}

// sharedSpace is RFC 6598 carrier-grade NAT space: like private space, the
// provider never sees it as a source.
var sharedSpace = netip.MustParsePrefix("100.64.0.0/10")

// checkSource applies ParseSource's rules to a prefix and returns it masked.
func checkSource(pfx netip.Prefix) (netip.Prefix, error) {
	if !pfx.IsValid() {
		return netip.Prefix{}, errors.New("source is missing")
	}
	if pfx.Addr().Is4In6() {
		pfx = netip.PrefixFrom(pfx.Addr().Unmap(), pfx.Bits()-96)
	}
	pfx = pfx.Masked()
	minBits := 24
	if pfx.Addr().Is6() {
		minBits = 48
	}
	if pfx.Bits() < minBits {
		return netip.Prefix{}, fmt.Errorf("source %s is too wide: whitelist one address or at most a /%d", pfx, minBits)
	}
	// A /24 or /48 lies wholly inside or outside every refused range (all are
	// wider), so looking at its first address is enough.
	a := pfx.Addr()
	switch {
	case a.IsUnspecified():
		return netip.Prefix{}, fmt.Errorf("source %s is the unspecified address", pfx)
	case a.IsLoopback():
		return netip.Prefix{}, fmt.Errorf("source %s is a loopback address: give the public address you connect from", pfx)
	case a.IsPrivate() || sharedSpace.Contains(a):
		return netip.Prefix{}, fmt.Errorf("source %s is a private address: give the public address you connect from (what the server sees)", pfx)
	case a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast():
		return netip.Prefix{}, fmt.Errorf("source %s is a link-local address: give the public address you connect from", pfx)
	case a.IsMulticast():
		return netip.Prefix{}, fmt.Errorf("source %s is a multicast address", pfx)
	}
	return pfx, nil
}

// CheckFamily refuses a source of the other IP family than the server: its
// packets could never match (an SSH session over IPv6 to a server whose IPv4
// address is fenced off gives the wrong address, for instance).
func CheckFamily(server netip.Addr, src netip.Prefix) error {
	if server.Unmap().Is4() != src.Addr().Is4() {
		return fmt.Errorf("source %s and server %s are not of the same IP family: give the address you reach %s from", src, server, server)
	}
	return nil
}

// expirePayload names the grant an expire task ends.
type expirePayload struct {
	Grant int64 `json:"grant"`
}

// Grant opens req.Source → req.ServerIP at the provider's edge firewall and
// queues its expiry. The grant row is written first (pending) and the expiry
// queued before the provider is asked: whatever crashes, the rule is found
// and removed by the expire task or by ReconcileGrants.
func (p *Pipeline) Grant(ctx context.Context, req GrantRequest) (*Granted, error) {
	if p.firewall == nil {
		return nil, errNoFirewall
	}
	src, err := checkSource(req.Source)
	if err != nil {
		return nil, err
	}
	if err := CheckFamily(req.ServerIP, src); err != nil {
		return nil, err
	}
	switch {
	case req.For <= 0:
		return nil, fmt.Errorf("grant duration %s: must be positive", req.For)
	case req.For > MaxGrant && !req.Force:
		return nil, fmt.Errorf("grant duration %s is longer than %s: pass --force if you really mean it", req.For, MaxGrant)
	}
	ip := req.ServerIP.Unmap()
	prov, _, err := p.firewall.Lookup(ctx, ip)
	if err != nil {
		return nil, fmt.Errorf("whitelist %s: %w", ip, err)
	}
	now := p.now()
	g := store.Grant{
		Provider: prov.Name(), ServerIP: ip.String(), Source: src.String(),
		By: req.By, Reason: req.Reason, Status: grantPending,
		CreatedAt: now, ExpiresAt: now.Add(req.For),
	}
	if g.ID, err = p.store.CreateGrant(ctx, g); err != nil {
		return nil, fmt.Errorf("whitelist %s: %w", ip, err)
	}
	if err := p.enqueueExpire(ctx, &g); err != nil {
		return nil, errors.Join(fmt.Errorf("whitelist %s: grant %d: %w", ip, g.ID, err), p.markFailed(ctx, &g))
	}
	rule, err := prov.Allow(ctx, ip, src, fmt.Sprintf("abusewatch grant %d", g.ID))
	if err != nil {
		err = fmt.Errorf("whitelist %s from %s: grant %d failed: %w", ip, src, g.ID, err)
		if ferr := p.markFailed(ctx, &g); ferr != nil {
			return nil, errors.Join(err, ferr)
		}
		// A failed call may still have left a rule (a timeout after the
		// provider took the change): remove what no live grant covers.
		dctx, cancel := detached(ctx)
		defer cancel()
		_, serr := p.sweep(dctx, prov, ip, "")
		return nil, errors.Join(err, serr)
	}
	// The grant may have ended while the provider applied the rule: revoked
	// by an operator, or expired by the daemon when it is very short.
	cur, err := p.store.GrantByID(ctx, g.ID)
	if err != nil {
		return nil, fmt.Errorf("whitelist %s: %w", ip, err)
	}
	ref, _ := json.Marshal(rule) // plain struct, always marshals
	if cur.Status != grantPending {
		// Whoever ended it could not know what Allow created or enabled.
		cur.RuleRef = string(ref)
		dctx, cancel := detached(ctx)
		defer cancel()
		return nil, errors.Join(fmt.Errorf("whitelist %s: grant %d was %s while the provider applied it", ip, g.ID, cur.Status),
			p.release(dctx, cur, prov, ip, src))
	}
	g.RuleRef, g.Status = string(ref), grantActive
	if err := p.store.UpdateGrant(ctx, g); err != nil {
		return nil, fmt.Errorf("whitelist %s: grant %d is open at the provider but not marked active (reconciliation will remove it): %w", ip, g.ID, err)
	}
	p.enqueueGrantEvent(ctx, &g, notify.WhitelistGranted, "")
	return &Granted{Grant: g, Rule: rule}, nil
}

func (p *Pipeline) enqueueExpire(ctx context.Context, g *store.Grant) error {
	payload, _ := json.Marshal(expirePayload{Grant: g.ID}) // plain struct, always marshals
	_, _, err := p.store.Enqueue(ctx, store.NewTask{
		Kind: taskExpire, Key: fmt.Sprintf("expire:grant:%d", g.ID), Payload: payload, RunAt: g.ExpiresAt,
	})
	if err != nil {
		return fmt.Errorf("queueing the expiry: %w", err)
	}
	p.wake()
	return nil
}

// detached outlives the caller's cancellation (Ctrl-C during a slow
// provider call) for the clean-up after a failed grant, so that it does not
// wait for reconciliation; bounded, as Robot takes half a minute a change.
func detached(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
}

// markFailed records a grant the provider refused.
func (p *Pipeline) markFailed(ctx context.Context, g *store.Grant) error {
	ctx, cancel := detached(ctx)
	defer cancel()
	g.Status = grantFailed
	return p.store.UpdateGrant(ctx, *g)
}

// RevokeGrant closes grant id now.
func (p *Pipeline) RevokeGrant(ctx context.Context, id int64, by string) (*store.Grant, error) {
	if p.firewall == nil {
		return nil, errNoFirewall
	}
	g, err := p.store.GrantByID(ctx, id)
	if err != nil {
		return nil, err
	}
	if g.Status != grantActive && g.Status != grantPending {
		return nil, fmt.Errorf("grant %d is %s already", id, g.Status)
	}
	if err := p.endGrant(ctx, g, grantRevoked, by); err != nil {
		return nil, err
	}
	return g, nil
}

// handleExpire ends a grant that ran out. A grant ended otherwise meanwhile
// (revoked, failed) needs nothing.
func (p *Pipeline) handleExpire(ctx context.Context, t *store.Task) error {
	var pl expirePayload
	if err := json.Unmarshal(t.Payload, &pl); err != nil {
		return permanent(fmt.Errorf("expire: payload: %w", err))
	}
	g, err := p.store.GrantByID(ctx, pl.Grant)
	if errors.Is(err, store.ErrNotFound) {
		return permanent(err)
	}
	if err != nil {
		return fmt.Errorf("expire: %w", err)
	}
	if g.Status != grantActive && g.Status != grantPending {
		return nil
	}
	return p.endGrant(ctx, g, grantExpired, "")
}

// endGrant takes the grant's rule out, marks the grant status and tells the
// team.
func (p *Pipeline) endGrant(ctx context.Context, g *store.Grant, status, by string) error {
	prov, ip, src, err := p.grantTarget(g)
	if err != nil {
		return permanent(err)
	}
	if err := p.release(ctx, g, prov, ip, src); err != nil {
		return err
	}
	now := p.now()
	g.Status, g.RevokedAt = status, &now
	if err := p.store.UpdateGrant(ctx, *g); err != nil {
		return err
	}
	kind, detail := notify.WhitelistExpired, ""
	if status == grantRevoked {
		kind = notify.WhitelistRevoked
		if by != "" {
			detail = "revoked by " + by
		}
	}
	p.enqueueGrantEvent(ctx, g, kind, detail)
	return nil
}

// release removes g's rule at the provider, then any rule of ours on the IP
// that no grant covers.
//
// Restoring the firewall (Rule.Restore: delete or disable what Allow created
// or enabled) concerns the whole IP, and the provider does it only when the
// last rule of ours goes. So a grant ending while others on the IP live
// hands its restore over to one of them, and the last one passes it to the
// sweep of orphans.
func (p *Pipeline) release(ctx context.Context, g *store.Grant, prov providers.Provider, ip netip.Addr, src netip.Prefix) error {
	grants, err := p.store.Grants(ctx)
	if err != nil {
		return err
	}
	ref := ruleRef(g)
	shared := false
	var heir *store.Grant
	for i := range grants {
		o := &grants[i]
		if o.ID == g.ID || o.Provider != g.Provider || o.ServerIP != g.ServerIP || (o.Status != grantActive && o.Status != grantPending) {
			continue
		}
		// Allow is idempotent: a second grant of the same source shares the
		// rule, which must stay until the last of them ends.
		if o.Source == g.Source {
			shared = true
		}
		// A pending grant's row is rewritten when its CLI marks it active:
		// only an active one can keep the restore.
		if o.Status == grantActive && (heir == nil || ruleRef(heir).Restore == "" && ruleRef(o).Restore != "") {
			heir = o
		}
	}
	if !shared {
		if err := prov.Revoke(ctx, ip, src, ref); err != nil {
			return fmt.Errorf("ending grant %d (%s on %s): %w", g.ID, src, ip, err)
		}
	}
	restore := ref.Restore
	if heir != nil {
		restore = ""
		if hr := ruleRef(heir); ref.Restore != "" && hr.Restore == "" {
			hr.Restore = ref.Restore
			b, _ := json.Marshal(hr) // plain struct, always marshals
			heir.RuleRef = string(b)
			if err := p.store.UpdateGrant(ctx, *heir); err != nil {
				return fmt.Errorf("ending grant %d: handing the firewall restore to grant %d: %w", g.ID, heir.ID, err)
			}
		}
	}
	if n, err := p.sweep(ctx, prov, ip, restore); err != nil {
		// g's own rule is gone; the orphans wait for the next reconciliation.
		p.log.Warn("removing orphan whitelist rules", "ip", ip, "err", err)
	} else if n > 0 {
		p.log.Info("removed orphan whitelist rules", "ip", ip, "count", n)
	}
	return nil
}

func (p *Pipeline) grantTarget(g *store.Grant) (providers.Provider, netip.Addr, netip.Prefix, error) {
	prov := p.firewall.Provider(g.Provider)
	if prov == nil {
		return nil, netip.Addr{}, netip.Prefix{}, fmt.Errorf("grant %d: provider %s is not configured", g.ID, g.Provider)
	}
	ip, err := netip.ParseAddr(g.ServerIP)
	if err != nil {
		return nil, netip.Addr{}, netip.Prefix{}, fmt.Errorf("grant %d: server IP: %w", g.ID, err)
	}
	src, err := netip.ParsePrefix(g.Source)
	if err != nil {
		return nil, netip.Addr{}, netip.Prefix{}, fmt.Errorf("grant %d: source: %w", g.ID, err)
	}
	return prov, ip, src, nil
}

// ruleRef is the rule stored with the grant; empty when Allow never
// answered (Revoke finds the rule by content anyway).
func ruleRef(g *store.Grant) providers.Rule {
	var r providers.Rule
	if g.RuleRef != "" {
		_ = json.Unmarshal([]byte(g.RuleRef), &r) // a bad ref only loses Restore
	}
	return r
}

// sweep removes the rules of ours on ip that no live grant covers: live is
// active, or pending and young enough that a CLI may still be waiting for the
// provider. restore is what to undo when the last rule of ours goes (the
// provider applies it only then). It returns how many rules it removed.
func (p *Pipeline) sweep(ctx context.Context, prov providers.Provider, ip netip.Addr, restore string) (int, error) {
	rules, err := prov.OurRules(ctx, ip)
	if err != nil {
		return 0, fmt.Errorf("reading our rules on %s: %w", ip, err)
	}
	if len(rules) == 0 {
		return 0, nil
	}
	grants, err := p.store.Grants(ctx)
	if err != nil {
		return 0, err
	}
	live := map[netip.Prefix]bool{}
	young := p.now().Add(-pendingGrace)
	for _, g := range grants {
		if g.Provider != prov.Name() || g.ServerIP != ip.String() {
			continue
		}
		if src, err := netip.ParsePrefix(g.Source); err == nil &&
			(g.Status == grantActive || g.Status == grantPending && g.CreatedAt.After(young)) {
			live[src.Masked()] = true
		}
	}
	removed := 0
	var errs []error
	for _, r := range rules {
		if !r.Source.IsValid() || live[r.Source.Masked()] {
			continue
		}
		r.Restore = restore
		if err := prov.Revoke(ctx, ip, r.Source, r); err != nil {
			errs = append(errs, fmt.Errorf("removing orphan rule %s on %s: %w", r.Source, ip, err))
			continue
		}
		removed++
	}
	return removed, errors.Join(errs...)
}

// Reconciled counts what ReconcileGrants did.
type Reconciled struct {
	Expired int // overdue grants revoked
	Failed  int // pending grants left by a crash
	Orphans int // rules of ours that no grant covered, removed
}

// ReconcileGrants revokes every overdue grant, marks pending grants left by a
// crash failed, and removes rules of ours that no live grant covers. The
// daemon runs it when it starts; `whitelist expire` runs it where no daemon
// does.
func (p *Pipeline) ReconcileGrants(ctx context.Context) (Reconciled, error) {
	var res Reconciled
	if p.firewall == nil {
		return res, errNoFirewall
	}
	grants, err := p.store.Grants(ctx)
	if err != nil {
		return res, err
	}
	now := p.now()
	var errs []error
	type target struct{ provider, ip string }
	seen := map[target]bool{}
	var targets []target
	for i := range grants {
		g := &grants[i]
		alive := g.Status == grantActive || g.Status == grantPending
		switch {
		case alive && !g.ExpiresAt.After(now):
			if err := p.endGrant(ctx, g, grantExpired, ""); err != nil {
				errs = append(errs, err)
			} else {
				res.Expired++
			}
		case g.Status == grantPending && g.CreatedAt.Before(now.Add(-pendingGrace)):
			// The CLI died between writing the row and marking it active;
			// its operator saw no success, so the grant is closed and the
			// sweep below removes its rule if the provider made it.
			g.Status = grantFailed
			if err := p.store.UpdateGrant(ctx, *g); err != nil {
				errs = append(errs, err)
			} else {
				res.Failed++
			}
		}
		t := target{g.Provider, g.ServerIP}
		if (alive || g.ExpiresAt.After(now.Add(-sweepWindow))) && !seen[t] {
			seen[t] = true
			targets = append(targets, t)
		}
	}
	for _, t := range targets {
		prov := p.firewall.Provider(t.provider)
		ip, err := netip.ParseAddr(t.ip)
		if prov == nil || err != nil {
			continue // reported when its grant is ended
		}
		n, err := p.sweep(ctx, prov, ip, "")
		res.Orphans += n
		if err != nil {
			errs = append(errs, err)
		}
	}
	return res, errors.Join(errs...)
}

// startGrants is what the daemon calls before it runs its workers: it takes
// the daemon lock at lockPath, so that the CLI knows expiries will be handled
// on time, and reconciles what happened while no daemon ran. release drops
// the lock; the kernel drops it too if the daemon dies.
func (p *Pipeline) startGrants(ctx context.Context, lockPath string) (release func() error, err error) {
	release, err = HoldDaemonLock(lockPath)
	if err != nil {
		return nil, err
	}
	if p.firewall == nil {
		return release, nil
	}
	// Daemons starting together on one store reconcile one after the
	// other, so that a grant that ran out is expired (and told) once: the
	// second finds it expired already.
	lock, held, err := p.store.TryLock(ctx, "grants:reconcile")
	if err != nil || !held {
		p.log.Info("another daemon reconciles the whitelist grants now", "err", err)
		return release, nil
	}
	defer lock.Release()
	res, err := p.ReconcileGrants(ctx)
	if err != nil {
		// Not fatal: the expire tasks and the next start try again.
		p.log.Error("reconciling whitelist grants", "err", err)
	}
	if res != (Reconciled{}) {
		p.log.Info("reconciled whitelist grants", "expired", res.Expired, "failed", res.Failed, "orphan_rules", res.Orphans)
	}
	return release, nil
}

// DaemonLockPath is the file the daemon holds locked while it runs, beside
// the store it works on.
func DaemonLockPath(storePath string) string { return storePath + ".daemon.lock" }

// HoldDaemonLock takes the daemon lock. An advisory lock rather than a pid
// file: the kernel drops it when the process dies, so it never goes stale.
func HoldDaemonLock(path string) (release func() error, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("daemon lock: %w", err)
	}
	// Shared: several daemons on one store are allowed (the queue's leases
	// keep them apart); the CLI only asks whether any holds it.
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return nil, errors.Join(fmt.Errorf("daemon lock %s: %w", path, err), f.Close())
	}
	return f.Close, nil
}

// DaemonRunning reports whether a daemon holds the lock at path.
func DaemonRunning(path string) (bool, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("daemon lock: %w", err)
	}
	defer f.Close()
	err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("daemon lock %s: %w", path, err)
	}
	return false, syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
}

// enqueueGrantEvent plans the chat messages about a grant, once per grant
// and event.
func (p *Pipeline) enqueueGrantEvent(ctx context.Context, g *store.Grant, kind notify.EventKind, extra string) {
	detail := fmt.Sprintf("%s may reach %s until %s (grant %d, by %s)", g.Source, g.ServerIP, g.ExpiresAt.UTC().Format(time.RFC3339), g.ID, orUnknown(g.By))
	if kind != notify.WhitelistGranted {
		detail = fmt.Sprintf("%s no longer reaches %s (grant %d, by %s)", g.Source, g.ServerIP, g.ID, orUnknown(g.By))
	}
	if g.Reason != "" {
		detail += ": " + g.Reason
	}
	if extra != "" {
		detail += "; " + extra
	}
	p.enqueueStandalone(ctx, fmt.Sprintf("grant:%d:%s", g.ID, kind), kind, g.Provider, g.ServerIP, detail)
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// standaloneEvent builds the chat event of a notify task tied to no incident.
func (p *Pipeline) standaloneEvent(payload []byte) (notify.Event, error) {
	var n standaloneNotice
	if err := json.Unmarshal(payload, &n); err != nil {
		return notify.Event{}, fmt.Errorf("notify: payload: %w", err)
	}
	return notify.Event{
		Kind: notify.EventKind(n.Event), Provider: n.Provider, IP: n.IP,
		Detail: n.Detail, Count: 1, At: p.now(),
	}, nil
}
