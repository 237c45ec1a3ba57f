package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
)

// Incident is one abuse case of one IP (or, without an IP, of one provider case).
// Notices, FirstSeen, LastSeen and Unverified are derived from the notices, so they
// cannot drift from them.
type Incident struct {
	ID                                                int64
	Provider, IP, Case, Service, Status, Kind, Attack string
	Severity, Notices                                 int
	FirstSeen, LastSeen                               time.Time
	ResolvedAt                                        time.Time      // zero while open
	State                                             *StateSnapshot // latest, nil when never checked
	Unverified                                        bool           // no notice is trusted (see Notice.Trust)
}

// NoticeRecord is a stored notice with where it came from.
type NoticeRecord struct {
	ID         int64
	MessageID  int64 // the stored message (not the Message-ID header, which is in Notice)
	IncidentID int64
	ReceivedAt time.Time
	Notice
}

// TimelineEntry is one event in an incident's history.
type TimelineEntry struct {
	At       time.Time
	Kind     string // notice, reopened, escalated, resolved, state, evidence, task, or what AddTimeline was given
	Text     string
	NoticeID int64 // for Kind "notice"
}

// IncidentDetail is an incident with everything recorded about it.
type IncidentDetail struct {
	Incident
	NoticeRecords []NoticeRecord
	Timeline      []TimelineEntry // oldest first
	Evidence      []Evidence
	Runs          []TriageRunRecord // oldest first
}

// StateSnapshot is what a provider said about a server at one time.
type StateSnapshot struct {
	Provider, IP            string
	Blocked, Locked, Rescue bool
	CheckedAt               time.Time
	Detail                  json.RawMessage
}

// Evidence is the captured result of one triage job.
type Evidence struct {
	ID, IncidentID           int64
	Run                      string // the triage run (task key) that made it
	Job, Host, Where, Status string
	Argv                     []string
	ExitCode                 int
	Output                   []byte
	Dropped                  int64 // output bytes not kept
	StartedAt                time.Time
	Duration                 time.Duration
	Findings                 []string
	Error                    string // why the job did not run or did not finish
}

const incidentQuery = `SELECT i.id, i.provider, i.ip, i.case_id, i.service, i.status, i.kind, i.attack, i.severity,
	i.resolved_at, count(n.id), coalesce(min(m.received_at), i.opened_at), coalesce(max(m.received_at), i.opened_at),
	coalesce(max(CASE WHEN n.trust != '' THEN 1 ELSE 0 END), 0)
	FROM incidents i LEFT JOIN notices n ON n.incident_id = i.id LEFT JOIN messages m ON m.id = n.message`

func scanIncident(rows *sql.Rows) (Incident, error) {
	var in Incident
	var first, last, resolved int64
	var verified bool
	err := rows.Scan(&in.ID, &in.Provider, &in.IP, &in.Case, &in.Service, &in.Status, &in.Kind, &in.Attack, &in.Severity,
		&resolved, &in.Notices, &first, &last, &verified)
	in.FirstSeen, in.LastSeen, in.ResolvedAt, in.Unverified = fromMS(first), fromMS(last), fromMS(resolved), !verified
	return in, err
}

// Incidents lists incidents by id; status is open, resolved or all ("" means all).
func (s *Store) Incidents(ctx context.Context, status string) ([]Incident, error) {
	switch status {
	case "":
		status = "all"
	case "open", "resolved", "all":
	default:
		return nil, fmt.Errorf("store: incidents: status %q is not open, resolved or all", status)
	}
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	defer tx.Rollback()
	incs, err := queryIncidents(ctx, tx, incidentQuery+` WHERE ? = 'all' OR i.status = ? GROUP BY i.id ORDER BY i.id`, status, status)
	if err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	states, err := latestStates(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("store: incidents: %w", err)
	}
	for i := range incs {
		incs[i].State = states[incs[i].ID]
	}
	return incs, nil
}

