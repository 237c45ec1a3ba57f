package triage

import (
	"cmp"
	"context"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// The culprit checks ask what on a host sent the traffic a notice names.
// They run as one job per machine (the host, its hypervisor), first of all
// jobs: sockets and traffic vanish soonest. Every value they put on a
// command line is an integer or a parsed address formatted again by Go,
// never text from the mail, and each command is an argv (no shell).

// Culprit job names and where they run.
const (
	CulpritJob           = "culprit"
	CulpritHypervisorJob = "culprit-hypervisor"
	// toolCulprit marks the jobs Runner runs as checks, not as a command.
	toolCulprit    = "abusewatch-culprit"
	culpritOrder   = -1000
	culpritTimeout = 2 * time.Minute
	// trafficSample is the least time between the two /proc/net/dev reads.
	trafficSample = 2 * time.Second
	// checkOutputCap bounds what one command of the checks may print.
	checkOutputCap = 4 << 20
	// maxSuspects bounds the suspects a run keeps (the best ones).
	maxSuspects = 20
	// sinceDefault is how far before the first notice account and key
	// changes count when the Target names no date.
	sinceDefault = 7 * 24 * time.Hour
)

// Culprit modes (config.Triage.Culprit).
const (
	CulpritOff   = ""
	CulpritSSH   = "ssh"
	CulpritLocal = "local"
)

// Flow is one event of a notice: traffic the provider saw from our IP.
// Ports are 0 and Dst invalid when the notice does not say.
type Flow struct {
	Proto   string // udp, tcp, icmp or ""
	SrcPort uint16
	Dst     netip.Addr
	DstPort uint16
}

// Suspect is what the checks implicate: a process, container, VM, account
// or SSH key, with the lines that implicate it. Score orders suspects
// (higher first); it is not kept.
type Suspect struct {
	Kind      string // process | container | vm | account | ssh_key
	Name      string
	Host      string
	PID       int
	User      string
	Exe       string
	Container string
	VM        string
	Why       []string
	Score     int
}

// amplificationPorts are the UDP service ports whose answers the
// amplification attacks abuse.
var amplificationPorts = map[string]uint16{
	"ntp_amplification":       123,
	"dns_amplification":       53,
	"memcached_amplification": 11211,
	"ssdp_amplification":      1900,
}

// culpritPlan is what the checks look for, read from the notice.
type culpritPlan struct {
	// udpPorts are the ports an amplifier would listen on.
	udpPorts []uint16
	// dests are the notice's destinations (port 0: any).
	dests []Flow
	since time.Time
	// ip is the incident's address: on a hypervisor, the VM whose
	// interface carries it is named.
	ip netip.Addr
	// hypervisor is set for the checks of the hypervisor job, which also
	// ask which VM has which interface.
	hypervisor bool
}

func (p culpritPlan) argv() []string {
	argv := []string{"abusewatch-checks"}
	for _, port := range p.udpPorts {
		argv = append(argv, "udp-listener="+strconv.Itoa(int(port)))
	}
	for _, d := range p.dests {
		argv = append(argv, "destination="+flowString(d))
	}
	return append(argv, "since="+p.since.UTC().Format(time.RFC3339))
}

func flowString(f Flow) string {
	s := f.Dst.String()
	if f.DstPort != 0 {
		s = netip.AddrPortFrom(f.Dst, f.DstPort).String()
	}
	if f.Proto != "" {
		s += "/" + f.Proto
	}
	return s
}

// planCulprit reads the checks' targets from t: for an amplification attack
// the reflector port (the attack's, and the source ports of its UDP events),
// for any notice with events the destinations that are not our own IP.
func planCulprit(t Target) culpritPlan {
	var p culpritPlan
	if port, ok := amplificationPorts[t.Attack]; ok {
		p.udpPorts = append(p.udpPorts, port)
		for _, f := range t.Flows {
			if f.Proto == "udp" && f.SrcPort != 0 {
				p.udpPorts = append(p.udpPorts, f.SrcPort)
			}
		}
	}
	for _, f := range t.Flows {
		if f.Dst.IsValid() && f.Dst != t.IP {
			p.dests = append(p.dests, f)
		}
	}
	slices.Sort(p.udpPorts)
	p.udpPorts = slices.Compact(p.udpPorts)
	slices.SortFunc(p.dests, func(a, b Flow) int { return cmp.Compare(flowString(a), flowString(b)) })
	p.dests = slices.CompactFunc(p.dests, func(a, b Flow) bool { return a == b })
	p.since, p.ip = t.Since, t.IP
	if p.since.IsZero() {
		p.since = time.Now().Add(-sinceDefault)
	}
	return p
}

// culpritJobs are the checks' jobs for t under mode (config.Triage.Culprit):
// on the host and its hypervisor over SSH, or on this machine.
func culpritJobs(mode string, t Target) []config.Job {
	argv := planCulprit(t).argv()
	job := func(name, where string) config.Job {
		return config.Job{Name: name, Where: where, Argv: argv, Tool: toolCulprit, Timeout: culpritTimeout, Order: culpritOrder}
	}
	switch mode {
	case CulpritLocal:
		return []config.Job{job(CulpritJob, WhereLocal)}
	case CulpritSSH:
		return []config.Job{job(CulpritJob, WhereSSH), job(CulpritHypervisorJob, WhereSSHHypervisor)}
	}
	return nil
}

// checker runs the checks on one machine and gathers what they implicate.
type checker struct {
	ex    executor
	out   *capWriter
	plan  culpritPlan
	host  string
	notes []string
	// missing remembers tools found absent, so that each is reported once
	// and not run again.
	missing    map[string]bool
	containers []container
	procs      map[int]*procInfo
	byID       map[string]*container
	// extra are the suspects that are no process or container (accounts, keys).
	extra []Suspect
	// vmOf names the VM behind a hypervisor's interface (by name or MAC)
	// and says how it knows; nil off a hypervisor.
	vmOf func(dev, mac string) (vm, how string)
	vms  map[string]*Suspect
}

type container struct {
	id, name string
	pid      int
	ports    []published
	why      []string
	score    int
}

type procInfo struct {
	pid              int
	comm, exe, user  string
	container        string // id, "" on the host itself
	cpu              float64
	why              []string
	score            int
	listens, sockets bool
}

// Commands of the checks.
var (
	catNetDev = []string{"cat", "/proc/net/dev"}
	dockerPS  = []string{"docker", "ps", "--no-trunc", "--format", "{{.ID}}\t{{.Names}}\t{{.Ports}}"}
	ssAll     = []string{"ss", "-H", "-tuanp"}
	ipLink    = []string{"ip", "-o", "link"}
	findExes  = []string{"find", "/proc", "-mindepth", "2", "-maxdepth", "2", "-name", "exe", "-printf", `%h\t%l\n`}
	psCPU     = []string{"ps", "-eo", "pid=,user=,pcpu=,comm=", "--sort=-pcpu"}
	passwd    = []string{"awk", "-F:", `{print $1 "\t" $3 "\t" $7}`, "/etc/passwd"}
	// Only names and dates leave /etc/shadow: no hash reaches the evidence.
	shadowDays = []string{"awk", "-F:", `{print $1 "\t" $3}`, "/etc/shadow"}
	sshdT      = []string{"sshd", "-T"}
)

// runChecks runs the checks of plan with ex and returns the findings (what
// is wrong on the machine but names nobody, tools that are missing) and
// the suspects, best first.
//
// They run in rounds, each round's commands at once (a command over SSH
// costs a session, which on a loaded host takes a good part of a second):
// first what vanishes soonest (traffic counters, sockets, containers,
// processes), then what needs the first round's answers (each container's
// sockets and interfaces, the processes' cgroups), and what lasts
// (accounts, keys, sshd settings) with the traffic's second sample.
func runChecks(ctx context.Context, ex executor, out *capWriter, plan culpritPlan, host string) ([]string, []Suspect, error) {
	c := &checker{ex: ex, out: out, plan: plan, host: host, missing: map[string]bool{}, procs: map[int]*procInfo{}, byID: map[string]*container{}}
	traffic := len(plan.dests) > 0
	first := []call{{label: "containers", argv: dockerPS}, {label: "sockets (host)", argv: ssAll},
		{label: "executables", argv: findExes}, {label: "processes by CPU", argv: psCPU}}
	if traffic {
		first = append([]call{{label: "traffic (first sample)", argv: catNetDev}}, first...)
		first = append(first, call{label: "interfaces (host)", argv: ipLink})
	}
	if plan.hypervisor {
		first = append(first, call{label: "vm interfaces", argv: []string{"virsh", "list", "--name"}}, call{label: "proxmox vms", argv: []string{"qm", "list"}})
		if plan.ip.IsValid() {
			first = append(first, call{label: "neighbour " + plan.ip.String(), argv: []string{"ip", "neigh", "show", "to", plan.ip.String()}})
		}
	}
	sampled := time.Now()
	r1 := c.batch(ctx, first...)
	c.readContainers(ctx, r1["containers"])
	c.weighSockets(parseSS(r1["sockets (host)"].out), "")

	var round []call
	for _, ct := range c.containers {
		if ct.pid <= 0 {
			continue
		}
		pid := strconv.Itoa(ct.pid)
		round = append(round, call{label: "sockets (container " + ct.name + ")", argv: []string{"nsenter", "-t", pid, "-n", "ss", "-H", "-tuanp"}})
		if traffic {
			round = append(round, call{label: "interfaces (container " + ct.name + ")", argv: []string{"nsenter", "-t", pid, "-n", "ip", "-o", "link"}})
		}
	}
	domains := parseVirshNames(r1["vm interfaces"].out)
	for _, d := range domains {
		round = append(round, call{label: "interfaces of vm " + d, argv: []string{"virsh", "domiflist", d}})
	}
	r2 := c.batch(ctx, round...)
	if plan.hypervisor {
		ifaces := map[string]string{}
		for _, d := range domains {
			for ifname, mac := range parseDomiflist(r2["interfaces of vm "+d].out) {
				ifaces[ifname], ifaces[mac] = d, d
			}
		}
		c.vmOf = vmResolver(ifaces)
		c.weighNeighbour(r1["neighbour "+plan.ip.String()].out, qmNames(r1["proxmox vms"].out))
	}
	for _, ct := range c.containers {
		c.weighSockets(parseSS(r2["sockets (container "+ct.name+")"].out), ct.id)
	}
	c.weighPublished()
	c.weighProcesses(r1["executables"].out, r1["processes by CPU"].out)

	since := "@" + strconv.FormatInt(plan.since.Unix(), 10)
	last := []call{{label: "accounts", argv: passwd}, {label: "password changes", argv: shadowDays},
		{label: "authorized_keys changed since " + plan.since.UTC().Format(time.RFC3339), argv: []string{"find", "/root", "/home", "-maxdepth", "4",
			"-path", "*/.ssh/authorized_keys*", "-newermt", since, "-printf", `%T@\t%u\t%p\n`}},
		{label: "sshd settings", argv: sshdT}}
	if cg := c.cgroupCall(); cg != nil {
		last = append([]call{*cg}, last...)
	}
	if traffic {
		last = append([]call{{label: "traffic (second sample)", argv: catNetDev, notBefore: sampled.Add(trafficSample)}}, last...)
	}
	r3 := c.batch(ctx, last...)
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	if traffic {
		links := map[string][]byte{}
		for _, ct := range c.containers {
			links[ct.id] = r2["interfaces (container "+ct.name+")"].out
		}
		c.weighTraffic(r1["traffic (first sample)"].out, r3["traffic (second sample)"].out, r1["interfaces (host)"].out, links, r3["traffic (second sample)"].at.Sub(sampled))
	}
	for pid, id := range parseCgroups(r3["containers of the implicated processes"].out) {
		if p := c.procs[pid]; p != nil {
			p.container = id
		}
	}
	c.weighAccounts(r3["accounts"].out, r3["password changes"].out, r3["authorized_keys changed since "+plan.since.UTC().Format(time.RFC3339)].out)
	findings := c.sshdFindings(r3["sshd settings"])
	suspects := c.suspects()
	findings = append(findings, c.notes...)
	if len(suspects) == 0 {
		findings = append(findings, "no check implicates anything on "+c.where())
	}
	return findings, suspects, nil
}
func (c *checker) where() string {
	if c.host == "" {
		return "this machine"
	}
	return c.host
}

// call is one command of the checks; notBefore holds it back (the
// traffic's second sample).
type call struct {
	label     string
	argv      []string
	notBefore time.Time
}

// reply is what a call printed, its exit code (127: not installed, -1: did
// not run) and when it ended.
type reply struct {
	out  []byte
	code int
	at   time.Time
}

// checkParallel bounds the commands the checks run at once on a machine
// (sshd allows 10 sessions per connection by default).
const checkParallel = 6

// batch runs calls at once, at most checkParallel of them, and then keeps
// each in the evidence under its label, in the order given. A tool found
// missing is noted once and not run again; its reply is empty with code 127.
func (c *checker) batch(ctx context.Context, calls ...call) map[string]reply {
	type result struct {
		reply
		dropped int64
		err     error
		took    time.Duration
		skipped bool
	}
	results := make([]result, len(calls))
	sem := make(chan struct{}, checkParallel)
	var wg sync.WaitGroup
	for i, cl := range calls {
		if c.missing[cl.argv[0]] {
			results[i] = result{reply: reply{code: 127}, skipped: true}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if wait := time.Until(cl.notBefore); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
				}
			}
			sem <- struct{}{}
			defer func() { <-sem }()
			w := newCapWriter(checkOutputCap)
			start := time.Now()
			code, err := c.ex(ctx, cl.argv, false, w)
			out, dropped := w.result()
			results[i] = result{reply: reply{out: out, code: code, at: time.Now()}, dropped: dropped, err: err, took: time.Since(start)}
		}()
	}
	wg.Wait()
	replies := make(map[string]reply, len(calls))
	for i, cl := range calls {
		r := results[i]
		replies[cl.label] = c.record(cl, r.reply, r.dropped, r.err, r.took, r.skipped)
	}
	return replies
}

