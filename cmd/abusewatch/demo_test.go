package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoRunsThePipeline runs `abusewatch demo` as a user would, shortened:
// every sample notice must end up as an incident with the provider's state
// read from the emulators, a triage run and chat messages.
func TestDemoRunsThePipeline(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for 5 seconds")
	}
	// The demo must not depend on any config file around it.
	t.Setenv("ABUSEWATCH_CONFIG", "/nonexistent/abusewatch.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	root.SetArgs([]string{"demo", "--duration", "5s"})
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	if err := root.ExecuteContext(ctx); err != nil {
		t.Fatalf("demo: %v\nstderr:\n%s", err, stderr.String())
	}
	out := stdout.String()
	table, _, ok := strings.Cut(out[strings.Index(out, "\nIncidents:\n")+1:], "\nTriage evidence:")
	if !ok {
		t.Fatalf("no incidents table in the output:\n%s", out)
	}
	// One row per sample notice, each with the state the emulators were seeded with.
	want := map[string]string{
		"192.0.2.46":   "blocked",
		"37.27.128.19": "blocked",
		"192.0.2.63":   "rescue",
		"95.216.40.77": "blocked",
		"192.0.2.70":   "locked,rescue",
		"192.0.2.80":   "blocked",
		"192.0.2.90":   "blocked",
	}
	for ip, state := range want {
		row := rowFor(table, ip)
		if row == nil {
			t.Errorf("no incident row for %s in:\n%s", ip, table)
			continue
		}
		if row[7] != state {
			t.Errorf("%s: state %q, want %q (row %q)", ip, row[7], state, row)
		}
		if !strings.Contains(out, "triage for "+ip) {
			t.Errorf("%s: no triage evidence (the demo mails must pass DKIM)", ip)
		}
		if !hasChatLine(out, ip) {
			t.Errorf("%s: no chat message printed", ip)
		}
	}
	// The SSDP notice's triage names the demo's stand-in reflector: this
	// process, when it could take the port (another demo may hold it).
	suspect := ""
	for line := range strings.SplitSeq(out, "\n") {
		if strings.Contains(line, " 192.0.2.90: suspect: ") {
			suspect = line
		}
	}
	if !strings.Contains(suspect, "suspect: process ") || !strings.Contains(suspect, "listens on UDP 0.0.0.0:1900 (the notice's ssdp reflector port)") {
		t.Errorf("no suspect listening on UDP 1900 named for the SSDP notice:\n%s", out)
	}
	if !strings.Contains(out, "could not listen on UDP 1900") && !strings.Contains(suspect, fmt.Sprintf("(pid %d) on this machine", os.Getpid())) {
		t.Errorf("suspect %q is not this process (pid %d), which listens on UDP 1900", suspect, os.Getpid())
	}
	// The mail that arrives last came in through IDLE while the daemon ran.
	if !strings.Contains(stderr.String(), "06-ovh-antispam-en.eml") {
		t.Errorf("the last sample was never fed; log:\n%s", stderr.String())
	}
}

// rowFor returns the fields of the table row whose IP column is ip.
func rowFor(table, ip string) []string {
	for line := range strings.SplitSeq(table, "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[4] == ip {
			return f
		}
	}
	return nil
}

// hasChatLine reports whether the chat receiver printed a line naming ip.
func hasChatLine(out, ip string) bool {
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, "chat | ") && strings.Contains(line, ip) {
			return true
		}
	}
	return false
}

// TestDemoKeep: with --keep the demo's store stays, and the config it
// prints lets the commands of its chat messages read that store.
func TestDemoKeep(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the demo for a few seconds")
	}
	t.Setenv("ABUSEWATCH_CONFIG", "/nonexistent/abusewatch.yaml")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var buf bytes.Buffer
	out := &syncWriter{w: &buf}
	root := newRootCmd()
	root.SetArgs([]string{"demo", "--duration", "3s", "--keep"})
	root.SetOut(out)
	root.SetErr(&bytes.Buffer{})
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(runCtx) }()
	printed := func() string {
		out.mu.Lock()
		defer out.mu.Unlock()
		return buf.String()
	}
	for !strings.Contains(printed(), "still running (--keep)") {
		select {
		case err := <-done:
			t.Fatalf("demo --keep ended early: %v\n%s", err, printed())
		case <-time.After(100 * time.Millisecond):
		}
	}
	stop() // Ctrl-C
	if err := <-done; err != nil {
		t.Fatalf("demo --keep: %v", err)
	}
	_, rest, ok := strings.Cut(printed(), "abusewatch --config ")
	if !ok {
		t.Fatalf("demo --keep printed no --config:\n%s", printed())
	}
	cfg, _, _ := strings.Cut(rest, " ")
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(cfg)) })
	id := chatIncidentID(t, printed())
	show, _, err := cli(t, "--config", cfg, "incidents", "show", id)
	if err != nil || !strings.Contains(show, "Incident "+id) {
		t.Errorf("abusewatch --config %s incidents show %s = %v:\n%s", cfg, id, err, show)
	}
}

// chatIncidentID is the N of the first "abusewatch incidents show N" in a
// chat message the demo printed.
func chatIncidentID(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`chat \|.*abusewatch incidents show (\d+)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no chat line names an incident:\n%s", out)
	}
	return m[1]
}
