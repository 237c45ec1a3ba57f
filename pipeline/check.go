package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/setup"
	"github.com/abusewatch/abusewatch/triage"
)

// Check builds everything the daemon builds from cfg, without starting or
// creating anything, and returns every problem found at once, each line
// starting with the key it is about: chat channels (their templates executed
// on a sample event), provider clients, the inventory, the key, known_hosts
// and token files it names, and the store's directory. `config check` runs
// it, and so does NewDaemon before `watch` starts. Warnings are what works
// but should not stay so: secrets in clear in a file others can read.
//
// cfg may come from config.ParseAll with problems of its own (a secret not
// read): what those leave empty is not reported a second time.
func Check(ctx context.Context, cfg *config.Config, log *slog.Logger) (warnings []string, err error) {
	errs := []error{checkStoreDir(cfg.Store.Path)}
	if len(cfg.Notify) > 0 {
		errs = append(errs, checkChannels(cfg.Notify))
	}
	if cfg.Providers.OVH != nil || cfg.Providers.Hetzner != nil {
		_, err := setup.FromConfig(cfg, log.With("component", "providers"))
		errs = append(errs, err)
	}
	if _, err := triage.NewInventory(cfg.Inventory); err != nil {
		// Its lines start "inventory[i]" under a "triage: " prefix; without
		// the prefix they name the key.
		if inner := errors.Unwrap(err); inner != nil {
			err = inner
		}
		errs = append(errs, err)
	}
	for i, h := range cfg.Inventory {
		if err := triage.CheckHost(h); err != nil {
			errs = append(errs, prefixLines(fmt.Sprintf("inventory[%d] (%s): ", i, h.Name), err))
		}
	}
	for i, m := range cfg.Mailboxes {
		if m.TokenFile == "" {
			continue
		}
		// Re-read at each login: it must be readable now.
		if _, err := os.ReadFile(m.TokenFile); err != nil {
			errs = append(errs, fmt.Errorf("mailboxes[%d] (%s): token_file: %w", i, m.Name, err))
		}
	}
	return clearSecretWarnings(cfg), errors.Join(errs...)
}

// checkChannels builds the chat channels. A channel whose URL secret could
// not be read (config reported it) is built on a stand-in URL, so that its
// filters and template are still checked and the errors keep its index.
func checkChannels(channels []config.Channel) error {
	chans := make([]config.Channel, len(channels))
	for i, c := range channels {
		if c.URL == "" && (c.URLEnv != "" || c.URLFile != "") {
			c.URL = "generic://localhost/unread-secret"
		}
		chans[i] = c
	}
	_, err := notify.New(chans, notify.Options{})
	return err
}

// checkStoreDir makes sure the store can be opened where store.path says:
// its directory is writable, or the nearest one that exists is, for
// FromConfig to create the rest. Nothing is created here.
func checkStoreDir(path string) error {
	dir := filepath.Dir(path)
	for {
		fi, err := os.Stat(dir)
		if err == nil {
			if !fi.IsDir() {
				return fmt.Errorf("store.path: %s: %s is not a directory", path, dir)
			}
			break
		}
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("store.path: %w", err)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return fmt.Errorf("store.path: %s: no directory of it exists", path)
		}
		dir = parent
	}
	f, err := os.CreateTemp(dir, ".abusewatch-check-*")
	if err != nil {
		return fmt.Errorf("store.path: %s: directory %s is not writable: %w", path, dir, err)
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}

// clearSecretWarnings names the secrets written in clear in a file that
// other users can read.
func clearSecretWarnings(cfg *config.Config) []string {
	if cfg.Path == "" {
		return nil
	}
	fi, err := os.Stat(cfg.Path)
	if err != nil || fi.Mode().Perm()&0o004 == 0 {
		return nil
	}
	var out []string
	for _, key := range cfg.ClearSecrets() {
		out = append(out, fmt.Sprintf("%s: written in clear in %s, which every user can read (mode %04o): use its _env or _file form, or chmod o-r the file",
			key, cfg.Path, fi.Mode().Perm()))
	}
	return out
}

// prefixLines starts each line of err with prefix.
func prefixLines(prefix string, err error) error {
	var errs []error
	for _, e := range unjoin(err) {
		errs = append(errs, fmt.Errorf("%s%w", prefix, e))
	}
	return errors.Join(errs...)
}

// unjoin lists the errors errors.Join put together, or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// OnlineResult is what one authenticated call said about one set of
// credentials (`config check --online`).
type OnlineResult struct {
	What string // "mailbox NAME", "provider ovh", "provider hetzner robot"…
	Err  error  // nil: the credentials work
}

// CheckOnline makes one authenticated call per mailbox (log in, open the
// folder, log out) and per provider API, and says which credentials work.
// It never makes a second call to an API after a refusal: Robot locks a
// client out for ten minutes after three failed logins.
func CheckOnline(ctx context.Context, cfg *config.Config, log *slog.Logger) []OnlineResult {
	var out []OnlineResult
	for _, mb := range cfg.Mailboxes {
		w := mailbox.New(mb, nil, mailbox.Options{Logger: log.With("component", "mailbox", "mailbox", mb.Name)})
		out = append(out, OnlineResult{What: "mailbox " + mb.Name, Err: w.Check(ctx)})
	}
	if cfg.Providers.OVH == nil && cfg.Providers.Hetzner == nil {
		return out
	}
	reg, err := setup.FromConfig(cfg, log.With("component", "providers"))
	if err != nil {
		return append(out, OnlineResult{What: "providers", Err: err})
	}
	for _, p := range reg.Providers() {
		oc, ok := p.(providers.OnlineChecker)
		if !ok {
			continue
		}
		for _, c := range oc.CheckOnline(ctx) {
			what := "provider " + p.Name()
			if c.API != p.Name() {
				what += " " + c.API
			}
			out = append(out, OnlineResult{What: what, Err: c.Err})
		}
	}
	return out
}
