package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

func newWhitelistCmd(a *app) *cobra.Command {
	var (
		source, reason string
		dur            time.Duration
		force, yes     bool
	)
	cmd := &cobra.Command{
		Use:   "whitelist SERVER_IP --source ADMIN_IP [--for 2h] [--reason TEXT]",
		Short: "Let an admin IP through a server's provider firewall for a while (list, revoke, expire grants)",
		Long: `Open a time-boxed hole in the provider's edge firewall in front of SERVER_IP for
ADMIN_IP (one address, or a prefix no wider than /24 or /48). The grant is
revoked when it runs out by the daemon (abusewatch watch), or by
'abusewatch whitelist expire' run from cron or a systemd timer.

Without --source inside an SSH session, the SSH client's address is offered.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ip, err := netip.ParseAddr(args[0])
			if err != nil {
				return fmt.Errorf("whitelist: %q is not an IP address", args[0])
			}
			// Everything the operator typed is checked before any config,
			// store or provider is touched.
			if err := checkDuration(dur, force); err != nil {
				return err
			}
			if source == "" {
				if source, err = sshClientSource(cmd.InOrStdin(), a.stderr, ip, dur, yes); err != nil {
					return err
				}
			}
			src, err := pipeline.ParseSource(source)
			if err == nil {
				err = pipeline.CheckFamily(ip, src)
			}
			if err != nil {
				return fmt.Errorf("whitelist: %w", err)
			}
			if _, err := a.requireConfig(); err != nil {
				return err
			}
			ctx := cmd.Context()
			return a.withPipeline(ctx, func(env *env) error {
				g, err := env.pipeline.Grant(ctx, pipeline.GrantRequest{
					ServerIP: ip, Source: src, For: dur, Force: force, By: operator(), Reason: reason,
				})
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "grant %d: %s may reach %s (%s) until %s (%s)\n", g.Grant.ID, g.Grant.Source, g.Grant.ServerIP,
					g.Grant.Provider, g.Grant.ExpiresAt.UTC().Format(time.RFC3339), dur)
				if g.Rule.State == "unfiltered" {
					fmt.Fprintf(a.stdout, "note: no firewall filters %s at the provider; nothing had to be opened\n", ip)
				}
				fmt.Fprintf(a.stdout, "revoke it early with: abusewatch whitelist revoke %d\n", g.Grant.ID)
				warnNoDaemon(a.stderr, env.cfg.Store.Path)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&source, "source", "", "admin IP or prefix to let in (default: the SSH client, after confirmation)")
	cmd.Flags().DurationVar(&dur, "for", pipeline.DefaultGrant, "how long the grant lasts (at most 24h without --force)")
	cmd.Flags().StringVar(&reason, "reason", "", "why, for the record and the chat message")
	cmd.Flags().BoolVar(&force, "force", false, "allow a grant longer than 24h")
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "take the SSH client's address without asking")
	cmd.AddCommand(newWhitelistListCmd(a), newWhitelistRevokeCmd(a), newWhitelistExpireCmd(a))
	return cmd
}

func checkDuration(d time.Duration, force bool) error {
	switch {
	case d <= 0:
		return fmt.Errorf("whitelist: --for %s: the duration must be positive", d)
	case d > pipeline.MaxGrant && !force:
		return fmt.Errorf("whitelist: --for %s is longer than %s; pass --force if you really mean it", d, pipeline.MaxGrant)
	}
	return nil
}

// sshClientSource offers the address the operator's SSH session comes from
// ($SSH_CLIENT is "client_ip client_port server_port") and asks to confirm.
func sshClientSource(in io.Reader, prompt io.Writer, server netip.Addr, d time.Duration, yes bool) (string, error) {
	client, _, _ := strings.Cut(os.Getenv("SSH_CLIENT"), " ")
	if client == "" {
		return "", errors.New("whitelist: --source is required (outside an SSH session there is no client address to offer)")
	}
	if yes {
		fmt.Fprintf(prompt, "using %s, the SSH client address\n", client)
		return client, nil
	}
	fmt.Fprintf(prompt, "No --source given. Let %s (your SSH client address) reach %s for %s? [y/N] ", client, server, d)
	answer, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("whitelist: reading the confirmation: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(answer)) {
	case "y", "yes":
		return client, nil
	}
	return "", errors.New("whitelist: not confirmed; pass --source, or --yes to take the SSH client address")
}

// operator names who asked: the person behind sudo, else the login user.
func operator() string {
	for _, v := range []string{"SUDO_USER", "USER", "LOGNAME"} {
		if u := os.Getenv(v); u != "" {
			return u
		}
	}
	return ""
}

// warnNoDaemon tells the operator when nothing will revoke grants on time.
func warnNoDaemon(w io.Writer, storePath string) {
	running, err := pipeline.DaemonRunning(pipeline.DaemonLockPath(storePath))
	switch {
	case err != nil:
		fmt.Fprintf(w, "warning: cannot tell whether the daemon runs (%v); make sure `abusewatch watch` or a timer running `abusewatch whitelist expire` does\n", err)
	case !running:
		fmt.Fprintln(w, "warning: no abusewatch daemon is running: nothing revokes this grant on time. Start `abusewatch watch`, or run `abusewatch whitelist expire` from cron or a systemd timer. Chat messages stay queued until the daemon (or `watch --once`) runs.")
	}
}

// grantJSON is the public shape of `whitelist list --json` (DESIGN.md).
type grantJSON struct {
	ID        int64      `json:"id"`
	Provider  string     `json:"provider"`
	IP        string     `json:"ip"`
	Source    string     `json:"source"`
	ExpiresAt time.Time  `json:"expires_at"`
	RevokedAt *time.Time `json:"revoked_at"`
	Status    string     `json:"status"`
}

func toGrantJSON(g store.Grant) grantJSON {
	out := grantJSON{ID: g.ID, Provider: g.Provider, IP: g.ServerIP, Source: g.Source, ExpiresAt: g.ExpiresAt.UTC(), Status: g.Status}
	if g.RevokedAt != nil {
		t := g.RevokedAt.UTC()
		out.RevokedAt = &t
	}
	return out
}

func newWhitelistListCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List whitelist grants, live and past",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				grants, err := st.Grants(cmd.Context())
				if err != nil {
					return err
				}
				return writeList(a.stdout, asJSON, grants, toGrantJSON, printGrants)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	return cmd
}

func printGrants(w io.Writer, grants []store.Grant) error {
	if len(grants) == 0 {
		_, err := fmt.Fprintln(w, "no grants")
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tPROVIDER\tSERVER\tSOURCE\tSTATUS\tEXPIRES\tENDED\tBY\tREASON")
	for _, g := range grants {
		ended := "-"
		if g.RevokedAt != nil {
			ended = g.RevokedAt.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", g.ID, g.Provider, g.ServerIP, g.Source, g.Status,
			g.ExpiresAt.UTC().Format(time.RFC3339), ended, dash(g.By), dash(g.Reason))
	}
	return tw.Flush()
}

func newWhitelistRevokeCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Close a whitelist grant now",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("whitelist revoke: %q is not a grant id", args[0])
			}
			if _, err := a.requireConfig(); err != nil {
				return err
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				g, err := env.pipeline.RevokeGrant(cmd.Context(), id, operator())
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "grant %d revoked: %s no longer reaches %s\n", g.ID, g.Source, g.ServerIP)
				return nil
			})
		},
	}
}

// expireJSON is what `whitelist expire --json` prints.
type expireJSON struct {
	Expired int `json:"expired"`
	Failed  int `json:"failed"`
	Orphans int `json:"orphans"`
}

func newWhitelistExpireCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "expire [--json]",
		Short: "Revoke every overdue grant and remove rules no grant covers (for cron or a systemd timer)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := a.requireConfig(); err != nil {
				return err
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				res, err := env.pipeline.ReconcileGrants(cmd.Context())
				if asJSON {
					if jerr := writeJSON(a.stdout, expireJSON{Expired: res.Expired, Failed: res.Failed, Orphans: res.Orphans}); jerr != nil {
						return errors.Join(err, jerr)
					}
					return err
				}
				fmt.Fprintf(a.stdout, "expired %d grants, marked %d interrupted grants failed, removed %d orphan rules\n", res.Expired, res.Failed, res.Orphans)
				return err
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}
