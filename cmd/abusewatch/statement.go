package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
)

func newStatementCmd(a *app) *cobra.Command {
	var o pipeline.StatementOptions
	var edit, send bool
	cmd := &cobra.Command{
		Use:   "statement INCIDENT",
		Short: "Draft the statement to the provider from the incident, print it, and optionally send it",
		Long: `Draft the incident's statement from what abusewatch recorded: the provider's report,
what triage found (suspects, findings, evidence hashes), what was done and when, and the
prevention measures recorded with --prevention. Nothing is claimed without a timeline entry
or evidence behind it, and credentials found in evidence never appear.

--send mails it through the smtp: section as a reply to the provider's mail (threaded, the
subject's AbuseID unchanged), or answers an OVH [TICKET#N] through the API. The same text is
sent once per incident.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := strconv.ParseInt(args[0], 10, 64)
			if err != nil || id <= 0 {
				return fmt.Errorf("statement: %q is not an incident id", args[0])
			}
			return a.withPipeline(cmd.Context(), func(e *env) error {
				d, err := e.pipeline.DraftStatement(cmd.Context(), id, o)
				if err != nil {
					return err
				}
				if edit {
					if err := pipeline.EditStatement(cmd.Context(), d, cmd.InOrStdin(), a.stdout, a.stderr); err != nil {
						return err
					}
				}
				// The text holds values from the provider's mail: each line is
				// made safe for the terminal.
				for _, line := range strings.Split(strings.TrimRight(d.Text, "\n"), "\n") {
					fmt.Fprintln(a.stdout, pipeline.Printable(line, 0))
				}
				fmt.Fprintln(a.stdout)
				if d.Redacted > 0 {
					fmt.Fprintf(a.stdout, "redacted: %d secret(s) masked\n", d.Redacted)
				}
				fmt.Fprintf(a.stdout, "to: %s (%s)\n", pipeline.Printable(strings.Join(d.Recipients, ", "), 0), d.Channel)
				if d.Channel == "smtp" {
					fmt.Fprintf(a.stdout, "subject: %s\n", pipeline.Printable(d.Subject, 0))
				}
				if d.Link != "" {
					fmt.Fprintf(a.stdout, "statement form: %s\n", pipeline.Printable(d.Link, 0))
				}
				if !send {
					fmt.Fprintln(a.stdout, "not sent: --send sends it")
					return nil
				}
				sent, err := e.pipeline.SendStatement(cmd.Context(), d)
				if err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "sent by %s to %s, sha256 %s\n", sent.Channel, pipeline.Printable(strings.Join(sent.Recipients, ", "), 0), sent.SHA256)
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Lang, "lang", "en", "language of the statement: en, fr, de")
	f.StringVar(&o.To, "to", "provider", "who gets it: provider, complainant (of a forwarded complaint), both")
	f.BoolVar(&edit, "edit", false, "open $EDITOR on the draft before printing and sending it")
	f.BoolVar(&send, "send", false, "send it (smtp: section, or the OVH API for a support ticket)")
	f.BoolVar(&o.Force, "force", false, "answer an incident without an authentic notice; take over a send that never finished")
	f.StringSliceVar(&o.Prevention, "prevention", nil, "record measures taken, so the statement may claim them: images, ssh, audit, backups")
	return cmd
}
