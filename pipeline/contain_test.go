package pipeline

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/contain"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// containEnv is a real host for containment: sshd on loopback whose
// sessions reach a Docker engine of the test's own, and an incident whose
// IP the inventory maps to that host.
type containEnv struct {
	t        *testing.T
	docker   *testserver.Docker
	p        *Pipeline
	st       *store.Store
	chat     *recorder
	incident int64
	image    string
	trojan   string // the stand-in trojan's executable on this machine
}

func newContainEnv(t *testing.T) *containEnv {
	t.Helper()
	docker := testserver.StartDocker(t)
	sshd := testserver.StartSSHD(t, testserver.SSHDOptions{SessionEnv: docker.Env()})
	// The trojan's hash must be this test's alone: other tests on the
	// machine run the same culprit build, and busybox, on the host.
	trojan := uniqueCopy(t, testserver.BuildCulprit(t))
	e := &containEnv{t: t, docker: docker, trojan: trojan}
	e.image = docker.ImportBusybox(t, "aw-contain:1", map[string]string{"/tmp/.x/wate": trojan})

	host := config.Host{Name: "web1", IPs: []string{"192.0.2.45"}, SSH: sshd.User + "@" + sshd.Addr,
		KeyFile: sshd.ClientKeyFile, KnownHostsFile: sshd.KnownHostsFile}
	inv, err := triage.NewInventory([]config.Host{host})
	if err != nil {
		t.Fatal(err)
	}
	e.st = openStore(t)
	e.chat = newRecorder(t)
	zone := &dnsZone{}
	pub, key := newKey(t)
	zone.publish("s1", pub)
	runner := triage.NewRunner(config.Triage{}, triage.Options{})
	e.p = New(Options{
		Store: e.st, Notifier: e.chat.notifier, Parser: parser.Options{LookupTXT: zone.lookupTXT},
		Contain: &Contain{Inventory: inv, Connector: SSHConnector{Runner: runner}, Settle: 300 * time.Millisecond},
	})
	e.p.mustIngest(t, signOVH(t, readFixture(t, "ovh-antihack-ntp-amplification-en.eml"), "s1", key))
	incs, err := e.st.Incidents(context.Background(), "all")
	if err != nil || len(incs) != 1 {
		t.Fatalf("incidents %v, %v; want one", incs, err)
	}
	e.incident = incs[0].ID
	return e
}

// uniqueCopy copies an executable with random bytes appended (the ELF
// loader ignores them), so that its sha256 is new.
func uniqueCopy(t *testing.T, src string) string {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, 16)
	if _, err := rand.Read(nonce); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "culprit")
	if err := os.WriteFile(dst, append(data, nonce...), 0o755); err != nil {
		t.Fatal(err)
	}
	return dst
}

// runContainer starts the trojan in a container without a network.
func (e *containEnv) runContainer(name string) {
	e.t.Helper()
	e.docker.Run(e.t, "run", "-d", "--name", name, "--network", "none", e.image, "/tmp/.x/wate")
}

func (e *containEnv) state(name string) string {
	e.t.Helper()
	return strings.TrimSpace(e.docker.Run(e.t, "inspect", "--format", "{{.State.Status}}", name))
}