// record writes one call's output to the evidence and notes a tool that
// is missing or a command that did not run.
func (c *checker) record(cl call, r reply, dropped int64, err error, took time.Duration, skipped bool) reply {
	if skipped {
		return r
	}
	fmt.Fprintf(c.out, "==> %s: %s (exit %d, %s) <==\n", cl.label, strings.Join(cl.argv, " "), r.code, took.Round(time.Millisecond))
	_, _ = c.out.Write(r.out)
	if len(r.out) > 0 && r.out[len(r.out)-1] != '\n' {
		_, _ = c.out.Write([]byte("\n"))
	}
	tool := cl.argv[0]
	switch {
	case err != nil:
		fmt.Fprintf(c.out, "==> abusewatch: %s did not run: %v <==\n", tool, err)
		c.notes = append(c.notes, fmt.Sprintf("%s: %s did not run on %s: %v", cl.label, tool, c.where(), err))
		return reply{code: -1, at: r.at}
	case notInstalled(r.code, r.out):
		fmt.Fprintf(c.out, "==> abusewatch: %s is not installed <==\n", tool)
		if !c.missing[tool] {
			c.missing[tool] = true
			c.notes = append(c.notes, fmt.Sprintf("%s is not installed on %s: %s skipped", tool, c.where(), cl.label))
		}
		return reply{code: 127, at: r.at}
	}
	if dropped > 0 {
		fmt.Fprintf(c.out, "==> abusewatch: %d more bytes not kept <==\n", dropped)
	}
	return r
}

