package main

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
)

func newParseCmd(a *app) *cobra.Command {
	var asJSON, explain bool
	cmd := &cobra.Command{
		Use:   "parse [--json] [--explain] FILE...|-",
		Short: "Parse mail files (.eml, mbox, Maildir) and print their notices; store nothing",
		Long: "Parse mail files and print their notices, verifying DKIM as ingest does. " +
			"--explain prints, per mail, the format chosen and why, the rules that gave each field, " +
			"and for a mail that holds none or was not understood, the reason.",
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := a.config()
			if err != nil {
				return err
			}
			var notices []pipeline.Notice
			enc := json.NewEncoder(a.stdout)
			enc.SetEscapeHTML(false)
			err = pipeline.ParseFiles(cmd.Context(), cfg, args, cmd.InOrStdin(), explain, func(f pipeline.ParsedFile) error {
				if explain {
					printExplain(a.stdout, f)
				}
				if !asJSON {
					notices = append(notices, f.Notices...)
					return nil
				}
				for _, n := range f.Notices {
					if err := enc.Encode(n); err != nil {
						return err
					}
				}
				return nil
			})
			if err != nil {
				return err
			}
			if asJSON {
				return nil
			}
			return printNoticeTable(a.stdout, notices)
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON object per notice per line")
	cmd.Flags().BoolVar(&explain, "explain", false, "say per mail which format and rules read it, and why it holds no notice")
	return cmd
}

// printExplain writes how one mail was read, before its notices.
func printExplain(w io.Writer, f pipeline.ParsedFile) {
	format := f.Format
	if format == "" {
		format = "none"
	}
	fmt.Fprintf(w, "== %s: format %s\n", line(f.Path), line(format))
	for _, rule := range f.Explain {
		fmt.Fprintf(w, "   %s\n", line(rule))
	}
	if f.Unrecognised != "" {
		fmt.Fprintf(w, "   UNRECOGNISED: %s\n", line(f.Unrecognised))
	}
	for _, n := range f.Notices {
		if n.Kind == "none" {
			fmt.Fprintf(w, "   NONE: %s\n", line(n.Reason))
		}
	}
}

func printNoticeTable(w io.Writer, notices []pipeline.Notice) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "FILE\tPROVIDER\tKIND\tATTACK\tIP\tCASE\tAUTH\tNOTE")
	for _, n := range notices {
		note := n.Reason
		if n.Kind != "none" {
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
