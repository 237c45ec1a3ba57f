package main

import (
	"errors"
	"fmt"
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
	readCfg    *config.Config // without secrets
}

func newRootCmd() *cobra.Command {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:           "abusewatch",
		Short:         "Turn hosting-provider abuse mail into action",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&a.configPath, "config", "", "config file (default $ABUSEWATCH_CONFIG, ./abusewatch.yaml, /etc/abusewatch/abusewatch.yaml)")
	root.PersistentFlags().StringVar(&a.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error {
		a.stdout = cmd.OutOrStdout()
		a.stderr = cmd.ErrOrStderr()
		var level slog.Level
		if err := level.UnmarshalText([]byte(a.logLevel)); err != nil {
			return fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", a.logLevel)
		}
		return nil
	}
	root.AddCommand(
		newParseCmd(a),
		newIngestCmd(a),
		newIncidentsCmd(a),
		newMessagesCmd(a), newTriageCmd(a),
		newReparseCmd(a),
		newMigrateCmd(a),
		newWatchCmd(a),
		newStatusCmd(a), newUnblockCmd(a),
		newStatementCmd(a),
		newWhitelistCmd(a),
		newDemoCmd(a), newConfigCmd(a),
		newContainCmd(a), newReleaseCmd(a),
	)
	return root
}

// config loads the configuration once. Without any file it returns the defaults,
// so that parse, which needs nothing configured, still runs.
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

// errNoConfig: every command but parse and demo needs a file, rather than
// silently creating a store under a default path.
var errNoConfig = errors.New("no config file: pass --config, set $ABUSEWATCH_CONFIG, or create ./abusewatch.yaml or /etc/abusewatch/abusewatch.yaml (abusewatch config example prints one)")

// requireConfig is config for commands that make no sense on defaults alone.
func (a *app) requireConfig() (*config.Config, error) {
	if config.Find(a.configPath) == "" {
		return nil, errNoConfig
	}
	return a.config()
}

// readConfig loads the configuration without reading any secret, for the
// commands that only read the store: they run outside the service's
// environment, where ABUSE_IMAP_PASSWORD and the like are not set.
func (a *app) readConfig() (*config.Config, error) {
	if a.cfg != nil {
		return a.cfg, nil
	}
	if a.readCfg != nil {
		return a.readCfg, nil
	}
	path := config.Find(a.configPath)
	if path == "" {
		return nil, errNoConfig
	}
	cfg, err := config.LoadWithoutSecrets(path)
	if err != nil {
		return nil, err
	}
	a.readCfg = cfg
	return cfg, nil
}

// logger writes text to a terminal and JSON otherwise, to stderr.
func (a *app) logger() *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(a.logLevel)) // checked before any command runs
	opts := &slog.HandlerOptions{Level: level}
	if f, ok := a.stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return slog.New(slog.NewTextHandler(a.stderr, opts))
	}
	// Durations as text ("1.5s"), not nanoseconds: people read these logs
	// too, and log tools parse Go duration strings.
	opts.ReplaceAttr = func(_ []string, at slog.Attr) slog.Attr {
		if at.Value.Kind() == slog.KindDuration {
			at.Value = slog.StringValue(at.Value.Duration().String())
		}
		return at
	}
	return slog.New(slog.NewJSONHandler(a.stderr, opts))
}
