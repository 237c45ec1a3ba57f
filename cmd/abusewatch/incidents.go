package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

func newIncidentsCmd(a *app) *cobra.Command {
	cmd := groupCmd("incidents", "List, show and resolve incidents")
	cmd.AddCommand(newIncidentsListCmd(a), newIncidentsShowCmd(a), newIncidentsResolveCmd(a))
	return cmd
}

// groupCmd is a command that only holds subcommands: a mistyped one
// (`incidents lst`) is an error, not a help text and exit status 0.
func groupCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:   use + " COMMAND",
		Short: short,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%s: a command is required (%s --help lists them)", cmd.CommandPath(), cmd.CommandPath())
			}
			return fmt.Errorf("%s: unknown command %q (%s --help lists them)", cmd.CommandPath(), args[0], cmd.CommandPath())
		},
	}
}

// incidentJSON is the public shape of `incidents list --json` (DESIGN.md).
type incidentJSON struct {
	ID        int64      `json:"id"`
	Provider  string     `json:"provider"`
	IP        string     `json:"ip"`
	Status    string     `json:"status"`
	Kind      string     `json:"kind"`
	Attack    string     `json:"attack"`
	Notices   int        `json:"notices"`
	FirstSeen time.Time  `json:"first_seen"`
	LastSeen  time.Time  `json:"last_seen"`
	State     *stateJSON `json:"state"`
	// Added fields (the contract grows, never renames).
	Case       string `json:"case"`
	Service    string `json:"service"`
	Severity   string `json:"severity"`
	Unverified bool   `json:"unverified"`
}

type stateJSON struct {
	Blocked   bool      `json:"blocked"`
	Locked    bool      `json:"locked"`
	Rescue    bool      `json:"rescue"`
	CheckedAt time.Time `json:"checked_at"`
	Provider  string    `json:"provider"`
}

func toIncidentJSON(inc store.Incident) incidentJSON {
	out := incidentJSON{
		ID: inc.ID, Provider: inc.Provider, IP: inc.IP, Status: inc.Status, Kind: inc.Kind, Attack: inc.Attack,
		Notices: inc.Notices, FirstSeen: inc.FirstSeen.UTC(), LastSeen: inc.LastSeen.UTC(),
		Case: inc.Case, Service: inc.Service, Severity: severityLabel(inc.Severity), Unverified: inc.Unverified,
	}
	if s := inc.State; s != nil {
		out.State = &stateJSON{Blocked: s.Blocked, Locked: s.Locked, Rescue: s.Rescue, CheckedAt: s.CheckedAt.UTC(), Provider: s.Provider}
	}
	return out
}

func newIncidentsListCmd(a *app) *cobra.Command {
	var asJSON bool
	var status string
	cmd := &cobra.Command{
		Use:   "list [--status open|resolved|all] [--json]",
		Short: "List incidents",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			switch status {
			case "open", "resolved", "all":
			default:
				return fmt.Errorf("--status: %q is not one of open, resolved, all", status)
			}
			return a.withStore(cmd.Context(), func(st *store.Store) error {
				incidents, err := st.Incidents(cmd.Context(), status)
				if err != nil {
					return err
				}
				return writeList(a.stdout, asJSON, incidents, toIncidentJSON, printIncidents)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array")
	cmd.Flags().StringVar(&status, "status", "open", "open, resolved or all")
	return cmd
}

func printIncidents(w io.Writer, incidents []store.Incident) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tSEVERITY\tPROVIDER\tIP\tATTACK\tNOTICES\tSTATE\tLAST SEEN\tCASE")
	for _, inc := range incidents {
		state := "-"
		if s := inc.State; s != nil {
			state = stateWords(s.Blocked, s.Locked, s.Rescue)
		}
		sev := severityLabel(inc.Severity)
		if inc.Unverified {
			sev += "?"
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", inc.ID, inc.Status, sev, cell(inc.Provider),
			cell(dash(inc.IP)), cell(inc.Attack), inc.Notices, state, inc.LastSeen.Local().Format("2006-01-02 15:04"), cell(dash(inc.Case)))
	}
	if len(incidents) == 0 {
		fmt.Fprintln(tw, "(no incidents)")
	}
	return tw.Flush()
}

func stateWords(blocked, locked, rescue bool) string {
	var words []string
	if blocked {
		words = append(words, "blocked")
	}
	if locked {
		words = append(words, "locked")
	}
	if rescue {
		words = append(words, "rescue")
	}
	if len(words) == 0 {
		return "ok"
	}
	return strings.Join(words, ",")
}

func severityLabel(sev int) string { return config.SeverityName(sev) }

// Caps of mail-derived text on a terminal: a table cell, a line of detail.
const (
	cellCap = 40
	lineCap = 300
)

// cell makes mail-derived text safe for a table cell.
func cell(s string) string { return pipeline.Printable(s, cellCap) }

// line makes mail-derived text safe for a line of its own.
func line(s string) string { return pipeline.Printable(s, lineCap) }

// incidentNotFound turns the store's not-found into one clear message.
func incidentNotFound(err error, id int64) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("incident %d not found", id)
	}
	return err
}

func parseID(s string) (int64, error) {
	id, err := strconv.ParseInt(strings.TrimPrefix(s, "#"), 10, 64)
	if err != nil || id <= 0 {
		return 0, fmt.Errorf("%q is not an incident id", s)
	}
	return id, nil
}

// withIncident runs f with the store open and the incident that arg names.
func (a *app) withIncident(ctx context.Context, arg string, f func(*store.Store, *store.IncidentDetail) error) error {
	id, err := parseID(arg)
	if err != nil {
		return err
	}
	return a.withStore(ctx, func(st *store.Store) error {
		d, err := st.Incident(ctx, id)
		if err != nil {
			return incidentNotFound(err, id)
		}
		return f(st, d)
	})
}

func newIncidentsShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show an incident: notices, timeline, provider state, evidence",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withIncident(cmd.Context(), args[0], func(_ *store.Store, d *store.IncidentDetail) error {
				if asJSON {
					return writeJSON(a.stdout, incidentDetailJSON(d))
				}
				return printIncident(a.stdout, d)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newIncidentsResolveCmd(a *app) *cobra.Command {
	var note string
	cmd := &cobra.Command{
		Use:   "resolve ID [--note TEXT]",
		Short: "Mark an incident resolved (a new notice reopens it)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.withIncident(cmd.Context(), args[0], func(st *store.Store, d *store.IncidentDetail) error {
				id := d.ID
				if d.Status == "resolved" {
					fmt.Fprintf(a.stdout, "incident %d already resolved\n", id)
					return nil
				}
				if err := st.ResolveIncident(cmd.Context(), id, note); err != nil {
					return incidentNotFound(err, id)
				}
				fmt.Fprintf(a.stdout, "incident %d resolved\n", id)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&note, "note", "", "why it is resolved (kept in the timeline)")
	return cmd
}