func queryIncidents(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]Incident, error) {
	rows, err := tx.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var incs []Incident
	for rows.Next() {
		in, err := scanIncident(rows)
		if err != nil {
			return nil, err
		}
		incs = append(incs, in)
	}
	return incs, rows.Err()
}

const stateCols = `incident_id, provider, ip, blocked, locked, rescue, checked_at, detail`

func scanState(sc interface{ Scan(...any) error }) (int64, *StateSnapshot, error) {
	var id sql.NullInt64
	var st StateSnapshot
	var at int64
	var detail []byte
	if err := sc.Scan(&id, &st.Provider, &st.IP, &st.Blocked, &st.Locked, &st.Rescue, &at, &detail); err != nil {
		return 0, nil, err
	}
	st.CheckedAt = fromMS(at)
	if detail != nil {
		st.Detail = json.RawMessage(detail)
	}
	return id.Int64, &st, nil
}

// latestStates maps each incident to its most recent snapshot.
func latestStates(ctx context.Context, tx *sql.Tx) (map[int64]*StateSnapshot, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+stateCols+` FROM states
		WHERE id IN (SELECT max(id) FROM states WHERE incident_id IS NOT NULL GROUP BY incident_id)`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	m := map[int64]*StateSnapshot{}
	for rows.Next() {
		id, st, err := scanState(rows)
		if err != nil {
			return nil, err
		}
		m[id] = st
	}
	return m, rows.Err()
}

// Incident returns one incident with its notices, timeline, latest state and evidence.
func (s *Store) Incident(ctx context.Context, id int64) (*IncidentDetail, error) {
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: incident %d: %w", id, err)
	}
	defer tx.Rollback()
	d, err := incidentDetail(ctx, tx, id)
	if err != nil {
		return nil, fmt.Errorf("store: incident %d: %w", id, err)
	}
	return d, nil
}

func incidentDetail(ctx context.Context, tx *sql.Tx, id int64) (*IncidentDetail, error) {
	incs, err := queryIncidents(ctx, tx, incidentQuery+` WHERE i.id = ? GROUP BY i.id`, id)
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return nil, ErrNotFound
	}
	d := &IncidentDetail{Incident: incs[0]}

	_, st, err := scanState(tx.QueryRowContext(ctx, `SELECT `+stateCols+` FROM states WHERE incident_id = ? ORDER BY id DESC LIMIT 1`, id))
	switch {
	case err == nil:
		d.State = st
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("read state: %w", err)
	}

	if d.NoticeRecords, err = incidentNotices(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	for _, n := range d.NoticeRecords {
		d.Timeline = append(d.Timeline, TimelineEntry{At: n.ReceivedAt, Kind: "notice", Text: describe(n.Notice), NoticeID: n.ID})
	}
	entries, err := incidentTimeline(ctx, tx, id)
	if err != nil {
		return nil, err
	}
	d.Timeline = append(d.Timeline, entries...)
	// Notices are merged in from their own table; a notice stored in the same
	// millisecond as the event it caused sorts before it.
	sort.SliceStable(d.Timeline, func(i, j int) bool { return d.Timeline[i].At.Before(d.Timeline[j].At) })

	if d.Evidence, err = incidentEvidence(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("read evidence: %w", err)
	}
	if d.Runs, err = triageRuns(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("read triage runs: %w", err)
	}
	return d, nil
}

func describe(n Notice) string {
	parts := []string{n.Provider, n.Kind}
	if n.Attack != "" {
		parts = append(parts, n.Attack)
	}
	if n.IP != "" {
		parts = append(parts, "ip "+n.IP)
	}
	if n.Case != "" {
		parts = append(parts, "case "+n.Case)
	}
	if n.Trust == "" {
		parts = append(parts, "(unverified)")
	}
	return strings.Join(parts, " ")
}

// noticeSelect reads a notice with what its mail adds; scanNotices reads its rows.
const noticeSelect = `SELECT n.id, n.message, n.incident_id, m.received_at,
		n.provider, n.kind, n.attack, n.ip, n.service, n.case_id, n.severity, n.deadline, n.reporter, n.rate,
		n.events, n.authentic, n.trust, coalesce(n.message_id, m.message_id), coalesce(n.subject, m.subject), coalesce(n.date, m.date)
		FROM notices n JOIN messages m ON m.id = n.message `

