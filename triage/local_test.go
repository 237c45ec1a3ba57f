package triage

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// TestLocalRunner runs local jobs through Runner.Run: values substituted
// per argument with no shell, shell jobs seeing values only in env, and
// the statuses of missing, failing, slow and chatty commands.
func TestLocalRunner(t *testing.T) {
	marker := filepath.Join(t.TempDir(), "pwned")
	t.Setenv("ABUSEWATCH_TEST_SECRET", "hunter2")
	noHost := testTarget()
	noHost.Host = nil
	sleepArg := "31." + strconv.Itoa(os.Getpid())

	tests := []struct {
		name       string
		job        config.Job
		target     Target
		wantStatus string
		wantExit   int
		wantOutput string // exact, unless check is set
		check      func(t *testing.T, r Result)
	}{
		{
			name: "argv substitution without a shell",
			job: config.Job{Argv: []string{"printf", `[%s]\n`, "{ip}", "x{incident}y", "{host}",
				"$(touch " + marker + ");`touch " + marker + "`", "*"}},
			target: testTarget(), wantStatus: StatusOK,
			wantOutput: "[192.0.2.7]\n[x42y]\n[web1]\n[$(touch " + marker + ");`touch " + marker + "`]\n[*]\n",
		},
		{
			name:   "shell job gets values only as env",
			job:    config.Job{Shell: true, Argv: []string{`printf '%s|%s|%s'`, `"$ABUSEWATCH_IP" "$ABUSEWATCH_INCIDENT" "$ABUSEWATCH_HOST"`}},
			target: testTarget(), wantStatus: StatusOK, wantOutput: "192.0.2.7|42|web1",
		},
		{
			name:   "shell job with a placeholder is refused",
			job:    config.Job{Shell: true, Argv: []string{"touch " + marker + " {ip}"}},
			target: testTarget(), wantStatus: StatusRefused, wantExit: -1,
		},
		{
			name:   "{host} without an inventory host is refused",
			job:    config.Job{Argv: []string{"touch", marker, "{host}"}},
			target: noHost, wantStatus: StatusRefused, wantExit: -1,
		},
		{
			name:   "our environment's secrets are not passed on",
			job:    config.Job{Argv: []string{"env"}},
			target: testTarget(), wantStatus: StatusOK,
			check: func(t *testing.T, r Result) {
				if bytes.Contains(r.Output, []byte("hunter2")) || !bytes.Contains(r.Output, []byte("ABUSEWATCH_IP=192.0.2.7\n")) {
					t.Errorf("env output:\n%s", r.Output)
				}
			},
		},
		{
			name:   "missing command",
			job:    config.Job{Argv: []string{"abusewatch-no-such-tool", "-x"}},
			target: testTarget(), wantStatus: StatusNotInstalled, wantExit: 127,
		},
		{
			name:   "missing command in a shell job",
			job:    config.Job{Shell: true, Argv: []string{"abusewatch-no-such-tool"}},
			target: testTarget(), wantStatus: StatusNotInstalled, wantExit: 127,
			check: func(t *testing.T, r Result) {
				if !bytes.Contains(r.Output, []byte("not found")) {
					t.Errorf("output %q lacks the shell's message", r.Output)
				}
			},
		},
		{
			name:   "failing command",
			job:    config.Job{Argv: []string{"sh", "-c", "echo broken >&2; exit 3"}},
			target: testTarget(), wantStatus: StatusFailed, wantExit: 3, wantOutput: "broken\n",
		},
		{
			// sh forks sleep (it is not the last command): only a kill of
			// the whole group ends it.
			name:   "timeout kills the process group",
			job:    config.Job{Shell: true, Timeout: 200 * time.Millisecond, Argv: []string{"sleep " + sleepArg + "; touch " + marker}},
			target: testTarget(), wantStatus: StatusTimeout, wantExit: -1,
			check: func(t *testing.T, r Result) {
				waitGone(t, sleepArg)
			},
		},
		{
			name:   "output over the cap",
			job:    config.Job{MaxOutputBytes: 100, Argv: []string{"head", "-c", "10000", "/dev/zero"}},
			target: testTarget(), wantStatus: StatusOK,
			check: func(t *testing.T, r Result) {
				if len(r.Output) != 100 || r.Dropped != 9900 {
					t.Errorf("kept %d, dropped %d; want 100, 9900", len(r.Output), r.Dropped)
				}
			},
		},
	}
	r := NewRunner(config.Triage{}, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.job.Name, tc.job.Where = "test", WhereLocal
			res := r.Run(context.Background(), tc.target, []config.Job{tc.job})
			if len(res) != 1 {
				t.Fatalf("%d results for 1 job", len(res))
			}
			got := res[0]
			if got.Status != tc.wantStatus || got.ExitCode != tc.wantExit {
				t.Fatalf("status %s exit %d (error %q, output %q); want %s exit %d",
					got.Status, got.ExitCode, got.Error, got.Output, tc.wantStatus, tc.wantExit)
			}
			if tc.check != nil {
				tc.check(t, got)
			} else if string(got.Output) != tc.wantOutput {
				t.Errorf("output %q, want %q", got.Output, tc.wantOutput)
			}
			assertNoFile(t, marker)
		})
	}
}

