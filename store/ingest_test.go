package store

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"
)

func TestIngestDeduplicates(t *testing.T) {
	raw := mail("dup", "ovh|attack|syn_flood|51.91.10.20||3|pass")
	other := mail("other", "ovh|attack|syn_flood|51.91.10.21||3|pass")
	type step struct {
		src     Source
		raw     []byte
		size    int64 // for a mail that was not fetched
		wantDup bool
	}
	tests := []struct {
		name                        string
		steps                       []step
		wantMessages, wantNotices   int
		wantValidity, wantLastUID   uint32
		wantStatus, wantFirstReason string
	}{
		{
			name: "file then mailbox",
			steps: []step{
				{src: Source{Path: "/tmp/dup.eml"}, raw: raw},
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 41}, raw: raw, wantDup: true},
			},
			wantMessages: 1, wantNotices: 1, wantValidity: 9, wantLastUID: 41, wantStatus: "ok",
		},
		{
			name: "same mailbox uid twice",
			steps: []step{
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 5}, raw: raw},
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 5}, raw: raw, wantDup: true},
			},
			wantMessages: 1, wantNotices: 1, wantValidity: 9, wantLastUID: 5, wantStatus: "ok",
		},
		{
			name: "same file twice",
			steps: []step{
				{src: Source{Path: "a.eml"}, raw: raw},
				{src: Source{Path: "b.eml"}, raw: raw, wantDup: true},
			},
			wantMessages: 1, wantNotices: 1, wantStatus: "ok",
		},
		{
			name: "uid reused under a new uidvalidity",
			steps: []step{
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 5}, raw: raw},
				{src: Source{Mailbox: "abuse", UIDValidity: 10, UID: 5}, raw: other},
			},
			wantMessages: 2, wantNotices: 2, wantValidity: 10, wantLastUID: 5, wantStatus: "ok",
		},
		{
			name: "unfetched mail deduplicated by uid only",
			steps: []step{
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 7}, size: 90 << 20},
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 7}, size: 90 << 20, wantDup: true},
				{src: Source{Mailbox: "abuse", UIDValidity: 9, UID: 8}, size: 80 << 20},
			},
			wantMessages: 2, wantNotices: 0, wantValidity: 9, wantLastUID: 8, wantStatus: "error", wantFirstReason: "too large",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			ctx := context.Background()
			var first, rawBytes int64
			for i, st := range tt.steps {
				msg := Message{Source: st.src, Raw: st.raw, Size: st.size, ReceivedAt: time.Now()}
				if st.raw == nil {
					msg.Reason = "too large"
				}
				var p Parsed
				if st.raw != nil {
					p = fakeParse(1)(st.raw)
				}
				res, err := s.Ingest(ctx, msg, p, nil)
				if err != nil {
					t.Fatalf("step %d: %v", i, err)
				}
				if res.Duplicate != st.wantDup {
					t.Fatalf("step %d: duplicate %v, want %v", i, res.Duplicate, st.wantDup)
				}
				if !st.wantDup {
					rawBytes += max(st.size, int64(len(st.raw)))
				}
				if i == 0 {
					first = res.MessageID
					if res.Status != tt.wantStatus {
						t.Errorf("status %q, want %q", res.Status, tt.wantStatus)
					}
				}
				if st.wantDup && (res.MessageID != first || res.Status != tt.wantStatus) {
					t.Errorf("step %d: duplicate points at message %d (%s), want %d (%s)", i, res.MessageID, res.Status, first, tt.wantStatus)
				}
			}
			got := stats(t, s)
			if got.Messages != tt.wantMessages || got.Notices != tt.wantNotices || got.RawBytes != rawBytes {
				t.Errorf("messages %d notices %d raw bytes %d, want %d, %d and %d",
					got.Messages, got.Notices, got.RawBytes, tt.wantMessages, tt.wantNotices, rawBytes)
			}
			var bodies int
			if err := s.r.QueryRow(`SELECT count(*) FROM raw`).Scan(&bodies); err != nil {
				t.Fatal(err)
			}
			wantBodies := tt.wantMessages
			if tt.wantStatus == "error" { // not fetched
				wantBodies = 0
			}
			if bodies != wantBodies {
				t.Errorf("%d raw bodies stored, want %d", bodies, wantBodies)
			}
			v, uid, err := s.Checkpoint(ctx, "abuse")
			if err != nil || v != tt.wantValidity || uid != tt.wantLastUID {
				t.Errorf("checkpoint %d/%d (%v), want %d/%d", v, uid, err, tt.wantValidity, tt.wantLastUID)
			}
			if tt.wantFirstReason != "" {
				var reason string
				var size int64
				if err := s.r.QueryRow(`SELECT reason, size FROM messages WHERE id = ?`, first).Scan(&reason, &size); err != nil {
					t.Fatal(err)
				}
				if reason != tt.wantFirstReason || size != tt.steps[0].size {
					t.Errorf("unfetched message stored reason %q size %d", reason, size)
				}
			}
		})
	}
}

