package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/parser"
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
				raw, err := readMailFile(cmd.InOrStdin(), path, cfg.Parser.MaxMessageBytes)
				if err != nil {
					return err
				}
				notices = append(notices, parseForDisplay(raw, path, opts)...)
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

// readMailFile reads path ("-" for stdin), refusing to read far past the
// parser's limit so that a huge file cannot exhaust memory.
func readMailFile(stdin io.Reader, path string, limit int64) ([]byte, error) {
	r := stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	raw, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return raw, nil
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
