package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/contain"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// ContainConnector opens a command channel to an inventory host;
// SSHConnector (triage's SSH, host keys pinned) is the real one.
type ContainConnector interface {
	Connect(ctx context.Context, h *config.Host) (ContainRemote, error)
}

// ContainRemote is a contain.Remote that can be closed.
type ContainRemote interface {
	contain.Remote
	Close() error
}

// SSHConnector connects through a triage.Runner.
type SSHConnector struct{ Runner *triage.Runner }

// Connect opens an SSH session to h.
func (c SSHConnector) Connect(ctx context.Context, h *config.Host) (ContainRemote, error) {
	return c.Runner.Connect(ctx, h)
}

// Contain is what `abusewatch contain` and `release` need: the inventory
// and a way onto its hosts. The daemon has no task that uses it:
// containment is only ever an operator's command.
type Contain struct {
	Inventory *triage.Inventory
	Connector ContainConnector
	// Settle is the wait before traffic is counted again (contain.DefaultSettle).
	Settle time.Duration
}

// ContainOptions is one `abusewatch contain` request. Exactly one of
// Suspect, Container, PID and VM names the target.
type ContainOptions struct {
	IncidentID int64
	Suspect    int // rank in the incident's latest triage run
	Container  string
	PID        int
	VM         string
	Action     string // "" = contain.DefaultAction
	DryRun     bool
	// Yes confirms without asking. Without it Confirm is asked; without
	// Confirm (no terminal) the request is refused.
	Yes     bool
	Confirm func(ContainPlan) (bool, error)
	// Operator names who asked, for the record.
	Operator string
}

// ContainPlan is what a containment will do, as --dry-run prints it and a
// confirmation shows it.
type ContainPlan struct {
	IncidentID int64
	Host       string
	Target     string // "container gitlab", "pid 5120", "vm web1"
	ID         string // container id, pid, VM name
	State      string
	Action     string
	// Commands are the action's commands; Snapshot the commands of each
	// snapshot (before and after), all read-only.
	Commands [][]string
	Snapshot [][]string
}

// ContainResult is a containment or release as it was recorded.
type ContainResult struct {
	Plan    ContainPlan
	DryRun  bool
	Run     string // the evidence run ("" for a dry run)
	Verdict contain.Verdict
	Jobs    []TriageJobView
}

// errNotConfirmed means the operator did not confirm a containment.
var errNotConfirmed = errors.New("not confirmed")

// containRecord is the verdict evidence of a contain or release run: what
// was done where, so that release can undo it.
type containRecord struct {
	Host     string          `json:"host"`
	Kind     string          `json:"kind"`
	Name     string          `json:"name"`
	ID       string          `json:"id"`
	PID      int             `json:"pid,omitempty"`
	Tool     string          `json:"tool,omitempty"`
	Action   string          `json:"action"`
	Operator string          `json:"operator"`
	Releases string          `json:"releases,omitempty"` // the contain run a release undoes
	Verdict  contain.Verdict `json:"verdict"`
}

// Evidence job names of a containment run.
const (
	jobContainBefore  = "contain:before"
	jobContainAct     = "contain:act"
	jobContainAfter   = "contain:after"
	jobContainVerdict = "contain:verdict"
	jobReleaseVerdict = "release:verdict"
)