// TestRunRefusesUnsafeTargets: a target carrying shell syntax runs no job
// at all, of any kind, and says why.
func TestRunRefusesUnsafeTargets(t *testing.T) {
	dir := t.TempDir()
	pwned := filepath.Join(dir, "pwned")
	ran := filepath.Join(dir, "ran")
	jobs := []config.Job{
		{Name: "touch", Where: WhereLocal, Argv: []string{"touch", ran}},
		{Name: "echo-ip", Where: WhereLocal, Argv: []string{"echo", "{ip}", "{host}"}},
		{Name: "shell", Where: WhereLocal, Shell: true, Argv: []string{`echo "$ABUSEWATCH_IP"; touch ` + ran}},
		{Name: "hook", Where: WhereWebhook, URL: "http://127.0.0.1:1/never", Secret: "s"},
	}
	tests := []struct {
		name   string
		modify func(*Target)
	}{
		{"ip zone", func(t *Target) { t.IP = netip.MustParseAddr("fe80::1%;touch " + pwned) }},
		{"host name", func(t *Target) { t.Host.Name = "web1;touch " + pwned }},
		{"host substitution", func(t *Target) { t.Host.Name = "$(touch " + pwned + ")" }},
		{"incident", func(t *Target) { t.IncidentID = -1 }},
		{"attack", func(t *Target) { t.Attack = "spam;touch " + pwned }},
	}
	r := NewRunner(config.Triage{}, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tg := testTarget()
			tc.modify(&tg)
			res := r.Run(context.Background(), tg, jobs)
			if len(res) != len(jobs) {
				t.Fatalf("%d results for %d jobs", len(res), len(jobs))
			}
			for i, got := range res {
				if got.Job != jobs[i].Name || got.Status != StatusRefused || !strings.Contains(got.Error, "unsafe target") || got.Output != nil {
					t.Errorf("%s: status %s, error %q, output %q; want refused as an unsafe target", jobs[i].Name, got.Status, got.Error, got.Output)
				}
			}
			assertNoFile(t, pwned)
			assertNoFile(t, ran)
		})
	}
}

// TestRunContinuesAfterFailures: results come in job order and a failing
// job does not stop the next.
func TestRunContinuesAfterFailures(t *testing.T) {
	jobs := []config.Job{
		{Name: "a", Where: WhereLocal, Argv: []string{"false"}},
		{Name: "b", Where: WhereSSH, Argv: []string{"true"}}, // web1 has no SSH address
		{Name: "c", Where: "carrier-pigeon", Argv: []string{"true"}},
		{Name: "d", Where: WhereLocal, Argv: []string{"echo", "d"}},
	}
	res := NewRunner(config.Triage{}, Options{}).Run(context.Background(), testTarget(), jobs)
	want := []struct{ job, status string }{{"a", StatusFailed}, {"b", StatusError}, {"c", StatusError}, {"d", StatusOK}}
	for i, w := range want {
		if res[i].Job != w.job || res[i].Status != w.status {
			t.Errorf("result %d = %s %s (%s), want %s %s", i, res[i].Job, res[i].Status, res[i].Error, w.job, w.status)
		}
	}
	if string(res[3].Output) != "d\n" {
		t.Errorf("last job output %q", res[3].Output)
	}
}
