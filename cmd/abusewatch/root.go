package main

import (
	"errors"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/abusewatch/abusewatch/config"
)

// app carries what every command shares: the global flags and the lazily loaded config.
type app struct {
	configPath string
	logLevel   string
	stdout     io.Writer
	stderr     io.Writer
	cfg        *config.Config
}

func newRootCmd() *cobra.Command {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:           "abusewatch",
		Short:         "Turn hosting-provider abuse mail into action",
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRun: func(cmd *cobra.Command, _ []string) {
			a.stdout = cmd.OutOrStdout()
			a.stderr = cmd.ErrOrStderr()
		},
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "config file (default $ABUSEWATCH_CONFIG, ./abusewatch.yaml, /etc/abusewatch/abusewatch.yaml)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.AddCommand(
		newParseCmd(a),
		newIngestCmd(a),
		newIncidentsCmd(a),
		newMessagesCmd(a), newTriageCmd(a),
		newReparseCmd(a),
		newWatchCmd(a),
		newStatusCmd(a), newUnblockCmd(a),
		newWhitelistCmd(a),
		newDemoCmd(a), newConfigCmd(a),
	)
	return root
}

// config loads the configuration once. Without any file it returns the defaults,
// so that commands that need nothing configured (parse, demo) still run.
func (a *app) config() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	path := config.Find(a.configPath)
	if path == "" {
		a.cfg = config.Default()
		return a.cfg, nil
	}
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	a.cfg = cfg
	return cfg, nil
}

// requireConfig is config for commands that make no sense on defaults alone.
func (a *app) requireConfig() (*config.Config, error) {
	if config.Find(a.configPath) == "" {
		return nil, errors.New("no config file: pass --config, set $ABUSEWATCH_CONFIG or create ./abusewatch.yaml")
	}
	return a.config()
}

// logger writes text to a terminal and JSON otherwise, to stderr.
func (a *app) logger() *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(a.stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(a.stderr, opts))
}
