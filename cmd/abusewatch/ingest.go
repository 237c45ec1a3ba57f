package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

// ingestSummary is what `ingest` prints at the end (and with --json).
type ingestSummary struct {
	Read      int `json:"read"`
	New       int `json:"new"`
	Duplicate int `json:"duplicate"`
	Notices   int `json:"notices"`
	Incidents int `json:"incidents"` // opened or updated
	Unparsed  int `json:"unparsed"`  // not a notice, or rejected
	Errors    int `json:"errors"`
	// UnparsedFiles names each stored mail that gave no notice, and why.
	UnparsedFiles []unparsedFile `json:"unparsed_files"`
}

type unparsedFile struct {
	Path    string `json:"path"`
	Message int64  `json:"message"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

func newIngestCmd(a *app) *cobra.Command {
	var asJSON, drain bool
	cmd := &cobra.Command{
		Use:   "ingest PATH...",
		Short: "Feed .eml files, Maildir folders or mbox files (or - for stdin) through the pipeline",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return a.withPipeline(ctx, func(env *env) error {
				files, err := pipeline.ListMail(args)
				if err != nil {
					return err
				}
				progress := newProgress(a.stderr, len(files))
				incidents := map[int64]bool{}
				sum := ingestSummary{UnparsedFiles: []unparsedFile{}}
				err = env.pipeline.IngestFiles(ctx, files, cmd.InOrStdin(), env.cfg.Parser.MaxMessageBytes, func(f pipeline.FileResult) {
					defer progress.update(f.File + 1)
					if f.ReadErr == nil {
						sum.Read++
					}
					if err := errors.Join(f.ReadErr, f.Err); err != nil {
						sum.Errors++
						fmt.Fprintf(a.stderr, "abusewatch: %s: %s\n", line(f.Path), pipeline.Printable(err.Error(), 0))
						return
					}
					res := f.Result
					sum.add(res, incidents)
					if !res.Duplicate && res.Status != "ok" {
						sum.UnparsedFiles = append(sum.UnparsedFiles, unparsedFile{Path: f.Path, Message: res.MessageID, Status: res.Status, Reason: res.Reason})
						fmt.Fprintf(a.stderr, "abusewatch: %s: stored as message %d, %s: %s\n", f.Path, res.MessageID, res.Status, line(res.Reason))
					}
				})
				if err != nil {
					return err
				}
				progress.done()
				sum.Incidents = len(incidents)
				if drain {
					if err := env.pipeline.Drain(ctx); err != nil {
						return err
					}
				}
				if asJSON {
					return writeJSON(a.stdout, sum)
				}
				fmt.Fprintf(a.stdout, "read %d, new %d, duplicate %d, notices %d, incidents %d, unparsed %d\n",
					sum.Read, sum.New, sum.Duplicate, sum.Notices, sum.Incidents, sum.Unparsed)
				if sum.Errors > 0 {
					return fmt.Errorf("%d file(s) could not be read", sum.Errors)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the summary as JSON")
	cmd.Flags().BoolVar(&drain, "drain", false, "run the tasks that are due (provider state, triage, chat) before exiting")
	return cmd
}

func (s *ingestSummary) add(res store.IngestResult, incidents map[int64]bool) {
	if res.Duplicate {
		s.Duplicate++
		return
	}
	s.New++
	s.Notices += res.Notices
	if res.Status != "ok" {
		s.Unparsed++
	}
	for _, id := range append(res.Opened, res.Updated...) {
		incidents[id] = true
	}
}

// progress draws a one-line bar on a terminal for inputs of many files.
type progress struct {
	w     io.Writer
	total int
	on    bool
	last  time.Time
}

func newProgress(w io.Writer, total int) *progress {
	f, ok := w.(*os.File)
	return &progress{w: w, total: total, on: ok && total >= 200 && term.IsTerminal(int(f.Fd()))}
}

func (p *progress) update(n int) {
	if !p.on || time.Since(p.last) < 100*time.Millisecond && n < p.total {
		return
	}
	p.last = time.Now()
	const width = 40
	filled := width * n / p.total
	fmt.Fprintf(p.w, "\r[%-*s] %d/%d", width, bar(filled), n, p.total)
}

func bar(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '='
	}
	return string(b)
}

func (p *progress) done() {
	if p.on {
		fmt.Fprintln(p.w)
	}
}
