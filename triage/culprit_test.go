package triage

import (
	"context"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
)

func TestPlanCulprit(t *testing.T) {
	ip := netip.MustParseAddr("192.0.2.7")
	since := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	victim := netip.MustParseAddr("203.0.113.50")
	for _, tt := range []struct {
		name  string
		t     Target
		ports []uint16
		dests []Flow
		argv  []string
	}{
		{"ntp amplification without events", Target{IP: ip, Attack: "ntp_amplification", Since: since}, []uint16{123}, nil,
			[]string{"abusewatch-checks", "udp-listener=123", "since=2026-11-20T00:00:00Z"}},
		{"dns amplification from a second port, victim named",
			Target{IP: ip, Attack: "dns_amplification", Since: since, Flows: []Flow{
				{Proto: "udp", SrcPort: 5353, Dst: victim, DstPort: 80}, {Proto: "udp", SrcPort: 53, Dst: victim, DstPort: 80}}},
			[]uint16{53, 5353}, []Flow{{Proto: "udp", SrcPort: 5353, Dst: victim, DstPort: 80}, {Proto: "udp", SrcPort: 53, Dst: victim, DstPort: 80}},
			[]string{"abusewatch-checks", "udp-listener=53", "udp-listener=5353", "destination=203.0.113.50:80/udp", "destination=203.0.113.50:80/udp", "since=2026-11-20T00:00:00Z"}},
		{"flood: destinations only, our own IP left out",
			Target{IP: ip, Attack: "syn_flood", Since: since, Flows: []Flow{{Proto: "tcp", Dst: victim, DstPort: 443}, {Proto: "tcp", Dst: ip, DstPort: 22}, {Proto: "tcp", Dst: victim, DstPort: 443}}},
			nil, []Flow{{Proto: "tcp", Dst: victim, DstPort: 443}},
			[]string{"abusewatch-checks", "destination=203.0.113.50:443/tcp", "since=2026-11-20T00:00:00Z"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			p := planCulprit(tt.t)
			if !slices.Equal(p.udpPorts, tt.ports) || !slices.Equal(p.dests, tt.dests) {
				t.Errorf("plan ports %v dests %v, want %v %v", p.udpPorts, p.dests, tt.ports, tt.dests)
			}
			if got := p.argv(); !slices.Equal(got, tt.argv) {
				t.Errorf("argv %q, want %q", got, tt.argv)
			}
		})
	}
}

