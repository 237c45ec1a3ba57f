package pipeline

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/internal/testutil"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// culpritIPs are the host's addresses, one per incident of a test (an
// incident is per IP). Traffic goes only to the test's own networks.
var culpritIPs = []string{"192.0.2.45", "192.0.2.46", "192.0.2.47", "192.0.2.48"}

// culpritEnv is a host reached over a real sshd, with a real Docker engine
// whose containers run the stand-in culprit, and a pipeline that runs the
// culprit checks on it and stores what they find.
type culpritEnv struct {
	t      testing.TB
	docker *testserver.Docker
	image  string
	net    string
	prefix string
	bin    string // the culprit binary on this machine
	sshd   *testserver.SSHD
	st     *store.Store
	p      *Pipeline
	chat   *recorder
	seq    int
}

func newCulpritEnv(t testing.TB, docker *testserver.Docker, image, bin string, ownPIDNS bool) *culpritEnv {
	t.Helper()
	e := &culpritEnv{t: t, docker: docker, image: image, bin: bin}
	e.net, e.prefix = docker.Network(t)
	e.sshd = testserver.StartSSHD(t, testserver.SSHDOptions{SessionEnv: docker.Env(), OwnPIDNamespace: ownPIDNS})
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "aw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.st = st
	inv, err := triage.NewInventory([]config.Host{{Name: "h1", IPs: culpritIPs, SSH: e.sshd.User + "@" + e.sshd.Addr,
		KeyFile: e.sshd.ClientKeyFile, KnownHostsFile: e.sshd.KnownHostsFile}})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Triage{Culprit: triage.CulpritSSH}
	if rt, ok := t.(*testing.T); ok {
		e.chat = newRecorder(rt)
	}
	opts := Options{Store: st, Triage: &Triage{Config: cfg, Inventory: inv, Runner: triage.NewRunner(cfg, triage.Options{})}}
	if e.chat != nil {
		opts.Notifier = e.chat.notifier
	}
	e.p = New(opts)
	return e
}

// run starts a container of the image on the test network at address
// prefix+host and waits until its culprit (if it runs one) is ready.
func (e *culpritEnv) run(name string, host int, argv ...string) {
	e.t.Helper()
	args := append([]string{"run", "-d", "--name", name, "--network", e.net, "--ip", e.prefix + strconv.Itoa(host)}, argv...)
	e.docker.Run(e.t, args...)
	if !slices.ContainsFunc(argv, func(a string) bool { return strings.HasSuffix(a, "wate") || strings.HasSuffix(a, "ntpd") }) {
		return
	}
	testutil.Eventually(e.t, 15*time.Second, func() bool {
		return strings.Contains(e.docker.Run(e.t, "logs", name), "culprit: ready")
	}, func() string { return "container " + name + ": the culprit did not start" })
}

// incident opens an incident, on the next of the host's IPs, for a notice
// of attack with one event: from that IP's srcPort to dst.
func (e *culpritEnv) incident(attack string, srcPort int, dst string) int64 {
	e.t.Helper()
	ip := culpritIPs[e.seq%len(culpritIPs)]
	e.seq++
	events := []parser.Event{{Src: ip + ":" + strconv.Itoa(srcPort), Dst: dst, Proto: "udp", Bytes: 468}}
	ev, err := json.Marshal(events)
	if err != nil {
		e.t.Fatal(err)
	}
	raw := []byte(fmt.Sprintf("Message-ID: <culprit-%d@ovh.net>\r\n\r\n%s %d\r\n", e.seq, attack, time.Now().UnixNano()))
	res, err := e.st.Ingest(context.Background(), store.Message{Source: store.Source{Path: "culprit.eml"}, Raw: raw, Size: int64(len(raw))},
		store.Parsed{Status: "ok", Authentic: "pass", Notices: []store.Notice{{Provider: "ovh", Kind: "attack", Attack: attack, IP: ip,
			Severity: 3, Events: ev, Authentic: "pass", MessageID: fmt.Sprintf("culprit-%d@ovh.net", e.seq), Date: time.Now()}}},
		func(store.IncidentChange) []store.NewTask { return nil })
	if err != nil {
		e.t.Fatal(err)
	}
	if len(res.Opened)+len(res.Updated) != 1 {
		e.t.Fatalf("ingest: %+v, want one incident", res)
	}
	return append(res.Opened, res.Updated...)[0]
}