// incidentTimeline reads the incident's own timeline (notices are not in it).
func incidentTimeline(ctx context.Context, tx *sql.Tx, id int64) ([]TimelineEntry, error) {
	rows, err := tx.QueryContext(ctx, `SELECT at, kind, text FROM timeline WHERE incident_id = ? ORDER BY at, id`, id)
	if err != nil {
		return nil, fmt.Errorf("read timeline: %w", err)
	}
	defer rows.Close()
	var out []TimelineEntry
	for rows.Next() {
		var e TimelineEntry
		var at int64
		if err := rows.Scan(&at, &e.Kind, &e.Text); err != nil {
			return nil, fmt.Errorf("read timeline: %w", err)
		}
		e.At = fromMS(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read timeline: %w", err)
	}
	return out, nil
}

func incidentNotices(ctx context.Context, tx *sql.Tx, id int64) ([]NoticeRecord, error) {
	rows, err := tx.QueryContext(ctx, noticeSelect+`WHERE n.incident_id = ? ORDER BY m.received_at, n.id`, id)
	if err != nil {
		return nil, err
	}
	return scanNotices(rows)
}

func scanNotices(rows *sql.Rows) ([]NoticeRecord, error) {
	defer rows.Close()
	var out []NoticeRecord
	for rows.Next() {
		var r NoticeRecord
		var received, deadline, date int64
		var events sql.NullString
		if err := rows.Scan(&r.ID, &r.MessageID, &r.IncidentID, &received,
			&r.Provider, &r.Kind, &r.Attack, &r.IP, &r.Service, &r.Case, &r.Severity, &deadline, &r.Reporter, &r.Rate,
			&events, &r.Authentic, &r.Trust, &r.Notice.MessageID, &r.Subject, &date); err != nil {
			return nil, err
		}
		r.ReceivedAt, r.Deadline, r.Date = fromMS(received), fromMS(deadline), fromMS(date)
		if events.Valid {
			r.Events = json.RawMessage(events.String)
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

func incidentEvidence(ctx context.Context, tx *sql.Tx, id int64) ([]Evidence, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, incident_id, run, job, host, "where", status, argv, exit_code, output,
		dropped, started_at, duration_ns, findings, error FROM evidence WHERE incident_id = ? ORDER BY id`, id)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Evidence
	for rows.Next() {
		var e Evidence
		var argv, findings string
		var started, dur int64
		if err := rows.Scan(&e.ID, &e.IncidentID, &e.Run, &e.Job, &e.Host, &e.Where, &e.Status, &argv, &e.ExitCode, &e.Output,
			&e.Dropped, &started, &dur, &findings, &e.Error); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(argv), &e.Argv); err != nil {
			return nil, fmt.Errorf("evidence %d argv: %w", e.ID, err)
		}
		if err := json.Unmarshal([]byte(findings), &e.Findings); err != nil {
			return nil, fmt.Errorf("evidence %d findings: %w", e.ID, err)
		}
		e.StartedAt, e.Duration = fromMS(started), time.Duration(dur)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ResolveIncident marks an incident resolved. Resolving a resolved incident does nothing.
func (s *Store) ResolveIncident(ctx context.Context, id int64, note string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		inc, ok, err := t.incidentByID(id)
		if err != nil {
			return err
		}
		if !ok {
			return ErrNotFound
		}
		if inc.status == "resolved" {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE incidents SET status = 'resolved', resolved_at = ? WHERE id = ?`, ms(t.now), id); err != nil {
			return err
		}
		text := "resolved"
		if note != "" {
			text += ": " + note
		}
		return t.timeline(id, "resolved", text)
	})
	if err != nil {
		return fmt.Errorf("store: resolve incident %d: %w", id, err)
	}
	return nil
}

// AddTimeline records an event (a task result, a notification sent) on an incident.
func (s *Store) AddTimeline(ctx context.Context, incidentID int64, kind, text string) error {
	res, err := s.w.ExecContext(ctx, `INSERT INTO timeline (incident_id, at, kind, text)
		SELECT CAST(? AS BIGINT), CAST(? AS BIGINT), ?, ? WHERE EXISTS (SELECT 1 FROM incidents WHERE id = ?)`,
		incidentID, ms(s.now()), kind, text, incidentID)
	if err != nil {
		return fmt.Errorf("store: add timeline to incident %d: %w", incidentID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: add timeline to incident %d: %w", incidentID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: add timeline to incident %d: %w", incidentID, ErrNotFound)
	}
	return nil
}

// RaiseSeverity raises an incident's severity (a provider state, say); it
// never lowers it. raised is false when the severity was already as high.
// When it rose, the tasks then asks for are queued in the same transaction,
// so that a crash cannot lose the news of it (then must not call the Store).
func (s *Store) RaiseSeverity(ctx context.Context, incidentID int64, severity int, why string, then func() []NewTask) (raised bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		if raised, err = t.raise(incidentID, severity, why); err != nil || !raised || then == nil {
			return err
		}
		return t.enqueueTasks(then())
	})
	if err != nil {
		return false, fmt.Errorf("store: raise severity of incident %d: %w", incidentID, err)
	}
	return raised, nil
}