var (
	fullContainerIDRE = regexp.MustCompile(`^[0-9a-f]{64}$`)
	containerNameRE   = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
)

// readContainers reads the running containers with their published ports
// from docker ps, then the first process of each (whose network namespace
// the socket check enters).
func (c *checker) readContainers(ctx context.Context, r reply) {
	if r.code != 0 {
		if r.code > 0 && r.code != 127 {
			c.notes = append(c.notes, fmt.Sprintf("docker ps failed on %s (exit %d): containers not checked", c.where(), r.code))
		}
		return
	}
	c.containers = parseDockerPS(r.out)
	if len(c.containers) == 0 {
		return
	}
	argv := []string{"docker", "inspect", "--format", "{{.Id}}\t{{.State.Pid}}"}
	for _, ct := range c.containers {
		argv = append(argv, ct.id)
	}
	pids := parseInspectPIDs(c.batch(ctx, call{label: "container processes", argv: argv})["container processes"].out)
	for i := range c.containers {
		c.containers[i].pid = pids[c.containers[i].id]
		c.byID[c.containers[i].id] = &c.containers[i]
	}
}

// parseDockerPS reads `docker ps --format {{.ID}}\t{{.Names}}\t{{.Ports}}`;
// lines that are not that (an id of 64 hex digits first) are skipped.
func parseDockerPS(out []byte) []container {
	var cs []container
	for line := range lines(out) {
		f := strings.SplitN(line, "\t", 3)
		if len(f) < 2 || !fullContainerIDRE.MatchString(f[0]) {
			continue
		}
		ct := container{id: f[0], name: f[1]}
		if !containerNameRE.MatchString(ct.name) {
			ct.name = ct.id[:12]
		}
		if len(f) == 3 {
			ct.ports = parsePorts(f[2])
		}
		cs = append(cs, ct)
	}
	return cs
}

