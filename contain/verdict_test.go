package contain

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

const (
	trojanSum = "1111111111111111111111111111111111111111111111111111111111111111"
	otherSum  = "2222222222222222222222222222222222222222222222222222222222222222"
)

// TestJudge: which processes and traffic make a containment fail.
func TestJudge(t *testing.T) {
	container := &Resolved{Target: Target{Kind: KindContainer, Name: "gitlab"}, ID: "abc"}
	proc := &Resolved{Target: Target{Kind: KindProcess, PID: 100}, ID: "100"}
	before := &Snapshot{Target: []int{100, 101}, Processes: []Process{
		{PID: 100, PPID: 1, Stat: "S", Exe: "/tmp/.x/wate", SHA256: trojanSum},
		{PID: 101, PPID: 100, Stat: "S", Exe: "/bin/sleep", SHA256: otherSum},
	}}
	t0 := time.Unix(1000, 0)
	dest := netip.MustParseAddr("203.0.113.77")
	tests := []struct {
		name          string
		res           *Resolved
		action        string
		act           []Command
		after         Snapshot
		recount       *Snapshot
		wantContained bool
		wantSummary   string
	}{
		{name: "paused, nothing outside", res: container, action: ActionPause,
			after:         Snapshot{State: "paused", Target: []int{100, 101}, Processes: before.Processes},
			wantContained: true, wantSummary: "contained: container gitlab paused; 0 survivors"},
		{name: "same hash on the host", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 5120, Stat: "S", Exe: "/var/tmp/kworker", SHA256: trojanSum})},
			wantSummary: "NOT CONTAINED: pid 5120 /var/tmp/kworker outside the container"},
		{name: "the host's own copy of a system binary is nobody", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 6, Stat: "S", Exe: "/usr/bin/sleep", SHA256: otherSum})},
			wantContained: true, wantSummary: "contained: container gitlab paused; 0 survivors"},
		{name: "a system binary copied out of the system directories", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 6, Stat: "S", Exe: "/dev/shm/.s", SHA256: otherSum})},
			wantSummary: "NOT CONTAINED: pid 6 /dev/shm/.s outside the container"},
		{name: "a system binary by path alone is nobody", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 7, Stat: "S", Exe: "/bin/sleep", SHA256: "3333333333333333333333333333333333333333333333333333333333333333"})},
			wantContained: true, wantSummary: "contained: container gitlab paused; 0 survivors"},
		{name: "same path, other hash: another program", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 8, Stat: "S", Exe: "/tmp/.x/wate", SHA256: otherSum + "x"})},
			wantContained: true, wantSummary: "contained: container gitlab paused; 0 survivors"},
		{name: "same path, unreadable", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 9, Stat: "S", Exe: "/tmp/.x/wate (deleted)"})},
			wantSummary: "NOT CONTAINED: pid 9 /tmp/.x/wate (deleted) outside the container"},
		{name: "zombie and stopped copies do not run", res: container, action: ActionPause,
			after: Snapshot{State: "paused", Processes: append(before.Processes[:2:2],
				Process{PID: 10, Stat: "Z", SHA256: trojanSum}, Process{PID: 11, Stat: "T", SHA256: trojanSum})},
			wantContained: true, wantSummary: "contained: container gitlab paused; 0 survivors"},
		{name: "pause failed", res: container, action: ActionPause,
			act:   []Command{{Argv: []string{"docker", "pause", "abc"}, Exit: 1, Stderr: "Error: cannot pause\n"}},
			after: Snapshot{State: "running", Target: []int{100, 101}, Processes: before.Processes},
			wantSummary: "NOT CONTAINED: action failed: docker pause abc exited 1: Error: cannot pause; " +
				"pid 100 /tmp/.x/wate inside the container, still running; pid 101 /bin/sleep inside the container, still running"},
		{name: "stopped container", res: container, action: ActionStop,
			after:         Snapshot{State: "exited", Processes: before.Processes[:0]},
			wantContained: true, wantSummary: "contained: container gitlab stopped; 0 survivors"},
		{name: "process tree stopped", res: proc, action: ActionPause,
			after: Snapshot{Target: []int{100, 101}, Processes: []Process{
				{PID: 100, Stat: "T", SHA256: trojanSum}, {PID: 101, Stat: "T", SHA256: otherSum}}},
			wantContained: true, wantSummary: "contained: pid 100 paused; 0 survivors"},
		{name: "a child escaped SIGSTOP", res: proc, action: ActionPause,
			after: Snapshot{Target: []int{100, 101}, Processes: []Process{
				{PID: 100, Stat: "T", SHA256: trojanSum}, {PID: 101, Stat: "S", Exe: "/bin/sleep", SHA256: otherSum}}},
			wantSummary: "NOT CONTAINED: pid 100 not fully paused; pid 101 /bin/sleep inside the process, still running"},
		{name: "socket to the notice's destination from the host", res: container, action: ActionPause,
			after: Snapshot{At: t0, State: "paused", Processes: append(before.Processes[:2:2], Process{PID: 300, Stat: "S", Args: "curl"})},
			recount: &Snapshot{At: t0.Add(3 * time.Second), Sockets: []Socket{
				{Proto: "udp", State: "ESTAB", Local: "192.0.2.45:123", Peer: "203.0.113.77:43010", PIDs: []int{300}},
				{Proto: "udp", State: "ESTAB", Local: "192.0.2.45:123", Peer: "203.0.113.77:43011", PIDs: []int{100}}, // frozen
				{Proto: "tcp", State: "ESTAB", Local: "192.0.2.45:22", Peer: "198.51.100.1:5000", PIDs: []int{300}},
			}},
			wantSummary: "NOT CONTAINED: udp ESTAB 192.0.2.45:123 → 203.0.113.77:43010 held by pid 300 (curl)"},
		{name: "veth still counting", res: container, action: ActionPause,
			after: Snapshot{At: t0, State: "paused", Processes: before.Processes,
				Interfaces: []Interface{{Name: "veth1", RxPackets: 10, RxBytes: 1000}}},
			recount:     &Snapshot{At: t0.Add(3 * time.Second), Interfaces: []Interface{{Name: "veth1", RxPackets: 15, RxBytes: 1500}}},
			wantSummary: "NOT CONTAINED: veth1 still counting: +5 packets, +500 bytes from the container in 3s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := judge(tt.res, tt.action, before, tt.act, &tt.after, tt.recount, []netip.Addr{dest})
			if v.Contained != tt.wantContained || v.Summary != tt.wantSummary {
				t.Errorf("contained %v, summary\n%q\nwant %v,\n%q", v.Contained, v.Summary, tt.wantContained, tt.wantSummary)
			}
		})
	}
}