// spread runs a copy of the trojan on the host, outside any container, as
// /tmp/…/.x/wate; it is killed at the end of the test at the latest.
func (e *containEnv) spread() *exec.Cmd {
	e.t.Helper()
	dir := filepath.Join(e.t.TempDir(), ".x")
	if err := os.Mkdir(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	exe := filepath.Join(dir, "wate")
	data, err := os.ReadFile(e.trojan)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(exe, data, 0o755); err != nil {
		e.t.Fatal(err)
	}
	cmd := exec.Command(exe)
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

// suspect records a triage run of the incident that names container name
// as suspect 1, as the culprit finder does.
func (e *containEnv) suspect(name string) {
	e.t.Helper()
	_, err := e.st.RecordTriage(context.Background(), store.TriageRun{
		IncidentID: e.incident, Run: fmt.Sprintf("triage:%d:test", e.incident), Trigger: "test",
		Suspects: []store.Suspect{{Kind: "container", Name: name, Container: name, Host: "web1", Why: []string{"ntp flood"}}},
		Summary:  "triage found a suspect",
	}, func(bool) []store.NewTask { return nil })
	if err != nil {
		e.t.Fatal(err)
	}
}

// verifyEvidence checks that the run's evidence is stored, that each
// job's sha256 (as triage show prints it) is that of its output, and that
// triage show lists the run.
func (e *containEnv) verifyEvidence(run string, wantJobs ...string) {
	e.t.Helper()
	views, err := e.p.TriageRuns(context.Background(), e.incident)
	if err != nil {
		e.t.Fatal(err)
	}
	i := slices.IndexFunc(views, func(v TriageRunView) bool { return v.Run == run })
	if i < 0 {
		e.t.Fatalf("run %s is not among the incident's runs", run)
	}
	var jobs []string
	for _, j := range views[i].Jobs {
		jobs = append(jobs, j.Job)
		sum := sha256.Sum256(j.Output)
		if hex.EncodeToString(sum[:]) != j.SHA256 || len(j.Output) == 0 {
			e.t.Errorf("%s: sha256 %s does not verify (%d bytes)", j.Job, j.SHA256, len(j.Output))
		}
	}
	if !slices.Equal(jobs, wantJobs) {
		e.t.Errorf("run %s jobs %v, want %v", run, jobs, wantJobs)
	}
}

// TestContainSpreadThenContained is the runbook's fear: the trojan runs in
// a container and a copy runs on the host. Pausing the container is not
// containment while the copy runs; once it is killed, it is.
func TestContainSpreadThenContained(t *testing.T) {
	ctx := context.Background()
	e := newContainEnv(t)
	e.runContainer("gitlab")
	host := e.spread()
	e.suspect("gitlab")

	r, err := e.p.Contain(ctx, ContainOptions{IncidentID: e.incident, Suspect: 1, Yes: true, Operator: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if got := e.state("gitlab"); got != "paused" {
		t.Errorf("container state %q after contain, want paused", got)
	}
	if r.Verdict.Contained {
		t.Fatalf("verdict contained with the trojan running on the host: %+v", r.Verdict)
	}
	i := slices.IndexFunc(r.Verdict.Survivors, func(s contain.Survivor) bool { return s.PID == host.Process.Pid })
	if i < 0 || r.Verdict.Survivors[i].Inside {
		t.Fatalf("survivors %+v do not name the host process %d", r.Verdict.Survivors, host.Process.Pid)
	}
	want := fmt.Sprintf("NOT CONTAINED: pid %d %s outside the container", host.Process.Pid, host.Path)
	if r.Verdict.Summary != want {
		t.Errorf("summary %q\nwant    %q", r.Verdict.Summary, want)
	}
	e.verifyEvidence(r.Run, "contain:before", "contain:act", "contain:after", "contain:verdict")

	_ = host.Process.Kill()
	_ = host.Wait()
	r2, err := e.p.Contain(ctx, ContainOptions{IncidentID: e.incident, Suspect: 1, Yes: true, Operator: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !r2.Verdict.Contained || len(r2.Verdict.Survivors) != 0 {
		t.Fatalf("second contain after the host copy was killed: %+v", r2.Verdict)
	}
	if want := "contained: container gitlab paused; 0 survivors"; r2.Verdict.Summary != want {
		t.Errorf("summary %q, want %q", r2.Verdict.Summary, want)
	}

	if err := e.p.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, ev := range e.chat.events() {
		if ev.Kind == notify.Contained || ev.Kind == notify.NotContained {
			told = append(told, string(ev.Kind)+": "+strings.TrimSpace(ev.Detail))
		}
	}
	wantTold := []string{"not_contained: " + want, "contained: contained: container gitlab paused; 0 survivors"}
	if !slices.Equal(told, wantTold) {
		t.Errorf("chat was told %q\nwant %q", told, wantTold)
	}
	d, err := e.st.Incident(ctx, e.incident)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(d.Timeline, func(te store.TimelineEntry) bool {
		return te.Kind == "contain" && strings.Contains(te.Text, "by alice: "+want)
	}) {
		t.Errorf("no contain entry naming the operator and the verdict on the timeline: %+v", d.Timeline)
	}
}

// TestContainCleanThenRelease: a container with nothing outside it is
// contained with 0 survivors, and release resumes it.
func TestContainCleanThenRelease(t *testing.T) {
	ctx := context.Background()
	e := newContainEnv(t)
	e.runContainer("clean")

	r, err := e.p.Contain(ctx, ContainOptions{IncidentID: e.incident, Container: "clean", Yes: true, Operator: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Verdict.Contained || len(r.Verdict.Survivors) != 0 || e.state("clean") != "paused" {
		t.Fatalf("verdict %+v, state %s; want contained, 0 survivors, paused", r.Verdict, e.state("clean"))
	}
	rel, err := e.p.Release(ctx, e.incident, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if got := e.state("clean"); got != "running" || !rel.Verdict.Released {
		t.Fatalf("after release: state %q, verdict %+v; want running", got, rel.Verdict)
	}
	e.verifyEvidence(rel.Run, "release:before", "release:act", "release:after", "release:verdict")
	if _, err := e.p.Release(ctx, e.incident, "bob"); !errors.Is(err, contain.ErrRefused) {
		t.Errorf("second release: %v, want a refusal (nothing left to release)", err)
	}

	// docker stop on request ends the container; that cannot be released.
	r, err = e.p.Contain(ctx, ContainOptions{IncidentID: e.incident, Container: "clean", Action: "stop", Yes: true, Operator: "bob"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "contained: container clean stopped; 0 survivors"; r.Verdict.Summary != want || e.state("clean") != "exited" {
		t.Errorf("stop: %q, state %s; want %q, exited", r.Verdict.Summary, e.state("clean"), want)
	}
	if _, err := e.p.Release(ctx, e.incident, "bob"); !errors.Is(err, contain.ErrRefused) || !strings.Contains(err.Error(), "stop, which cannot be undone") {
		t.Errorf("release after stop: %v, want a refusal", err)
	}
}

// TestContainRefuses: what must change nothing, checked through the engine.
func TestContainRefuses(t *testing.T) {
	ctx := context.Background()
	e := newContainEnv(t)
	e.runContainer("web")
	tests := []struct {
		name    string
		o       ContainOptions
		wantErr error
		wantMsg string
	}{
		{name: "no terminal and no --yes", o: ContainOptions{Container: "web"}, wantErr: errNotConfirmed},
		{name: "operator said no", o: ContainOptions{Container: "web", Confirm: func(ContainPlan) (bool, error) { return false, nil }},
			wantErr: errNotConfirmed},
		{name: "unknown container", o: ContainOptions{Container: "nosuch", Yes: true}, wantErr: contain.ErrRefused,
			wantMsg: "container nosuch: not exactly one container on the host"},
		{name: "a name that is an option", o: ContainOptions{Container: "--help", Yes: true}, wantErr: contain.ErrRefused,
			wantMsg: "is not a container name"},
		{name: "two targets", o: ContainOptions{Container: "web", PID: 1234, Yes: true}, wantErr: contain.ErrRefused},
		{name: "no suspects", o: ContainOptions{Suspect: 1, Yes: true}, wantErr: contain.ErrRefused, wantMsg: "no triage run"},
		{name: "action that does not fit", o: ContainOptions{Container: "web", Action: "suspend", Yes: true}, wantErr: contain.ErrRefused},
		{name: "pid 1", o: ContainOptions{PID: 1, Yes: true}, wantErr: contain.ErrRefused},
		{name: "vm without hypervisor", o: ContainOptions{VM: "web1", Yes: true}, wantErr: contain.ErrRefused,
			wantMsg: "no hypervisor for web1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.IncidentID = e.incident
			_, err := e.p.Contain(ctx, tt.o)
			if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.wantMsg) {
				t.Errorf("err %v, want %v containing %q", err, tt.wantErr, tt.wantMsg)
			}
			if got := e.state("web"); got != "running" {
				t.Errorf("container %s after a refusal, want running", got)
			}
		})
	}

	t.Run("dry run", func(t *testing.T) {
		r, err := e.p.Contain(ctx, ContainOptions{IncidentID: e.incident, Container: "web", DryRun: true})
		if err != nil {
			t.Fatal(err)
		}
		if !r.DryRun || len(r.Plan.Commands) != 1 || r.Plan.Commands[0][1] != "pause" || r.Plan.Commands[0][2] != r.Plan.ID {
			t.Errorf("plan %+v, want docker pause of the container's id", r.Plan)
		}
		if got := e.state("web"); got != "running" {
			t.Errorf("container %s after a dry run, want running", got)
		}
		d, err := e.st.Incident(ctx, e.incident)
		if err != nil {
			t.Fatal(err)
		}
		if len(d.Evidence) != 0 {
			t.Errorf("a dry run recorded %d evidence", len(d.Evidence))
		}
	})

	t.Run("host not in the inventory", func(t *testing.T) {
		p := New(Options{Store: e.st, Contain: &Contain{Inventory: inventory(t, "198.51.100.7"), Connector: SSHConnector{Runner: triage.NewRunner(config.Triage{}, triage.Options{})}}})
		_, err := p.Contain(ctx, ContainOptions{IncidentID: e.incident, Container: "web", Yes: true})
		if !errors.Is(err, contain.ErrRefused) || !strings.Contains(err.Error(), "192.0.2.45 is not in the inventory") {
			t.Errorf("err %v, want a refusal naming the IP", err)
		}
	})
}

// TestContainCulpritSuspectAndTraffic goes the whole way: the culprit
// checks name the flooding container as suspect 1; contain --suspect 1
// pauses it, and a process on the host that holds a socket to the
// notice's destination (another executable: only its traffic gives it
// away) makes it NOT CONTAINED until it ends. The container's veth is
// found and counted in the snapshots.
func TestContainCulpritSuspectAndTraffic(t *testing.T) {
	ctx := context.Background()
	docker := testserver.StartDocker(t)
	sshd := testserver.StartSSHD(t, testserver.SSHDOptions{SessionEnv: docker.Env()})
	built := testserver.BuildCulprit(t)
	trojan := uniqueCopy(t, built)
	image := docker.ImportBusybox(t, "aw-contain-net:1", map[string]string{"/tmp/.x/wate": trojan})
	network, prefix := docker.Network(t)
	victim := prefix + "50:80"

	inv, err := triage.NewInventory([]config.Host{{Name: "web1", IPs: []string{"192.0.2.45"}, SSH: sshd.User + "@" + sshd.Addr,
		KeyFile: sshd.ClientKeyFile, KnownHostsFile: sshd.KnownHostsFile}})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	cfg := config.Triage{Culprit: triage.CulpritSSH}
	runner := triage.NewRunner(cfg, triage.Options{})
	p := New(Options{Store: st,
		Triage:  &Triage{Config: cfg, Inventory: inv, Runner: runner},
		Contain: &Contain{Inventory: inv, Connector: SSHConnector{Runner: runner}, Settle: 500 * time.Millisecond}})
	events, _ := json.Marshal([]parser.Event{{Src: "192.0.2.45:40000", Dst: victim, Proto: "udp", Bytes: 468}})
	raw := []byte("Message-ID: <contain-1@ovh.net>\r\n\r\nudp flood\r\n")
	res, err := st.Ingest(ctx, store.Message{Source: store.Source{Path: "contain.eml"}, Raw: raw, Size: int64(len(raw))},
		store.Parsed{Status: "ok", Authentic: "pass", Notices: []store.Notice{{Provider: "ovh", Kind: "attack", Attack: "udp_flood",
			IP: "192.0.2.45", Severity: 3, Events: events, Authentic: "pass", MessageID: "contain-1@ovh.net", Date: time.Now()}}},
		func(store.IncidentChange) []store.NewTask { return nil })
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	id := res.Opened[0]

	docker.Run(t, "run", "-d", "--name", "gitlab", "--network", network, "--ip", prefix+"5", image, "/tmp/.x/wate", "-to", victim, "-n", "5")
	waitReady(t, docker, "gitlab")
	v, err := p.RunTriageNow(ctx, id, nil, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Suspects) == 0 || v.Suspects[0].Kind != "container" || v.Suspects[0].Name != "gitlab" {
		t.Fatalf("suspects %+v, want container gitlab first", v.Suspects)
	}

	// Another build of the culprit (another hash) floods from the host.
	other := uniqueCopy(t, built)
	host := exec.Command(other, "-to", victim)
	if err := host.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = host.Process.Kill(); _ = host.Wait() })
	time.Sleep(300 * time.Millisecond) // its socket is open

	r, err := p.Contain(ctx, ContainOptions{IncidentID: id, Suspect: 1, Yes: true, Operator: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if r.Verdict.Contained || len(r.Verdict.Survivors) != 0 || len(r.Verdict.Traffic) != 1 ||
		!strings.Contains(r.Verdict.Traffic[0], fmt.Sprintf("→ %s held by pid %d (%s -to %s)", victim, host.Process.Pid, other, victim)) {
		t.Fatalf("verdict %+v, want NOT CONTAINED by the host's socket to %s alone", r.Verdict, victim)
	}
	d, err := st.Incident(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	before := slices.IndexFunc(d.Evidence, func(e store.Evidence) bool { return e.Run == r.Run && e.Job == "contain:before" })
	if before < 0 || !strings.Contains(string(d.Evidence[before].Output), "== interfaces (name rx_bytes tx_bytes rx_packets tx_packets) ==\nveth") {
		t.Errorf("the before snapshot does not count the container's veth:\n%.2000s", d.Evidence[before].Output)
	}

	_ = host.Process.Kill()
	_ = host.Wait()
	r, err = p.Contain(ctx, ContainOptions{IncidentID: id, Suspect: 1, Yes: true, Operator: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if !r.Verdict.Contained {
		t.Fatalf("verdict %+v after the host process ended, want contained (a paused container sends nothing on its veth)", r.Verdict)
	}
}

func waitReady(t *testing.T, docker *testserver.Docker, name string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(docker.Run(t, "logs", name), "culprit: ready") {
		if time.Now().After(deadline) {
			t.Fatalf("container %s: the culprit did not start", name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestContainProcessTree: a process tree on the host is stopped with
// SIGSTOP (every process of it, in state T), released with SIGCONT, then
// killed.
func TestContainProcessTree(t *testing.T) {
	ctx := context.Background()
	sshd := testserver.StartSSHD(t, testserver.SSHDOptions{})
	inv, err := triage.NewInventory([]config.Host{{Name: "web1", IPs: []string{"192.0.2.45"}, SSH: sshd.User + "@" + sshd.Addr,
		KeyFile: sshd.ClientKeyFile, KnownHostsFile: sshd.KnownHostsFile}})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	p := New(Options{Store: st, Contain: &Contain{Inventory: inv,
		Connector: SSHConnector{Runner: triage.NewRunner(config.Triage{}, triage.Options{})}, Settle: 100 * time.Millisecond}})
	raw := []byte("Message-ID: <contain-2@ovh.net>\r\n\r\nflood\r\n")
	res, err := st.Ingest(ctx, store.Message{Source: store.Source{Path: "contain.eml"}, Raw: raw, Size: int64(len(raw))},
		store.Parsed{Status: "ok", Notices: []store.Notice{{Provider: "ovh", Kind: "attack", Attack: "udp_flood", IP: "192.0.2.45",
			Severity: 3, MessageID: "contain-2@ovh.net", Date: time.Now()}}},
		func(store.IncidentChange) []store.NewTask { return nil })
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("ingest: %+v, %v", res, err)
	}
	id := res.Opened[0]

	// A parent shell with two children, as a dropper and its payloads.
	tree := exec.Command("/bin/sh", "-c", "sleep 600 & sleep 601 & wait")
	if err := tree.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tree.Process.Kill(); _ = tree.Wait() })
	time.Sleep(200 * time.Millisecond)
	children := func() []string {
		out, _ := exec.Command("ps", "-o", "stat=", "--ppid", fmt.Sprint(tree.Process.Pid)).Output()
		return strings.Fields(string(out))
	}
	stat := func() string {
		out, _ := exec.Command("ps", "-o", "stat=", "-p", fmt.Sprint(tree.Process.Pid)).Output()
		return strings.TrimSpace(string(out))
	}

	r, err := p.Contain(ctx, ContainOptions{IncidentID: id, PID: tree.Process.Pid, Yes: true, Operator: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	kids := children()
	if !r.Verdict.Contained || !strings.HasPrefix(stat(), "T") || len(kids) != 2 || !strings.HasPrefix(kids[0], "T") || !strings.HasPrefix(kids[1], "T") {
		t.Fatalf("verdict %+v, parent %s, children %v; want contained and all in state T", r.Verdict, stat(), kids)
	}
	if want := fmt.Sprintf("contained: pid %d paused; 0 survivors", tree.Process.Pid); r.Verdict.Summary != want {
		t.Errorf("summary %q, want %q", r.Verdict.Summary, want)
	}
	if _, err := p.Release(ctx, id, "carol"); err != nil {
		t.Fatal(err)
	}
	if kids := children(); strings.HasPrefix(stat(), "T") || len(kids) != 2 || strings.HasPrefix(kids[0], "T") {
		t.Fatalf("after release: parent %s, children %v; want them running", stat(), kids)
	}
	r, err = p.Contain(ctx, ContainOptions{IncidentID: id, PID: tree.Process.Pid, Action: "kill", Yes: true, Operator: "carol"})
	if err != nil {
		t.Fatal(err)
	}
	_ = tree.Wait()
	if !r.Verdict.Contained || len(children()) != 0 {
		t.Fatalf("kill: verdict %+v, children %v", r.Verdict, children())
	}
	if _, err := p.Release(ctx, id, "carol"); !errors.Is(err, contain.ErrRefused) {
		t.Errorf("release after a kill: %v, want a refusal", err)
	}
}
