package main

import (
	"github.com/spf13/cobra"
)

func newWatchCmd(a *app) *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "watch [--once]",
		Short: "Run the daemon: mailbox watchers, task workers, /metrics and /healthz (--once: drain everything and exit)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := a.requireConfig()
			if err != nil {
				return err
			}
			d, err := newDaemon(ctx, cfg, a.logger())
			if err != nil {
				return err
			}
			defer d.Close()
			if once {
				return d.drain(ctx)
			}
			ln, err := d.listen(ctx, cfg.HTTP.Listen)
			if err != nil {
				return err
			}
			return d.run(ctx, ln)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "drain every mailbox and the due tasks, then exit (for cron and tests)")
	return cmd
}
