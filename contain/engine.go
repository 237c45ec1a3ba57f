package contain

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultSettle is how long the traffic recount waits after the after
// snapshot: long enough for a flood to show on the counters.
const DefaultSettle = 3 * time.Second

// Options are an Engine's dependencies.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of the snapshots (default time.Now).
	Now func() time.Time
	// Settle is the wait before traffic is counted again (default DefaultSettle).
	Settle time.Duration
}

// Engine contains targets on one host through a Remote.
type Engine struct {
	r      Remote
	log    *slog.Logger
	now    func() time.Time
	settle time.Duration
}

// New returns an Engine that runs its commands through r.
func New(r Remote, opts Options) *Engine {
	e := &Engine{r: r, log: opts.Logger, now: opts.Now, settle: opts.Settle}
	if e.log == nil {
		e.log = slog.New(slog.DiscardHandler)
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.settle <= 0 {
		e.settle = DefaultSettle
	}
	return e
}

// Resolved is a target found on the host: exactly one container, process or VM.
type Resolved struct {
	Target
	// ID is the container's full id, the VM's name or VMID, the PID.
	ID string
	// Tool is what manages a VM there: "virsh" or "qm".
	Tool string
	// State is the container's or VM's state when it was resolved.
	State string
	// ifindexes are the host-side interfaces of the target, found by the
	// first snapshot (a stopped container no longer tells).
	ifindexes []int
	ifnames   []string
}

// Resolve finds t on the host and refuses (ErrRefused) anything but
// exactly one match. It runs only commands that change nothing.
func (e *Engine) Resolve(ctx context.Context, t Target) (*Resolved, error) {
	if err := t.Validate(); err != nil {
		return nil, err
	}
	rc := &recorder{r: e.r}
	res := &Resolved{Target: t}
	switch t.Kind {
	case KindContainer:
		c, err := rc.run(ctx, "docker", "inspect", "--type", "container", "--format", "{{.Id}} {{.State.Status}}", t.Name)
		if err != nil {
			return nil, fmt.Errorf("container %s: %w", t.Name, err)
		}
		lines := nonEmptyLines(c.Stdout)
		if c.Exit != 0 || len(lines) != 1 {
			return nil, fmt.Errorf("%w: container %s: not exactly one container on the host (docker inspect exit %d: %s)",
				ErrRefused, t.Name, c.Exit, firstLine(c.Stderr))
		}
		f := strings.Fields(lines[0])
		if len(f) != 2 || !containerRE.MatchString(f[0]) {
			return nil, fmt.Errorf("container %s: unexpected docker inspect output %q", t.Name, firstLine(c.Stdout))
		}
		res.ID, res.State = f[0], f[1]
	case KindProcess:
		c, err := rc.run(ctx, "ps", "-o", "pid=", "-p", strconv.Itoa(t.PID))
		if err != nil {
			return nil, fmt.Errorf("pid %d: %w", t.PID, err)
		}
		if c.Exit != 0 || strings.TrimSpace(c.Stdout) != strconv.Itoa(t.PID) {
			return nil, fmt.Errorf("%w: pid %d: no such process on the host", ErrRefused, t.PID)
		}
		res.ID = strconv.Itoa(t.PID)
	case KindVM:
		res.ID = t.Name
		c, err := rc.run(ctx, "virsh", "domstate", t.Name)
		if err != nil {
			return nil, fmt.Errorf("vm %s: %w", t.Name, err)
		}
		switch {
		case c.Exit == 0:
			res.Tool, res.State = "virsh", strings.TrimSpace(c.Stdout)
		case c.Exit == 127: // no libvirt: a Proxmox host names VMs by number
			if _, err := strconv.Atoi(t.Name); err != nil {
				return nil, fmt.Errorf("%w: vm %s: no virsh on the host, and qm needs a numeric VMID", ErrRefused, t.Name)
			}
			c, err := rc.run(ctx, "qm", "status", t.Name, "--verbose")
			if err != nil {
				return nil, fmt.Errorf("vm %s: %w", t.Name, err)
			}
			if c.Exit != 0 {
				return nil, fmt.Errorf("%w: vm %s: not a VM on the hypervisor (qm status exit %d: %s)", ErrRefused, t.Name, c.Exit, firstLine(c.Stderr))
			}
			res.Tool, res.State = "qm", qmState(c.Stdout)
		default:
			return nil, fmt.Errorf("%w: vm %s: not a VM on the hypervisor (virsh domstate exit %d: %s)", ErrRefused, t.Name, c.Exit, firstLine(c.Stderr))
		}
	}
	return res, nil
}

// qmState reads `qm status --verbose`: qmpstatus tells paused from running.
func qmState(out string) string {
	state := ""
	for _, line := range nonEmptyLines(out) {
		k, v, _ := strings.Cut(line, ":")
		switch strings.TrimSpace(k) {
		case "qmpstatus":
			return strings.TrimSpace(v)
		case "status":
			state = strings.TrimSpace(v)
		}
	}
	return state
}

// ActCommands are the commands that carry out action on res, in order.
// pids is the process tree for a process target.
func ActCommands(res *Resolved, action string, pids []int) [][]string {
	switch res.Kind {
	case KindContainer:
		return [][]string{{"docker", action, res.ID}}
	case KindProcess:
		stop := append([]string{"kill", "-s", "STOP", "--"}, pidStrings(pids)...)
		if action == ActionKill {
			return [][]string{stop, append([]string{"kill", "-s", "KILL", "--"}, pidStrings(pids)...)}
		}
		return [][]string{stop}
	case KindVM:
		return [][]string{{res.Tool, "suspend", res.ID}}
	}
	return nil
}

// releaseCommands undo a pause or suspend.
func releaseCommands(res *Resolved, pids []int) [][]string {
	switch res.Kind {
	case KindContainer:
		return [][]string{{"docker", "unpause", res.ID}}
	case KindProcess:
		return [][]string{append([]string{"kill", "-s", "CONT", "--"}, pidStrings(pids)...)}
	case KindVM:
		return [][]string{{res.Tool, "resume", res.ID}}
	}
	return nil
}

// pidStrings keeps pids above 1: "kill -- -1" or "kill 1" must never be written.
func pidStrings(pids []int) []string {
	var s []string
	for _, p := range pids {
		if p > 1 {
			s = append(s, strconv.Itoa(p))
		}
	}
	return s
}

// Snapshot records the host around res: its state, its processes, every
// process of the host with its executable's sha256, sockets and the
// target's interface counters.
func (e *Engine) Snapshot(ctx context.Context, res *Resolved) (*Snapshot, error) {
	rc := &recorder{r: e.r}
	s := &Snapshot{At: e.now()}
	var err error
	if s.State, err = e.state(ctx, rc, res); err != nil {
		return nil, err
	}
	c, err := rc.run(ctx, psArgv...)
	if err != nil {
		return nil, err
	}
	if c.Exit != 0 {
		return nil, fmt.Errorf("ps exited %d: %s", c.Exit, firstLine(c.Stderr))
	}
	s.Processes = parsePS(c.Stdout)
	if s.Target, err = e.targetPIDs(ctx, rc, res, s); err != nil {
		return nil, err
	}
	if err := e.hashes(ctx, rc, s); err != nil {
		return nil, err
	}
	if c, err = rc.run(ctx, "ss", "-tunapH"); err != nil {
		return nil, err
	}
	s.Sockets = parseSS(c.Stdout)
	if err := e.interfaces(ctx, rc, res, s); err != nil {
		return nil, err
	}
	s.Commands = rc.commands
	return s, nil
}

func (e *Engine) state(ctx context.Context, rc *recorder, res *Resolved) (string, error) {
	var argv []string
	switch {
	case res.Kind == KindContainer:
		argv = []string{"docker", "inspect", "--type", "container", "--format", "{{.State.Status}}", res.ID}
	case res.Kind == KindVM && res.Tool == "virsh":
		argv = []string{"virsh", "domstate", res.ID}
	case res.Kind == KindVM:
		argv = []string{"qm", "status", res.ID, "--verbose"}
	default:
		return "", nil
	}
	c, err := rc.run(ctx, argv...)
	switch {
	case err != nil:
		return "", err
	case c.Exit != 0:
		return "gone", nil
	case res.Tool == "qm":
		return qmState(c.Stdout), nil
	}
	return strings.TrimSpace(c.Stdout), nil
}

// targetPIDs lists the target's processes: docker top for a container, the
// pid file of the VM's QEMU, and for a process (and QEMU) its descendants.
func (e *Engine) targetPIDs(ctx context.Context, rc *recorder, res *Resolved, s *Snapshot) ([]int, error) {
	var roots []int
	switch res.Kind {
	case KindContainer:
		if s.State == "gone" || s.State == "exited" || s.State == "created" {
			return nil, nil
		}
		c, err := rc.run(ctx, "docker", "top", res.ID, "-eo", "pid,ppid,user,stat,args")
		if err != nil {
			return nil, err
		}
		var pids []int
		for _, line := range nonEmptyLines(c.Stdout) {
			f := strings.Fields(line)
			if pid, err := strconv.Atoi(f[0]); err == nil {
				pids = append(pids, pid)
			}
		}
		slices.Sort(pids)
		return pids, nil
	case KindProcess:
		roots = []int{res.PID}
	case KindVM:
		file := "/run/libvirt/qemu/" + res.ID + ".pid"
		if res.Tool == "qm" {
			file = "/run/qemu-server/" + res.ID + ".pid"
		}
		c, err := rc.run(ctx, "cat", file)
		if err != nil {
			return nil, err
		}
		if pid, err := strconv.Atoi(strings.TrimSpace(c.Stdout)); err == nil && c.Exit == 0 {
			roots = []int{pid}
		}
	}
	return tree(s.Processes, roots), nil
}

// tree is roots (those still alive) and all their descendants.
func tree(ps []Process, roots []int) []int {
	children := map[int][]int{}
	alive := map[int]bool{}
	for _, p := range ps {
		children[p.PPID] = append(children[p.PPID], p.PID)
		alive[p.PID] = true
	}
	var out []int
	seen := map[int]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		if seen[pid] || !alive[pid] {
			continue
		}
		seen[pid] = true
		out = append(out, pid)
		queue = append(queue, children[pid]...)
	}
	slices.Sort(out)
	return out
}

