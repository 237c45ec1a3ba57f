package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

// TestStatusAndUnblockLeaveATimelineEntry: `status` and `unblock` go
// through the pipeline, so the incident about the IP says that an operator
// looked and asked, and what the provider said.
func TestStatusAndUnblockLeaveATimelineEntry(t *testing.T) {
	const ip = "192.0.2.46" // the IP of the fixture below
	e := newCLIEnv(t)
	e.emu.AddIPBlock(ovhtest.IPBlock{Block: ip + "/32", Type: "dedicated", RoutedTo: "ns1.ip-192-0-2.eu"})
	e.emu.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	e.emu.SetAntihack(ip, ovhtest.Antihack{State: "blocked", BlockedSince: time.Now().Add(-time.Hour), Time: 0})

	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join("..", "..", "parser", "testdata", "ovh-antihack-syn-flood-fr.eml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "1.eml"), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := e.run(t, "", "ingest", dir); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}

	out, _, err := e.run(t, "", "status", ip)
	if err != nil {
		t.Fatalf("status: %v", err)
	}
	if !strings.Contains(out, "blocked") || !strings.Contains(out, "yes") {
		t.Errorf("status does not say the IP is blocked:\n%s", out)
	}
	out, _, err = e.run(t, "", "unblock", ip)
	if err != nil {
		t.Fatalf("unblock: %v", err)
	}
	if !strings.Contains(out, "unblock requested from ovh") {
		t.Errorf("unblock printed %q", out)
	}
	show, _, err := e.run(t, "", "incidents", "show", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"abusewatch status: ovh says blocked", "abusewatch unblock: lifting the block of " + ip + " requested from ovh"} {
		if !strings.Contains(show, want) {
			t.Errorf("the incident's timeline lacks %q:\n%s", want, show)
		}
	}
}
