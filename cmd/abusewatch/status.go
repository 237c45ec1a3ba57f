package main

import (
	"fmt"
	"io"
	"net/netip"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
)

func newStatusCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status IP [--json]",
		Short: "Show what the provider has done to an IP and its server, live",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ip, err := netip.ParseAddr(args[0])
			if err != nil {
				return fmt.Errorf("status: %q is not an IP address", args[0])
			}
			return a.withBuilt(cmd.Context(), func(b *pipeline.Built) error {
				st, err := b.Status(cmd.Context(), ip)
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, st)
				}
				return printState(a.stdout, st)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the normalized state, the provider's raw answers included")
	return cmd
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func printState(w io.Writer, st *pipeline.State) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ip\t%s\n", st.IP)
	fmt.Fprintf(tw, "provider\t%s\n", st.Provider)
	fmt.Fprintf(tw, "service\t%s (%s)\n", st.Service, st.ServiceType)
	if st.ServerStatus != "" {
		fmt.Fprintf(tw, "server status\t%s\n", st.ServerStatus)
	}
	fmt.Fprintf(tw, "blocked\t%s\n", yesNo(st.Blocked))
	for _, b := range st.Blocks {
		line := b.Source + ": " + b.State
		if b.Since != nil {
			line += " since " + b.Since.Format(time.RFC3339)
		}
		if b.UnblockIn > 0 {
			line += fmt.Sprintf(", unblock possible in %ds", b.UnblockIn)
		}
		fmt.Fprintf(tw, "\t%s\n", line)
	}
	fmt.Fprintf(tw, "locked\t%s\n", yesNo(st.Locked))
	if st.Hacked {
		fmt.Fprintf(tw, "hacked\tyes\n")
	}
	fmt.Fprintf(tw, "rescue\t%s\n", yesNo(st.Rescue))
	if m := st.Mitigation; m != nil {
		fmt.Fprintf(tw, "mitigation\t%s (auto %s)\n", m.State, yesNo(m.Auto))
	}
	if fw := st.Firewall; fw != nil {
		fmt.Fprintf(tw, "firewall\t%s, enabled %s, %d rules\n", fw.Status, yesNo(fw.Enabled), len(fw.Rules))
		for _, r := range fw.Rules {
			src := "any"
			if r.Source.IsValid() {
				src = r.Source.String()
			}
			fields := []string{r.Ref, r.Action, "from " + src}
			if r.Ours {
				fields = append(fields, "(abusewatch)")
			}
			fmt.Fprintf(tw, "\t%s\n", strings.Join(fields, " "))
		}
	}
	fmt.Fprintf(tw, "checked at\t%s\n", st.CheckedAt.Format(time.RFC3339))
	return tw.Flush()
}