func parseInspectPIDs(out []byte) map[string]int {
	pids := map[string]int{}
	for line := range lines(out) {
		id, pid, ok := strings.Cut(line, "\t")
		if n, err := strconv.Atoi(strings.TrimSpace(pid)); ok && err == nil && n > 0 && fullContainerIDRE.MatchString(id) {
			pids[id] = n
		}
	}
	return pids
}

// published is one port mapping of `docker ps`: host ports first..last to
// the container's port.
type published struct {
	proto       string
	first, last uint16
	text        string
}

var portRE = regexp.MustCompile(`^(?:.*:)?(\d+)(?:-(\d+))?->\d+(?:-\d+)?/(tcp|udp|sctp)$`)

// parsePorts reads docker's Ports column: "0.0.0.0:123->123/udp, :::123->123/udp, 80/tcp".
func parsePorts(s string) []published {
	var ps []published
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		m := portRE.FindStringSubmatch(p)
		if m == nil {
			continue // exposed, not published
		}
		first, err1 := strconv.ParseUint(m[1], 10, 16)
		last := first
		var err2 error
		if m[2] != "" {
			last, err2 = strconv.ParseUint(m[2], 10, 16)
		}
		if err1 != nil || err2 != nil {
			continue
		}
		ps = append(ps, published{proto: m[3], first: uint16(first), last: uint16(last), text: p})
	}
	return ps
}

// weighPublished names the containers that publish an amplification port:
// the port may be published whether or not anything in them listens.
func (c *checker) weighPublished() {
	for _, port := range c.plan.udpPorts {
		for i := range c.containers {
			ct := &c.containers[i]
			for _, p := range ct.ports {
				if p.proto == "udp" && p.first <= port && port <= p.last {
					ct.score += 90
					ct.why = append(ct.why, fmt.Sprintf("publishes UDP %d on the host (%s)", port, p.text))
				}
			}
		}
	}
}

// sock is one line of `ss -H -tuanp`.
type sock struct {
	proto, state string
	local, peer  netip.AddrPort
	wildPeer     bool
	procs        []ssProc
}

type ssProc struct {
	comm string
	pid  int
}

var ssProcRE = regexp.MustCompile(`\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=\d+\)`)

// parseSS reads `ss -H -tuanp`: "udp UNCONN 0 0 0.0.0.0:123 0.0.0.0:* users:((…))".
// Lines it cannot read are skipped.
func parseSS(out []byte) []sock {
	var socks []sock
	for line := range lines(out) {
		f := strings.Fields(line)
		if len(f) < 6 || (f[0] != "tcp" && f[0] != "udp") {
			continue
		}
		local, _, ok := parseSSAddr(f[4])
		if !ok {
			continue
		}
		peer, wild, ok := parseSSAddr(f[5])
		if !ok {
			continue
		}
		s := sock{proto: f[0], state: f[1], local: local, peer: peer, wildPeer: wild}
		if len(f) > 6 {
			for _, m := range ssProcRE.FindAllStringSubmatch(strings.Join(f[6:], " "), -1) {
				if pid, err := strconv.Atoi(m[2]); err == nil {
					s.procs = append(s.procs, ssProc{comm: m[1], pid: pid})
				}
			}
		}
		socks = append(socks, s)
	}
	return socks
}

