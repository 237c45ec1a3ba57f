package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/pipeline"
)

func newParseCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "parse [--json] FILE...|-",
		Short: "Parse mail files and print their notices; store nothing",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			opts := parser.Options{MaxBytes: int(cfg.Parser.MaxMessageBytes), TrustAuthservID: cfg.Parser.TrustAuthservID}
			var notices []parser.Notice
			for _, path := range args {
				// The reader of ingest: mbox files give one line per message.
				err := pipeline.ReadMail(path, cmd.InOrStdin(), cfg.Parser.MaxMessageBytes, func(f pipeline.MailFile) error {
					notices = append(notices, parseForDisplay(f.Raw, f.Path, opts)...)
					return nil
				})
				if err != nil {
					return err
				}
			}
			if asJSON {
				enc := json.NewEncoder(a.stdout)
				enc.SetEscapeHTML(false)
				for _, n := range notices {
					if err := enc.Encode(n); err != nil {
						return err
					}
				}
				return nil
			}
			return printNoticeTable(a.stdout, notices)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per notice per line")
	return cmd
}

// parseForDisplay gives the notices of one file, or its kind:none line.
func parseForDisplay(raw []byte, path string, opts parser.Options) []parser.Notice {
	res, err := parser.Parse(raw, opts)
	notices := res.Notices
	if err != nil || len(notices) == 0 {
		n := res.None()
		if err != nil {
			n.Reason = err.Error()
		}
		notices = []parser.Notice{n}
	}
	for i := range notices {
		notices[i].File = path
	}
	return notices
}

func printNoticeTable(w io.Writer, notices []parser.Notice) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tPROVIDER\tKIND\tATTACK\tIP\tCASE\tAUTH\tNOTE")
	for _, n := range notices {
		note := n.Reason
		if n.Kind != parser.KindNone {
			note = n.Service
			if n.Deadline != "" {
				note += " deadline " + n.Deadline
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n",
			line(n.File), cell(dash(n.Provider)), cell(string(n.Kind)), cell(string(n.Attack)), cell(dash(n.IP)), cell(dash(n.Case)), cell(string(n.Authentic)), line(note))
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