func TestParsers(t *testing.T) {
	ps := parsePS("  101   100 S+   root     /bin/sh -c  sleep 1\n    2     0 S    root     [kthreadd]\nbad line\n")
	if len(ps) != 2 || ps[1].PID != 101 || ps[1].Args != "/bin/sh -c sleep 1" || !kernelThread(ps[0]) {
		t.Errorf("parsePS: %+v", ps)
	}
	exe, mnt := parseLinks("lrwxrwxrwx 1 root root 0 Dec  2 13:41 /proc/42/exe -> /tmp/my dir/wate (deleted)\n" +
		"lrwxrwxrwx 1 root root 0 Dec  2 13:41 /proc/42/ns/mnt -> mnt:[4026531840]\nls: cannot read symbolic link '/proc/1/exe'\n")
	if exe[42] != "/tmp/my dir/wate (deleted)" || mnt[42] != "mnt:[4026531840]" || len(exe) != 1 {
		t.Errorf("parseLinks: %v %v", exe, mnt)
	}
	sums := parseSums(trojanSum + "  /proc/42/exe\n" + otherSum + "  /etc/passwd\n")
	if sums[42] != trojanSum || len(sums) != 1 {
		t.Errorf("parseSums: %v", sums)
	}
	socks := parseSS(`udp   ESTAB 0 0 192.0.2.45:123 203.0.113.77:43010 users:(("wate",pid=5120,fd=3),("wate",pid=5121,fd=3))` + "\n")
	if len(socks) != 1 || len(socks[0].PIDs) != 2 || socks[0].PIDs[1] != 5121 || peerAddr(socks[0].Peer) != netip.MustParseAddr("203.0.113.77") {
		t.Errorf("parseSS: %+v", socks)
	}
	for peer, want := range map[string]string{"[2001:db8::1]:443": "2001:db8::1", "*:*": "invalid IP", "10.0.0.1%eth0:80": "10.0.0.1", "[::ffff:1.2.3.4]:5": "1.2.3.4"} {
		if got := peerAddr(peer).String(); got != want {
			t.Errorf("peerAddr(%q) = %s, want %s", peer, got, want)
		}
	}
	ifs, err := parseLinksJSON(`[{"ifindex":7,"ifname":"veth1","stats64":{"rx":{"bytes":5,"packets":1},"tx":{"bytes":9,"packets":2}}}]`)
	if err != nil || len(ifs) != 1 || ifs[0].Index != 7 || ifs[0].RxBytes != 5 || ifs[0].TxPackets != 2 {
		t.Errorf("parseLinksJSON: %+v %v", ifs, err)
	}
}

