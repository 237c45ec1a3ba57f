package main

import (
	"context"
	"errors"
	"sync"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/pipeline"
)

func newWatchCmd(a *app) *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "watch [--once]",
		Short: "Run the daemon: mailbox watchers and task workers (--once: drain everything and exit)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			if _, err := a.requireConfig(); err != nil {
				return err
			}
			env, err := a.openPipeline(ctx)
			if err != nil {
				return err
			}
			defer env.Close()
			log := a.logger()
			sink := pipeline.MailboxSink{P: env.pipeline}
			var watchers []*mailbox.Watcher
			for _, mb := range env.cfg.Mailboxes {
				watchers = append(watchers, mailbox.New(mb, sink, mailbox.Options{
					MaxMessageBytes: env.cfg.Parser.MaxMessageBytes,
					Logger:          log.With("component", "mailbox", "mailbox", mb.Name),
				}))
			}
			if once {
				return drainAll(ctx, watchers, env.pipeline)
			}
			log.Info("abusewatch watching", "mailboxes", len(watchers), "workers", env.cfg.Workers.Count)
			var wg sync.WaitGroup
			for _, w := range watchers {
				wg.Go(func() { _ = w.Run(ctx) })
			}
			wg.Go(func() { _ = env.pipeline.RunWorkers(ctx, env.cfg.Workers.Count) })
			wg.Wait()
			log.Info("abusewatch stopped")
			return nil
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "drain every mailbox and the due tasks, then exit (for cron and tests)")
	return cmd
}

// drainAll empties every mailbox (one failing mailbox does not stop the
// others) and then runs every due task.
func drainAll(ctx context.Context, watchers []*mailbox.Watcher, p *pipeline.Pipeline) error {
	var errs []error
	for _, w := range watchers {
		if err := w.Drain(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := p.Drain(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