// triage runs the checks as an operator would and returns the run.
func (e *culpritEnv) triage(id int64) TriageRunView {
	e.t.Helper()
	v, err := e.p.RunTriageNow(context.Background(), id, nil, "tester")
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func startEngine(t testing.TB) (*testserver.Docker, string, string) {
	t.Helper()
	docker := testserver.StartDocker(t)
	bin := testserver.BuildCulprit(t)
	image := docker.ImportBusybox(t, "aw-culprit:test", map[string]string{"/tmp/.x/wate": bin, "/usr/sbin/ntpd": bin})
	return docker, image, bin
}

// TestCulpritChecks runs the culprit checks against a real host (sshd) with
// real containers, one case per subtest, and checks the suspects that were
// stored and told.
func TestCulpritChecks(t *testing.T) {
	docker, image, bin := startEngine(t)
	e := newCulpritEnv(t, docker, image, bin, false)

	t.Run("amplification in one of three containers", func(t *testing.T) {
		e.t = t
		e.run("web", 2, image, "sleep", "600")
		e.run("db", 3, image, "sleep", "600")
		e.run("ntp", 4, "-p", "127.0.0.1:123:123/udp", image, "/usr/sbin/ntpd", "-listen-udp", "123")
		id := e.incident("ntp_amplification", 123, "198.51.100.7:80")
		v := e.triage(id)
		first := firstSuspects(t, v, 2)
		if first[0].Kind != "container" || first[0].Name != "ntp" {
			t.Fatalf("first suspect %+v, want container ntp", first[0])
		}
		why := strings.Join(first[0].Why, "\n")
		for _, want := range []string{"listens on UDP 0.0.0.0:123", "publishes UDP 123 on the host (127.0.0.1:123->123/udp)"} {
			if !strings.Contains(why, want) {
				t.Errorf("container ntp: why %q lacks %q", why, want)
			}
		}
		if first[1].Kind != "process" || first[1].Container != "ntp" || first[1].Exe != "/usr/sbin/ntpd" {
			t.Errorf("second suspect %+v, want the ntpd process of container ntp", first[1])
		}
		e.checkToldAndShown(t, id, "suspect: container ntp — ")
		removeContainers(t, docker, "web", "db", "ntp")
	})

	t.Run("flood from a deleted executable in a container", func(t *testing.T) {
		e.t = t
		victim := e.prefix + "50"
		e.run("victim", 50, image, "sleep", "600")
		e.run("web", 2, image, "sleep", "600")
		e.run("db", 3, image, "sleep", "600")
		e.run("gitlab", 5, image, "/tmp/.x/wate", "-to", victim+":80", "-n", "20", "-delete-self")
		id := e.incident("udp_flood", 40000, victim+":80")
		v := e.triage(id)
		first := firstSuspects(t, v, 2)
		if first[0].Kind != "container" || first[0].Name != "gitlab" {
			t.Errorf("first suspect %+v, want container gitlab", first[0])
		}
		p := first[1]
		if p.Kind != "process" || p.Container != "gitlab" || p.Exe != "/tmp/.x/wate (deleted)" || p.PID <= 0 {
			t.Errorf("second suspect %+v, want the deleted /tmp/.x/wate of container gitlab", p)
		}
		why := strings.Join(p.Why, "\n")
		for _, want := range []string{"20 socket(s) to " + victim + ":80/udp", "its executable was deleted", "from a hidden directory .x"} {
			if !strings.Contains(why, want) {
				t.Errorf("process: why %q lacks %q", why, want)
			}
		}
		if w := strings.Join(first[0].Why, "\n"); !strings.Contains(w, "carried the most packets") {
			t.Errorf("container gitlab: why %q does not name its interface as the one carrying the traffic", w)
		}
		e.checkToldAndShown(t, id, fmt.Sprintf("suspect: container gitlab — pid %d /tmp/.x/wate (deleted), ", p.PID))
		removeContainers(t, docker, "victim", "web", "db", "gitlab")
	})

	t.Run("the culprit runs on the host itself", func(t *testing.T) {
		e.t = t
		e.run("web", 2, image, "sleep", "600")
		dir := filepath.Join(t.TempDir(), ".x")
		exe := filepath.Join(dir, "wate")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		data, err := os.ReadFile(bin)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exe, data, 0o755); err != nil {
			t.Fatal(err)
		}
		pid := startHostCulprit(t, exe, "-listen-udp", "123")
		id := e.incident("ntp_amplification", 123, "198.51.100.7:80")
		first := firstSuspects(t, e.triage(id), 1)
		if s := first[0]; s.Kind != "process" || s.PID != pid || s.Container != "" || s.Exe != exe || s.Host != "h1" {
			t.Errorf("first suspect %+v, want the host's process %d %s", s, pid, exe)
		}
		removeContainers(t, docker, "web")
	})
}