// TestValidate: nothing that could read as an option or hold shell syntax
// reaches a command line, and kill never sees pid 1 or below.
func TestValidate(t *testing.T) {
	for _, tt := range []struct {
		t  Target
		ok bool
	}{
		{Target{Kind: KindContainer, Name: "gitlab_1.web-2"}, true},
		{Target{Kind: KindContainer, Name: "-rf"}, false},
		{Target{Kind: KindContainer, Name: "a;reboot"}, false},
		{Target{Kind: KindContainer, Name: "$(id)"}, false},
		{Target{Kind: KindVM, Name: "101"}, true},
		{Target{Kind: KindVM, Name: "web 1"}, false},
		{Target{Kind: KindProcess, PID: 2}, true},
		{Target{Kind: KindProcess, PID: 1}, false},
		{Target{Kind: KindProcess, PID: -5}, false},
		{Target{Kind: "account", Name: "x"}, false},
	} {
		if err := tt.t.Validate(); (err == nil) != tt.ok {
			t.Errorf("%+v: %v, want ok=%v", tt.t, err, tt.ok)
		}
	}
	if got := strings.Join(pidStrings([]int{-1, 0, 1, 2, 300}), " "); got != "2 300" {
		t.Errorf("pidStrings = %q", got)
	}
	if err := CheckAction(KindProcess, ActionStop); err == nil {
		t.Error("docker stop's word accepted for a process")
	}
}

// TestCommands: what each action and release runs, argv by argv (VMs
// cannot be tested against a real hypervisor here; this is their check).
func TestCommands(t *testing.T) {
	ctr := &Resolved{Target: Target{Kind: KindContainer, Name: "gitlab"}, ID: "0123abcd"}
	proc := &Resolved{Target: Target{Kind: KindProcess, PID: 42}, ID: "42"}
	virsh := &Resolved{Target: Target{Kind: KindVM, Name: "web1"}, ID: "web1", Tool: "virsh"}
	qm := &Resolved{Target: Target{Kind: KindVM, Name: "101"}, ID: "101", Tool: "qm"}
	tests := []struct {
		name string
		got  [][]string
		want string
	}{
		{"docker pause", ActCommands(ctr, ActionPause, nil), "docker pause 0123abcd"},
		{"docker stop", ActCommands(ctr, ActionStop, nil), "docker stop 0123abcd"},
		{"docker kill", ActCommands(ctr, ActionKill, nil), "docker kill 0123abcd"},
		{"docker unpause", releaseCommands(ctr, nil), "docker unpause 0123abcd"},
		{"SIGSTOP the tree", ActCommands(proc, ActionPause, []int{42, 43, 1}), "kill -s STOP -- 42 43"},
		{"SIGSTOP then SIGKILL", ActCommands(proc, ActionKill, []int{42, 43}), "kill -s STOP -- 42 43|kill -s KILL -- 42 43"},
		{"SIGCONT", releaseCommands(proc, []int{42}), "kill -s CONT -- 42"},
		{"virsh suspend", ActCommands(virsh, ActionSuspend, nil), "virsh suspend web1"},
		{"virsh resume", releaseCommands(virsh, nil), "virsh resume web1"},
		{"qm suspend", ActCommands(qm, ActionSuspend, nil), "qm suspend 101"},
		{"qm resume", releaseCommands(qm, nil), "qm resume 101"},
	}
	for _, tt := range tests {
		var cmds []string
		for _, c := range tt.got {
			cmds = append(cmds, strings.Join(c, " "))
		}
		if got := strings.Join(cmds, "|"); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.name, got, tt.want)
		}
	}
	if got := qmState("status: running\nqmpstatus: paused\n"); got != "paused" {
		t.Errorf("qmState = %q, want paused", got)
	}
}
