package main

import (
	"fmt"
	"io"
	"os"
	"os/user"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
)

func newTriageCmd(a *app) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "triage",
		Short: "Run triage jobs on an incident's host now, and show the runs",
	}
	cmd.AddCommand(newTriageRunCmd(a), newTriageShowCmd(a))
	return cmd
}

// triageJSON is the public shape of `triage show --json` (DESIGN.md).
type triageJSON struct {
	Incident int64           `json:"incident"`
	Runs     []triageRunJSON `json:"runs"`
}

type triageRunJSON struct {
	Run       string          `json:"run"`
	StartedAt time.Time       `json:"started_at"`
	Trigger   string          `json:"trigger"`
	Jobs      []triageJobJSON `json:"jobs"`
	Suspects  []suspectJSON   `json:"suspects"`
}

type triageJobJSON struct {
	Job      string   `json:"job"`
	Host     string   `json:"host"`
	Where    string   `json:"where"`
	Status   string   `json:"status"`
	ExitCode int      `json:"exit_code"`
	SHA256   string   `json:"sha256"`
	Findings []string `json:"findings"`
	// Added fields (the contract grows, never renames); output only for one run.
	Error  string  `json:"error,omitempty"`
	Output *string `json:"output,omitempty"`
}

type suspectJSON struct {
	Kind      string   `json:"kind"`
	Name      string   `json:"name"`
	Host      string   `json:"host"`
	PID       int      `json:"pid"`
	User      string   `json:"user"`
	Exe       string   `json:"exe"`
	Container string   `json:"container"`
	VM        string   `json:"vm"`
	Why       []string `json:"why"`
}

func toTriageRunJSON(v pipeline.TriageRunView, withOutput bool) triageRunJSON {
	out := triageRunJSON{Run: v.Run, StartedAt: v.StartedAt.UTC(), Trigger: v.Trigger, Jobs: []triageJobJSON{}, Suspects: []suspectJSON{}}
	for _, j := range v.Jobs {
		jj := triageJobJSON{Job: j.Job, Host: j.Host, Where: j.Where, Status: j.Status, ExitCode: j.ExitCode,
			SHA256: j.SHA256, Findings: nonNilStrings(j.Findings), Error: j.Error}
		if withOutput {
			s := string(j.Output)
			jj.Output = &s
		}
		out.Jobs = append(out.Jobs, jj)
	}
	for _, s := range v.Suspects {
		out.Suspects = append(out.Suspects, toSuspectJSON(s))
	}
	return out
}