// Contain stops an incident's culprit on its host with snapshots before and
// after, records both and the verdict as evidence, a timeline entry and a
// chat message. A dry run resolves the target (read-only commands) and
// returns the plan without changing anything.
func (p *Pipeline) Contain(ctx context.Context, o ContainOptions) (*ContainResult, error) {
	if p.contain == nil || p.contain.Connector == nil {
		return nil, errors.New("pipeline: contain: no inventory is configured (inventory:)")
	}
	d, err := p.store.Incident(ctx, o.IncidentID)
	if err != nil {
		return nil, fmt.Errorf("pipeline: contain: %w", err)
	}
	target, hostName, err := containTarget(d, o)
	if err != nil {
		return nil, fmt.Errorf("pipeline: contain: incident %d: %w", d.ID, err)
	}
	if err := target.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: contain: incident %d: %w", d.ID, err)
	}
	action := o.Action
	if action == "" {
		action = contain.DefaultAction(target.Kind)
	}
	if err := contain.CheckAction(target.Kind, action); err != nil {
		return nil, fmt.Errorf("pipeline: contain: %w", err)
	}
	host, err := p.containHost(d, target.Kind, hostName)
	if err != nil {
		return nil, fmt.Errorf("pipeline: contain: incident %d: %w", d.ID, err)
	}
	remote, err := p.contain.Connector.Connect(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("pipeline: contain: %w", err)
	}
	defer remote.Close()
	eng := contain.New(remote, contain.Options{Logger: p.log.With("component", "contain"), Now: p.now, Settle: p.contain.Settle})
	res, err := eng.Resolve(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("pipeline: contain: on %s: %w", host.Name, err)
	}
	plan := ContainPlan{IncidentID: d.ID, Host: host.Name, Target: target.String(), ID: res.ID, State: res.State, Action: action,
		Commands: contain.ActCommands(res, action, []int{res.PID}), Snapshot: contain.SnapshotCommands(res)}
	if o.DryRun {
		return &ContainResult{Plan: plan, DryRun: true}, nil
	}
	if !o.Yes {
		if o.Confirm == nil {
			return nil, fmt.Errorf("pipeline: contain: %w: pass --yes, or run it on a terminal to be asked", errNotConfirmed)
		}
		ok, err := o.Confirm(plan)
		if err != nil {
			return nil, fmt.Errorf("pipeline: contain: %w", err)
		}
		if !ok {
			return nil, fmt.Errorf("pipeline: contain: %w: nothing was done", errNotConfirmed)
		}
	}
	started := p.now()
	rep, err := eng.Contain(ctx, res, action, destinations(d.NoticeRecords))
	if err != nil {
		return nil, fmt.Errorf("pipeline: contain: %s on %s: %w", target, host.Name, err)
	}
	plan.Commands = make([][]string, len(rep.Act))
	for i, c := range rep.Act {
		plan.Commands[i] = c.Argv
	}
	rec := containRecord{Host: host.Name, Kind: target.Kind, Name: target.Name, ID: res.ID, PID: target.PID, Tool: res.Tool,
		Action: action, Operator: safeName(o.Operator), Verdict: rep.Verdict}
	run := fmt.Sprintf("contain:%d:%d", d.ID, started.UnixMilli())
	kind := notify.NotContained
	if rep.Verdict.Contained {
		kind = notify.Contained
	}
	if err := p.recordContain(ctx, d, run, "contain", started, rep, rec, kind); err != nil {
		return nil, err
	}
	return p.containResult(ctx, d.ID, run, plan, rep.Verdict)
}