// parseSSAddr reads an ss address: "1.2.3.4:80", "[::1]:80", "*:80",
// "0.0.0.0%eth0:68", "0.0.0.0:*". wild is set for a "*" port or address.
func parseSSAddr(s string) (ap netip.AddrPort, wild, ok bool) {
	i := strings.LastIndexByte(s, ':')
	if i < 0 {
		return ap, false, false
	}
	host, port := s[:i], s[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if j := strings.IndexByte(host, '%'); j >= 0 {
		host = host[:j]
	}
	var p uint64
	if port == "*" {
		wild = true
	} else {
		var err error
		if p, err = strconv.ParseUint(port, 10, 16); err != nil {
			return ap, false, false
		}
	}
	var addr netip.Addr
	if host == "*" {
		wild = true
		addr = netip.IPv4Unspecified()
	} else {
		var err error
		if addr, err = netip.ParseAddr(host); err != nil {
			return ap, false, false
		}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(p)), wild, true
}

// weighSockets scores the processes behind socks, seen in the network
// namespace of container ctID ("" for the host's own).
func (c *checker) weighSockets(socks []sock, ctID string) {
	for _, port := range c.plan.udpPorts {
		for _, s := range socks {
			if s.proto != "udp" || s.local.Port() != port || !(s.wildPeer || s.state == "UNCONN") {
				continue
			}
			for _, sp := range s.procs {
				if ctID == "" && sp.comm == "docker-proxy" {
					// The proxy of a published port: the publishing
					// container is the suspect, found from docker ps.
					continue
				}
				p := c.proc(sp.pid, sp.comm, ctID)
				if !p.listens {
					p.listens = true
					p.score += 100
					p.why = append(p.why, fmt.Sprintf("listens on UDP %s (the notice's %s reflector port)", s.local, c.portAttack(port)))
				}
			}
		}
	}
	type key struct {
		pid  int
		dest string
	}
	counts := map[key]int{}
	comms := map[int]string{}
	var order []key
	for _, d := range c.plan.dests {
		for _, s := range socks {
			if s.wildPeer || s.peer.Addr() != d.Dst || (d.DstPort != 0 && s.peer.Port() != d.DstPort) || (d.Proto != "" && d.Proto != s.proto) {
				continue
			}
			for _, sp := range s.procs {
				k := key{sp.pid, flowString(d)}
				if counts[k] == 0 {
					order = append(order, k)
				}
				counts[k]++
				comms[sp.pid] = sp.comm
			}
		}
	}
	for _, k := range order {
		p := c.proc(k.pid, comms[k.pid], ctID)
		if !p.sockets {
			p.sockets = true
			p.score += 100
		}
		p.score += min(counts[k], 50)
		p.why = append(p.why, fmt.Sprintf("%d socket(s) to %s", counts[k], k.dest))
	}
}

func (c *checker) portAttack(port uint16) string {
	for a, p := range amplificationPorts {
		if p == port {
			return strings.TrimSuffix(a, "_amplification")
		}
	}
	return strconv.Itoa(int(port))
}

// proc returns the record of pid, made on first sight. ctID is where it
// was seen; its cgroup, read later, has the last word.
func (c *checker) proc(pid int, comm, ctID string) *procInfo {
	p, ok := c.procs[pid]
	if !ok {
		p = &procInfo{pid: pid, comm: comm, container: ctID}
		c.procs[pid] = p
	}
	return p
}

// netdev is one interface's counters in /proc/net/dev.
type netdev struct{ rxBytes, rxPackets, txBytes, txPackets uint64 }

func parseNetDev(out []byte) map[string]netdev {
	devs := map[string]netdev{}
	for line := range lines(out) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 10 {
			continue
		}
		var n [4]uint64
		var err error
		for i, col := range []int{0, 1, 8, 9} {
			if n[i], err = strconv.ParseUint(f[col], 10, 64); err != nil {
				break
			}
		}
		if err == nil {
			devs[strings.TrimSpace(name)] = netdev{n[0], n[1], n[2], n[3]}
		}
	}
	return devs
}

// ipLinkRE reads `ip -o link`: "11: veth1a2b@if10: <…>".
var ipLinkRE = regexp.MustCompile(`^(\d+): ([^:@\s]+)(?:@if(\d+))?:`)

// parseIPLink maps interface index to name, and index to the index of
// its veth peer (in the other namespace).
func parseIPLink(out []byte) (names map[int]string, peers map[int]int) {
	names, peers = map[int]string{}, map[int]int{}
	for line := range lines(out) {
		m := ipLinkRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		idx, _ := strconv.Atoi(m[1])
		names[idx] = m[2]
		if m[3] != "" {
			peers[idx], _ = strconv.Atoi(m[3])
		}
	}
	return names, peers
}