func toSuspectJSON(s store.Suspect) suspectJSON {
	return suspectJSON{Kind: s.Kind, Name: s.Name, Host: s.Host, PID: s.PID, User: s.User, Exe: s.Exe,
		Container: s.Container, VM: s.VM, Why: nonNilStrings(s.Why)}
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// operatorName names who runs the command, for the record: the user sudo
// was run by, else the logged-in user.
func operatorName() string {
	if name := os.Getenv("SUDO_USER"); name != "" {
		return name
	}
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "unknown"
}

func newTriageRunCmd(a *app) *cobra.Command {
	var asJSON bool
	var jobs []string
	cmd := &cobra.Command{
		Use:   "run INCIDENT [--job NAME]... [--json]",
		Short: "Run the triage jobs now (all that apply, or the named ones); recorded as your action",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				v, err := env.pipeline.RunTriageNow(cmd.Context(), id, jobs, operatorName())
				if err != nil {
					return err
				}
				if asJSON {
					return writeJSON(a.stdout, triageJSON{Incident: id, Runs: []triageRunJSON{toTriageRunJSON(v, false)}})
				}
				return printTriageRuns(a.stdout, id, []pipeline.TriageRunView{v})
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the run as JSON")
	cmd.Flags().StringArrayVar(&jobs, "job", nil, "run only this job (repeatable)")
	return cmd
}

func newTriageShowCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show INCIDENT [RUN] [--json]",
		Short: "Show an incident's triage runs, or one run's output (RUN: its number or key)",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				views, err := env.pipeline.TriageRuns(cmd.Context(), id)
				if err != nil {
					return err
				}
				if len(args) == 2 {
					v, err := pickRun(views, args[1])
					if err != nil {
						return err
					}
					if asJSON {
						return writeJSON(a.stdout, triageJSON{Incident: id, Runs: []triageRunJSON{toTriageRunJSON(v, true)}})
					}
					return printTriageOutput(a.stdout, v)
				}
				if asJSON {
					out := triageJSON{Incident: id, Runs: []triageRunJSON{}}
					for _, v := range views {
						out.Runs = append(out.Runs, toTriageRunJSON(v, false))
					}
					return writeJSON(a.stdout, out)
				}
				return printTriageRuns(a.stdout, id, views)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// pickRun finds a run by its number in the list (1 is the oldest) or its key.
func pickRun(views []pipeline.TriageRunView, arg string) (pipeline.TriageRunView, error) {
	if n, err := strconv.Atoi(arg); err == nil && n >= 1 && n <= len(views) {
		return views[n-1], nil
	}
	for _, v := range views {
		if v.Run == arg {
			return v, nil
		}
	}
	return pipeline.TriageRunView{}, fmt.Errorf("no triage run %q (the incident has %d)", arg, len(views))
}

// printTriageRuns shows the suspects first (what a person acts on), then
// each run and its jobs.
func printTriageRuns(w io.Writer, incident int64, views []pipeline.TriageRunView) error {
	if len(views) == 0 {
		_, err := fmt.Fprintf(w, "Incident %d has no triage runs.\n", incident)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "Suspects:")
	n := 0
	for i, v := range views {
		for _, s := range v.Suspects {
			n++
			fmt.Fprintf(tw, "  run %d\t#%d %s\t%s\t%s\n", i+1, s.Rank, s.Kind, line(suspectWhere(s)), line(strings.Join(s.Why, "; ")))
		}
	}
	if n == 0 {
		fmt.Fprintln(tw, "  (none)")
	}
	for i, v := range views {
		fmt.Fprintf(tw, "\nRun %d  %s  %s\n", i+1, v.Run, v.StartedAt.Local().Format(time.DateTime))
		fmt.Fprintf(tw, "  trigger: %s\n", line(dash(v.Trigger)))
		fmt.Fprintln(tw, "  JOB\tHOST\tWHERE\tSTATUS\tEXIT\tSHA256\tFINDINGS")
		for _, j := range v.Jobs {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\n", j.Job, dash(j.Host), j.Where, j.Status, j.ExitCode, j.SHA256[:16],
				line(dash(strings.Join(j.Findings, "; "))))
		}
	}
	return tw.Flush()
}

func suspectWhere(s store.Suspect) string {
	parts := []string{dash(s.Name)}
	for _, f := range [][2]string{{"host", s.Host}, {"user", s.User}, {"exe", s.Exe}, {"container", s.Container}, {"vm", s.VM}} {
		if f[1] != "" {
			parts = append(parts, f[0]+" "+f[1])
		}
	}
	if s.PID != 0 {
		parts = append(parts, "pid "+strconv.Itoa(s.PID))
	}
	return strings.Join(parts, " ")
}

// printTriageOutput shows one run: its trigger, then each job's output.
func printTriageOutput(w io.Writer, v pipeline.TriageRunView) error {
	fmt.Fprintf(w, "Run %s  %s\n  trigger: %s\n", v.Run, v.StartedAt.Local().Format(time.DateTime), line(dash(v.Trigger)))
	for _, s := range v.Suspects {
		fmt.Fprintf(w, "  suspect #%d %s %s: %s\n", s.Rank, s.Kind, line(suspectWhere(s)), line(strings.Join(s.Why, "; ")))
	}
	for _, j := range v.Jobs {
		fmt.Fprintf(w, "\n== %s on %s (%s): %s, exit %d, sha256 %s\n", j.Job, dash(j.Host), j.Where, j.Status, j.ExitCode, j.SHA256)
		if j.Error != "" {
			fmt.Fprintf(w, "   error: %s\n", line(j.Error))
		}
		if j.Dropped > 0 {
			fmt.Fprintf(w, "   (%d bytes of output beyond the cap were not kept)\n", j.Dropped)
		}
		for _, out := range strings.Split(strings.TrimRight(string(j.Output), "\n"), "\n") {
			fmt.Fprintf(w, "   %s\n", line(out))
		}
	}
	return nil
}