// Release undoes the incident's latest pause or suspend that was not
// released yet, with a snapshot before and after.
func (p *Pipeline) Release(ctx context.Context, incidentID int64, operator string) (*ContainResult, error) {
	if p.contain == nil || p.contain.Connector == nil {
		return nil, errors.New("pipeline: release: no inventory is configured (inventory:)")
	}
	d, err := p.store.Incident(ctx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("pipeline: release: %w", err)
	}
	prev, prevRun, err := lastContainment(d)
	if err != nil {
		return nil, fmt.Errorf("pipeline: release: incident %d: %w", d.ID, err)
	}
	target := contain.Target{Kind: prev.Kind, Name: prev.Name, PID: prev.PID}
	if err := target.Validate(); err != nil {
		return nil, fmt.Errorf("pipeline: release: %w", err)
	}
	host, _, ok := p.contain.Inventory.Host(prev.Host)
	if !ok {
		return nil, fmt.Errorf("pipeline: release: %w: host %s of the containment is no longer in the inventory", contain.ErrRefused, prev.Host)
	}
	remote, err := p.contain.Connector.Connect(ctx, host)
	if err != nil {
		return nil, fmt.Errorf("pipeline: release: %w", err)
	}
	defer remote.Close()
	eng := contain.New(remote, contain.Options{Logger: p.log.With("component", "contain"), Now: p.now, Settle: p.contain.Settle})
	res, err := eng.Resolve(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("pipeline: release: on %s: %w", host.Name, err)
	}
	if res.Kind == contain.KindContainer && res.ID != prev.ID {
		return nil, fmt.Errorf("pipeline: release: %w: %s is now container %s, not the %s that was paused", contain.ErrRefused, target, res.ID, prev.ID)
	}
	started := p.now()
	rep, err := eng.Release(ctx, res, prev.Action)
	if err != nil {
		return nil, fmt.Errorf("pipeline: release: %s on %s: %w", target, host.Name, err)
	}
	rec := containRecord{Host: host.Name, Kind: target.Kind, Name: target.Name, ID: res.ID, PID: target.PID, Tool: res.Tool,
		Action: "release", Operator: safeName(operator), Releases: prevRun, Verdict: rep.Verdict}
	run := fmt.Sprintf("release:%d:%d", d.ID, started.UnixMilli())
	if err := p.recordContain(ctx, d, run, "release", started, rep, rec, notify.Released); err != nil {
		return nil, err
	}
	plan := ContainPlan{IncidentID: d.ID, Host: host.Name, Target: target.String(), ID: res.ID, State: rep.After.State, Action: "release"}
	for _, c := range rep.Act {
		plan.Commands = append(plan.Commands, c.Argv)
	}
	return p.containResult(ctx, d.ID, run, plan, rep.Verdict)
}

// recordContain stores a contain or release run: the snapshots, the
// action's commands and the verdict as evidence, the verdict on the
// timeline, and the chat message, in one transaction.
func (p *Pipeline) recordContain(ctx context.Context, d *store.IncidentDetail, run, word string, started time.Time,
	rep *contain.Report, rec containRecord, kind notify.EventKind) error {
	verdictJSON, err := json.MarshalIndent(rec, "", "  ")
	if err != nil {
		return fmt.Errorf("pipeline: %s: %w", word, err)
	}
	actStatus := triage.StatusOK
	var act strings.Builder
	if rep.Note != "" {
		fmt.Fprintln(&act, rep.Note)
	}
	for _, c := range rep.Act {
		fmt.Fprintf(&act, "==> $ %s (exit %d) <==\n%s%s", strings.Join(c.Argv, " "), c.Exit, c.Stdout, c.Stderr)
		if c.Error != "" {
			fmt.Fprintf(&act, "--- error: %s\n", c.Error)
		}
		if c.Exit != 0 || c.Error != "" {
			actStatus = triage.StatusFailed
		}
	}
	verdictStatus := triage.StatusFailed
	if rep.Verdict.Contained || rep.Verdict.Released {
		verdictStatus = triage.StatusOK
	}
	findings := []string{rep.Verdict.Summary}
	for _, s := range rep.Verdict.Survivors {
		findings = append(findings, fmt.Sprintf("survivor pid %d %s (sha256 %s): %s", s.PID, s.Exe, s.SHA256, s.Why))
	}
	findings = append(findings, rep.Verdict.Traffic...)
	ev := func(job, status string, out []byte, fs []string, at time.Time) store.Evidence {
		return store.Evidence{IncidentID: d.ID, Job: job, Host: rec.Host, Where: triage.WhereSSH, Status: status,
			Argv: []string{"abusewatch", word, strconv.FormatInt(d.ID, 10), rec.Kind, rec.ID, rec.Action}, ExitCode: 0,
			Output: out, StartedAt: at, Findings: fs}
	}
	actEv := ev(word+":act", actStatus, []byte(act.String()), nil, rep.Before.At)
	actEv.ExitCode = lastExit(rep.Act)
	tr := store.TriageRun{
		IncidentID: d.ID, Run: run, StartedAt: started, TimelineKind: word,
		Trigger: fmt.Sprintf("operator %s (abusewatch %s)", rec.Operator, word),
		Evidence: []store.Evidence{
			ev(word+":before", triage.StatusOK, rep.Before.Text(), nil, rep.Before.At),
			actEv,
			ev(word+":after", triage.StatusOK, rep.After.Text(), nil, rep.After.At),
			ev(word+":verdict", verdictStatus, append(verdictJSON, '\n'), findings, p.now()),
		},
		Summary: fmt.Sprintf("%s on %s by %s: %s", word, rec.Host, rec.Operator, rep.Verdict.Summary),
	}
	after := d.Incident
	if _, err := p.store.RecordTriage(ctx, tr, func(bool) []store.NewTask {
		return p.eventTasks(&after, kind, run, rep.Verdict.Summary)
	}); err != nil {
		return fmt.Errorf("pipeline: %s: %w", word, err)
	}
	p.wake()
	return nil
}