// weighTraffic compares two /proc/net/dev samples taken over span and says
// which interface carried the most packets: on the host side a container's
// veth receives what the container sends. hostLinks is the host's
// `ip -o link`, ctLinks each container's.
func (c *checker) weighTraffic(before, after, hostLinks []byte, ctLinks map[string][]byte, span time.Duration) {
	names, _ := parseIPLink(hostLinks)
	owner := map[string]string{} // host interface -> container id
	for id, out := range ctLinks {
		_, peers := parseIPLink(out)
		for _, hostIdx := range peers {
			if n, ok := names[hostIdx]; ok {
				owner[n] = id
			}
		}
	}
	secs := span.Seconds()
	b, a := parseNetDev(before), parseNetDev(after)
	if secs <= 0 || len(b) == 0 || len(a) == 0 {
		return
	}
	type rate struct {
		dev     string
		packets uint64 // sent by what is behind the interface
		bytes   uint64
	}
	var rates []rate
	for dev, x := range a {
		y, ok := b[dev]
		if !ok || dev == "lo" {
			continue
		}
		r := rate{dev: dev}
		if owner[dev] != "" || guestFacing(dev) {
			r.packets, r.bytes = x.rxPackets-y.rxPackets, x.rxBytes-y.rxBytes
		} else {
			r.packets, r.bytes = x.txPackets-y.txPackets, x.txBytes-y.txBytes
		}
		rates = append(rates, r)
	}
	slices.SortFunc(rates, func(p, q rate) int { return cmp.Or(cmp.Compare(q.packets, p.packets), cmp.Compare(p.dev, q.dev)) })
	fmt.Fprintf(c.out, "==> traffic over %.1fs, packets sent through each interface <==\n", secs)
	for _, r := range rates {
		fmt.Fprintf(c.out, "%s\t%d packets\t%d bytes\t%s\n", r.dev, r.packets, r.bytes, c.containerName(owner[r.dev]))
	}
	if len(rates) > 0 && rates[0].packets > 0 {
		top := rates[0]
		why := fmt.Sprintf("its interface %s carried the most packets: %.0f/s", top.dev, float64(top.packets)/secs)
		if ct := c.byID[owner[top.dev]]; ct != nil {
			ct.score += 20
			ct.why = append(ct.why, why)
		} else if c.vmOf != nil {
			if name, how := c.vmOf(top.dev, ""); name != "" {
				v := c.vm(name, "")
				v.Score += 20
				v.Why = append(v.Why, why+" ("+how+")")
			}
		}
	}
}
func (c *checker) containerName(id string) string {
	if ct := c.byID[id]; ct != nil {
		return ct.name
	}
	return ""
}

// guestFacing reports whether a host interface leads to a container or VM,
// so that what it receives is what the guest sends: veth pairs, libvirt's
// vnetN, Proxmox's tapNiM and firewall bridges.
func guestFacing(dev string) bool {
	for _, p := range []string{"veth", "vnet", "tap", "fwpr", "fwln"} {
		if strings.HasPrefix(dev, p) {
			return true
		}
	}
	return false
}

