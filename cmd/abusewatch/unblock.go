package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"
)

func newUnblockCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:   "unblock IP",
		Short: "Ask the provider to lift an anti-hack / anti-spam block on an IP",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ip, err := netip.ParseAddr(args[0])
			if err != nil {
				return fmt.Errorf("unblock: %q is not an IP address", args[0])
			}
			reg, err := a.registry()
			if err != nil {
				return err
			}
			p, _, err := reg.Lookup(cmd.Context(), ip)
			if err != nil {
				return err
			}
			if err := p.Unblock(cmd.Context(), ip); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "%s: unblock requested from %s; run `abusewatch status %s` to follow it\n", ip, p.Name(), ip)
			return nil
		},
	}
}