// TestCulpritChecksFindNothing: on a host where nothing listens on the
// notice's port, nothing holds sockets to its destinations and no process
// is suspicious (sshd in a PID namespace of its own, so that the tests of
// this machine do not show up), the run names no suspect and says why.
func TestCulpritChecksFindNothing(t *testing.T) {
	docker, image, bin := startEngine(t)
	e := newCulpritEnv(t, docker, image, bin, true)
	id := e.incident("ntp_amplification", 123, "198.51.100.7:80")
	v := e.triage(id)
	if len(v.Suspects) != 0 {
		t.Fatalf("suspects %+v on a clean host, want none", v.Suspects)
	}
	i := slices.IndexFunc(v.Jobs, func(j TriageJobView) bool { return j.Job == triage.CulpritJob })
	if i < 0 || !slices.Contains(v.Jobs[i].Findings, "no check implicates anything on h1") {
		t.Fatalf("jobs %+v: the culprit job does not say that nothing was found", v.Jobs)
	}
	e.checkToldAndShown(t, id, "no check implicates anything on h1")
}

// firstSuspects returns the first n suspects of the run, ending the test
// when there are fewer.
func firstSuspects(t *testing.T, v TriageRunView, n int) []store.Suspect {
	t.Helper()
	if len(v.Suspects) < n {
		out := ""
		for _, j := range v.Jobs {
			out += fmt.Sprintf("--- %s %s %s %v\n%s\n", j.Job, j.Status, j.Error, j.Findings, j.Output)
		}
		t.Fatalf("suspects %+v, want at least %d\n%s", v.Suspects, n, out)
	}
	for i, s := range v.Suspects {
		t.Logf("#%d %s %+v", s.Rank, SuspectLine(s), s)
		if s.Rank != i+1 {
			t.Errorf("suspect %d has rank %d", i, s.Rank)
		}
	}
	return v.Suspects[:n]
}

// checkToldAndShown checks that the stored run leads with want on the
// timeline, in the chat's "triage finished" message, and in `triage show`'s
// data (the runs read back from the store).
func (e *culpritEnv) checkToldAndShown(t *testing.T, id int64, want string) {
	t.Helper()
	if err := e.p.Drain(context.Background()); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, ev := range e.chat.events() {
		if ev.Kind == notify.TriageFinished && ev.IncidentID == id {
			found = true
			if !strings.Contains(ev.Detail, want) {
				t.Errorf("chat: triage finished %q lacks %q", ev.Detail, want)
			}
		}
	}
	if !found {
		t.Errorf("chat: no triage finished message for incident %d", id)
	}
	d, err := e.st.Incident(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Runs) != 1 {
		t.Fatalf("runs %d, want 1", len(d.Runs))
	}
	if strings.HasPrefix(want, "suspect: ") && !strings.HasPrefix(SuspectLine(d.Runs[0].Suspects[0]), want) {
		t.Errorf("stored first suspect reads %q, want %q", SuspectLine(d.Runs[0].Suspects[0]), want)
	}
}

// startHostCulprit runs the culprit on this machine (the SSH host) and
// stops it by its pid when the test ends.
func startHostCulprit(t *testing.T, exe string, args ...string) int {
	t.Helper()
	cmd := exec.Command(exe, args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	buf := make([]byte, 64)
	if n, err := out.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "culprit: ready") {
		t.Fatalf("host culprit did not start: %q %v", buf[:n], err)
	}
	return cmd.Process.Pid
}

func removeContainers(t *testing.T, d *testserver.Docker, names ...string) {
	t.Helper()
	d.Run(t, append([]string{"rm", "-f"}, names...)...)
}

// BenchmarkCulpritFiveContainers measures what the goal is about:
// from the triage task's start to its suspects stored, on a host with five
// containers, one of them flooding the notice's destination.
//
//	go test -run '^$' -bench BenchmarkCulpritFiveContainers -benchtime 5x ./pipeline/
func BenchmarkCulpritFiveContainers(b *testing.B) {
	docker, image, bin := startEngine(b)
	e := newCulpritEnv(b, docker, image, bin, false)
	victim := e.prefix + "50"
	e.run("victim", 50, image, "sleep", "3600")
	for i, name := range []string{"web", "db", "redis"} {
		e.run(name, 2+i, image, "sleep", "3600")
	}
	e.run("gitlab", 9, image, "/tmp/.x/wate", "-to", victim+":80", "-n", "20", "-delete-self")
	id := e.incident("udp_flood", 40000, victim+":80")
	b.ResetTimer()
	for b.Loop() {
		v, err := e.p.RunTriageNow(context.Background(), id, nil, "bench")
		if err != nil {
			b.Fatal(err)
		}
		if len(v.Suspects) == 0 || v.Suspects[0].Name != "gitlab" {
			b.Fatalf("suspects %+v, want container gitlab first", v.Suspects)
		}
		if os.Getenv("CULPRIT_BENCH_EVIDENCE") != "" {
			_ = os.WriteFile(os.Getenv("CULPRIT_BENCH_EVIDENCE"), v.Jobs[0].Output, 0o644)
		}
	}
}

