package pipeline

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/providers"
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
		Flows: noticeFlows(inc, ip), Since: inc.FirstSeen.Add(-changesWindow),
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
	var suspects []triage.Suspect
	for _, r := range results {
		suspects = append(suspects, r.Suspects...)
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
	if vm, err := p.virtualMachine(ctx, ip); err != nil {
		findings = append(findings, "virtual MAC: "+err.Error())
	} else if vm != nil {
		suspects = append(suspects, *vm)
	}
	for i, sp := range triage.RankSuspects(suspects) {
		rec.Suspects = append(rec.Suspects, store.Suspect{Rank: i + 1, Kind: sp.Kind, Name: sp.Name, Host: sp.Host, PID: sp.PID,
			User: sp.User, Exe: sp.Exe, Container: sp.Container, VM: sp.VM, Why: sp.Why})
	}
	rec.Summary = fmt.Sprintf("triage ran %d job(s) on %s: %s", len(results), targetName(target), statusCounts(results))
	if pl.Trigger != "" {
		rec.Summary += "; triggered by " + pl.Trigger
	}
	news := rec.Summary
	if len(rec.Suspects) > 0 {
		// The culprit is the news: it comes first, in chat as on the timeline.
		news = SuspectLine(rec.Suspects[0]) + "\n" + news
		rec.Summary += "; " + SuspectLine(rec.Suspects[0])
	}
	rec.RaiseWhy = "triage findings: " + strings.Join(findings, "; ")
	after := inc.Incident
	_, err = p.store.RecordTriage(ctx, rec, func(raised bool) []store.NewTask {
		var tasks []store.NewTask
		if raised {
			after.Severity = rec.Raise
			tasks = p.eventTasks(&after, notify.IncidentEscalated, fmt.Sprintf("sev%d", rec.Raise), strings.Join(findings, "\n"))
		}
		return append(tasks, p.eventTasks(&after, notify.TriageFinished, run, news+"\n"+strings.Join(findings, "\n"))...)
	})
	if err != nil {
		return err
	}
	p.wake()
	return nil
}

// vmResolver names the VM that holds an IP as the provider sees it (OVH
// virtual MACs); providers.Registry is one.
type vmResolver interface {
	VirtualMachine(ctx context.Context, ip netip.Addr) (*providers.VirtualMachine, error)
}

// vmLookupTimeout bounds the provider's answer: the checks' suspects do not
// wait long for it.
const vmLookupTimeout = 15 * time.Second

// vmScore ranks the provider's VM above what the checks find on a machine:
// when an IP is a VM's, that VM is what sent the traffic.
const vmScore = 300

// virtualMachine asks the provider which VM holds ip; nil when the
// provider cannot tell or the IP is on none.
func (p *Pipeline) virtualMachine(ctx context.Context, ip netip.Addr) (*triage.Suspect, error) {
	r, ok := p.providers.(vmResolver)
	if !ok {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, vmLookupTimeout)
	defer cancel()
	vm, err := r.VirtualMachine(ctx, ip)
	if err != nil || vm == nil {
		return nil, err
	}
	return &triage.Suspect{Kind: "vm", Name: vm.Name, Host: vm.Server, VM: vm.Name, Score: vmScore,
		Why: []string{fmt.Sprintf("%s: %s is on virtual MAC %s (%s) of %s, given to the VM named %q", vm.Provider, ip, vm.MAC, vm.MACType, vm.Server, vm.Name)}}, nil
}

// changesWindow is how long before an incident's first notice account
// and key changes count as suspicious.
const changesWindow = 7 * 24 * time.Hour

// maxFlows bounds the notice events the culprit checks look for.
const maxFlows = 64

// noticeFlows reads the events of an incident's notices as the flows the
// culprit checks look for. Only what parses strictly is kept (addresses
// by netip, ports as integers, protocols from a fixed list); the source
// port counts only when the source is the incident's own address.
func noticeFlows(inc *store.IncidentDetail, ip netip.Addr) []triage.Flow {
	var flows []triage.Flow
	seen := map[triage.Flow]bool{}
	for _, n := range inc.NoticeRecords {
		var events []parser.Event
		if len(n.Events) == 0 || json.Unmarshal(n.Events, &events) != nil {
			continue
		}
		for _, e := range events {
			f := triage.Flow{}
			switch p := strings.ToLower(e.Proto); p {
			case "udp", "tcp", "icmp":
				f.Proto = p
			}
			if src, err := netip.ParseAddrPort(e.Src); err == nil && src.Addr().Unmap() == ip {
				f.SrcPort = src.Port()
			}
			if dst, err := netip.ParseAddrPort(e.Dst); err == nil {
				f.Dst, f.DstPort = dst.Addr().Unmap(), dst.Port()
			} else if a, err := netip.ParseAddr(e.Dst); err == nil && a.Zone() == "" {
				f.Dst = a.Unmap()
			}
			if f.Dst.Zone() != "" || seen[f] || (!f.Dst.IsValid() && f.SrcPort == 0) {
				continue
			}
			seen[f] = true
			flows = append(flows, f)
			if len(flows) == maxFlows {
				return flows
			}
		}
	}
	return flows
}