func (t *txn) raise(incidentID int64, severity int, why string) (raised bool, err error) {
	inc, ok, err := t.incidentByID(incidentID)
	if err != nil {
		return false, err
	}
	if !ok {
		return false, ErrNotFound
	}
	if severity <= inc.severity {
		return false, nil
	}
	if _, err := t.exec(`UPDATE incidents SET severity = ? WHERE id = ?`, severity, incidentID); err != nil {
		return false, err
	}
	return true, t.timeline(incidentID, "escalated", fmt.Sprintf("severity %d → %d: %s", inc.severity, severity, why))
}

// SaveState stores a snapshot (incidentID 0: not tied to an incident) and returns the
// previous one of the same incident (or, without one, of the same provider and IP), nil
// when none. All snapshots are kept; a change of blocked, locked or rescue goes on the
// incident's timeline.
func (s *Store) SaveState(ctx context.Context, incidentID int64, snap StateSnapshot) (prev *StateSnapshot, err error) {
	if snap.CheckedAt.IsZero() {
		snap.CheckedAt = s.now()
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		var row *sql.Row
		if incidentID != 0 {
			row = tx.QueryRowContext(ctx, `SELECT `+stateCols+` FROM states WHERE incident_id = ? ORDER BY id DESC LIMIT 1`, incidentID)
		} else {
			row = tx.QueryRowContext(ctx, `SELECT `+stateCols+` FROM states
				WHERE incident_id IS NULL AND provider = ? AND ip = ? ORDER BY id DESC LIMIT 1`, snap.Provider, snap.IP)
		}
		_, p, err := scanState(row)
		switch {
		case err == nil:
			prev = p
		case !errors.Is(err, sql.ErrNoRows):
			return fmt.Errorf("read previous state: %w", err)
		}
		var detail []byte
		if len(snap.Detail) > 0 {
			detail = snap.Detail
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO states (`+stateCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			nullID(incidentID), snap.Provider, snap.IP, snap.Blocked, snap.Locked, snap.Rescue, ms(snap.CheckedAt), detail); err != nil {
			return fmt.Errorf("insert state: %w", err)
		}
		if incidentID == 0 {
			return nil
		}
		if text := stateChange(prev, snap); text != "" {
			return t.timeline(incidentID, "state", text)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: save state of %s %s: %w", snap.Provider, snap.IP, err)
	}
	return prev, nil
}

// stateChange describes what changed from prev to cur, "" when nothing did.
func stateChange(prev *StateSnapshot, cur StateSnapshot) string {
	var was StateSnapshot
	if prev != nil {
		was = *prev
	}
	var parts []string
	for _, f := range []struct {
		name     string
		old, now bool
	}{{"blocked", was.Blocked, cur.Blocked}, {"locked", was.Locked, cur.Locked}, {"rescue", was.Rescue, cur.Rescue}} {
		switch {
		case f.now && !f.old:
			parts = append(parts, f.name)
		case !f.now && f.old:
			parts = append(parts, "no longer "+f.name)
		}
	}
	if len(parts) == 0 {
		return ""
	}
	return cur.Provider + " reports " + cur.IP + " " + strings.Join(parts, ", ")
}

// TriageRun is what one triage task found: the evidence of every job, the
// summary for the timeline and the severity the findings call for.
type TriageRun struct {
	IncidentID int64
	// Run names the run (the task's key): a run is recorded once.
	Run string
	// Trigger says what made the run happen: the trust that allowed it
	// (a verified notice, the provider's API) or an operator.
	Trigger   string
	StartedAt time.Time // zero: now
	Evidence  []Evidence
	Suspects  []Suspect // best first
	Summary   string
	// TimelineKind is the kind of the summary's timeline entry (default
	// "triage"; a containment is "contain").
	TimelineKind string
	Raise        int // 0: the findings call for nothing
	RaiseWhy     string
}

// TriageRecorded reports whether a run was recorded already: a task retried
// after a crash that followed the commit need not run its jobs again.
func (s *Store) TriageRecorded(ctx context.Context, run string) (bool, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM evidence WHERE run = ?`, run).Scan(&n); err != nil {
		return false, fmt.Errorf("store: triage run %s: %w", run, err)
	}
	return n > 0, nil
}

// RecordTriage stores a run in one transaction: its evidence, the timeline,
// the raised severity and the tasks then asks for once it knows whether the
// severity rose (then must not call the Store). A run recorded before is left
// as it was and recorded is false.
func (s *Store) RecordTriage(ctx context.Context, r TriageRun, then func(raised bool) []NewTask) (recorded bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		if _, ok, err := t.incidentByID(r.IncidentID); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM evidence WHERE run = ?`, r.Run).Scan(&n); err != nil || n > 0 {
			return err
		}
		if err := t.insertRun(r); err != nil {
			return err
		}
		for _, e := range r.Evidence {
			if err := t.insertEvidence(r.IncidentID, r.Run, e); err != nil {
				return err
			}
		}
		kind := r.TimelineKind
		if kind == "" {
			kind = "triage"
		}
		if err := t.timeline(r.IncidentID, kind, r.Summary); err != nil {
			return err
		}
		raised, err := t.raise(r.IncidentID, r.Raise, r.RaiseWhy)
		if err != nil {
			return err
		}
		recorded = true
		return t.enqueueTasks(then(raised))
	})
	if err != nil {
		return false, fmt.Errorf("store: record triage of incident %d: %w", r.IncidentID, err)
	}
	return recorded, nil
}

// insertEvidence stores the result of one job and notes it on the timeline.
func (t *txn) insertEvidence(incidentID int64, run string, e Evidence) error {
	argv, err := json.Marshal(nonNil(e.Argv))
	if err != nil {
		return err
	}
	findings, err := json.Marshal(nonNil(e.Findings))
	if err != nil {
		return err
	}
	if _, err := t.exec(`INSERT INTO evidence
		(incident_id, run, job, host, "where", status, argv, exit_code, output, dropped, started_at, duration_ns, findings, error)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		incidentID, run, e.Job, e.Host, e.Where, e.Status, string(argv), e.ExitCode, e.Output, e.Dropped,
		ms(e.StartedAt), int64(e.Duration), string(findings), e.Error); err != nil {
		return fmt.Errorf("insert evidence %s: %w", e.Job, err)
	}
	text := fmt.Sprintf("triage %s on %s: %s", e.Job, e.Host, e.Status)
	if e.Error != "" {
		text += ": " + e.Error
	}
	if len(e.Findings) > 0 {
		text += " (" + strings.Join(e.Findings, "; ") + ")"
	}
	return t.timeline(incidentID, "evidence", text)
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
