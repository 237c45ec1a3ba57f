package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

// migrateJSON is what `migrate --json` prints: each table's rows in the
// SQLite store and, counted again after the copy, in PostgreSQL.
type migrateJSON struct {
	Tables []store.TableCount `json:"tables"`
}

func newMigrateCmd(a *app) *cobra.Command {
	var to, toEnv string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "migrate --to DSN",
		Short: "Copy the SQLite store into an empty PostgreSQL database and verify the counts",
		Long: "Copies every row of the SQLite store at store.path into the PostgreSQL database at DSN " +
			"(--to, or --to-env naming the variable that holds it, to keep a password off the command line), " +
			"which must be empty, in one transaction, then counts every table on both sides. Mail kept in " +
			"files beside the database stays where it is: keep store.path when switching store.driver to postgres.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dsn := to
			if toEnv != "" {
				dsn = os.Getenv(toEnv)
			}
			if (to == "") == (toEnv == "") || dsn == "" {
				return errors.New("migrate: give the PostgreSQL database with --to DSN or --to-env VAR (set and not empty)")
			}
			cfg, err := a.readConfig()
			if err != nil {
				return err
			}
			if cfg.Store.IsPostgres() {
				return errors.New("migrate: the configured store is already postgres; migrate copies from store.path's SQLite file")
			}
			if _, err := os.Stat(cfg.Store.Path); err != nil {
				return fmt.Errorf("migrate: no SQLite store at %s: %w", cfg.Store.Path, err)
			}
			ctx := cmd.Context()
			src, err := pipeline.OpenStore(ctx, cfg.Store)
			if err != nil {
				return err
			}
			defer src.Close()
			dst, err := store.OpenPostgres(ctx, dsn, filepath.Dir(cfg.Store.Path))
			if err != nil {
				return err
			}
			defer dst.Close()
			counts, err := src.CopyTo(ctx, dst)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, migrateJSON{Tables: counts})
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "TABLE\tSQLITE\tPOSTGRES")
			for _, c := range counts {
				fmt.Fprintf(tw, "%s\t%d\t%d\n", c.Table, c.Source, c.Copied)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, "every table copied, counts verified; set store.driver: postgres with store.dsn_env to use it")
			return nil
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL database (postgres://user@host/db)")
	cmd.Flags().StringVar(&toEnv, "to-env", "", "the environment variable holding the DSN instead")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the counts as JSON")
	return cmd
}