func TestParseSS(t *testing.T) {
	out := []byte(`udp UNCONN 0 0 0.0.0.0:123 0.0.0.0:* users:(("ntpd",pid=812,fd=3))
udp ESTAB 0 0 10.1.2.5:40000 10.1.2.50:80 users:(("wate",pid=4242,fd=7),("wate",pid=4243,fd=7))
tcp LISTEN 0 1 *:80 *:* users:(("nc",pid=9,fd=3))
tcp ESTAB 0 0 [::ffff:192.0.2.7]:22 [::ffff:198.51.100.1]:5000
udp UNCONN 0 0 0.0.0.0%eth0:68 0.0.0.0:*
Cannot open netlink socket: Operation not permitted
nsenter: cannot open /proc/1/ns/net: No such file or directory
`)
	got := parseSS(out)
	ap := netip.MustParseAddrPort
	want := []sock{
		{proto: "udp", state: "UNCONN", local: ap("0.0.0.0:123"), peer: ap("0.0.0.0:0"), wildPeer: true, procs: []ssProc{{"ntpd", 812}}},
		{proto: "udp", state: "ESTAB", local: ap("10.1.2.5:40000"), peer: ap("10.1.2.50:80"), procs: []ssProc{{"wate", 4242}, {"wate", 4243}}},
		{proto: "tcp", state: "LISTEN", local: ap("0.0.0.0:80"), peer: ap("0.0.0.0:0"), wildPeer: true, procs: []ssProc{{"nc", 9}}},
		{proto: "tcp", state: "ESTAB", local: ap("192.0.2.7:22"), peer: ap("198.51.100.1:5000")},
		{proto: "udp", state: "UNCONN", local: ap("0.0.0.0:68"), peer: ap("0.0.0.0:0"), wildPeer: true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseSS:\n got %+v\nwant %+v", got, want)
	}
}

func TestParsePorts(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []published
	}{
		{"0.0.0.0:123->123/udp, :::123->123/udp", []published{{"udp", 123, 123, "0.0.0.0:123->123/udp"}, {"udp", 123, 123, ":::123->123/udp"}}},
		{"127.0.0.1:8000-8010->8000-8010/tcp, 80/tcp", []published{{"tcp", 8000, 8010, "127.0.0.1:8000-8010->8000-8010/tcp"}}},
		{"", nil},
		{"0.0.0.0:99999->1/udp", nil},
	} {
		if got := parsePorts(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parsePorts(%q) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestSuspiciousExe(t *testing.T) {
	for _, tt := range []struct{ exe, want string }{
		{"/usr/sbin/sshd", ""},
		{"/tmp/.x/wate (deleted)", "its executable was deleted, runs from /tmp, from a hidden directory .x"},
		{"/var/tmp/kworker", "runs from /var/tmp"},
		{"/dev/shm/a", "runs from /dev/shm"},
		{"/home/bob/.cache/miner", "from a hidden directory .cache"},
		{"/usr/bin/.hidden-file", ""}, // a hidden file, not a hidden directory
		{"/usr/lib/foo (deleted)", "its executable was deleted"},
	} {
		if got := suspiciousExe(tt.exe); got != tt.want {
			t.Errorf("suspiciousExe(%q) = %q, want %q", tt.exe, got, tt.want)
		}
	}
}

func TestParseCgroupsAndLinks(t *testing.T) {
	id := strings.Repeat("ab", 32)
	out := []byte("/proc/42/cgroup:9:name=systemd:/docker/" + id + "\n/proc/43/cgroup:0::/system.slice/docker-" + id + ".scope\n/proc/44/cgroup:0::/user.slice\ngrep: /proc/45/cgroup: No such file or directory\n")
	if got, want := parseCgroups(out), map[int]string{42: id, 43: id}; !reflect.DeepEqual(got, want) {
		t.Errorf("parseCgroups = %v, want %v", got, want)
	}
	names, peers := parseIPLink([]byte("1: lo: <LOOPBACK,UP> mtu 65536\n11: veth1a2b@if10: <BROADCAST> mtu 1500\n5: aw1: <BROADCAST>\n"))
	if want := map[int]string{1: "lo", 11: "veth1a2b", 5: "aw1"}; !reflect.DeepEqual(names, want) {
		t.Errorf("names %v, want %v", names, want)
	}
	if want := map[int]int{11: 10}; !reflect.DeepEqual(peers, want) {
		t.Errorf("peers %v, want %v", peers, want)
	}
	dev := parseNetDev([]byte("Inter-|   Receive\n face |bytes\n  eth0: 100 2 0 0 0 0 0 0 300 4 0 0 0 0 0 0\n"))
	if want := map[string]netdev{"eth0": {100, 2, 300, 4}}; !reflect.DeepEqual(dev, want) {
		t.Errorf("netdev %v, want %v", dev, want)
	}
}

// TestCulpritMissingTools: a host without docker, nsenter or sshd still
// gets the other checks, and the run says what was missing. The host is a
// real sshd whose sessions' PATH holds only some tools.
func TestCulpritMissingTools(t *testing.T) {
	bin := t.TempDir()
	for _, tool := range []string{"ss", "cat", "find", "ps", "awk", "grep", "ip"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s: %v (scripts/test-deps.sh installs it)", tool, err)
			}
			t.Skipf("%s: %v", tool, err)
		}
		if err := os.Symlink(p, filepath.Join(bin, tool)); err != nil {
			t.Fatal(err)
		}
	}
	s := testserver.StartSSHD(t, testserver.SSHDOptions{SessionPath: bin})
	tg := testTarget()
	tg.Host = &config.Host{Name: "h1", SSH: s.User + "@" + s.Addr, KeyFile: s.ClientKeyFile, KnownHostsFile: s.KnownHostsFile}
	tg.Attack = "ntp_amplification"
	tg.Flows = []Flow{{Proto: "udp", SrcPort: 123, Dst: netip.MustParseAddr("198.51.100.7"), DstPort: 80}}
	cfg := config.Triage{Culprit: CulpritSSH}
	jobs := Plan(cfg, tg)
	if len(jobs) != 1 || jobs[0].Name != CulpritJob {
		t.Fatalf("plan %+v, want the culprit job alone (no hypervisor)", jobs)
	}
	res := NewRunner(cfg, Options{}).Run(context.Background(), tg, jobs)[0]
	if res.Status != StatusOK {
		t.Fatalf("status %s (%s), want ok", res.Status, res.Error)
	}
	for _, want := range []string{"docker is not installed on h1: containers skipped", "sshd is not installed on h1: sshd settings skipped"} {
		if !slices.Contains(res.Findings, want) {
			t.Errorf("findings %q lack %q", res.Findings, want)
		}
	}
	for _, want := range []string{"==> sockets (host): ss -H -tuanp (exit 0, ", "==> executables: find /proc", "==> traffic (second sample): cat /proc/net/dev (exit 0, "} {
		if !strings.Contains(string(res.Output), want) {
			t.Errorf("evidence lacks %q:\n%s", want, res.Output)
		}
	}
}

func TestParseHypervisorTools(t *testing.T) {
	names := parseVirshNames([]byte("web-vm\nntp.vm\n\n-rf\nbad name\n"))
	if want := []string{"web-vm", "ntp.vm"}; !slices.Equal(names, want) {
		t.Errorf("virsh names %q, want %q", names, want)
	}
	ifs := parseDomiflist([]byte(" Interface   Type     Source   Model    MAC\n-------------------------------------------------------\n vnet3       bridge   br0      virtio   52:54:00:AA:bb:cc\n -           network  default  virtio   52:54:00:11:22:33\n"))
	if want := map[string]string{"vnet3": "52:54:00:aa:bb:cc", "-": "52:54:00:11:22:33"}; !reflect.DeepEqual(ifs, want) {
		t.Errorf("domiflist %v, want %v", ifs, want)
	}
	qm := qmNames([]byte("      VMID NAME                 STATUS     MEM(MB)    BOOTDISK(GB) PID\n       100 gitlab               running    8192              64.00 4242\n       101 ntp                  stopped    512                8.00 0\n"))
	if want := map[string]string{"100": "gitlab", "101": "ntp"}; !reflect.DeepEqual(qm, want) {
		t.Errorf("qm %v, want %v", qm, want)
	}
	for _, tt := range []struct {
		dev  string
		want bool
	}{{"veth1a2b", true}, {"vnet0", true}, {"tap100i0", true}, {"fwpr100p0", true}, {"eth0", false}, {"br0", false}} {
		if got := guestFacing(tt.dev); got != tt.want {
			t.Errorf("guestFacing(%q) = %v", tt.dev, got)
		}
	}
}

// TestWeighNeighbour: the hypervisor's neighbour entry names the VM by its
// interface (virsh) or by Proxmox's tap naming, with the qm name if known.
func TestWeighNeighbour(t *testing.T) {
	for _, tt := range []struct {
		name, out string
		virsh     map[string]string // interface or MAC -> domain
		qm        map[string]string
		want      string // the VM's suspect name, "" for none
	}{
		{"virsh by interface", "192.0.2.9 dev vnet3 lladdr 52:54:00:aa:bb:cc REACHABLE", map[string]string{"vnet3": "ntp-vm"}, nil, "ntp-vm"},
		{"virsh by MAC", "192.0.2.9 dev br0 lladdr 52:54:00:aa:bb:cc STALE", map[string]string{"52:54:00:aa:bb:cc": "ntp-vm"}, nil, "ntp-vm"},
		{"proxmox tap with qm name", "192.0.2.9 dev tap101i0 lladdr 52:54:00:aa:bb:cc REACHABLE", nil, map[string]string{"101": "ntp"}, "ntp"},
		{"no VM behind the interface", "192.0.2.9 dev eth0 lladdr 52:54:00:aa:bb:cc REACHABLE", nil, nil, ""},
		{"no entry", "", nil, nil, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c := &checker{plan: culpritPlan{ip: netip.MustParseAddr("192.0.2.9")}, host: "hv1"}
			c.vmOf = vmResolver(tt.virsh)
			c.weighNeighbour([]byte(tt.out), tt.qm)
			sus := c.suspects()
			switch {
			case tt.want == "" && len(sus) != 0:
				t.Errorf("suspects %+v, want none", sus)
			case tt.want != "" && (len(sus) != 1 || sus[0].Kind != "vm" || sus[0].Name != tt.want || !strings.Contains(sus[0].Why[0], "carries 192.0.2.9")):
				t.Errorf("suspects %+v, want VM %s", sus, tt.want)
			}
		})
	}
}