// TestCulpritNamesTheVMOnTheHypervisor: the notice's IP is a VM's, and the
// VM is a network namespace behind a veth pair named as Proxmox names a
// VM's interface (tapNNNi0) on the hypervisor, a real sshd host. The VM's
// processes are out of the hypervisor's sight, as a real guest's are; its
// interface, which carries the IP and the packets, names it.
func TestCulpritNamesTheVMOnTheHypervisor(t *testing.T) {
	ipBin := testserver.RequireBinary(t, "ip", "/usr/sbin/ip", "/sbin/ip")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("network namespaces need root (CI runs as root)")
		}
		t.Skip("network namespaces need root")
	}
	bin := testserver.BuildCulprit(t)
	var rnd [3]byte
	if _, err := rand.Read(rnd[:]); err != nil {
		t.Fatal(err)
	}
	vmid := strconv.Itoa(900 + int(rnd[0])%99)
	ns, tap, peer := fmt.Sprintf("awvm%x", rnd), "tap"+vmid+"i0", fmt.Sprintf("awvp%x", rnd)
	hostIP, vmIP := fmt.Sprintf("10.250.%d.1", rnd[1]), fmt.Sprintf("198.51.100.%d", 100+int(rnd[2])%100)
	ip := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(ipBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	ip("netns", "add", ns)
	t.Cleanup(func() { _ = exec.Command(ipBin, "netns", "del", ns).Run() })
	ip("link", "add", tap, "type", "veth", "peer", "name", peer)
	t.Cleanup(func() { _ = exec.Command(ipBin, "link", "del", tap).Run() })
	ip("link", "set", peer, "netns", ns)
	ip("addr", "add", hostIP+"/32", "dev", tap)
	ip("link", "set", tap, "up")
	ip("route", "add", vmIP+"/32", "dev", tap)
	ip("-n", ns, "addr", "add", vmIP+"/32", "dev", peer)
	ip("-n", ns, "link", "set", peer, "up")
	ip("-n", ns, "route", "add", hostIP+"/32", "dev", peer)
	vm := exec.Command(ipBin, "netns", "exec", ns, bin, "-to", hostIP+":9", "-n", "5")
	vmOut, err := vm.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := vm.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = vm.Process.Kill(); _ = vm.Wait() })
	buf := make([]byte, 64)
	if n, err := vmOut.Read(buf); err != nil || !strings.Contains(string(buf[:n]), "culprit: ready") {
		t.Fatalf("the VM's culprit did not start: %q %v", buf[:n], err)
	}

	sshd := testserver.StartSSHD(t, testserver.SSHDOptions{})
	st := openStore(t)
	inv, err := triage.NewInventory([]config.Host{
		{Name: "hv1", IPs: []string{"192.0.2.200"}, SSH: sshd.User + "@" + sshd.Addr, KeyFile: sshd.ClientKeyFile, KnownHostsFile: sshd.KnownHostsFile},
		// The VM itself is not reachable over SSH (a closed port).
		{Name: "vm" + vmid, IPs: []string{vmIP}, Hypervisor: "hv1", SSH: sshd.User + "@127.0.0.1:1", KeyFile: sshd.ClientKeyFile, KnownHostsFile: sshd.KnownHostsFile},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Triage{Culprit: triage.CulpritSSH}
	p := New(Options{Store: st, Triage: &Triage{Config: cfg, Inventory: inv, Runner: triage.NewRunner(cfg, triage.Options{ConnectTimeout: 5 * time.Second})}})
	raw := []byte("Message-ID: <vm-flood@ovh.net>\r\n\r\nflood\r\n")
	res, err := st.Ingest(context.Background(), store.Message{Source: store.Source{Path: "vm.eml"}, Raw: raw, Size: int64(len(raw))},
		store.Parsed{Status: "ok", Authentic: "pass", Notices: []store.Notice{{Provider: "ovh", Kind: "attack", Attack: "udp_flood", IP: vmIP, Severity: 3,
			Events: []byte(`[{"src":"` + vmIP + `:40000","dst":"` + hostIP + `:9","proto":"udp"}]`), Authentic: "pass", MessageID: "vm-flood@ovh.net", Date: time.Now()}}},
		func(store.IncidentChange) []store.NewTask { return nil })
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	v, err := p.RunTriageNow(context.Background(), res.Opened[0], nil, "tester")
	if err != nil {
		t.Fatal(err)
	}
	first := firstSuspects(t, v, 1)[0]
	if first.Kind != "vm" || first.VM != vmid || first.Host != "hv1" {
		t.Fatalf("first suspect %+v, want VM %s on hv1", first, vmid)
	}
	why := strings.Join(first.Why, "\n")
	for _, want := range []string{"its interface " + tap + " carries " + vmIP, "Proxmox names the interfaces of VM " + vmid} {
		if !strings.Contains(why, want) {
			t.Errorf("why %q lacks %q", why, want)
		}
	}
}
