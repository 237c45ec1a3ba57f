package contain

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Process is one process of the host as a snapshot saw it.
type Process struct {
	PID, PPID int
	Stat      string // ps STAT: R, S, D, T (stopped), Z…
	User      string
	Args      string
	Exe       string // readlink of /proc/PID/exe, as the process's mount namespace names it
	MntNS     string // mnt:[…]: which file Exe names depends on it
	SHA256    string // of the executable ("" when unreadable: kernel threads, vanished, denied)
}

// Socket is one line of ss with the processes that hold it.
type Socket struct {
	Proto, State, Local, Peer string
	PIDs                      []int
}

// Interface is a network interface's counters (the host's side of a
// container's veth or a VM's tap).
type Interface struct {
	Name                                   string
	Index                                  int
	RxBytes, TxBytes, RxPackets, TxPackets uint64
}

// Command is one command a snapshot or an action ran, with what it printed.
type Command struct {
	Argv   []string
	Exit   int
	Stdout string
	Stderr string
	Error  string // it could not run or finish
}

// Snapshot is the state of the host around the target at one time.
type Snapshot struct {
	At time.Time
	// State is the container's or VM's state as the engine reports it
	// (running, paused, exited…); "gone" when it no longer exists; "" for
	// a process target.
	State string
	// Target lists the PIDs that belong to the target: the container's
	// processes (docker top), the process tree, the VM's QEMU process.
	Target     []int
	Processes  []Process
	Sockets    []Socket
	Interfaces []Interface
	Commands   []Command
}

// process returns the snapshot's process pid.
func (s *Snapshot) process(pid int) (Process, bool) {
	i := sort.Search(len(s.Processes), func(i int) bool { return s.Processes[i].PID >= pid })
	if i < len(s.Processes) && s.Processes[i].PID == pid {
		return s.Processes[i], true
	}
	return Process{}, false
}

// Text is the snapshot as evidence: what each command printed, verbatim,
// then the parsed view.
func (s *Snapshot) Text() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "snapshot at %s\nstate: %s\ntarget pids: %v\n", s.At.UTC().Format(time.RFC3339Nano), s.State, s.Target)
	fmt.Fprintf(&b, "\n== target processes (pid ppid stat user sha256 exe | args) ==\n")
	for _, pid := range s.Target {
		if p, ok := s.process(pid); ok {
			fmt.Fprintf(&b, "%d %d %s %s %s %s | %s\n", p.PID, p.PPID, p.Stat, p.User, orDash(p.SHA256), orDash(p.Exe), p.Args)
		}
	}
	fmt.Fprintf(&b, "\n== interfaces (name rx_bytes tx_bytes rx_packets tx_packets) ==\n")
	for _, i := range s.Interfaces {
		fmt.Fprintf(&b, "%s %d %d %d %d\n", i.Name, i.RxBytes, i.TxBytes, i.RxPackets, i.TxPackets)
	}
	for _, c := range s.Commands {
		fmt.Fprintf(&b, "\n==> $ %s (exit %d) <==\n%s", strings.Join(c.Argv, " "), c.Exit, c.Stdout)
		if c.Stderr != "" {
			fmt.Fprintf(&b, "--- stderr ---\n%s", c.Stderr)
		}
		if c.Error != "" {
			fmt.Fprintf(&b, "--- error: %s\n", c.Error)
		}
	}
	return b.Bytes()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// recorder runs commands and keeps each for the evidence.
type recorder struct {
	r        Remote
	commands []Command
}

// run runs argv; a command that ran (whatever its exit code) is no error.
func (rc *recorder) run(ctx context.Context, argv ...string) (Command, error) {
	var out, errOut bytes.Buffer
	code, err := rc.r.Run(ctx, argv, &out, &errOut)
	c := Command{Argv: argv, Exit: code, Stdout: out.String(), Stderr: errOut.String()}
	if err != nil {
		c.Error = err.Error()
	}
	rc.commands = append(rc.commands, c)
	if err != nil {
		return c, fmt.Errorf("%s: %w", argv[0], err)
	}
	return c, nil
}

// psArgv lists every process. User names hold no spaces and args comes
// last, so each line splits into four fields and the rest.
var psArgv = []string{"ps", "-eo", "pid=,ppid=,stat=,user=,args="}

func parsePS(out string) []Process {
	var ps []Process
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		ppid, err2 := strconv.Atoi(f[1])
		if err1 != nil || err2 != nil {
			continue
		}
		p := Process{PID: pid, PPID: ppid, Stat: f[2], User: f[3]}
		if len(f) > 4 {
			p.Args = strings.Join(f[4:], " ")
		}
		ps = append(ps, p)
	}
	sort.Slice(ps, func(i, j int) bool { return ps[i].PID < ps[j].PID })
	return ps
}

