package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/pipeline"
)

func newWatchCmd(a *app) *cobra.Command {
	var once bool
	cmd := &cobra.Command{
		Use:   "watch [--once]",
		Short: "Run the daemon: mailbox watchers, task workers, the dashboard, /metrics and /healthz (--once: drain everything and exit)",
		Long: `Run the daemon: mailbox watchers, task workers, the dashboard, /metrics and /healthz.

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
			log := a.logger()
			d, err := pipeline.NewDaemon(ctx, cfg, log)
			if err != nil {
				return err
			}
			defer d.Close()
			if once {
				return d.Drain(ctx)
			}
			ln, err := d.Listen(ctx)
			if err != nil {
				return err
			}
			hup := make(chan os.Signal, 1)
			signal.Notify(hup, syscall.SIGHUP)
			defer signal.Stop(hup)
			go reloadOnSignal(ctx, hup, d, cfg.Path, log)
			return d.Run(ctx, ln)
		},
	}
	cmd.Flags().BoolVar(&once, "once", false, "drain every mailbox and the due tasks, then exit (for cron and tests)")
	return cmd
}

// reloadOnSignal reads the configuration again on every signal and hands it
// to the daemon. A file that does not load, or that the daemon refuses,
// changes nothing: the daemon keeps running as it was.
func reloadOnSignal(ctx context.Context, signals <-chan os.Signal, d *pipeline.Daemon, path string, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-signals:
		}
		next, err := config.Load(path)
		if err == nil {
			err = d.Reload(next)
		}
		if err != nil {
			log.Error("configuration not reloaded; the running one stays", "err", err)
		}
	}
}
