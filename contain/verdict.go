package contain

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Verdict is the comparison of the two snapshots.
type Verdict struct {
	Contained bool       `json:"contained"`
	Released  bool       `json:"released,omitempty"`
	Target    string     `json:"target"`
	Action    string     `json:"action"`
	State     string     `json:"state"` // after the action
	Survivors []Survivor `json:"survivors"`
	// Traffic lists what is still flowing: sockets to the notice's
	// destinations held by running processes, counters still growing.
	Traffic []string `json:"traffic"`
	// Failed says why the action itself did not succeed ("" when it did).
	Failed  string `json:"failed,omitempty"`
	Summary string `json:"summary"`
}

// Survivor is a process still running that the target's containment
// should have stopped.
type Survivor struct {
	PID    int    `json:"pid"`
	Exe    string `json:"exe"`
	SHA256 string `json:"sha256"`
	Args   string `json:"args"`
	// Inside is true for a process of the target itself that still runs
	// (the action did not take); false for one outside it.
	Inside bool   `json:"inside"`
	Why    string `json:"why"`
}

// JSON is the verdict as evidence.
func (v Verdict) JSON() []byte {
	b, _ := json.MarshalIndent(v, "", "  ") // plain struct, always marshals
	return append(b, '\n')
}

// systemDirs hold binaries every host and image share: a path there alone
// says nothing about being the culprit, only its hash does.
var systemDirs = []string{"/bin/", "/sbin/", "/usr/", "/lib/", "/lib64/"}

