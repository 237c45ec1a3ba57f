package main

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
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
			return a.withBuilt(cmd.Context(), func(b *pipeline.Built) error {
				provider, err := b.Unblock(cmd.Context(), ip)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "%s: unblock requested from %s; run `abusewatch status %s` to follow it\n", ip, provider, ip)
				return nil
			})
		},
	}
}