// kernelThread: a child of kthreadd, or kthreadd itself, has no executable.
func kernelThread(p Process) bool {
	return p.PID == 2 || p.PPID == 2
}

// parseLinks reads `ls -l /proc/N/exe /proc/N/ns/mnt …`: the link targets
// by PID. ls prints the link after " -> "; a deleted file ends " (deleted)".
func parseLinks(out string) (exe, mnt map[int]string) {
	exe, mnt = map[int]string{}, map[int]string{}
	for _, line := range strings.Split(out, "\n") {
		i := strings.Index(line, " /proc/")
		if i < 0 {
			continue
		}
		name, target, ok := strings.Cut(line[i+1:], " -> ")
		if !ok {
			continue
		}
		parts := strings.Split(name, "/") // "", "proc", N, "exe" | "ns", "mnt"
		if len(parts) < 4 {
			continue
		}
		pid, err := strconv.Atoi(parts[2])
		if err != nil {
			continue
		}
		switch strings.Join(parts[3:], "/") {
		case "exe":
			exe[pid] = target
		case "ns/mnt":
			mnt[pid] = target
		}
	}
	return exe, mnt
}

// parseSums reads sha256sum's "HASH  /proc/N/exe" lines.
func parseSums(out string) map[int]string {
	sums := map[int]string{}
	for _, line := range strings.Split(out, "\n") {
		sum, name, ok := strings.Cut(line, "  ")
		if !ok || len(sum) != 64 {
			continue
		}
		parts := strings.Split(name, "/")
		if len(parts) != 4 || parts[1] != "proc" || parts[3] != "exe" {
			continue
		}
		if pid, err := strconv.Atoi(parts[2]); err == nil {
			sums[pid] = sum
		}
	}
	return sums
}

// parseSS reads `ss -tunapH`: netid state recv-q send-q local peer [users:((…))].
func parseSS(out string) []Socket {
	var socks []Socket
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 {
			continue
		}
		s := Socket{Proto: f[0], State: f[1], Local: f[4], Peer: f[5]}
		for _, part := range strings.Split(strings.Join(f[6:], " "), "pid=")[1:] {
			end := strings.IndexFunc(part, func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(part)
			}
			if pid, err := strconv.Atoi(part[:end]); err == nil {
				s.PIDs = append(s.PIDs, pid)
			}
		}
		socks = append(socks, s)
	}
	return socks
}

// peerAddr is the address of an ss peer ("1.2.3.4:80", "[2001:db8::1]:443",
// "1.2.3.4%eth0:80"), invalid for "*" and the like.
func peerAddr(peer string) netip.Addr {
	if ap, err := netip.ParseAddrPort(peer); err == nil {
		return ap.Addr().Unmap()
	}
	host := peer
	if i := strings.LastIndex(peer, ":"); i > 0 {
		host = peer[:i]
	}
	host = strings.Trim(host, "[]")
	if i := strings.IndexByte(host, '%'); i >= 0 {
		host = host[:i]
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return a.Unmap()
}

// ipLink is the part of `ip -j -s link show` that counts.
type ipLink struct {
	Index int    `json:"ifindex"`
	Name  string `json:"ifname"`
	Stats struct {
		Rx struct {
			Bytes   uint64 `json:"bytes"`
			Packets uint64 `json:"packets"`
		} `json:"rx"`
		Tx struct {
			Bytes   uint64 `json:"bytes"`
			Packets uint64 `json:"packets"`
		} `json:"tx"`
	} `json:"stats64"`
}

func parseLinksJSON(out string) ([]Interface, error) {
	var links []ipLink
	if err := json.Unmarshal([]byte(out), &links); err != nil {
		return nil, fmt.Errorf("ip -j -s link: %w", err)
	}
	ifs := make([]Interface, 0, len(links))
	for _, l := range links {
		ifs = append(ifs, Interface{Name: l.Name, Index: l.Index, RxBytes: l.Stats.Rx.Bytes, TxBytes: l.Stats.Tx.Bytes,
			RxPackets: l.Stats.Rx.Packets, TxPackets: l.Stats.Tx.Packets})
	}
	return ifs, nil
}

// pidArgs makes /proc paths of pids, each pid an integer we parsed.
func pidArgs(pids []int, suffixes ...string) []string {
	var args []string
	for _, pid := range pids {
		for _, s := range suffixes {
			args = append(args, "/proc/"+strconv.Itoa(pid)+"/"+s)
		}
	}
	return args
}