func systemPath(p string) bool {
	for _, d := range systemDirs {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

// running: zombies and stopped processes (SIGSTOP) run nothing.
func running(p Process) bool {
	return p.Stat != "" && p.Stat[0] != 'Z' && p.Stat[0] != 'T' && p.Stat[0] != 'X'
}

// judge compares the snapshots: processes that run the target's
// executables (by sha256, or, when a file cannot be hashed, by a path
// outside the system directories; a system binary's hash only from outside
// them) outside it, target processes the action should have stopped and still
// run, and traffic to the destinations, make it NOT CONTAINED.
func judge(res *Resolved, action string, before *Snapshot, act []Command, after, recount *Snapshot, dests []netip.Addr) Verdict {
	v := Verdict{Target: res.Target.String(), Action: action, State: after.State, Survivors: []Survivor{}, Traffic: []string{}}
	for _, c := range act {
		if c.Exit != 0 || c.Error != "" {
			v.Failed = fmt.Sprintf("%s exited %d: %s", strings.Join(c.Argv, " "), c.Exit, firstLine(c.Stderr+c.Error))
		}
	}

	// hashes of the target's own executables match anywhere; those of
	// system binaries (a container's /bin/sleep, a tree's /bin/sh) only a
	// copy outside the system directories: every host runs its sleep and
	// sh, a copy in /tmp/.x is the spread.
	hashes, systemHashes, paths := map[string]bool{}, map[string]bool{}, map[string]bool{}
	inside := map[int]bool{}
	for _, pid := range before.Target {
		inside[pid] = true
		p, ok := before.process(pid)
		switch {
		case !ok:
		case systemPath(p.Exe):
			if p.SHA256 != "" {
				systemHashes[p.SHA256] = true
			}
		default:
			if p.SHA256 != "" {
				hashes[p.SHA256] = true
			}
			if p.Exe != "" {
				paths[strings.TrimSuffix(p.Exe, " (deleted)")] = true
			}
		}
	}
	for _, pid := range after.Target {
		inside[pid] = true
	}
	frozen := targetStopped(res, action, after)

	for _, p := range after.Processes {
		if kernelThread(p) || !running(p) {
			continue
		}
		if inside[p.PID] {
			if !frozen {
				v.Survivors = append(v.Survivors, Survivor{PID: p.PID, Exe: p.Exe, SHA256: p.SHA256, Args: p.Args, Inside: true,
					Why: fmt.Sprintf("a process of the %s still runs (state %q)", res.Kind, after.State)})
			}
			continue
		}
		switch {
		case p.SHA256 != "" && (hashes[p.SHA256] || systemHashes[p.SHA256] && !systemPath(p.Exe)):
			v.Survivors = append(v.Survivors, Survivor{PID: p.PID, Exe: p.Exe, SHA256: p.SHA256, Args: p.Args,
				Why: "same executable (sha256) as the " + res.Kind + ", running outside it"})
		// A path alone speaks only when the file could not be hashed: the
		// same name with another hash is another program (another
		// container's, say).
		case p.SHA256 == "" && p.Exe != "" && paths[strings.TrimSuffix(p.Exe, " (deleted)")]:
			v.Survivors = append(v.Survivors, Survivor{PID: p.PID, Exe: p.Exe, SHA256: p.SHA256, Args: p.Args,
				Why: "same executable path as the " + res.Kind + ", running outside it"})
		}
	}

	v.Traffic = traffic(res, after, recount, dests, inside, frozen)
	v.Contained = v.Failed == "" && len(v.Survivors) == 0 && len(v.Traffic) == 0 && frozen
	v.Summary = summary(res, action, v, frozen)
	return v
}

// targetStopped says whether the target's own processes no longer run as
// the action intends: a paused container or suspended VM, a stopped or
// killed container, a process tree in state T (or gone).
func targetStopped(res *Resolved, action string, after *Snapshot) bool {
	switch res.Kind {
	case KindContainer:
		if action == ActionPause {
			return after.State == "paused"
		}
		return after.State == "exited" || after.State == "gone" || after.State == "dead"
	case KindVM:
		return after.State == "paused" || after.State == "suspended" || after.State == "prelaunch"
	}
	for _, pid := range after.Target {
		if p, ok := after.process(pid); ok && running(p) {
			return false
		}
	}
	return true
}

// traffic lists sockets to the notice's destinations held by a process
// that still runs, and growth of the target's host-side counters between
// the after snapshot and the recount (the host's rx is what the target sent).
func traffic(res *Resolved, after, recount *Snapshot, dests []netip.Addr, inside map[int]bool, frozen bool) []string {
	out := []string{}
	if recount == nil {
		return out
	}
	for _, s := range recount.Sockets {
		peer := peerAddr(s.Peer)
		if !peer.IsValid() || !slices.Contains(dests, peer) {
			continue
		}
		for _, pid := range s.PIDs {
			p, ok := after.process(pid)
			if (inside[pid] && frozen) || (ok && !running(p)) {
				continue
			}
			out = append(out, fmt.Sprintf("%s %s %s → %s held by pid %d (%s)", s.Proto, s.State, s.Local, s.Peer, pid, p.Args))
		}
	}
	for _, i := range recount.Interfaces {
		for _, was := range after.Interfaces {
			if was.Name == i.Name && i.RxPackets > was.RxPackets {
				out = append(out, fmt.Sprintf("%s still counting: +%d packets, +%d bytes from the %s in %s",
					i.Name, i.RxPackets-was.RxPackets, i.RxBytes-was.RxBytes, res.Kind, recount.At.Sub(after.At).Round(100*time.Millisecond)))
			}
		}
	}
	return out
}

var pastTense = map[string]string{ActionPause: "paused", ActionStop: "stopped", ActionKill: "killed", ActionSuspend: "suspended"}

// summary is the verdict's one line, as chat and the timeline show it:
// "contained: container gitlab paused; 0 survivors" or
// "NOT CONTAINED: pid 5120 /tmp/.x/wate outside the container".
func summary(res *Resolved, action string, v Verdict, frozen bool) string {
	if v.Contained {
		return fmt.Sprintf("contained: %s %s; 0 survivors", res.Target, pastTense[action])
	}
	var why []string
	if v.Failed != "" {
		why = append(why, "action failed: "+v.Failed)
	} else if !frozen && v.State != "" {
		why = append(why, fmt.Sprintf("%s is %s, not %s", res.Target, v.State, pastTense[action]))
	} else if !frozen {
		why = append(why, fmt.Sprintf("%s not fully %s", res.Target, pastTense[action]))
	}
	for _, s := range v.Survivors {
		where := "outside the " + res.Kind
		if s.Inside {
			where = "inside the " + res.Kind + ", still running"
		}
		name := s.Exe
		if name == "" {
			name = s.Args
		}
		why = append(why, fmt.Sprintf("pid %d %s %s", s.PID, name, where))
	}
	why = append(why, v.Traffic...)
	return "NOT CONTAINED: " + strings.Join(why, "; ")
}
