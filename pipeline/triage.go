package pipeline

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// TriageRunner runs jobs against a target; triage.Runner is the real one.
type TriageRunner interface {
	Run(ctx context.Context, t triage.Target, jobs []config.Job) []triage.Result
}

// Triage is what the triage task needs: the jobs, the inventory that maps
// an IP to its host and hypervisor, and the runner.
type Triage struct {
	Config    config.Triage
	Inventory *triage.Inventory
	Runner    TriageRunner
}

// handleTriage runs the matching jobs on the incident's host and keeps their
// output as evidence; findings may raise the incident's severity.
func (p *Pipeline) handleTriage(ctx context.Context, t *store.Task) error {
	inc, err := p.store.Incident(ctx, t.IncidentID)
	if err != nil {
		return fmt.Errorf("triage: %w", err)
	}
	var pl triagePayload
	if len(t.Payload) > 0 {
		if err := json.Unmarshal(t.Payload, &pl); err != nil {
			return permanent(fmt.Errorf("triage: payload: %w", err))
		}
	}
	return p.runTriage(ctx, inc, t.Key, pl)
}

// runTriage runs the jobs for one run of an incident (all that apply, or
// those pl names) and records them with the trust that made the run happen.
func (p *Pipeline) runTriage(ctx context.Context, inc *store.IncidentDetail, run string, pl triagePayload) error {
	// The plan checked the target; checking again here keeps any way into a
	// run (an operator's, an old queued task) to our own addresses.
	ip, err := globalTarget(inc.IP)
	if err != nil {
		return permanent(fmt.Errorf("triage: incident %d: %w", inc.ID, err))
	}
	target := triage.Target{
		IncidentID: inc.ID, IP: ip, Provider: inc.Provider, Kind: inc.Kind, Attack: inc.Attack, Severity: inc.Severity,
	}
	if p.triage.Inventory != nil {
		target.Host, target.Hypervisor, _ = p.triage.Inventory.Lookup(ip)
	}
	jobs := onlyJobs(triage.Plan(p.triage.Config, target), pl.Jobs)
	if len(jobs) == 0 {
		return p.store.AddTimeline(ctx, inc.ID, "triage", fmt.Sprintf("no triage job applies to %s (not in the inventory?)", ip))
	}
	// A retry after a crash that followed the commit: the evidence, the
	// escalation and the news of both are in already.
	if done, err := p.store.TriageRecorded(ctx, run); err != nil || done {
		return err
	}
	results := p.triage.Runner.Run(ctx, target, jobs)
	if ctx.Err() != nil {
		return ctx.Err() // shutting down: run again later rather than keep half the evidence
	}
	rec := store.TriageRun{IncidentID: inc.ID, Run: run, Trigger: pl.Trigger}
	var findings []string
	for _, r := range results {
		rec.Evidence = append(rec.Evidence, store.Evidence{
			IncidentID: inc.ID, Job: r.Job, Host: r.Host, Where: r.Where, Status: r.Status, Argv: r.Argv,
			ExitCode: r.ExitCode, Output: r.Output, Dropped: r.Dropped, StartedAt: r.StartedAt, Duration: r.Duration,
			Findings: r.Findings, Error: r.Error,
		})
		rec.Raise = max(rec.Raise, r.RaiseSeverity)
		for _, f := range r.Findings {
			findings = append(findings, r.Job+": "+f)
		}
	}
	rec.Summary = fmt.Sprintf("triage ran %d job(s) on %s: %s", len(results), targetName(target), statusCounts(results))
	if pl.Trigger != "" {
		rec.Summary += "; triggered by " + pl.Trigger
	}
	rec.RaiseWhy = "triage findings: " + strings.Join(findings, "; ")
	after := inc.Incident
	_, err = p.store.RecordTriage(ctx, rec, func(raised bool) []store.NewTask {
		var tasks []store.NewTask
		if raised {
			after.Severity = rec.Raise
			tasks = p.eventTasks(&after, notify.IncidentEscalated, fmt.Sprintf("sev%d", rec.Raise), strings.Join(findings, "\n"))
		}
		return append(tasks, p.eventTasks(&after, notify.TriageFinished, run, rec.Summary+"\n"+strings.Join(findings, "\n"))...)
	})
	if err != nil {
		return err
	}
	p.wake()
	return nil
}

// onlyJobs keeps the jobs named in names; no names keeps them all.
func onlyJobs(jobs []config.Job, names []string) []config.Job {
	if len(names) == 0 {
		return jobs
	}
	var out []config.Job
	for _, j := range jobs {
		if slices.Contains(names, j.Name) {
			out = append(out, j)
		}
	}
	return out
}

func targetName(t triage.Target) string {
	if t.Host != nil {
		return t.Host.Name
	}
	return t.IP.String()
}

func statusCounts(results []triage.Result) string {
	counts := map[string]int{}
	var order []string
	for _, r := range results {
		if counts[r.Status] == 0 {
			order = append(order, r.Status)
		}
		counts[r.Status]++
	}
	parts := make([]string, 0, len(order))
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	return strings.Join(parts, ", ")
}