// SuspectLine is the one line that names a suspect, for chat, the timeline
// and the terminal (each escapes it for where it goes):
// "suspect: container gitlab — pid 4242 /tmp/.x/wate, 812 socket(s) to 203.0.113.50:80".
func SuspectLine(s store.Suspect) string {
	line := "suspect: " + s.Kind + " " + s.Name
	switch {
	case s.Kind == "process" && s.Container != "":
		line = fmt.Sprintf("suspect: process %s (pid %d) in container %s", s.Name, s.PID, s.Container)
	case s.Kind == "process":
		line = fmt.Sprintf("suspect: process %s (pid %d) on %s", s.Name, s.PID, cmp.Or(s.Host, "this machine"))
	}
	if len(s.Why) > 0 {
		line += " — " + s.Why[0]
	}
	return line
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
	statuses := make([]string, len(results))
	for i, r := range results {
		statuses[i] = r.Status
	}
	return countStatuses(statuses)
}

// Summary says how many jobs of the run ended how: "3 job(s): 2 ok, 1 failed".
func (v TriageRunView) Summary() string {
	statuses := make([]string, len(v.Jobs))
	for i, j := range v.Jobs {
		statuses[i] = j.Status
	}
	return fmt.Sprintf("%d job(s): %s", len(v.Jobs), countStatuses(statuses))
}

// countStatuses counts statuses in the order they first appear: "2 ok, 1 failed".
func countStatuses(statuses []string) string {
	counts := map[string]int{}
	var order []string
	for _, s := range statuses {
		if counts[s] == 0 {
			order = append(order, s)
		}
		counts[s]++
	}
	parts := make([]string, 0, len(order))
	for _, s := range order {
		parts = append(parts, fmt.Sprintf("%d %s", counts[s], s))
	}
	return strings.Join(parts, ", ")
}

// TriageJobView is one job of a run as `triage show` presents it.
type TriageJobView struct {
	Job, Host, Where, Status string
	ExitCode                 int
	SHA256                   string // of the output as kept
	Findings                 []string
	Output                   []byte
	Dropped                  int64
	Error                    string
}

// TriageRunView is one triage run of an incident: why it ran, each job's
// outcome, and what its checks implicate (best first).
type TriageRunView struct {
	Run       string
	StartedAt time.Time
	Trigger   string
	Jobs      []TriageJobView
	Suspects  []store.Suspect
}

// TriageRuns lists an incident's triage runs, oldest first.
func (p *Pipeline) TriageRuns(ctx context.Context, incidentID int64) ([]TriageRunView, error) {
	d, err := p.store.Incident(ctx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("pipeline: triage runs: %w", err)
	}
	return TriageViews(d), nil
}

// TriageViews groups an incident's evidence by run. Evidence recorded
// before runs were (no run row) forms runs of its own, by its run key.
func TriageViews(d *store.IncidentDetail) []TriageRunView {
	var views []TriageRunView
	index := map[string]int{}
	for _, r := range d.Runs {
		index[r.Run] = len(views)
		views = append(views, TriageRunView{Run: r.Run, StartedAt: r.StartedAt, Trigger: r.Trigger, Suspects: r.Suspects})
	}
	for _, e := range d.Evidence {
		i, ok := index[e.Run]
		if !ok {
			i = len(views)
			index[e.Run] = i
			views = append(views, TriageRunView{Run: e.Run, StartedAt: e.StartedAt})
		}
		sum := sha256.Sum256(e.Output)
		views[i].Jobs = append(views[i].Jobs, TriageJobView{
			Job: e.Job, Host: e.Host, Where: e.Where, Status: e.Status, ExitCode: e.ExitCode,
			SHA256: hex.EncodeToString(sum[:]), Findings: e.Findings, Output: e.Output, Dropped: e.Dropped, Error: e.Error,
		})
	}
	return views
}

// safeName keeps a user name fit for the record and for chat: letters,
// digits and ._-@ only, at most 64 of them.
func safeName(name string) string {
	name = strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("._-@", r) {
			return r
		}
		return -1
	}, name)
	if r := []rune(name); len(r) > 64 {
		name = string(r[:64])
	}
	if name == "" {
		return "unknown"
	}
	return name
}

// errNoTriageJob means no configured job applies to the incident's target.
var errNoTriageJob = errors.New("no triage job applies")

// RunTriageNow runs the triage jobs of an incident at once, as the named
// operator asked (all that apply, or only those named), and records the run
// as the operator's. Only the address check stands between an operator and
// the run: the operator is the trust.
func (p *Pipeline) RunTriageNow(ctx context.Context, incidentID int64, jobs []string, operator string) (TriageRunView, error) {
	if p.triage == nil {
		return TriageRunView{}, fmt.Errorf("pipeline: triage run: no triage jobs are configured (triage.jobs or triage.kit)")
	}
	d, err := p.store.Incident(ctx, incidentID)
	if err != nil {
		return TriageRunView{}, fmt.Errorf("pipeline: triage run: %w", err)
	}
	run := fmt.Sprintf("triage:%d:operator:%d", incidentID, p.now().UnixMilli())
	pl := triagePayload{Trigger: "operator " + safeName(operator) + " (abusewatch triage run)", Jobs: jobs}
	if err := p.runTriage(ctx, d, run, pl); err != nil {
		return TriageRunView{}, fmt.Errorf("pipeline: triage run: %w", err)
	}
	views, err := p.TriageRuns(ctx, incidentID)
	if err != nil {
		return TriageRunView{}, err
	}
	for _, v := range views {
		if v.Run == run {
			return v, nil
		}
	}
	return TriageRunView{}, fmt.Errorf("pipeline: triage run of incident %d: %w to %s (is it in the inventory? jobs %v)", incidentID, errNoTriageJob, d.IP, jobs)
}