func TestCheckpointCommitsWithMessage(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	raw := mail("cp", "ovh|attack|syn_flood|51.91.10.20||3|pass")
	src := Source{Mailbox: "abuse", UIDValidity: 3, UID: 12}
	badPlan := func(IncidentChange) []NewTask { return []NewTask{{Kind: "notify"}} } // no key: the insert fails

	if _, err := s.Ingest(ctx, Message{Source: src, Raw: raw}, fakeParse(1)(raw), badPlan); err == nil {
		t.Fatal("Ingest with a failing plan succeeded")
	}
	if v, uid, _ := s.Checkpoint(ctx, "abuse"); v != 0 || uid != 0 {
		t.Errorf("checkpoint advanced to %d/%d by a rolled back ingest", v, uid)
	}
	if st := stats(t, s); st.Messages != 0 || st.Incidents != 0 || st.Notices != 0 {
		t.Errorf("rolled back ingest left %+v", st)
	}

	if res := ingest(t, s, src, raw, nil); res.Duplicate {
		t.Fatal("message counted as duplicate after rollback")
	}
	if v, uid, _ := s.Checkpoint(ctx, "abuse"); v != 3 || uid != 12 {
		t.Errorf("checkpoint %d/%d, want 3/12", v, uid)
	}
	// A lower UID never moves the checkpoint back.
	ingest(t, s, Source{Mailbox: "abuse", UIDValidity: 3, UID: 4}, mail("older"), nil)
	if _, uid, _ := s.Checkpoint(ctx, "abuse"); uid != 12 {
		t.Errorf("last uid %d after an older uid, want 12", uid)
	}
	if err := s.ResetCheckpoint(ctx, "abuse", 4); err != nil {
		t.Fatal(err)
	}
	if v, uid, _ := s.Checkpoint(ctx, "abuse"); v != 4 || uid != 0 {
		t.Errorf("after reset: %d/%d, want 4/0", v, uid)
	}
}

