package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// storeEnv is a config file with a store and local triage jobs in a temp dir.
type storeEnv struct{ cliEnv }

func newStoreEnv(t *testing.T) *storeEnv {
	t.Helper()
	dir := t.TempDir()
	e := &storeEnv{cliEnv{cfg: filepath.Join(dir, "abusewatch.yaml"), db: filepath.Join(dir, "abusewatch.db")}}
	yaml := fmt.Sprintf(`store:
  path: %s
triage:
  jobs:
    - name: echo-ip
      where: local
      argv: [echo, "checked {ip}"]
      timeout: 10s
    - name: uname
      where: local
      argv: [uname, -s]
      timeout: 10s
`, e.db)
	if err := os.WriteFile(e.cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// keysOf returns the sorted keys of a JSON object.
func keysOf(t *testing.T, raw json.RawMessage) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatalf("not a JSON object: %s", raw)
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// hasKeys fails unless every key of the contract is present.
func hasKeys(t *testing.T, what string, raw json.RawMessage, want ...string) {
	t.Helper()
	got := keysOf(t, raw)
	for _, k := range want {
		if !slices.Contains(got, k) {
			t.Errorf("%s: key %q missing from %v", what, k, got)
		}
	}
}

func writeMails(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, raw := range files {
		if err := os.WriteFile(filepath.Join(dir, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "parser", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestMessagesCLI: every stored mail is listed with its status and reason,
// the ingest names the ones it could not parse, and --raw gives back the
// stored bytes exactly.
func TestMessagesCLI(t *testing.T) {
	e := newStoreEnv(t)
	notice := fixture(t, "ovh-antihack-syn-flood-fr.eml")
	invoice := fixture(t, "ovh-invoice-fr.eml")
	dir := writeMails(t, map[string][]byte{"1-notice.eml": notice, "2-invoice.eml": invoice})
	_, stderr, err := e.run(t, "", "ingest", dir)
	if err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}
	if !strings.Contains(stderr, "2-invoice.eml: stored as message 2, none: ") {
		t.Errorf("ingest did not name the mail it could not parse and why:\n%s", stderr)
	}

	out, _, err := e.run(t, "", "messages", "list", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var list []json.RawMessage
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 2 {
		t.Fatalf("messages list --json: %v, %d entries:\n%s", err, len(list), out)
	}
	for _, m := range list {
		hasKeys(t, "message", m, "id", "mailbox", "uid", "received_at", "date", "from", "subject", "size", "status", "reason", "authentic", "notices")
	}
	var msgs []messageJSON
	if err := json.Unmarshal([]byte(out), &msgs); err != nil {
		t.Fatal(err)
	}
	if m := msgs[0]; m.Status != "ok" || m.Notices != 1 || m.From != "noreply@ovh.com" || m.Size != int64(len(notice)) || m.Date == nil {
		t.Errorf("notice mail listed as %+v", m)
	}
	if m := msgs[1]; m.Status != "none" || m.Notices != 0 || m.Reason == "" {
		t.Errorf("invoice listed as %+v, want status none with its reason", m)
	}

	out, _, err = e.run(t, "", "messages", "list", "--status", "none", "--json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(out), &msgs); err != nil || len(msgs) != 1 || msgs[0].ID != 2 {
		t.Errorf("--status none gave %s", out)
	}
	if _, _, err := e.run(t, "", "messages", "list", "--status", "bogus"); err == nil {
		t.Errorf("an unknown status was accepted")
	}

	out, _, err = e.run(t, "", "messages", "show", "1", "--raw")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal([]byte(out), notice) {
		t.Errorf("messages show --raw gave %d bytes, not the %d stored exactly", len(out), len(notice))
	}
	out, _, err = e.run(t, "", "messages", "show", "2")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"status:", "none", "reason:", "from:"} {
		if !strings.Contains(out, want) {
			t.Errorf("messages show lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := e.run(t, "", "messages", "show", "99"); err == nil {
		t.Errorf("showing a message that does not exist succeeded")
	}
}

// TestTriageCLI: an operator runs the jobs of an unverified incident by
// hand; the run is recorded as theirs and shown with each job's sha256, in
// the shape DESIGN.md gives, and `incidents show` summarises it.
func TestTriageCLI(t *testing.T) {
	e := newStoreEnv(t)
	t.Setenv("SUDO_USER", "alice")
	dir := writeMails(t, map[string][]byte{"notice.eml": fixture(t, "ovh-antihack-syn-flood-fr.eml")})
	if _, stderr, err := e.run(t, "", "ingest", "--drain", dir); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}
	// The unsigned notice ran nothing by itself.
	out, _, err := e.run(t, "", "triage", "show", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var shown triageJSON
	if err := json.Unmarshal([]byte(out), &shown); err != nil || shown.Incident != 1 || len(shown.Runs) != 0 {
		t.Fatalf("triage show before any run: %v %s", err, out)
	}

	out, stderr, err := e.run(t, "", "triage", "run", "1", "--job", "echo-ip", "--json")
	if err != nil {
		t.Fatalf("triage run: %v\n%s", err, stderr)
	}
	var ran triageJSON
	if err := json.Unmarshal([]byte(out), &ran); err != nil || len(ran.Runs) != 1 {
		t.Fatalf("triage run --json: %v\n%s", err, out)
	}
	run := ran.Runs[0]
	if run.Trigger != "operator alice (abusewatch triage run)" {
		t.Errorf("trigger %q, want the operator's action", run.Trigger)
	}
	if len(run.Jobs) != 1 || run.Jobs[0].Job != "echo-ip" || run.Jobs[0].Status != "ok" {
		t.Fatalf("jobs %+v, want echo-ip alone, ok", run.Jobs)
	}
	// The sha256 of the job's output, as the job printed it.
	h := sha256.Sum256([]byte("checked 192.0.2.46\n"))
	sum := hex.EncodeToString(h[:])
	if run.Jobs[0].SHA256 != sum {
		t.Errorf("sha256 %s, want %s", run.Jobs[0].SHA256, sum)
	}

	out, _, err = e.run(t, "", "triage", "show", "1", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &top); err != nil {
		t.Fatal(err)
	}
	if got := keysOf(t, []byte(out)); !reflect.DeepEqual(got, []string{"incident", "runs"}) {
		t.Errorf("triage show --json keys %v, want incident and runs", got)
	}
	var runs []json.RawMessage
	if err := json.Unmarshal(top["runs"], &runs); err != nil || len(runs) != 1 {
		t.Fatalf("runs: %v %s", err, top["runs"])
	}
	hasKeys(t, "run", runs[0], "run", "started_at", "trigger", "jobs", "suspects")
	var fields struct {
		Jobs     []json.RawMessage `json:"jobs"`
		Suspects []json.RawMessage `json:"suspects"`
	}
	if err := json.Unmarshal(runs[0], &fields); err != nil || len(fields.Jobs) != 1 || fields.Suspects == nil {
		t.Fatalf("run fields: %v %s", err, runs[0])
	}
	hasKeys(t, "job", fields.Jobs[0], "job", "host", "where", "status", "exit_code", "sha256", "findings")

	out, _, err = e.run(t, "", "triage", "show", "1", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "checked 192.0.2.46") || !strings.Contains(out, "sha256 "+sum) || !strings.Contains(out, "operator alice") {
		t.Errorf("triage show of one run lacks its output, sha256 or trigger:\n%s", out)
	}
	out, _, err = e.run(t, "", "triage", "show", "1")
	if err != nil {
		t.Fatal(err)
	}
	if i, j := strings.Index(out, "Suspects:"), strings.Index(out, "Run 1"); i < 0 || j < 0 || i > j {
		t.Errorf("triage show table does not put the suspects first:\n%s", out)
	}
	if _, _, err := e.run(t, "", "triage", "run", "1", "--job", "no-such-job"); err == nil || !strings.Contains(err.Error(), "no triage job applies") {
		t.Errorf("running an unknown job: %v", err)
	}

	out, _, err = e.run(t, "", "incidents", "show", "1")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Triage runs:", "run 1", "1 job(s): 1 ok", "operator alice", "(unverified)"} {
		if !strings.Contains(out, want) {
			t.Errorf("incidents show lacks %q:\n%s", want, out)
		}
	}
}