func lastExit(cs []contain.Command) int {
	if len(cs) == 0 {
		return -1
	}
	return cs[len(cs)-1].Exit
}

func (p *Pipeline) containResult(ctx context.Context, id int64, run string, plan ContainPlan, v contain.Verdict) (*ContainResult, error) {
	views, err := p.TriageRuns(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &ContainResult{Plan: plan, Run: run, Verdict: v}
	for _, rv := range views {
		if rv.Run == run {
			out.Jobs = rv.Jobs
		}
	}
	return out, nil
}

// containTarget is the target the options name, and the inventory host the
// suspect was seen on ("" for the incident's own host).
func containTarget(d *store.IncidentDetail, o ContainOptions) (contain.Target, string, error) {
	n := 0
	for _, set := range []bool{o.Suspect != 0, o.Container != "", o.PID != 0, o.VM != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return contain.Target{}, "", fmt.Errorf("%w: name exactly one target (--suspect, --container, --pid or --vm)", contain.ErrRefused)
	}
	switch {
	case o.Container != "":
		return contain.Target{Kind: contain.KindContainer, Name: o.Container}, "", nil
	case o.PID != 0:
		return contain.Target{Kind: contain.KindProcess, PID: o.PID}, "", nil
	case o.VM != "":
		return contain.Target{Kind: contain.KindVM, Name: o.VM}, "", nil
	}
	run, ok := latestTriageRun(d)
	if !ok {
		return contain.Target{}, "", fmt.Errorf("%w: --suspect %d: the incident has no triage run (abusewatch triage run %d)", contain.ErrRefused, o.Suspect, d.ID)
	}
	i := slices.IndexFunc(run.Suspects, func(s store.Suspect) bool { return s.Rank == o.Suspect })
	if i < 0 {
		return contain.Target{}, "", fmt.Errorf("%w: --suspect %d: triage run %s has %d suspect(s)", contain.ErrRefused, o.Suspect, run.Run, len(run.Suspects))
	}
	s := run.Suspects[i]
	switch {
	case s.Container != "":
		return contain.Target{Kind: contain.KindContainer, Name: s.Container}, s.Host, nil
	case s.Kind == contain.KindContainer:
		return contain.Target{Kind: contain.KindContainer, Name: s.Name}, s.Host, nil
	case s.Kind == contain.KindVM || s.VM != "":
		name := s.VM
		if name == "" {
			name = s.Name
		}
		return contain.Target{Kind: contain.KindVM, Name: name}, s.Host, nil
	case s.Kind == contain.KindProcess && s.PID > 0:
		return contain.Target{Kind: contain.KindProcess, PID: s.PID}, s.Host, nil
	}
	return contain.Target{}, "", fmt.Errorf("%w: --suspect %d is a %s (%s): not a container, process or VM",
		contain.ErrRefused, o.Suspect, s.Kind, Printable(s.Name, 80))
}

// latestTriageRun is the newest run that is not itself a containment.
func latestTriageRun(d *store.IncidentDetail) (store.TriageRunRecord, bool) {
	for i := len(d.Runs) - 1; i >= 0; i-- {
		r := d.Runs[i]
		if !strings.HasPrefix(r.Run, "contain:") && !strings.HasPrefix(r.Run, "release:") {
			return r, true
		}
	}
	return store.TriageRunRecord{}, false
}

// containHost is the machine to act on: for a VM the incident host's
// hypervisor, else the incident's host (or the one a suspect names). It
// must be in the inventory.
func (p *Pipeline) containHost(d *store.IncidentDetail, kind, named string) (*config.Host, error) {
	if p.contain.Inventory == nil {
		return nil, fmt.Errorf("%w: no inventory", contain.ErrRefused)
	}
	ip, err := globalTarget(d.IP)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", contain.ErrRefused, err)
	}
	host, hv, ok := p.contain.Inventory.Lookup(ip)
	if !ok {
		return nil, fmt.Errorf("%w: %s is not in the inventory", contain.ErrRefused, ip)
	}
	if named != "" && named != host.Name && (hv == nil || named != hv.Name) {
		if host, hv, ok = p.contain.Inventory.Host(named); !ok {
			return nil, fmt.Errorf("%w: host %s of the suspect is not in the inventory", contain.ErrRefused, Printable(named, 80))
		}
	}
	if kind == contain.KindVM {
		if named != "" && hv == nil {
			return host, nil // the suspect was seen on the hypervisor itself
		}
		if hv == nil {
			return nil, fmt.Errorf("%w: the inventory names no hypervisor for %s", contain.ErrRefused, host.Name)
		}
		return hv, nil
	}
	return host, nil
}