func TestCorrelation(t *testing.T) {
	type step struct {
		notices  []string
		want     []string // per notice: the label of the incident it must land in
		wantOpen []bool   // per notice: opened a new incident
	}
	tests := []struct {
		name  string
		steps []step
		check func(t *testing.T, s *Store, ids map[string]int64)
	}{
		{
			name: "hetzner follow-up without ip joins by case",
			steps: []step{
				{notices: []string{"hetzner|attack|netscan|88.99.1.2|518908:22|3|pass"}, want: []string{"A"}, wantOpen: []bool{true}},
				{notices: []string{"hetzner|status|unknown||518908:22|1|pass"}, want: []string{"A"}, wantOpen: []bool{false}},
				{notices: []string{"hetzner|status|unknown||999999:1|1|pass"}, want: []string{"B"}, wantOpen: []bool{true}},
			},
			check: func(t *testing.T, s *Store, ids map[string]int64) {
				d := detail(t, s, ids["A"])
				if d.Notices != 2 || d.IP != "88.99.1.2" || d.Case != "518908:22" || d.Kind != "attack" || d.Attack != "netscan" || d.Severity != 3 {
					t.Errorf("incident A: %+v", d.Incident)
				}
			},
		},
		{
			name: "second ovh notice for the same ip updates and escalates",
			steps: []step{
				{notices: []string{"ovh|attack|unknown|51.91.10.20||3|pass"}, want: []string{"A"}, wantOpen: []bool{true}},
				{notices: []string{"ovh|attack|syn_flood|51.91.10.20||3|pass"}, want: []string{"A"}, wantOpen: []bool{false}},
				{notices: []string{"ovh|block|unknown|51.91.10.20|T-1|4|pass"}, want: []string{"A"}, wantOpen: []bool{false}},
				{notices: []string{"ovh|complaint|spam|51.91.10.20||2|pass"}, want: []string{"A"}, wantOpen: []bool{false}},
				{notices: []string{"hetzner|attack|syn_flood|51.91.10.20||3|pass"}, want: []string{"H"}, wantOpen: []bool{true}},
			},
			check: func(t *testing.T, s *Store, ids map[string]int64) {
				d := detail(t, s, ids["A"])
				// block raised severity and set the kind, but its unknown attack kept syn_flood.
				if d.Notices != 4 || d.Severity != 4 || d.Kind != "block" || d.Attack != "syn_flood" || d.Case != "T-1" {
					t.Errorf("incident A: %+v", d.Incident)
				}
				if !hasTimeline(d, "escalated") {
					t.Errorf("no escalation on the timeline: %+v", d.Timeline)
				}
			},
		},
		{
			name: "ovh ticket naming only a host, ip named later",
			steps: []step{
				{notices: []string{"ovh|complaint|phishing||CS123|2|pass"}, want: []string{"A"}, wantOpen: []bool{true}},
				{notices: []string{"ovh|block|phishing|51.91.10.30|CS123|4|pass"}, want: []string{"A"}, wantOpen: []bool{false}},
				{notices: []string{"ovh|status|unknown|51.91.10.30||1|pass"}, want: []string{"A"}, wantOpen: []bool{false}},
			},
			check: func(t *testing.T, s *Store, ids map[string]int64) {
				if d := detail(t, s, ids["A"]); d.IP != "51.91.10.30" || d.Notices != 3 || d.Kind != "block" {
					t.Errorf("incident A: %+v", d.Incident)
				}
			},
		},
		{
			name: "neither ip nor case: one incident per message",
			steps: []step{
				{notices: []string{"generic|complaint|spam|||2|none", "generic|complaint|phishing|||2|none"},
					want: []string{"A", "A"}, wantOpen: []bool{true, false}},
				{notices: []string{"generic|complaint|spam|||2|none"}, want: []string{"B"}, wantOpen: []bool{true}},
			},
			check: func(t *testing.T, s *Store, ids map[string]int64) {
				if d := detail(t, s, ids["A"]); d.Notices != 2 || !d.Unverified {
					t.Errorf("incident A: %+v", d.Incident)
				}
			},
		},
		{
			name: "a lock of several ips opens one incident each",
			steps: []step{
				{notices: []string{"hetzner|block|netscan|88.99.1.2|L-1|4|pass", "hetzner|block|netscan|88.99.1.3|L-1|4|pass"},
					want: []string{"A", "B"}, wantOpen: []bool{true, true}},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := openTest(t)
			ids := map[string]int64{}
			var rec recorder
			for i, st := range tt.steps {
				rec.changes = nil
				ingest(t, s, Source{Path: fmt.Sprintf("%d.eml", i)}, mail(fmt.Sprint(i), st.notices...), rec.plan)
				if len(rec.changes) != len(st.want) {
					t.Fatalf("step %d: %d changes, want %d", i, len(rec.changes), len(st.want))
				}
				for j, ch := range rec.changes {
					label := st.want[j]
					if ch.Opened != st.wantOpen[j] {
						t.Errorf("step %d notice %d: opened %v, want %v", i, j, ch.Opened, st.wantOpen[j])
					}
					if id, ok := ids[label]; ok && id != ch.IncidentID {
						t.Errorf("step %d notice %d: incident %d, want %s (%d)", i, j, ch.IncidentID, label, id)
					}
					for other, id := range ids {
						if other != label && id == ch.IncidentID {
							t.Errorf("step %d notice %d: landed in %s, want %s", i, j, other, label)
						}
					}
					ids[label] = ch.IncidentID
				}
			}
			incs, err := s.Incidents(context.Background(), "all")
			if err != nil {
				t.Fatal(err)
			}
			if len(incs) != len(ids) {
				t.Errorf("%d incidents, want %d", len(incs), len(ids))
			}
			if tt.check != nil {
				tt.check(t, s, ids)
			}
		})
	}
}

