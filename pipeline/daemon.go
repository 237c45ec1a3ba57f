package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/store"
)

// Daemon is what `watch` runs and `demo` runs too: the pipeline wired from a
// configuration, one watcher per mailbox, and the metrics they report to.
// Mailboxes and chat channels can be replaced while it runs (Reload, which
// the command calls on SIGHUP).
type Daemon struct {
	built   *Built
	metrics *Metrics
	log     *slog.Logger

	mu       sync.Mutex
	cfg      *config.Config // what runs: the start-up config with reloaded mailboxes and channels
	watchers []*watcher     // in configuration order
	runCtx   context.Context
	running  sync.WaitGroup // the started watchers
}

// watcher is one mailbox's watcher and, once started, how to stop it.
type watcher struct {
	cfg  config.Mailbox
	w    *mailbox.Watcher
	stop context.CancelFunc
	done chan struct{}
	// held is set while this process holds the mailbox's lock and so
	// watches it (/healthz "holds").
	held atomic.Bool
}

// Health implements healthReporter.
func (w *watcher) Health() mailbox.Health { return w.w.Health() }

// Held implements lockReporter.
func (w *watcher) Held() bool { return w.held.Load() }

// lockRetry is how often a process standing by for a mailbox tries to take
// its lock: a takeover comes at most this long after the holder's death is
// seen.
const lockRetry = 2 * time.Second

// NewDaemon checks the configuration as `config check` does (Check), opens
// the store and builds the watchers; nothing runs yet. Every problem Check
// finds is in the error; its warnings are logged.
func NewDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...Option) (*Daemon, error) {
	warnings, err := Check(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	for _, w := range warnings {
		log.Warn("configuration", "warning", w)
	}
	metrics := NewMetrics(log.With("component", "http"))
	built, err := FromConfig(ctx, cfg, log, append(opts, WithMetrics(metrics))...)
	if err != nil {
		return nil, err
	}
	d := &Daemon{cfg: cfg, built: built, metrics: metrics, log: log}
	for _, mb := range cfg.Mailboxes {
		d.watchers = append(d.watchers, d.newWatcher(mb))
	}
	d.reportMailboxes()
	return d, nil
}

func (d *Daemon) newWatcher(mb config.Mailbox) *watcher {
	return &watcher{cfg: mb, w: mailbox.New(mb, mailboxSink{P: d.built.Pipeline}, mailbox.Options{
		// The parser's limit is fixed at start: a reload does not change it.
		MaxMessageBytes: d.cfg.Parser.MaxMessageBytes,
		Logger:          d.log.With("component", "mailbox", "mailbox", mb.Name),
	})}
}

// reportMailboxes tells /metrics and /healthz which watchers there are.
// The caller holds d.mu or is the only goroutine.
func (d *Daemon) reportMailboxes() {
	health := make(map[string]healthReporter, len(d.watchers))
	for _, w := range d.watchers {
		health[w.cfg.Name] = w
	}
	d.metrics.setMailboxes(health)
}

// Close releases the store.
func (d *Daemon) Close() error { return d.built.Close() }

// Store is the daemon's store, for what the demo prints at its end.
func (d *Daemon) Store() *store.Store { return d.built.Store }

// Listen binds the HTTP listener of /metrics and /healthz at http.listen.
func (d *Daemon) Listen(ctx context.Context) (net.Listener, error) {
	addr := d.cfg.HTTP.Listen
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	return ln, nil
}

// Run runs the watchers, the workers and the HTTP server on ln until ctx is
// done, and returns once all of them have stopped. An HTTP server that fails
// stops the rest: a daemon that cannot be monitored should not look healthy.
func (d *Daemon) Run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The lock tells `whitelist` that a daemon will revoke its grants on
	// time; startGrants also revokes what ran out while none was running.
	release, err := d.built.Pipeline.startGrants(ctx, DaemonLockPath(d.cfg.Store.Path))
	if err != nil {
		return err
	}
	defer release()
	// Read before any reload may replace d.cfg; workers are fixed at start.
	workers := d.cfg.Workers.Count
	d.log.Info("abusewatch watching", "mailboxes", len(d.watchers), "workers", workers)
	d.mu.Lock()
	d.runCtx = ctx
	for _, w := range d.watchers {
		d.start(w)
	}
	d.mu.Unlock()
	var wg sync.WaitGroup
	wg.Go(func() { _ = d.built.Pipeline.runWorkers(ctx, workers) })
	wg.Go(func() { d.reportFailingMailboxes(ctx, 30*time.Second) })
	var httpErr error
	wg.Go(func() {
		if httpErr = d.metrics.Serve(ctx, ln); httpErr != nil {
			d.log.Error("http listener failed, stopping", "err", httpErr)
			cancel()
		}
	})
	wg.Wait()
	// No reload runs any more: the watchers started are all there will be.
	d.running.Wait()
	d.log.Info("abusewatch stopped")
	return httpErr
}

// start runs a watcher until the daemon stops or a reload removes it.
// The caller holds d.mu.
func (d *Daemon) start(w *watcher) {
	ctx, stop := context.WithCancel(d.runCtx)
	w.stop, w.done = stop, make(chan struct{})
	d.running.Go(func() {
		defer close(w.done)
		d.watchLocked(ctx, w)
	})
}

