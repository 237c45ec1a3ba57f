package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/abusewatch/abusewatch/pipeline"
)

// errNotContained makes the exit status say what the verdict said.
var errNotContained = errors.New("NOT CONTAINED (see the verdict above)")

// containJSON is `contain --json` and `release --json`.
type containJSON struct {
	Incident int64          `json:"incident"`
	Run      string         `json:"run"`
	DryRun   bool           `json:"dry_run"`
	Host     string         `json:"host"`
	Target   string         `json:"target"`
	ID       string         `json:"id"`
	Action   string         `json:"action"`
	Commands [][]string     `json:"commands"`
	Verdict  any            `json:"verdict"`
	Jobs     []containJobJS `json:"jobs"`
}

type containJobJS struct {
	Job    string `json:"job"`
	Status string `json:"status"`
	SHA256 string `json:"sha256"`
}

func newContainCmd(a *app) *cobra.Command {
	var o pipeline.ContainOptions
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "contain INCIDENT (--suspect N | --container NAME | --pid PID | --vm NAME) [--action pause|stop|kill|suspend] [--dry-run] [--yes]",
		Short: "Stop an incident's culprit on its host, with snapshots before and after that prove it is contained",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			o.IncidentID, o.Operator = id, operatorName()
			if !o.Yes && !o.DryRun {
				o.Confirm = terminalConfirm(cmd.InOrStdin(), a.stderr)
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				r, err := env.pipeline.Contain(cmd.Context(), o)
				if err != nil {
					return err
				}
				if err := printContain(a.stdout, r, asJSON); err != nil {
					return err
				}
				// A script must not read NOT CONTAINED as success.
				if !r.DryRun && !r.Verdict.Contained {
					return errNotContained
				}
				return nil
			})
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.Suspect, "suspect", 0, "suspect N of the incident's latest triage run")
	f.StringVar(&o.Container, "container", "", "container name or id on the incident's host")
	f.IntVar(&o.PID, "pid", 0, "process (and its children) on the incident's host")
	f.StringVar(&o.VM, "vm", "", "VM on the host's hypervisor (virsh name or qm VMID)")
	f.StringVar(&o.Action, "action", "", "pause (default: docker pause, SIGSTOP), stop (docker stop), kill (docker kill; SIGSTOP then SIGKILL), suspend (VM, default)")
	f.BoolVar(&o.DryRun, "dry-run", false, "print what would run, change nothing")
	f.BoolVar(&o.Yes, "yes", false, "do it without asking")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

func newReleaseCmd(a *app) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "release INCIDENT",
		Short: "Undo the incident's latest pause or suspend, with a snapshot",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseID(args[0])
			if err != nil {
				return err
			}
			return a.withPipeline(cmd.Context(), func(env *env) error {
				r, err := env.pipeline.Release(cmd.Context(), id, operatorName())
				if err != nil {
					return err
				}
				return printContain(a.stdout, r, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	return cmd
}

// terminalConfirm asks on the terminal; nil (refuse) when stdin is none.
func terminalConfirm(in io.Reader, out io.Writer) func(pipeline.ContainPlan) (bool, error) {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	return func(p pipeline.ContainPlan) (bool, error) {
		printPlan(out, p)
		fmt.Fprint(out, "Type yes to go ahead: ")
		answer, err := bufio.NewReader(in).ReadString('\n')
		if err != nil && answer == "" {
			return false, fmt.Errorf("reading the answer: %w", err)
		}
		return strings.TrimSpace(answer) == "yes", nil
	}
}

func printPlan(w io.Writer, p pipeline.ContainPlan) {
	fmt.Fprintf(w, "Incident %d: %s on %s (id %s, state %s), action %s\n", p.IncidentID, line(p.Target), line(p.Host), line(p.ID), line(dash(p.State)), p.Action)
	fmt.Fprintln(w, "Would run:")
	for _, c := range p.Commands {
		fmt.Fprintf(w, "  %s\n", line(strings.Join(c, " ")))
	}
	fmt.Fprintln(w, "Before and after, read-only:")
	for _, c := range p.Snapshot {
		fmt.Fprintf(w, "  %s\n", line(strings.Join(c, " ")))
	}
}

func printContain(w io.Writer, r *pipeline.ContainResult, asJSON bool) error {
	if asJSON {
		out := containJSON{Incident: r.Plan.IncidentID, Run: r.Run, DryRun: r.DryRun, Host: r.Plan.Host, Target: r.Plan.Target,
			ID: r.Plan.ID, Action: r.Plan.Action, Commands: r.Plan.Commands, Jobs: []containJobJS{}}
		if out.Commands == nil {
			out.Commands = [][]string{}
		}
		if !r.DryRun {
			out.Verdict = r.Verdict
		}
		for _, j := range r.Jobs {
			out.Jobs = append(out.Jobs, containJobJS{Job: j.Job, Status: j.Status, SHA256: j.SHA256})
		}
		return writeJSON(w, out)
	}
	if r.DryRun {
		fmt.Fprintln(w, "Dry run: nothing was changed.")
		printPlan(w, r.Plan)
		return nil
	}
	fmt.Fprintln(w, line(r.Verdict.Summary))
	for _, s := range r.Verdict.Survivors {
		fmt.Fprintf(w, "  survivor pid %d %s sha256 %s: %s\n    %s\n", s.PID, line(dash(s.Exe)), dash(s.SHA256), line(s.Why), line(s.Args))
	}
	for _, t := range r.Verdict.Traffic {
		fmt.Fprintf(w, "  traffic: %s\n", line(t))
	}
	fmt.Fprintf(w, "Evidence (run %s; abusewatch triage show %d %s):\n", r.Run, r.Plan.IncidentID, r.Run)
	for _, j := range r.Jobs {
		fmt.Fprintf(w, "  %-16s %-7s sha256 %s\n", j.Job, j.Status, j.SHA256)
	}
	return nil
}
