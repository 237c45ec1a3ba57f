package main

import (
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/config"
)

func newWatchCmd(a *app) *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "watch [--once]",
		Short: "Run the daemon: mailbox watchers, task workers, /metrics and /healthz (--once: drain everything and exit)",
		Long: `Run the daemon: mailbox watchers, task workers, /metrics and /healthz.

SIGTERM and SIGINT stop it gracefully. SIGHUP reads the config file again and
applies its mailboxes and notify channels without a restart; a file that does
not check is refused and the running configuration stays. Other sections are
read at start only.`,
		Args: cobra.NoArgs,
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
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			d.reloads = hup
			d.load = func() (*config.Config, error) { return config.Load(cfg.Path) }
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
