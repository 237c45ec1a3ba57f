package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

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
				if asJSON {
					return writeJSON(a.stdout, res)
				}
				fmt.Fprintf(a.stdout, "%+v\n", res)
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}
