package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

var t0 = time.Date(2026, 11, 2, 10, 0, 0, 0, time.UTC)

func TestEnqueueIdempotent(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	id1, created, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: "notify:1:opened", Payload: []byte("a"), RunAt: t0})
	if err != nil || !created {
		t.Fatalf("first Enqueue: %d %v %v", id1, created, err)
	}
	id2, created, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: "notify:1:opened", Payload: []byte("b"), RunAt: t0})
	if err != nil || created || id2 != id1 {
		t.Fatalf("second Enqueue: %d %v %v, want %d not created", id2, created, err, id1)
	}
	task, err := s.Claim(ctx, "w1", []string{"notify"}, time.Minute, t0)
	if err != nil || task == nil || string(task.Payload) != "a" {
		t.Fatalf("Claim: %+v %v, want the first payload", task, err)
	}
	if err := s.Complete(ctx, task.ID, "w1"); err != nil {
		t.Fatal(err)
	}
	// A finished task's key still deduplicates.
	if _, created, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: "notify:1:opened"}); err != nil || created {
		t.Errorf("Enqueue after completion: created %v %v", created, err)
	}
	if _, _, err := s.Enqueue(ctx, NewTask{Kind: "notify"}); err == nil {
		t.Error("Enqueue without a key succeeded")
	}
}