// destinations are the addresses the incident's notices saw our IP send to.
func destinations(notices []store.NoticeRecord) []netip.Addr {
	var out []netip.Addr
	for _, n := range notices {
		var evs []parser.Event
		if len(n.Events) == 0 || json.Unmarshal(n.Events, &evs) != nil {
			continue
		}
		for _, e := range evs {
			var a netip.Addr
			if ap, err := netip.ParseAddrPort(e.Dst); err == nil {
				a = ap.Addr()
			} else if a, err = netip.ParseAddr(e.Dst); err != nil {
				continue
			}
			a = a.Unmap().WithZone("")
			if !slices.Contains(out, a) {
				out = append(out, a)
			}
		}
	}
	return out
}

// lastContainment is the newest contain run of d that paused or suspended
// and was not released since.
func lastContainment(d *store.IncidentDetail) (containRecord, string, error) {
	released := map[string]bool{}
	for i := len(d.Evidence) - 1; i >= 0; i-- {
		e := d.Evidence[i]
		var rec containRecord
		switch e.Job {
		case jobReleaseVerdict:
			if json.Unmarshal(e.Output, &rec) == nil && rec.Verdict.Released {
				released[rec.Releases] = true
			}
		case jobContainVerdict:
			if err := json.Unmarshal(e.Output, &rec); err != nil {
				return containRecord{}, "", fmt.Errorf("containment %s: verdict: %w", e.Run, err)
			}
			if released[e.Run] {
				return containRecord{}, "", fmt.Errorf("%w: the latest containment (%s) was released already", contain.ErrRefused, e.Run)
			}
			if !contain.Releasable(rec.Action) {
				return containRecord{}, "", fmt.Errorf("%w: the latest containment (%s) was a %s, which cannot be undone", contain.ErrRefused, e.Run, rec.Action)
			}
			return rec, e.Run, nil
		}
	}
	return containRecord{}, "", fmt.Errorf("%w: nothing was contained (abusewatch contain)", contain.ErrRefused)
}
