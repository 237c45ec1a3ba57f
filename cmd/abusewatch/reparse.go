package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// reparseJSON is what `reparse --json` prints.
type reparseJSON struct {
	Messages int `json:"messages"` // stored mails parsed again
	Changed  int `json:"changed"`  // of those, the ones whose parse result differed
	Notices  int `json:"notices"`  // notices after the reparse
	Tasks    int `json:"tasks"`    // tasks planned
}

func newReparseCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "reparse",
		Short: "Parse every stored mail again with this version's parser",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.withPipeline(cmd.Context(), func(env *env) error {
				res, err := env.pipeline.Reparse(cmd.Context())
				if err != nil {
					return err
				}
				out := reparseJSON{Messages: res.Messages, Changed: res.Changed, Notices: res.Notices, Tasks: res.Tasks}
				if asJSON {
					return writeJSON(a.stdout, out)
				}
				fmt.Fprintf(a.stdout, "parsed %d stored mails again: %d changed, %d notices, %d new tasks\n", out.Messages, out.Changed, out.Notices, out.Tasks)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}