// watchLocked runs w while this process holds the mailbox's lock, so that
// of several daemons on one store exactly one watches each mailbox. The
// others stand by, trying the lock every lockRetry; the one that takes it
// over resumes from the stored checkpoint. A lock lost (its database
// connection broke) stops the watcher until the lock is taken again.
func (d *Daemon) watchLocked(ctx context.Context, w *watcher) {
	log := d.log.With("component", "mailbox", "mailbox", w.cfg.Name)
	standing := false
	for {
		lock, held, err := d.built.Store.TryLock(ctx, "mailbox:"+w.cfg.Name)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("taking the mailbox lock", "err", err)
		case held:
			log.Info("mailbox lock taken: watching")
			standing = false
			w.held.Store(true)
			runCtx, cancel := context.WithCancel(ctx)
			go func() {
				select {
				case <-lock.Lost():
					log.Warn("mailbox lock lost: stopping until it is taken again")
					cancel()
				case <-runCtx.Done():
				}
			}()
			_ = w.w.Run(runCtx)
			cancel()
			w.held.Store(false)
			if err := lock.Release(); err != nil {
				log.Warn("releasing the mailbox lock", "err", err)
			}
		case !standing:
			log.Info("another process watches the mailbox: standing by")
			standing = true
		}
		t := time.NewTimer(lockRetry)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// Reload replaces the mailboxes and the chat channels with those of next.
// A mailbox whose settings are unchanged keeps its connection; a changed one
// is stopped (after the message in flight) before its replacement starts, so
// that one mailbox never has two watchers. Messages queued for a channel
// still configured go to it whatever its new position. Changed provider
// settings replace the provider clients (unchanged ones get to try their
// credentials again). Other sections need a restart: a change to them is
// logged and not applied. A configuration whose channels or providers do
// not build changes nothing: the daemon keeps running as it was, and the
// error says why.
func (d *Daemon) Reload(next *config.Config) error {
	chat, err := d.built.newNotifier(next.Notify)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	// Providers go first: their errors leave everything as it was. A
	// reload also lets a client whose credentials were refused try again.
	providersApplied, err := d.built.reloadProviders(d.cfg, next, d.log)
	if err != nil {
		return err
	}
	for _, section := range restartOnly(d.cfg, next) {
		if section == "providers" && providersApplied {
			continue
		}
		d.log.Warn("configuration changed where a reload cannot apply it; restart to apply", "section", section)
	}
	d.built.Pipeline.setNotifier(chat)

	old := make(map[string]*watcher, len(d.watchers))
	for _, w := range d.watchers {
		old[w.cfg.Name] = w
	}
	var watchers, added []*watcher
	for _, mb := range next.Mailboxes {
		if w, ok := old[mb.Name]; ok && reflect.DeepEqual(w.cfg, mb) {
			watchers = append(watchers, w)
			delete(old, mb.Name)
			continue
		}
		w := d.newWatcher(mb)
		watchers, added = append(watchers, w), append(added, w)
	}
	for _, w := range old { // removed or changed
		if w.stop != nil {
			w.stop()
			<-w.done
		}
		d.log.Info("mailbox stopped", "mailbox", w.cfg.Name)
	}
	for _, w := range added {
		if d.runCtx != nil && d.runCtx.Err() == nil {
			d.start(w)
		}
		d.log.Info("mailbox started", "mailbox", w.cfg.Name)
	}
	d.watchers = watchers
	d.reportMailboxes()
	applied := *d.cfg
	applied.Mailboxes, applied.Notify = next.Mailboxes, next.Notify
	if providersApplied {
		applied.Providers = next.Providers
	}
	d.cfg = &applied
	d.log.Info("configuration reloaded", "mailboxes", len(next.Mailboxes), "channels", len(next.Notify))
	return nil
}

// restartOnly names the sections that differ between the running
// configuration and next but are only read at start. Only names are
// logged: the sections hold secrets.
func restartOnly(running, next *config.Config) []string {
	var changed []string
	for _, s := range []struct {
		name      string
		was, will any
	}{
		{"store", running.Store, next.Store},
		{"providers", running.Providers, next.Providers},
		{"triage", running.Triage, next.Triage},
		{"inventory", running.Inventory, next.Inventory},
		{"http", running.HTTP, next.HTTP},
		{"parser", running.Parser, next.Parser},
		{"workers", running.Workers, next.Workers},
	} {
		if !reflect.DeepEqual(s.was, s.will) {
			changed = append(changed, s.name)
		}
	}
	return changed
}

// reportFailingMailboxes tells the team about a mailbox that has been
// failing for longer than its alert_after: abuse mail is piling up unread.
// The event's key holds the start of the failing spell, so each spell is
// reported once however often this looks.
func (d *Daemon) reportFailingMailboxes(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		d.mu.Lock()
		watchers := d.watchers
		d.mu.Unlock()
		for _, w := range watchers {
			if h := w.w.Health(); !h.FailingSince.IsZero() && time.Since(h.FailingSince) >= w.cfg.AlertAfter {
				d.built.Pipeline.MailboxFailing(ctx, w.cfg.Name, h.FailingSince, h.LastError)
			}
		}
	}
}

// Drain empties every mailbox (one failing mailbox does not stop the
// others) and then runs every due task (`watch --once`).
func (d *Daemon) Drain(ctx context.Context) error {
	var errs []error
	for _, w := range d.watchers {
		if err := w.w.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.built.Pipeline.Drain(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