// hashes fills in each process's executable and its sha256, hashing each
// file once per mount namespace and path.
func (e *Engine) hashes(ctx context.Context, rc *recorder, s *Snapshot) error {
	var pids []int
	for _, p := range s.Processes {
		if !kernelThread(p) {
			pids = append(pids, p.PID)
		}
	}
	if len(pids) == 0 {
		return nil
	}
	// ls exits non-zero for processes that ended meanwhile; what it could
	// read is still right.
	c, err := rc.run(ctx, append([]string{"ls", "-l"}, pidArgs(pids, "exe", "ns/mnt")...)...)
	if err != nil {
		return err
	}
	exe, mnt := parseLinks(c.Stdout)
	type fileKey struct{ mnt, exe string }
	first := map[fileKey]int{}
	var hashPIDs []int
	for _, pid := range pids {
		if exe[pid] == "" {
			continue
		}
		k := fileKey{mnt[pid], exe[pid]}
		if _, ok := first[k]; !ok {
			first[k] = pid
			hashPIDs = append(hashPIDs, pid)
		}
	}
	sums := map[int]string{}
	if len(hashPIDs) > 0 {
		c, err := rc.run(ctx, append([]string{"sha256sum", "--"}, pidArgs(hashPIDs, "exe")...)...)
		if err != nil {
			return err
		}
		sums = parseSums(c.Stdout)
	}
	for i := range s.Processes {
		p := &s.Processes[i]
		p.Exe, p.MntNS = exe[p.PID], mnt[p.PID]
		if p.Exe != "" {
			p.SHA256 = sums[first[fileKey{p.MntNS, p.Exe}]]
		}
	}
	return nil
}

