package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/internal/testutil"
)

// TestContainCommand runs contain and release as an operator does, against
// a real sshd host with a Docker engine of its own, and reads the evidence
// back through triage show and incidents show.
func TestContainCommand(t *testing.T) {
	docker := testserver.StartDocker(t)
	sshd := testserver.StartSSHD(t, testserver.SSHDOptions{SessionEnv: docker.Env()})
	image := docker.ImportBusybox(t, "aw-contain-cli:1", nil)
	docker.Run(t, "run", "-d", "--name", "web", "--network", "none", image, "/bin/sleep", "3600")
	state := func() string {
		return strings.TrimSpace(docker.Run(t, "inspect", "--format", "{{.State.Status}}", "web"))
	}
	cfg := writeConfigFile(t, fmt.Sprintf(`store:
  path: %s
inventory:
  - name: web1
    ips: [192.0.2.45]
    ssh: %s@%s
    key_file: %s
    known_hosts_file: %s
`, filepath.Join(t.TempDir(), "aw.db"), sshd.User, sshd.Addr, sshd.ClientKeyFile, sshd.KnownHostsFile))
	run := func(args ...string) (string, string, error) {
		t.Helper()
		return cli(t, append([]string{"--config", cfg, "--log-level", "error"}, args...)...)
	}
	if _, stderr, err := run("ingest", filepath.Join("..", "..", "parser", "testdata", "ovh-antihack-ntp-amplification-en.eml")); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}

	// Tests have no terminal: without --yes nothing may happen.
	if _, _, err := run("contain", "1", "--container", "web"); err == nil || !strings.Contains(err.Error(), "--yes") {
		t.Errorf("contain without --yes and without a terminal: %v, want a refusal that names --yes", err)
	}
	out, _, err := run("contain", "1", "--container", "web", "--dry-run")
	if err != nil || !strings.Contains(out, "Dry run: nothing was changed.") || !strings.Contains(out, "docker pause ") {
		t.Errorf("dry run: %v\n%s", err, out)
	}
	if _, _, err := run("contain", "1", "--container", "ghost", "--yes"); err == nil || !strings.Contains(err.Error(), "not exactly one container") {
		t.Errorf("unknown container: %v, want a clear refusal", err)
	}
	if got := state(); got != "running" {
		t.Fatalf("container %s after refusals and a dry run, want running", got)
	}

	out, stderr, err := run("contain", "1", "--container", "web", "--yes", "--json")
	if err != nil {
		t.Fatalf("contain: %v\n%s\n%s", err, out, stderr)
	}
	var res struct {
		Run     string `json:"run"`
		Verdict struct {
			Contained bool   `json:"contained"`
			Summary   string `json:"summary"`
		} `json:"verdict"`
		Jobs []struct{ Job, SHA256 string } `json:"jobs"`
	}
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("contain --json: %v\n%s", err, out)
	}
	if !res.Verdict.Contained || res.Verdict.Summary != "contained: container web paused; 0 survivors" || state() != "paused" {
		t.Fatalf("verdict %+v, state %s", res.Verdict, state())
	}

	// triage show lists the run; its output verifies against each hash.
	out, _, err = run("triage", "show", "1", res.Run, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var shown struct {
		Runs []struct {
			Jobs []struct {
				Job    string  `json:"job"`
				SHA256 string  `json:"sha256"`
				Output *string `json:"output"`
			} `json:"jobs"`
		} `json:"runs"`
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.Runs) != 1 || len(shown.Runs[0].Jobs) != 4 {
		t.Fatalf("triage show %s: %v\n%s", res.Run, err, out)
	}
	for i, j := range shown.Runs[0].Jobs {
		sum := sha256.Sum256([]byte(*j.Output))
		if hex.EncodeToString(sum[:]) != j.SHA256 || j.SHA256 != res.Jobs[i].SHA256 {
			t.Errorf("%s: shown sha256 %s does not verify against its output, or differs from contain's %s", j.Job, j.SHA256, res.Jobs[i].SHA256)
		}
	}
	out, _, err = run("incidents", "show", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"contain:verdict: contained: container web paused; 0 survivors", "contain:before", "(operator "} {
		if !strings.Contains(out, want) {
			t.Errorf("incidents show does not show %q:\n%s", want, out)
		}
	}
	assertTerminalSafe(t, "incidents show", out, 400)

	out, _, err = run("release", "1")
	if err != nil || !strings.Contains(out, "released: container web resumed (state running)") || state() != "running" {
		t.Errorf("release: %v, state %s\n%s", err, state(), out)
	}

	// On a terminal the plan is shown and only "yes" goes ahead.
	for _, tt := range []struct {
		answer, state string
		ok            bool
	}{
		{"no", "running", false},
		{"yes", "paused", true},
	} {
		master, tty := testutil.OpenPTY(t)
		if _, err := master.WriteString(tt.answer + "\n"); err != nil {
			t.Fatal(err)
		}
		out, stderr, err := cliIn(t, tty, "--config", cfg, "--log-level", "error", "contain", "1", "--container", "web")
		if (err == nil) != tt.ok || tt.ok != strings.Contains(out, "contained: container web paused") {
			t.Errorf("answering %q on a terminal: %v\n%s", tt.answer, err, out)
		}
		for _, want := range []string{"Incident 1: container web on web1", "Would run:", "docker pause ", "Type yes to go ahead: "} {
			if !strings.Contains(stderr, want) {
				t.Errorf("answering %q: the prompt does not show %q:\n%s", tt.answer, want, stderr)
			}
		}
		if got := state(); got != tt.state {
			t.Errorf("answering %q: container %s, want %s", tt.answer, got, tt.state)
		}
	}
}
