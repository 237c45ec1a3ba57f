package pipeline

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// countingRunner finds a rootkit on every run and counts the runs.
type countingRunner struct{ runs atomic.Int32 }

func (r *countingRunner) Run(_ context.Context, _ triage.Target, jobs []config.Job) []triage.Result {
	r.runs.Add(1)
	var out []triage.Result
	for _, j := range jobs {
		out = append(out, triage.Result{Job: j.Name, Where: j.Where, Status: "ok", Argv: j.Argv,
			Output: []byte("Rootkit found\n"), Findings: []string{"rootkit"}, RaiseSeverity: 5})
	}
	return out
}

// TestTriageRetryAfterCommitIsRecordedOnce: a worker that dies after the
// triage run was committed but before its task was marked done leaves the
// task to be run again. The jobs must not run again, the evidence must not
// be doubled, and the escalation and the result must be told once.
func TestTriageRetryAfterCommitIsRecordedOnce(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	zone := &dnsZone{}
	pub, key := newKey(t)
	zone.publish("s1", pub)
	runner := &countingRunner{}
	chat := newRecorder(t)
	p := New(Options{
		Store: st, Notifier: chat.notifier, Parser: parser.Options{LookupTXT: zone.lookupTXT},
		Triage: &Triage{Config: config.Triage{Jobs: []config.Job{{Name: "rkhunter", Where: triage.WhereLocal, Argv: []string{"rkhunter", "--check"}}}},
			Inventory: inventory(t, "192.0.2.45"), Runner: runner},
	})
	p.mustIngest(t, signOVH(t, readFixture(t, "ovh-antihack-ntp-amplification-en.eml"), "s1", key))

	queued, err := st.Tasks(ctx, "queued")
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(queued, func(task store.Task) bool { return task.Kind == taskTriage })
	if i < 0 {
		t.Fatalf("no triage task planned for a DKIM-verified notice: %v", queued)
	}
	// The run that committed, then the retry of the same task.
	for range 2 {
		if err := p.handleTriage(ctx, &queued[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Drain(ctx); err != nil { // runs the task a third time, and the chat
		t.Fatal(err)
	}
	if n := runner.runs.Load(); n != 1 {
		t.Errorf("the jobs ran %d times, want once", n)
	}
	d, err := st.Incident(ctx, queued[i].IncidentID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Evidence) != 1 || d.Severity != 5 {
		t.Errorf("evidence %d, severity %d; want 1 and 5", len(d.Evidence), d.Severity)
	}
	var escalated, finished int
	for _, k := range chat.kinds() {
		switch k {
		case notify.IncidentEscalated:
			escalated++
		case notify.TriageFinished:
			finished++
		}
	}
	if escalated != 1 || finished != 1 {
		t.Errorf("told %v; want one escalation and one triage result", chat.kinds())
	}
}

// inventory is one host, web1, with the given IPs.
func inventory(t *testing.T, ips ...string) *triage.Inventory {
	t.Helper()
	inv, err := triage.NewInventory([]config.Host{{Name: "web1", IPs: ips}})
	if err != nil {
		t.Fatal(err)
	}
	return inv
}