// interfaces records the counters of the target's host-side interfaces.
// The first snapshot finds them; later ones reuse what it found.
func (e *Engine) interfaces(ctx context.Context, rc *recorder, res *Resolved, s *Snapshot) error {
	if res.ifindexes == nil && res.ifnames == nil {
		if err := e.findInterfaces(ctx, rc, res, s); err != nil {
			return err
		}
	}
	if len(res.ifindexes) == 0 && len(res.ifnames) == 0 {
		return nil
	}
	ifs, err := e.counters(ctx, rc, res)
	if err != nil {
		return err
	}
	s.Interfaces = ifs
	return nil
}

func (e *Engine) counters(ctx context.Context, rc *recorder, res *Resolved) ([]Interface, error) {
	c, err := rc.run(ctx, "ip", "-j", "-s", "link", "show")
	if err != nil {
		return nil, err
	}
	all, err := parseLinksJSON(c.Stdout)
	if err != nil {
		return nil, err
	}
	var ifs []Interface
	for _, i := range all {
		if slices.Contains(res.ifindexes, i.Index) || slices.Contains(res.ifnames, i.Name) {
			ifs = append(ifs, i)
		}
	}
	return ifs, nil
}

// findInterfaces: a container's interfaces are in its network namespace,
// whose sysfs (seen through its init's root) gives each one's peer index
// on the host; a VM's taps are named by libvirt, or tap<VMID>i<N> by Proxmox.
func (e *Engine) findInterfaces(ctx context.Context, rc *recorder, res *Resolved, s *Snapshot) error {
	res.ifindexes, res.ifnames = []int{}, []string{}
	switch {
	case res.Kind == KindContainer && len(s.Target) > 0:
		root := "/proc/" + strconv.Itoa(s.Target[0]) + "/root/sys/class/net/"
		c, err := rc.run(ctx, "ls", "-1", root)
		if err != nil {
			return err
		}
		for _, name := range nonEmptyLines(c.Stdout) {
			if name == "lo" || !ifaceRE.MatchString(name) {
				continue
			}
			c, err := rc.run(ctx, "cat", root+name+"/ifindex", root+name+"/iflink")
			if err != nil {
				return err
			}
			// A veth's iflink is its peer's index on the host; an interface
			// whose iflink is its own index is no pair: the container shares
			// the host's network (--network host), whose counters say
			// nothing about it.
			f := strings.Fields(c.Stdout)
			if c.Exit != 0 || len(f) != 2 || f[0] == f[1] {
				continue
			}
			if idx, err := strconv.Atoi(f[1]); err == nil {
				res.ifindexes = append(res.ifindexes, idx)
			}
		}
	case res.Kind == KindVM && res.Tool == "virsh":
		c, err := rc.run(ctx, "virsh", "domiflist", res.ID)
		if err != nil {
			return err
		}
		for _, line := range nonEmptyLines(c.Stdout) {
			f := strings.Fields(line)
			if len(f) > 0 && ifaceRE.MatchString(f[0]) && f[0] != "Interface" && !strings.HasPrefix(f[0], "-") {
				res.ifnames = append(res.ifnames, f[0])
			}
		}
	case res.Kind == KindVM:
		for i := range 8 {
			res.ifnames = append(res.ifnames, "tap"+res.ID+"i"+strconv.Itoa(i))
		}
	}
	return nil
}