func TestClaimLeases(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	kinds := []string{"state"}
	id, _, err := s.Enqueue(ctx, NewTask{Kind: "state", Key: "state:1", RunAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if task, err := s.Claim(ctx, "a", kinds, time.Minute, t0.Add(-time.Second)); err != nil || task != nil {
		t.Fatalf("claimed a task before it was due: %+v %v", task, err)
	}
	a, err := s.Claim(ctx, "a", kinds, time.Minute, t0)
	if err != nil || a == nil || a.ID != id || a.Attempts != 1 || a.LeaseOwner != "a" || !a.LeaseUntil.Equal(t0.Add(time.Minute)) || a.LastError != "" || a.MaybeSent {
		t.Fatalf("Claim by a: %+v %v", a, err)
	}
	if b, err := s.Claim(ctx, "b", kinds, time.Minute, t0.Add(30*time.Second)); err != nil || b != nil {
		t.Fatalf("b claimed a leased task: %+v %v", b, err)
	}
	if err := s.Complete(ctx, id, "b"); !errors.Is(err, errLeaseLost) {
		t.Fatalf("Complete by the wrong owner: %v, want errLeaseLost", err)
	}
	if next, ok, err := s.NextDue(ctx, kinds); err != nil || !ok || !next.Equal(t0.Add(time.Minute)) {
		t.Errorf("NextDue while leased: %v %v %v, want the lease end", next, ok, err)
	}
	// a's lease runs out: b may take the task over and a can no longer finish it.
	b, err := s.Claim(ctx, "b", kinds, time.Minute, t0.Add(time.Minute))
	if err != nil || b == nil || b.ID != id || b.Attempts != 2 {
		t.Fatalf("Claim after lease expiry: %+v %v", b, err)
	}
	if b.LastError != abandonedBy+"a" || b.MaybeSent {
		t.Errorf("claim after a's lease ran out: last error %q, MaybeSent %v; want a named as its abandoner, and nothing sent", b.LastError, b.MaybeSent)
	}
	if err := s.Complete(ctx, id, "a"); !errors.Is(err, errLeaseLost) {
		t.Fatalf("Complete by the expired owner: %v, want errLeaseLost", err)
	}
	if err := s.Complete(ctx, id, "b"); err != nil {
		t.Fatal(err)
	}
	if task, err := s.Claim(ctx, "c", kinds, time.Minute, t0.Add(time.Hour)); err != nil || task != nil {
		t.Fatalf("claimed a completed task: %+v %v", task, err)
	}
	if err := s.Complete(ctx, id, "b"); !errors.Is(err, errLeaseLost) {
		t.Errorf("completing twice: %v, want errLeaseLost", err)
	}
	if _, ok, err := s.NextDue(ctx, kinds); err != nil || ok {
		t.Errorf("NextDue with nothing queued: %v %v", ok, err)
	}
}

func TestClaimConcurrent(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	const tasks, workers = 60, 4
	for i := range tasks {
		if _, _, err := s.Enqueue(ctx, NewTask{Kind: "triage", Key: fmt.Sprint(i), RunAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	seen := map[int64]string{}
	var wg sync.WaitGroup
	for w := range workers {
		owner := fmt.Sprint("w", w)
		wg.Go(func() {
			for {
				task, err := s.Claim(ctx, owner, []string{"triage"}, time.Hour, t0)
				if err != nil {
					t.Error(err)
					return
				}
				if task == nil {
					return
				}
				mu.Lock()
				if prev, dup := seen[task.ID]; dup {
					t.Errorf("task %d claimed by %s and %s", task.ID, prev, owner)
				}
				seen[task.ID] = owner
				mu.Unlock()
				if err := s.Complete(ctx, task.ID, owner); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(seen) != tasks {
		t.Errorf("%d tasks claimed, want %d", len(seen), tasks)
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		attempts int
		upper    time.Duration
	}{
		{0, 5 * time.Second},
		{1, 5 * time.Second},
		{2, 10 * time.Second},
		{4, 40 * time.Second},
		{10, 2560 * time.Second},
		{11, time.Hour},
		{1000, time.Hour},
	}
	for _, tt := range tests {
		for range 50 {
			if d := backoff(tt.attempts); d < tt.upper/2 || d > tt.upper {
				t.Fatalf("backoff(%d) = %v, want within [%v, %v]", tt.attempts, d, tt.upper/2, tt.upper)
			}
		}
	}
}

func TestRetryAndFail(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	kinds := []string{"notify"}
	res := ingest(t, s, Source{Path: "1.eml"}, mail("1", "ovh|attack|syn_flood|51.91.10.20||3|pass"), nil)
	id, _, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: "n1", RunAt: t0, IncidentID: res.Opened[0]})
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	var last time.Duration
	for attempt := 1; attempt <= 3; attempt++ {
		task, err := s.Claim(ctx, "w", kinds, time.Minute, now)
		if err != nil || task == nil || task.Attempts != attempt {
			t.Fatalf("attempt %d: Claim %+v %v", attempt, task, err)
		}
		next, err := s.Retry(ctx, id, "w", fmt.Sprint("chat down ", attempt), false, now)
		if err != nil {
			t.Fatal(err)
		}
		wait := next.Sub(now)
		upper := 5 * time.Second << (attempt - 1)
		if wait < upper/2-time.Millisecond || wait > upper {
			t.Errorf("attempt %d: retry in %v, want within [%v, %v]", attempt, wait, upper/2, upper)
		}
		if attempt > 1 && wait <= last/2 {
			t.Errorf("attempt %d: backoff %v did not grow from %v", attempt, wait, last)
		}
		last = wait
		if task, err := s.Claim(ctx, "w", kinds, time.Minute, next.Add(-time.Millisecond)); err != nil || task != nil {
			t.Fatalf("attempt %d: claimed before the backoff ended: %+v %v", attempt, task, err)
		}
		if _, err := s.Retry(ctx, id, "w", "again", false, now); !errors.Is(err, errLeaseLost) {
			t.Fatalf("Retry without a lease: %v, want errLeaseLost", err)
		}
		now = next
	}
	task, err := s.Claim(ctx, "w", kinds, time.Minute, now)
	if err != nil || task == nil || task.LastError != "chat down 3" {
		t.Fatalf("Claim after retries: %+v %v", task, err)
	}
	if err := s.Fail(ctx, id, "other", "x"); !errors.Is(err, errLeaseLost) {
		t.Fatalf("Fail by the wrong owner: %v", err)
	}
	if err := s.Fail(ctx, id, "w", "chat rejects the token"); err != nil {
		t.Fatal(err)
	}
	failed, err := s.Tasks(ctx, "failed")
	if err != nil || len(failed) != 1 || failed[0].ID != id || failed[0].LastError != "chat rejects the token" {
		t.Fatalf("failed tasks %+v %v", failed, err)
	}
	if st := stats(t, s); st.FailedTasks != 1 || st.QueuedTasks != 0 {
		t.Errorf("stats %+v", st)
	}
	if d := detail(t, s, res.Opened[0]); !hasTimeline(d, "task") {
		t.Errorf("failure not on the incident timeline: %+v", d.Timeline)
	}
}

func TestUnknownKindsAndQueueStats(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	for _, nt := range []NewTask{
		{Kind: "state", Key: "s1", RunAt: t0},
		{Kind: "state", Key: "s2", RunAt: t0.Add(time.Hour)},
		{Kind: "escalate-v2", Key: "e1", RunAt: t0.Add(-time.Hour)},
		{Kind: "escalate-v2", Key: "e2", RunAt: t0},
		{Kind: "archive", Key: "a1", RunAt: t0},
	} {
		if _, _, err := s.Enqueue(ctx, nt); err != nil {
			t.Fatal(err)
		}
	}
	known := []string{"state", "notify"}
	unknown, err := s.UnknownTasks(ctx, known)
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]int{"escalate-v2": 2, "archive": 1}; !reflect.DeepEqual(unknown, want) {
		t.Errorf("UnknownTasks = %v, want %v", unknown, want)
	}
	for range 3 {
		task, err := s.Claim(ctx, "w", known, time.Minute, t0.Add(2*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if task == nil {
			break
		}
		if task.Kind != "state" {
			t.Fatalf("claimed a %s task with kinds %v", task.Kind, known)
		}
		if err := s.Complete(ctx, task.ID, "w"); err != nil {
			t.Fatal(err)
		}
	}
	depth, oldest, err := s.QueueStats(ctx, t0)
	if err != nil || depth != 3 || oldest != time.Hour {
		t.Errorf("QueueStats = %d, %v, %v; want 3 queued, oldest due an hour ago", depth, oldest, err)
	}
	if unknown, _ := s.UnknownTasks(ctx, known); unknown["escalate-v2"] != 2 {
		t.Errorf("unknown tasks did not stay queued: %v", unknown)
	}
	if next, ok, err := s.NextDue(ctx, []string{"escalate-v2"}); err != nil || !ok || !next.Equal(t0.Add(-time.Hour)) {
		t.Errorf("NextDue = %v %v %v", next, ok, err)
	}
}

func TestReleaseLeases(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	if _, _, err := s.Enqueue(ctx, NewTask{Kind: "state", Key: "s1", RunAt: t0}); err != nil {
		t.Fatal(err)
	}
	task, err := s.Claim(ctx, "w1", []string{"state"}, time.Hour, t0)
	if err != nil || task == nil {
		t.Fatal(task, err)
	}
	if err := s.ReleaseLeases(ctx, "w1"); err != nil {
		t.Fatal(err)
	}
	again, err := s.Claim(ctx, "w2", []string{"state"}, time.Hour, t0)
	if err != nil || again == nil || again.ID != task.ID || again.Attempts != 1 {
		t.Fatalf("claim after release: %+v %v, want the same task at attempt 1", again, err)
	}
	if err := s.Complete(ctx, task.ID, "w1"); !errors.Is(err, errLeaseLost) {
		t.Errorf("released owner completed: %v", err)
	}
}

// TestClaimNotAbandoned checks that a task whose holder recorded an outcome
// (a retry) or let it go (shutdown) is not taken for abandoned.
func TestClaimNotAbandoned(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	kinds := []string{"notify"}
	for _, key := range []string{"notify:retried", "notify:released"} {
		if _, _, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: key, RunAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := s.Claim(ctx, "a", kinds, time.Minute, t0)
	if err != nil || first == nil {
		t.Fatalf("Claim: %+v %v", first, err)
	}
	if _, err := s.Retry(ctx, first.ID, "a", "503 from the chat service", false, t0); err != nil {
		t.Fatal(err)
	}
	second, err := s.Claim(ctx, "a", kinds, time.Minute, t0)
	if err != nil || second == nil || second.ID == first.ID {
		t.Fatalf("Claim of the other task: %+v %v", second, err)
	}
	if err := s.ReleaseLeases(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		task, err := s.Claim(ctx, "b", kinds, time.Minute, t0.Add(2*time.Hour))
		if err != nil || task == nil {
			t.Fatalf("Claim by b: %+v %v", task, err)
		}
		if strings.HasPrefix(task.LastError, abandonedBy) || task.MaybeSent {
			t.Errorf("task %s taken for abandoned (last error %q, MaybeSent %v)", task.Key, task.LastError, task.MaybeSent)
		}
	}
}

// TestClaimMaybeSent walks the ways an attempt can end and checks whether
// the next claim says an earlier attempt may have sent the message: only a
// holder that had begun sending and recorded no answer leaves that doubt,
// and the doubt survives later attempts.
func TestClaimMaybeSent(t *testing.T) {
	kinds := []string{"notify"}
	for _, tc := range []struct {
		name string
		// end finishes the first holder's attempt; began says whether it
		// had called BeginSend.
		began bool
		end   func(s *Store, id int64) error
		want  bool
	}{
		{"killed before sending", false, func(*Store, int64) error { return nil }, false},
		{"killed while sending", true, func(*Store, int64) error { return nil }, true},
		{"answered 503", true, func(s *Store, id int64) error {
			_, err := s.Retry(context.Background(), id, "a", "503", false, t0)
			return err
		}, false},
		{"no answer", true, func(s *Store, id int64) error {
			_, err := s.Retry(context.Background(), id, "a", "timeout", true, t0)
			return err
		}, true},
		{"timed out before sending", false, func(s *Store, id int64) error {
			_, err := s.Retry(context.Background(), id, "a", "timeout", true, t0)
			return err
		}, false},
		{"shut down while sending", true, func(s *Store, _ int64) error { return s.ReleaseLeases(context.Background(), "a") }, true},
		{"shut down before sending", false, func(s *Store, _ int64) error { return s.ReleaseLeases(context.Background(), "a") }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := openTest(t)
			ctx := context.Background()
			id, _, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: "notify:1", RunAt: t0})
			if err != nil {
				t.Fatal(err)
			}
			a, err := s.Claim(ctx, "a", kinds, time.Minute, t0)
			if err != nil || a == nil || a.MaybeSent {
				t.Fatalf("first claim: %+v %v", a, err)
			}
			if tc.began {
				if err := s.BeginSend(ctx, id, "a", t0.Add(time.Minute)); err != nil {
					t.Fatal(err)
				}
			}
			if err := tc.end(s, id); err != nil {
				t.Fatal(err)
			}
			b, err := s.Claim(ctx, "b", kinds, time.Minute, t0.Add(2*time.Hour))
			if err != nil || b == nil {
				t.Fatalf("second claim: %+v %v", b, err)
			}
			if b.MaybeSent != tc.want {
				t.Errorf("MaybeSent = %v, want %v (last error %q)", b.MaybeSent, tc.want, b.LastError)
			}
			// b's attempt is answered 503: what a may have sent stays in doubt.
			if err := s.BeginSend(ctx, id, "b", t0.Add(2*time.Hour+time.Minute)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Retry(ctx, id, "b", "503", false, t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			c, err := s.Claim(ctx, "c", kinds, time.Minute, t0.Add(4*time.Hour))
			if err != nil || c == nil || c.MaybeSent != tc.want {
				t.Errorf("third claim: %+v %v, want MaybeSent %v kept", c, err, tc.want)
			}
		})
	}
}

// TestBeginSendHoldsTheLease: BeginSend renews the lease, so the send has a
// whole one, and refuses a holder whose lease another has taken over.
func TestBeginSendHoldsTheLease(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	kinds := []string{"notify"}
	id, _, err := s.Enqueue(ctx, NewTask{Kind: "notify", Key: "notify:1", RunAt: t0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Claim(ctx, "a", kinds, time.Minute, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.BeginSend(ctx, id, "a", t0.Add(90*time.Second)); err != nil {
		t.Fatal(err)
	}
	if b, err := s.Claim(ctx, "b", kinds, time.Minute, t0.Add(time.Minute)); err != nil || b != nil {
		t.Fatalf("b took the task over while a was sending under its renewed lease: %+v %v", b, err)
	}
	b, err := s.Claim(ctx, "b", kinds, time.Minute, t0.Add(90*time.Second))
	if err != nil || b == nil {
		t.Fatalf("claim after the renewed lease: %+v %v", b, err)
	}
	if err := s.BeginSend(ctx, id, "a", t0.Add(3*time.Minute)); !errors.Is(err, errLeaseLost) {
		t.Errorf("BeginSend by the holder that lost the lease: %v, want errLeaseLost", err)
	}
}