func detail(t *testing.T, s *Store, id int64) *IncidentDetail {
	t.Helper()
	d, err := s.Incident(context.Background(), id)
	if err != nil {
		t.Fatalf("Incident(%d): %v", id, err)
	}
	return d
}

func hasTimeline(d *IncidentDetail, kind string) bool {
	for _, e := range d.Timeline {
		if e.Kind == kind {
			return true
		}
	}
	return false
}

func TestReopen(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var rec recorder
	first := ingest(t, s, Source{Path: "1.eml"}, mail("1", "ovh|attack|syn_flood|51.91.10.20||3|pass"), rec.plan)
	id := first.Opened[0]
	if err := s.ResolveIncident(ctx, id, "customer cleaned the host"); err != nil {
		t.Fatal(err)
	}
	if err := s.ResolveIncident(ctx, id, "again"); err != nil {
		t.Fatalf("resolving twice: %v", err)
	}
	if open, _ := s.Incidents(ctx, "open"); len(open) != 0 {
		t.Fatalf("open incidents after resolve: %+v", open)
	}
	if d := detail(t, s, id); d.Status != "resolved" || d.ResolvedAt.IsZero() {
		t.Fatalf("resolved incident %+v", d.Incident)
	}

	rec.changes = nil
	second := ingest(t, s, Source{Path: "2.eml"}, mail("2", "ovh|attack|syn_flood|51.91.10.20||3|pass"), rec.plan)
	if len(second.Opened) != 0 || !reflect.DeepEqual(second.Updated, []int64{id}) {
		t.Fatalf("second notice: opened %v updated %v, want update of %d", second.Opened, second.Updated, id)
	}
	if len(rec.changes) != 1 || !rec.changes[0].Reopened || rec.changes[0].Opened {
		t.Fatalf("changes %+v, want one reopen", rec.changes)
	}
	d := detail(t, s, id)
	if d.Status != "open" || d.Notices != 2 || !d.ResolvedAt.IsZero() {
		t.Errorf("reopened incident %+v", d.Incident)
	}
	var kinds []string
	for _, e := range d.Timeline {
		kinds = append(kinds, e.Kind)
	}
	if want := []string{"notice", "resolved", "notice", "reopened"}; !reflect.DeepEqual(kinds, want) {
		t.Errorf("timeline %v, want %v", kinds, want)
	}
	if second.Tasks != 2 {
		t.Errorf("reopen created %d tasks, want 2", second.Tasks)
	}
	if err := s.ResolveIncident(ctx, id+100, ""); !errors.Is(err, ErrNotFound) {
		t.Errorf("resolving a missing incident: %v, want ErrNotFound", err)
	}
}