// Report is one containment or release: both snapshots, what ran and the verdict.
type Report struct {
	Resolved *Resolved
	Action   string
	Before   *Snapshot
	Act      []Command
	// Note says why the action ran nothing (the target was paused already).
	Note    string
	After   *Snapshot
	Verdict Verdict
}

// Contain snapshots the host, carries out action on res, snapshots again,
// counts traffic once more after the settle time, and judges.
// destinations are the notice's destination addresses.
func (e *Engine) Contain(ctx context.Context, res *Resolved, action string, destinations []netip.Addr) (*Report, error) {
	if err := CheckAction(res.Kind, action); err != nil {
		return nil, err
	}
	rep := &Report{Resolved: res, Action: action}
	var err error
	if rep.Before, err = e.Snapshot(ctx, res); err != nil {
		return nil, fmt.Errorf("before snapshot: %w", err)
	}
	if res.Kind == KindProcess && len(rep.Before.Target) == 0 {
		return nil, fmt.Errorf("%w: pid %d ended before it could be stopped", ErrRefused, res.PID)
	}
	rc := &recorder{r: e.r}
	if already(res, action, rep.Before.State) {
		// docker pause of a paused container fails; checking it again is
		// what a second contain is for.
		rep.Note = fmt.Sprintf("%s was %s already: nothing run", res.Target, rep.Before.State)
	} else {
		for _, argv := range ActCommands(res, action, rep.Before.Target) {
			c, err := rc.run(ctx, argv...)
			if err != nil || c.Exit != 0 {
				break
			}
		}
	}
	rep.Act = rc.commands
	e.log.Info("contain: acted", "target", res.Target.String(), "action", action, "commands", len(rep.Act))
	if rep.After, err = e.Snapshot(ctx, res); err != nil {
		return nil, fmt.Errorf("after snapshot: %w", err)
	}
	recount, err := e.recount(ctx, res)
	if err != nil {
		return nil, fmt.Errorf("traffic recount: %w", err)
	}
	rep.Verdict = judge(res, action, rep.Before, rep.Act, rep.After, recount, destinations)
	return rep, nil
}

