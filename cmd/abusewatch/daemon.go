package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/pipeline"
)

// daemon is what `watch` runs and `demo` runs too: the pipeline wired from a
// configuration, one watcher per mailbox, and the metrics they report to.
type daemon struct {
	cfg      *config.Config
	built    *pipeline.Built
	watchers []*mailbox.Watcher
	metrics  *pipeline.Metrics
	log      *slog.Logger
}

// newDaemon opens the store and builds the watchers; nothing runs yet.
func newDaemon(ctx context.Context, cfg *config.Config, log *slog.Logger, opts ...pipeline.Option) (*daemon, error) {
	metrics := pipeline.NewMetrics(log.With("component", "http"))
	built, err := pipeline.FromConfig(ctx, cfg, log, append(opts, pipeline.WithMetrics(metrics))...)
	if err != nil {
		return nil, err
	}
	d := &daemon{cfg: cfg, built: built, metrics: metrics, log: log}
	sink := pipeline.MailboxSink{P: built.Pipeline}
	health := map[string]pipeline.HealthReporter{}
	for _, mb := range cfg.Mailboxes {
		w := mailbox.New(mb, sink, mailbox.Options{
			MaxMessageBytes: cfg.Parser.MaxMessageBytes,
			Logger:          log.With("component", "mailbox", "mailbox", mb.Name),
		})
		d.watchers = append(d.watchers, w)
		health[mb.Name] = w
	}
	metrics.SetMailboxes(health)
	return d, nil
}

func (d *daemon) Close() error { return d.built.Close() }

// listen binds the HTTP listener of /metrics and /healthz.
func (d *daemon) listen(ctx context.Context, addr string) (net.Listener, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http.listen %s: %w", addr, err)
	}
	return ln, nil
}

// run runs the watchers, the workers and the HTTP server on ln until ctx is
// done, and returns once all of them have stopped. An HTTP server that fails
// stops the rest: a daemon that cannot be monitored should not look healthy.
func (d *daemon) run(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The lock tells `whitelist` that a daemon will revoke its grants on
	// time; StartGrants also revokes what ran out while none was running.
	release, err := d.built.Pipeline.StartGrants(ctx, pipeline.DaemonLockPath(d.cfg.Store.Path))
	if err != nil {
		return err
	}
	defer release()
	d.log.Info("abusewatch watching", "mailboxes", len(d.watchers), "workers", d.cfg.Workers.Count)
	var wg sync.WaitGroup
	for _, w := range d.watchers {
		wg.Go(func() { _ = w.Run(ctx) })
	}
	wg.Go(func() { _ = d.built.Pipeline.RunWorkers(ctx, d.cfg.Workers.Count) })
	wg.Go(func() { d.reportFailingMailboxes(ctx, 30*time.Second) })
	var httpErr error
	wg.Go(func() {
		if httpErr = d.metrics.Serve(ctx, ln); httpErr != nil {
			d.log.Error("http listener failed, stopping", "err", httpErr)
			cancel()
		}
	})
	wg.Wait()
	d.log.Info("abusewatch stopped")
	return httpErr
}

// reportFailingMailboxes tells the team about a mailbox that has been
// failing for longer than its alert_after: abuse mail is piling up unread.
// The event's key holds the start of the failing spell, so each spell is
// reported once however often this looks.
func (d *daemon) reportFailingMailboxes(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for i, w := range d.watchers {
			mb := d.cfg.Mailboxes[i]
			if h := w.Health(); !h.FailingSince.IsZero() && time.Since(h.FailingSince) >= mb.AlertAfter {
				d.built.Pipeline.MailboxFailing(ctx, mb.Name, h.FailingSince, h.LastError)
			}
		}
	}
}

// drain empties every mailbox (one failing mailbox does not stop the
// others) and then runs every due task.
func (d *daemon) drain(ctx context.Context) error {
	var errs []error
	for _, w := range d.watchers {
		if err := w.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.built.Pipeline.Drain(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