func TestReparse(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	var rec recorder
	mails := [][]byte{
		mail("1", "hetzner|attack|scan|88.99.1.2|518908:22|3|pass"),
		mail("2", "hetzner|status|unknown||518908:22|1|pass"),
		// A format parser version 1 does not know, with a second IP.
		mail("3", "ovh|attack|udp_flood|51.91.10.20||3|fail", "2:ovh|block|udp_flood|51.91.10.21||4|pass"),
		mail("4", "2:ovh|rescue|unknown|51.91.10.22||5|pass"),
		mail("5"),
	}
	for i, m := range mails {
		ingest(t, s, Source{Path: fmt.Sprint(i)}, m, rec.plan)
	}

	// The same parser finds nothing to change.
	res, err := s.Reparse(ctx, fakeReparse(1), rec.plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Messages != 5 || res.Changed != 0 || res.Tasks != 0 || res.Notices != 3 {
		t.Errorf("reparse with the same parser: %+v", res)
	}

	res, err = s.Reparse(ctx, fakeReparse(2), rec.plan)
	if err != nil {
		t.Fatal(err)
	}
	// Message 1 renames scan to netscan; 4 and 3 gain a notice.
	if res.Messages != 5 || res.Changed != 3 || res.Notices != 5 || res.Tasks == 0 {
		t.Errorf("reparse with a new parser: %+v", res)
	}
	before, err := s.Incidents(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	if len(before) != 4 {
		t.Fatalf("%d incidents after reparse, want 4: %+v", len(before), before)
	}
	if before[0].Attack != "netscan" || before[0].Notices != 2 {
		t.Errorf("hetzner incident after reparse: %+v", before[0])
	}
	stBefore := stats(t, s)
	tasksBefore, err := s.Tasks(ctx, "queued")
	if err != nil {
		t.Fatal(err)
	}

	res, err = s.Reparse(ctx, fakeReparse(2), rec.plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Changed != 0 || res.Tasks != 0 || res.Notices != 5 {
		t.Errorf("second reparse changed something: %+v", res)
	}
	after, err := s.Incidents(ctx, "all")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(before, after) {
		t.Errorf("incidents changed by the second reparse:\n%+v\n%+v", before, after)
	}
	tasksAfter, err := s.Tasks(ctx, "queued")
	if err != nil {
		t.Fatal(err)
	}
	if st := stats(t, s); st != stBefore || len(tasksAfter) != len(tasksBefore) {
		t.Errorf("stats %+v (%d tasks) after second reparse, want %+v (%d tasks)", st, len(tasksAfter), stBefore, len(tasksBefore))
	}

	// Going back to version 1 drops the notices only version 2 understood.
	res, err = s.Reparse(ctx, fakeReparse(1), rec.plan)
	if err != nil {
		t.Fatal(err)
	}
	if res.Notices != 3 || stats(t, s).Notices != 3 {
		t.Errorf("reparse back to version 1: %+v", res)
	}
}

func TestConcurrentIngest(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	const workers, perWorker, ips = 6, 40, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				// Every mail is sent by two workers, once from a file and once from the mailbox.
				n := (w/2)*perWorker + i
				raw := mail(fmt.Sprint(n), fmt.Sprintf("ovh|attack|syn_flood|51.91.10.%d||3|pass", n%ips))
				src := Source{Path: fmt.Sprintf("%d.eml", n)}
				if w%2 == 1 {
					src = Source{Mailbox: "abuse", UIDValidity: 1, UID: uint32(n + 1)}
				}
				var rec recorder
				if _, err := s.Ingest(ctx, Message{Source: src, Raw: raw, ReceivedAt: time.Now()}, fakeParse(1)(raw), rec.plan); err != nil {
					errs <- err
					return
				}
				if i%10 == 0 {
					if _, err := s.Incidents(ctx, "open"); err != nil {
						errs <- err
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	distinct := workers / 2 * perWorker
	st := stats(t, s)
	if st.Messages != distinct || st.Notices != distinct || st.Incidents != ips || st.OpenIncidents != ips {
		t.Errorf("stats %+v, want %d messages and notices, %d incidents", st, distinct, ips)
	}
	incs, err := s.Incidents(ctx, "open")
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	for _, in := range incs {
		total += in.Notices
	}
	if total != distinct {
		t.Errorf("incident notice counts add up to %d, want %d", total, distinct)
	}
	if _, uid, _ := s.Checkpoint(ctx, "abuse"); uid != uint32(distinct) {
		t.Errorf("checkpoint uid %d, want %d", uid, distinct)
	}
}

func TestOneOpenIncidentPerIP(t *testing.T) {
	s, _ := openTest(t)
	insert := func(ip, status string) error {
		_, err := s.w.Exec(`INSERT INTO incidents (provider, ip, status, opened_at) VALUES ('ovh', ?, ?, 1)`, ip, status)
		return err
	}
	tests := []struct {
		ip, status string
		wantErr    bool
	}{
		{"51.91.10.20", "open", false},
		{"51.91.10.20", "resolved", false},
		{"51.91.10.20", "resolved", false},
		{"51.91.10.20", "open", true}, // a second open incident for the IP
		{"51.91.10.21", "open", false},
		{"", "open", false}, // incidents without an IP are keyed by case or message
		{"", "open", false},
	}
	for i, tt := range tests {
		if err := insert(tt.ip, tt.status); (err != nil) != tt.wantErr {
			t.Errorf("insert %d (%s %s): err %v, want error %v", i, tt.ip, tt.status, err, tt.wantErr)
		}
	}
}

// Two Stores on one file stand for the daemon and a CLI command: BEGIN IMMEDIATE and the
// busy timeout make their writers wait for each other instead of failing with SQLITE_BUSY.
func TestTwoStoresShareAFile(t *testing.T) {
	a, path := openTest(t)
	b, err := openAt(t, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for i, s := range []*Store{a, b} {
		wg.Go(func() {
			for n := range 30 {
				raw := mail(fmt.Sprint(i, "-", n), fmt.Sprintf("ovh|attack|syn_flood|51.91.10.%d||3|pass", n%5))
				if _, err := s.Ingest(ctx, Message{Source: Source{Path: "x"}, Raw: raw}, fakeParse(1)(raw), nil); err != nil {
					errs <- err
					return
				}
				if _, err := s.Claim(ctx, fmt.Sprint("w", i), []string{"state"}, time.Minute, time.Now()); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if st := stats(t, b); st.Messages != 60 || st.OpenIncidents != 5 {
		t.Errorf("stats %+v, want 60 messages in 5 open incidents", st)
	}
}

// TestIngestBatch checks that a batch gives what ingesting its messages one
// by one gives (a copy within the batch is a duplicate, a task key two
// messages plan is created once, an IP's incident found ahead is the one a
// lookup finds), and that a batch with one bad message stores nothing.
func TestIngestBatch(t *testing.T) {
	a := mail("a", "ovh|attack|syn_flood|51.91.10.20||3|pass")
	mails := [][]byte{
		a,
		a, // a copy: a duplicate of the first
		mail("b", "ovh|attack|syn_flood|51.91.10.20||3|none"),                                      // updates a's incident
		mail("c", "ovh|attack|syn_flood|51.91.10.20||3|none"),                                      // plans b's keys again
		mail("d", "ovh|block|syn_flood|51.91.10.21||4|pass", "ovh|attack|ntp|51.91.10.20||3|none"), // a second IP, then the first
		mail("e", "hetzner|complaint|scan|||2|none"),                                               // no IP
	}
	items := func(plan PlanFunc) []IngestItem {
		var its []IngestItem
		for i, raw := range mails {
			its = append(its, IngestItem{Msg: Message{Source: Source{Path: fmt.Sprintf("%d.eml", i)}, Raw: raw}, Parsed: fakeParse(1)(raw), Plan: plan})
		}
		return its
	}
	ctx := context.Background()

	one, _ := openTest(t)
	var oneRec recorder
	var want []IngestResult
	for _, it := range items(oneRec.plan) {
		res, err := one.Ingest(ctx, it.Msg, it.Parsed, it.Plan)
		if err != nil {
			t.Fatalf("Ingest: %v", err)
		}
		want = append(want, res)
	}

	batch, _ := openTest(t)
	var batchRec recorder
	got, err := batch.IngestBatch(ctx, items(batchRec.plan))
	if err != nil {
		t.Fatalf("IngestBatch: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("batch results differ from one by one:\n got %+v\nwant %+v", got, want)
	}
	if !got[1].Duplicate || got[1].MessageID != got[0].MessageID {
		t.Errorf("the copy in the batch: %+v, want a duplicate of message %d", got[1], got[0].MessageID)
	}
	if got[2].Tasks != 2 || got[3].Tasks != 0 {
		t.Errorf("tasks created by b and c: %d and %d, want 2 and 0 (c plans b's keys)", got[2].Tasks, got[3].Tasks)
	}
	if !reflect.DeepEqual(batchRec.changes, oneRec.changes) {
		t.Errorf("incident changes differ:\n got %+v\nwant %+v", batchRec.changes, oneRec.changes)
	}
	if g, w := stats(t, batch), stats(t, one); g != w {
		t.Errorf("stats after the batch %+v, one by one %+v", g, w)
	}

	bad, _ := openTest(t)
	its := items(nil)
	its[len(its)-1].Plan = func(IncidentChange) []NewTask { return []NewTask{{Kind: "notify"}} } // no key
	if _, err := bad.IngestBatch(ctx, its); err == nil {
		t.Fatal("IngestBatch with a task without a key: no error")
	}
	if st := stats(t, bad); st.Messages != 0 || st.Incidents != 0 || st.QueuedTasks != 0 {
		t.Errorf("a failed batch left %+v, want nothing", st)
	}
}

// TestIngestBatchCheckpoints: a batch advances each mailbox's checkpoint
// once, to what advancing after each of its mails would leave: the highest
// UID, a later UIDVALIDITY replacing an earlier one, each mailbox its own.
func TestIngestBatchCheckpoints(t *testing.T) {
	sources := []Source{
		{Mailbox: "abuse", UIDValidity: 1, UID: 7},
		{Mailbox: "abuse", UIDValidity: 1, UID: 5}, // below: no step back
		{Mailbox: "noc", UIDValidity: 9, UID: 40},
		{Mailbox: "abuse", UIDValidity: 1, UID: 8},
		{Mailbox: "abuse", UIDValidity: 2, UID: 3}, // the folder was recreated
		{Path: "cli.eml"},                          // no mailbox
		{Mailbox: "noc", UIDValidity: 9, UID: 41},
	}
	want := map[string][2]uint32{"abuse": {2, 3}, "noc": {9, 41}}
	ctx := context.Background()
	for _, batched := range []bool{false, true} {
		s, _ := openTest(t)
		var items []IngestItem
		for i, src := range sources {
			raw := mail(fmt.Sprintf("cp-%d", i), "ovh|attack|syn_flood|51.91.10.20||3|pass")
			items = append(items, IngestItem{Msg: Message{Source: src, Raw: raw}, Parsed: fakeParse(1)(raw)})
		}
		if batched {
			if _, err := s.IngestBatch(ctx, items); err != nil {
				t.Fatalf("IngestBatch: %v", err)
			}
		} else {
			for _, it := range items {
				if _, err := s.Ingest(ctx, it.Msg, it.Parsed, nil); err != nil {
					t.Fatalf("Ingest: %v", err)
				}
			}
		}
		for mb, w := range want {
			if v, uid, err := s.Checkpoint(ctx, mb); err != nil || v != w[0] || uid != w[1] {
				t.Errorf("batched=%v: checkpoint of %s = %d/%d (%v), want %d/%d", batched, mb, v, uid, err, w[0], w[1])
			}
		}
	}
}