// already: pausing what is paused would fail and change nothing.
func already(res *Resolved, action, state string) bool {
	switch res.Kind {
	case KindContainer:
		return action == ActionPause && state == "paused"
	case KindVM:
		return state == "paused"
	}
	return false
}

// recount waits the settle time and reads sockets and counters again.
func (e *Engine) recount(ctx context.Context, res *Resolved) (*Snapshot, error) {
	t := time.NewTimer(e.settle)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-t.C:
	}
	rc := &recorder{r: e.r}
	s := &Snapshot{At: e.now()}
	c, err := rc.run(ctx, "ss", "-tunapH")
	if err != nil {
		return nil, err
	}
	s.Sockets = parseSS(c.Stdout)
	if len(res.ifindexes) > 0 || len(res.ifnames) > 0 {
		if s.Interfaces, err = e.counters(ctx, rc, res); err != nil {
			return nil, err
		}
	}
	s.Commands = rc.commands
	return s, nil
}

// Release undoes a pause or suspend of res, with a snapshot before and after.
func (e *Engine) Release(ctx context.Context, res *Resolved, action string) (*Report, error) {
	if !Releasable(action) {
		return nil, fmt.Errorf("%w: %s cannot be undone (only pause and suspend)", ErrRefused, action)
	}
	rep := &Report{Resolved: res, Action: "release"}
	var err error
	if rep.Before, err = e.Snapshot(ctx, res); err != nil {
		return nil, fmt.Errorf("before snapshot: %w", err)
	}
	rc := &recorder{r: e.r}
	ok := true
	for _, argv := range releaseCommands(res, rep.Before.Target) {
		c, err := rc.run(ctx, argv...)
		if err != nil || c.Exit != 0 {
			ok = false
			break
		}
	}
	rep.Act = rc.commands
	if rep.After, err = e.Snapshot(ctx, res); err != nil {
		return nil, fmt.Errorf("after snapshot: %w", err)
	}
	v := Verdict{Target: res.Target.String(), Action: "release", State: rep.After.State, Survivors: []Survivor{}, Traffic: []string{}}
	switch {
	case !ok:
		last := rep.Act[len(rep.Act)-1]
		v.Summary = fmt.Sprintf("release FAILED: %s: %s exited %d: %s", res.Target, strings.Join(last.Argv, " "), last.Exit, firstLine(last.Stderr+last.Error))
	case res.Kind == KindProcess:
		v.Released = true
		v.Summary = fmt.Sprintf("released: %s resumed (SIGCONT to %d process(es))", res.Target, len(rep.Before.Target))
	default:
		v.Released = rep.After.State == "running"
		v.Summary = fmt.Sprintf("released: %s resumed (state %s)", res.Target, rep.After.State)
		if !v.Released {
			v.Summary = fmt.Sprintf("release incomplete: %s is %s, not running", res.Target, rep.After.State)
		}
	}
	rep.Verdict = v
	return rep, nil
}

func nonEmptyLines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

// firstLine is the first line of what a host printed, cut short: enough
// for an error message.
func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// SnapshotCommands describes the commands of one snapshot of res, for a
// dry run: the PIDs of the per-process commands are known only then.
func SnapshotCommands(res *Resolved) [][]string {
	var cmds [][]string
	switch {
	case res.Kind == KindContainer:
		cmds = append(cmds, []string{"docker", "inspect", "--type", "container", "--format", "{{.State.Status}}", res.ID})
	case res.Kind == KindVM && res.Tool == "virsh":
		cmds = append(cmds, []string{"virsh", "domstate", res.ID})
	case res.Kind == KindVM:
		cmds = append(cmds, []string{"qm", "status", res.ID, "--verbose"})
	}
	cmds = append(cmds, psArgv)
	if res.Kind == KindContainer {
		cmds = append(cmds, []string{"docker", "top", res.ID, "-eo", "pid,ppid,user,stat,args"})
	}
	return append(cmds,
		[]string{"ls", "-l", "/proc/<pid>/exe", "/proc/<pid>/ns/mnt", "…(every process)"},
		[]string{"sha256sum", "--", "/proc/<pid>/exe", "…(one per executable)"},
		[]string{"ss", "-tunapH"},
		[]string{"ip", "-j", "-s", "link", "show"},
	)
}
