package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
)

// TestIncidentsShowMerge: a Hetzner notice naming only Robot server
// 2345678, whose main IP already has an open incident, is merged into that
// incident by the state task, and `incidents show` says so on both.
func TestIncidentsShowMerge(t *testing.T) {
	rb := robottest.New(t)
	rb.AddDedicated(robottest.Dedicated{Number: 2345678, Name: "web-7", IP: "37.27.128.19", Product: "EX44", DC: "FSN1-DC14"})
	dir := t.TempDir()
	e := &cliEnv{cfg: filepath.Join(dir, "abusewatch.yaml"), db: filepath.Join(dir, "abusewatch.db")}
	yaml := fmt.Sprintf(`store:
  path: %s
providers:
  hetzner:
    robot_endpoint: %s
    robot_user: %q
    robot_password: %q
`, e.db, rb.URL(), robottest.User, robottest.Password)
	if err := os.WriteFile(e.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	mails := writeMails(t, map[string][]byte{
		"a-lock.eml":   fixture(t, "hetzner-lock-one.eml"),
		"b-server.eml": fixture(t, "hetzner-abuse-server-number.eml"),
	})
	if _, stderr, err := e.run(t, "", "ingest", "--drain", mails); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}
	tests := []struct {
		id   string
		want []string
	}{
		{"1", []string{"37.27.128.19", "incident 2 merged in (1 notice): the hetzner API routes 37.27.128.19 to 2345678"}},
		{"2", []string{"resolved", "merged into incident 1, the open incident of 37.27.128.19"}},
	}
	for _, tc := range tests {
		out, stderr, err := e.run(t, "", "incidents", "show", tc.id)
		if err != nil {
			t.Fatalf("incidents show %s: %v\n%s", tc.id, err, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("incidents show %s lacks %q:\n%s", tc.id, w, out)
			}
		}
	}
}