var (
	vmNameRE     = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$`)
	macRE        = regexp.MustCompile(`^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$`)
	proxmoxTapRE = regexp.MustCompile(`^tap(\d+)i\d+$`)
	neighRE      = regexp.MustCompile(`\bdev (\S+)(?: lladdr ([0-9a-fA-F:]{17}))?`)
)

// parseVirshNames reads `virsh list --name`: one domain per line. Names
// that could read as options or hold odd bytes are left out: they go on a
// command line next.
func parseVirshNames(out []byte) []string {
	var names []string
	for line := range lines(out) {
		if n := strings.TrimSpace(line); vmNameRE.MatchString(n) {
			names = append(names, n)
		}
	}
	return names
}

// parseDomiflist reads `virsh domiflist`: interface name -> MAC.
func parseDomiflist(out []byte) map[string]string {
	ifs := map[string]string{}
	for line := range lines(out) {
		f := strings.Fields(line)
		if len(f) >= 5 && macRE.MatchString(f[len(f)-1]) {
			ifs[f[0]] = strings.ToLower(f[len(f)-1])
		}
	}
	return ifs
}

// qmNames reads `qm list`: VMID -> name.
func qmNames(out []byte) map[string]string {
	names := map[string]string{}
	for line := range lines(out) {
		f := strings.Fields(line)
		if len(f) >= 2 {
			if _, err := strconv.Atoi(f[0]); err == nil && vmNameRE.MatchString(f[1]) {
				names[f[0]] = f[1]
			}
		}
	}
	return names
}

// vmResolver names the VM behind a hypervisor interface: the libvirt
// domain that virsh domiflist gave it (ifaces: interface or MAC -> domain),
// else the Proxmox VMID in its name (tapNiM).
func vmResolver(ifaces map[string]string) func(dev, mac string) (vm, how string) {
	return func(dev, mac string) (string, string) {
		if d := cmp.Or(ifaces[dev], ifaces[mac]); d != "" {
			return d, "virsh domiflist lists " + dev + " as an interface of " + d
		}
		if m := proxmoxTapRE.FindStringSubmatch(dev); m != nil {
			return m[1], "Proxmox names the interfaces of VM " + m[1] + " tap" + m[1] + "iN"
		}
		return "", ""
	}
}

// weighNeighbour names the VM whose interface carries the incident's IP,
// from the hypervisor's neighbour entry for it (`ip neigh show to IP`).
func (c *checker) weighNeighbour(out []byte, qm map[string]string) {
	for line := range lines(out) {
		m := neighRE.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		dev, mac := m[1], strings.ToLower(m[2])
		name, how := c.vmOf(dev, mac)
		if name == "" {
			continue
		}
		v := c.vm(name, qm[name])
		v.Score += 200
		v.Why = append(v.Why, fmt.Sprintf("its interface %s carries %s (neighbour %s; %s)", dev, c.plan.ip, cmp.Or(mac, "no MAC yet"), how))
	}
}

// vm returns the suspect for the VM id (a libvirt domain or a Proxmox VMID)
// made on first sight; label is its name when the tools give one.
func (c *checker) vm(id, label string) *Suspect {
	if c.vms == nil {
		c.vms = map[string]*Suspect{}
	}
	v, ok := c.vms[id]
	if !ok {
		v = &Suspect{Kind: "vm", Name: cmp.Or(label, id), Host: c.host, VM: id}
		c.vms[id] = v
	}
	return v
}

// suspiciousExe says why an executable path is suspicious, "" if it is not.
func suspiciousExe(exe string) string {
	path, deleted := strings.CutSuffix(exe, " (deleted)")
	var whys []string
	if deleted {
		whys = append(whys, "its executable was deleted")
	}
	for _, dir := range []string{"/tmp/", "/var/tmp/", "/dev/shm/"} {
		if strings.HasPrefix(path, dir) {
			whys = append(whys, "runs from "+strings.TrimSuffix(dir, "/"))
			break
		}
	}
	dirs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	for _, d := range dirs[:max(len(dirs)-1, 0)] {
		if strings.HasPrefix(d, ".") && d != "." && d != ".." {
			whys = append(whys, "from a hidden directory "+d)
			break
		}
	}
	return strings.Join(whys, ", ")
}

// topCPU is the share of a CPU from which a process counts as a consumer
// worth naming (ps's %cpu: over the process's life, 100 = one core).
const topCPU = 50.0

// weighProcesses reads every process's executable (find's %l of
// /proc/PID/exe) and CPU share (ps), and weighs the suspicious ones.
func (c *checker) weighProcesses(exeOut, psOut []byte) {
	exes := map[int]string{}
	for line := range lines(exeOut) {
		dir, link, ok := strings.Cut(line, "\t")
		if pid, err := strconv.Atoi(strings.TrimPrefix(dir, "/proc/")); ok && err == nil && link != "" {
			exes[pid] = link
		}
	}
	type psLine struct {
		user, comm string
		cpu        float64
	}
	ps := map[int]psLine{}
	for line := range lines(psOut) {
		f := strings.Fields(line)
		if len(f) < 4 {
			continue
		}
		pid, err1 := strconv.Atoi(f[0])
		cpu, err2 := strconv.ParseFloat(f[2], 64)
		if err1 == nil && err2 == nil {
			ps[pid] = psLine{user: f[1], cpu: cpu, comm: strings.Join(f[3:], " ")}
		}
	}
	for pid, exe := range exes {
		if why := suspiciousExe(exe); why != "" {
			p := c.proc(pid, ps[pid].comm, "")
			p.score += 40
			p.why = append(p.why, why+": "+exe)
		}
	}
	for pid, l := range ps {
		if l.cpu >= topCPU {
			p := c.proc(pid, l.comm, "")
			p.score += 20
			p.why = append(p.why, fmt.Sprintf("uses %.0f%% CPU", l.cpu))
		}
	}
	for pid, p := range c.procs {
		p.exe = exes[pid]
		if l, ok := ps[pid]; ok {
			p.user, p.cpu = l.user, l.cpu
			if p.comm == "" {
				p.comm = l.comm
			}
		}
	}
}

// cgroupCall reads the cgroups of every implicated process, which name
// its container; nil when none is implicated.
func (c *checker) cgroupCall() *call {
	pids := make([]int, 0, len(c.procs))
	for pid := range c.procs {
		pids = append(pids, pid)
	}
	if len(pids) == 0 {
		return nil
	}
	slices.Sort(pids)
	argv := []string{"grep", "-H", "-E", "docker|containerd|libpod"}
	for _, pid := range pids {
		argv = append(argv, "/proc/"+strconv.Itoa(pid)+"/cgroup")
	}
	return &call{label: "containers of the implicated processes", argv: argv}
}

var cgroupRE = regexp.MustCompile(`^/proc/(\d+)/cgroup:.*?(?:docker|libpod|cri-containerd)[-/]([0-9a-f]{64})`)

// parseCgroups maps pids to the container id in their cgroup lines
// (grep -H output: "/proc/42/cgroup:9:name=systemd:/docker/ID" in cgroup v1,
// "…:0::/system.slice/docker-ID.scope" in v2).
func parseCgroups(out []byte) map[int]string {
	ids := map[int]string{}
	for line := range lines(out) {
		if m := cgroupRE.FindStringSubmatch(line); m != nil {
			pid, _ := strconv.Atoi(m[1])
			ids[pid] = m[2]
		}
	}
	return ids
}

// nologinShells cannot log in: accounts with one are not suspects.
var nologinShells = []string{"/usr/sbin/nologin", "/sbin/nologin", "/bin/false", "/usr/bin/false", "/bin/sync"}

// weighAccounts names the login accounts whose password changed since the
// plan's date, second UID 0 accounts, and authorized_keys files changed
// since then, from passwd (name, uid, shell), the shadow's days and find.
func (c *checker) weighAccounts(passwdOut, shadowOut, keysOut []byte) {
	type account struct {
		uid   int
		login bool
	}
	accts := map[string]account{}
	var order []string
	for line := range lines(passwdOut) {
		f := strings.Split(line, "\t")
		if len(f) != 3 {
			continue
		}
		uid, err := strconv.Atoi(f[1])
		if err != nil {
			continue
		}
		accts[f[0]] = account{uid: uid, login: !slices.Contains(nologinShells, f[2])}
		order = append(order, f[0])
	}
	var sus []Suspect
	for _, name := range order {
		if a := accts[name]; a.uid == 0 && name != "root" {
			sus = append(sus, Suspect{Kind: "account", Name: name, User: name, Score: 60, Why: []string{"a second account with UID 0"}})
		}
	}
	sinceDay := c.plan.since.Unix() / 86400
	for line := range lines(shadowOut) {
		name, day, ok := strings.Cut(line, "\t")
		d, err := strconv.ParseInt(day, 10, 64)
		if a, known := accts[name]; ok && err == nil && known && a.login && d >= sinceDay {
			sus = append(sus, Suspect{Kind: "account", Name: name, User: name, Score: 15,
				Why: []string{fmt.Sprintf("password changed on %s, after %s", time.Unix(d*86400, 0).UTC().Format(time.DateOnly), c.plan.since.UTC().Format(time.DateOnly))}})
		}
	}
	for line := range lines(keysOut) {
		f := strings.SplitN(line, "\t", 3)
		if len(f) != 3 {
			continue
		}
		secs, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			continue
		}
		sus = append(sus, Suspect{Kind: "ssh_key", Name: f[2], User: f[1], Score: 25,
			Why: []string{fmt.Sprintf("changed at %s: %s", time.Unix(int64(secs), 0).UTC().Format(time.RFC3339), f[2])}})
	}
	for i := range sus {
		sus[i].Host = c.host
	}
	c.extra = append(c.extra, sus...)
}

// sshdFindings reads sshd's effective settings (sshd -T) and reports
// those that let an attacker in with a password or as root.
func (c *checker) sshdFindings(r reply) []string {
	if r.code != 0 {
		return nil
	}
	var findings []string
	for line := range lines(r.out) {
		k, v, _ := strings.Cut(strings.ToLower(strings.TrimSpace(line)), " ")
		switch {
		case k == "passwordauthentication" && v == "yes":
			findings = append(findings, "sshd on "+c.where()+" allows password logins (passwordauthentication yes)")
		case k == "permitrootlogin" && v == "yes":
			findings = append(findings, "sshd on "+c.where()+" allows root logins with a password (permitrootlogin yes)")
		}
	}
	return findings
}

// suspects turns the weighed processes and containers into suspects, best
// first. A container ranks just above its best process, and the lines of
// that process come first in its why.
func (c *checker) suspects() []Suspect {
	var sus []Suspect
	best := map[string]*procInfo{}
	for _, p := range c.procs {
		if p.score == 0 {
			continue
		}
		ct := c.byID[p.container]
		s := Suspect{Kind: "process", Name: p.comm, Host: c.host, PID: p.pid, User: p.user, Exe: p.exe, Why: p.why, Score: p.score}
		if ct != nil {
			s.Container = ct.name
		} else if p.container != "" {
			s.Container = p.container[:12]
		}
		sus = append(sus, s)
		if b := best[p.container]; p.container != "" && (b == nil || p.score > b.score || p.score == b.score && p.pid < b.pid) {
			best[p.container] = p
		}
	}
	for _, ct := range c.containers {
		b := best[ct.id]
		if b == nil && ct.score == 0 {
			continue
		}
		s := Suspect{Kind: "container", Name: ct.name, Host: c.host, Container: ct.name, Score: ct.score + 1}
		if b != nil {
			s.Score += b.score
			exe := b.exe
			if exe == "" {
				exe = b.comm
			}
			s.Why = append(s.Why, fmt.Sprintf("pid %d %s, %s", b.pid, exe, strings.Join(b.why, ", ")))
		}
		s.Why = append(s.Why, ct.why...)
		sus = append(sus, s)
	}
	for _, v := range c.vms {
		sus = append(sus, *v)
	}
	sus = append(sus, c.extra...)
	return RankSuspects(sus)
}

// RankSuspects sorts suspects best first (score, then a stable order) and
// keeps the best maxSuspects.
func RankSuspects(sus []Suspect) []Suspect {
	kindOrder := func(k string) int {
		return slices.Index([]string{"container", "vm", "process", "account", "ssh_key"}, k)
	}
	slices.SortStableFunc(sus, func(a, b Suspect) int {
		return cmp.Or(cmp.Compare(b.Score, a.Score), cmp.Compare(kindOrder(a.Kind), kindOrder(b.Kind)),
			cmp.Compare(a.Host, b.Host), cmp.Compare(a.PID, b.PID), cmp.Compare(a.Name, b.Name))
	})
	if len(sus) > maxSuspects {
		sus = sus[:maxSuspects]
	}
	return sus
}
