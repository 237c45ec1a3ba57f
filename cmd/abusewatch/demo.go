package main

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/internal/demo"
)

func newDemoCmd(a *app) *cobra.Command {
	var (
		duration time.Duration
		keep     bool
		listen   string
	)
	cmd := &cobra.Command{
		Use:   "demo [--duration 60s] [--keep] [--listen ADDR]",
		Short: "Run the whole pipeline on embedded servers with sample OVH and Hetzner notices",
		Long: `demo starts everything in-process: an IMAP server holding sample OVH and
Hetzner abuse notices (more arrive while it runs), emulators of the OVH and
Hetzner APIs that know the servers involved, a temporary store, a local
triage job and a chat receiver that prints its messages here. It runs the
same code as "abusewatch watch", then prints the incidents and exits.
Nothing outside this process is contacted and nothing is left behind, unless
--keep: then the demo runs on until interrupted, and its store stays, with a
config file for it that the commands in the chat messages can be run with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return demo.Run(cmd.Context(), a.stdout, a.logger(), demo.Options{
				Duration: duration, Keep: keep, Listen: listen, PrintIncidents: printIncidents,
			})
		},
	}
	cmd.Flags().DurationVar(&duration, "duration", time.Minute, "how long new notices keep arriving")
	cmd.Flags().BoolVar(&keep, "keep", false, "keep running after --duration, with /metrics and /healthz up, until interrupted; keep the store and write a config for it")
	cmd.Flags().StringVar(&listen, "listen", "127.0.0.1:0", "address of /metrics and /healthz (port 0: any free port)")
	return cmd
}
