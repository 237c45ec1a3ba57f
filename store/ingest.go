package store

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"
)

// Source says where a message came from: a mailbox UID, or a file path.
type Source struct {
	Mailbox          string
	UIDValidity, UID uint32
	Path             string
}

// Message is a raw mail as handed over by a watcher or the ingest command.
type Message struct {
	Source     Source
	Raw        []byte // nil when the mail was not fetched (too large): Reason says why, Size is set
	Size       int64
	ReceivedAt time.Time
	Reason     string
}

// Notice mirrors the parser's notice; the store does not import the parser.
type Notice struct {
	Provider, Kind, Attack, IP, Service, Case string
	Severity                                  int       // rescue 5 > block 4 > attack 3 > complaint 2 > status 1
	Deadline                                  time.Time // zero when none
	Reporter, Rate                            string
	Events                                    json.RawMessage // JSON array, stored as is
	Authentic                                 string          // pass|fail|none
	MessageID, Subject                        string
	Date                                      time.Time
}

// Parsed is what a ParseFunc makes of one raw mail.
type Parsed struct {
	Status                                string // ok|none|error
	Reason, Authentic, MessageID, Subject string
	Date                                  time.Time
	Notices                               []Notice
}

// SetAuthentic sets the verdict of the mail and of each of its notices,
// which always share it.
func (p *Parsed) SetAuthentic(verdict string) {
	p.Authentic = verdict
	for i := range p.Notices {
		p.Notices[i].Authentic = verdict
	}
}

// ParseFunc parses raw mail. It must be pure: Reparse relies on it.
type ParseFunc func(raw []byte) Parsed

// ReparseFunc parses a stored mail again; authentic is the verdict recorded
// when it was last parsed.
type ReparseFunc func(raw []byte, authentic string) Parsed

// IncidentChange tells a PlanFunc what one notice did to its incident.
type IncidentChange struct {
	IncidentID                  int64
	NoticeID                    int64
	Provider, IP, Case          string
	Opened, Reopened, Escalated bool
	OldSeverity, NewSeverity    int
	Notice                      Notice
}

// NewTask is a task to enqueue. Key makes it idempotent.
type NewTask struct {
	Kind, Key  string
	Payload    []byte
	RunAt      time.Time // zero: now
	IncidentID int64     // 0: none
}

// PlanFunc decides which tasks an incident change calls for.
type PlanFunc func(IncidentChange) []NewTask

// IngestResult reports what Ingest did.
type IngestResult struct {
	MessageID int64 // the stored message; for a duplicate, the one it duplicates
	Duplicate bool
	Status    string
	Notices   int
	Opened    []int64 // incidents opened by this message
	Updated   []int64 // existing incidents this message added to (reopened included)
	Tasks     int     // tasks created (not those whose key already existed)
}

// Ingest stores one message and everything that follows from it in one transaction:
// deduplication, the raw mail, its notices, incident changes, the tasks plan asks for,
// and the mailbox checkpoint. A duplicate (same mailbox UID, or same bytes, which implies
// the same Message-ID) changes nothing but the checkpoint.
//
// parse runs before the transaction and plan inside it; neither may call the Store, whose
// single writer connection the transaction holds.
func (s *Store) Ingest(ctx context.Context, msg Message, parse ParseFunc, plan PlanFunc) (IngestResult, error) {
	var sum []byte
	var p Parsed
	size := msg.Size
	if msg.Raw != nil {
		h := sha256.Sum256(msg.Raw)
		sum = h[:]
		size = int64(len(msg.Raw))
		// Parsing before taking the write lock lets concurrent ingests parse in parallel;
		// a duplicate found under the lock only wastes that parse.
		p = parse(msg.Raw)
	} else {
		p = Parsed{Status: "error", Reason: msg.Reason}
		if p.Reason == "" {
			p.Reason = "not fetched"
		}
	}
	if err := checkStatus(p.Status); err != nil {
		return IngestResult{}, fmt.Errorf("store: ingest: %w", err)
	}
	received := msg.ReceivedAt
	if received.IsZero() {
		received = time.Now()
	}

	var res IngestResult
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := txn{ctx: ctx, tx: tx, now: time.Now()}
		id, status, dup, err := t.duplicate(msg.Source, sum)
		if err != nil {
			return err
		}
		if dup {
			res = IngestResult{MessageID: id, Duplicate: true, Status: status}
			return t.advanceCheckpoint(msg.Source)
		}
		id, err = t.insert(`INSERT INTO messages
			(sha256, message_id, mailbox, uidvalidity, uid, path, size, received_at, status, reason, authentic, subject, date)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			sum, p.MessageID, msg.Source.Mailbox, msg.Source.UIDValidity, msg.Source.UID, msg.Source.Path,
			size, ms(received), p.Status, p.Reason, p.Authentic, p.Subject, ms(p.Date))
		if err != nil {
			return fmt.Errorf("insert message: %w", err)
		}
		if msg.Raw != nil {
			if _, err := tx.ExecContext(ctx, `INSERT INTO raw (message, body) VALUES (?, ?)`, id, msg.Raw); err != nil {
				return fmt.Errorf("insert raw message: %w", err)
			}
		}
		res = IngestResult{MessageID: id, Status: p.Status, Notices: len(p.Notices)}
		opened := map[int64]bool{}
		updated := map[int64]bool{}
		for i, n := range p.Notices {
			ch, err := t.attach(n, id)
			if err != nil {
				return err
			}
			if ch.NoticeID, err = t.insertNotice(id, i, ch.IncidentID, n, p); err != nil {
				return err
			}
			if ch.Opened {
				opened[ch.IncidentID] = true
				res.Opened = append(res.Opened, ch.IncidentID)
			} else if !opened[ch.IncidentID] && !updated[ch.IncidentID] {
				updated[ch.IncidentID] = true
				res.Updated = append(res.Updated, ch.IncidentID)
			}
			created, err := t.enqueueAll(plan, ch)
			if err != nil {
				return err
			}
			res.Tasks += created
		}
		return t.advanceCheckpoint(msg.Source)
	})
	if err != nil {
		return IngestResult{}, fmt.Errorf("store: ingest: %w", err)
	}
	return res, nil
}

func checkStatus(s string) error {
	switch s {
	case "ok", "none", "error", "unrecognised":
		return nil
	}
	return fmt.Errorf("parse status %q is not ok, none, error or unrecognised", s)
}

// txn bundles what the write helpers below share within one transaction.
type txn struct {
	ctx context.Context
	tx  *sql.Tx
	now time.Time
}

func (t *txn) duplicate(src Source, sum []byte) (id int64, status string, dup bool, err error) {
	// mailbox != '' selects the partial index; a nil sum matches no row.
	err = t.tx.QueryRowContext(t.ctx, `SELECT id, status FROM messages
		WHERE (mailbox = ? AND uidvalidity = ? AND uid = ? AND mailbox != '') OR sha256 = ? LIMIT 1`,
		src.Mailbox, src.UIDValidity, src.UID, sum).Scan(&id, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("find duplicate: %w", err)
	}
	return id, status, true, nil
}

// advanceCheckpoint moves the mailbox's checkpoint to src's UID. A different UIDVALIDITY
// replaces the checkpoint: the old UIDs mean nothing any more.
func (t *txn) advanceCheckpoint(src Source) error {
	if src.Mailbox == "" {
		return nil
	}
	_, err := t.tx.ExecContext(t.ctx, `INSERT INTO checkpoints (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET
			last_uid = CASE WHEN uidvalidity = excluded.uidvalidity THEN max(last_uid, excluded.last_uid) ELSE excluded.last_uid END,
			uidvalidity = excluded.uidvalidity`,
		src.Mailbox, src.UIDValidity, src.UID)
	if err != nil {
		return fmt.Errorf("advance checkpoint: %w", err)
	}
	return nil
}

// insert runs an INSERT and returns the new row's id. It uses Exec rather than
// INSERT … RETURNING because database/sql starts a goroutine for every Rows read inside
// a transaction, which is a measurable part of an ingest.
func (t *txn) insert(query string, args ...any) (int64, error) {
	res, err := t.tx.ExecContext(t.ctx, query, args...)
	if err != nil {
		return 0, err
	}
	return res.LastInsertId()
}

// incidentRow is the stored part of an incident that notices fold into.
type incidentRow struct {
	id                                                  int64
	provider, ip, caseID, service, status, kind, attack string
	severity                                            int
}

const incidentCols = `id, provider, ip, case_id, service, status, kind, attack, severity`

func scanIncidentRow(row *sql.Row) (incidentRow, bool, error) {
	var r incidentRow
	err := row.Scan(&r.id, &r.provider, &r.ip, &r.caseID, &r.service, &r.status, &r.kind, &r.attack, &r.severity)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read incident: %w", err)
	}
	return r, true, nil
}

func (t *txn) incidentByID(id int64) (incidentRow, bool, error) {
	return scanIncidentRow(t.tx.QueryRowContext(t.ctx, `SELECT `+incidentCols+` FROM incidents WHERE id = ?`, id))
}

// latestForIP returns the open incident of (provider, ip), or else the latest resolved one.
func (t *txn) latestForIP(provider, ip string) (incidentRow, bool, error) {
	return scanIncidentRow(t.tx.QueryRowContext(t.ctx, `SELECT `+incidentCols+` FROM incidents
		WHERE provider = ? AND ip = ? ORDER BY status = 'open' DESC, id DESC LIMIT 1`, provider, ip))
}

// findIncident applies the correlation rules; found=false means n opens a new incident.
func (t *txn) findIncident(n Notice, msgID int64) (incidentRow, bool, error) {
	switch {
	case n.IP != "":
		inc, ok, err := t.latestForIP(n.Provider, n.IP)
		if ok || err != nil || n.Case == "" {
			return inc, ok, err
		}
		// An incident opened by an IP-less follow-up of this case learns its IP now.
		inc, ok, err = scanIncidentRow(t.tx.QueryRowContext(t.ctx, `SELECT `+incidentCols+` FROM incidents
			WHERE id = (SELECT n.incident_id FROM notices n JOIN incidents i ON i.id = n.incident_id
				WHERE n.provider = ? AND n.case_id = ? AND n.case_id != '' AND i.ip = '' ORDER BY n.id DESC LIMIT 1)`, n.Provider, n.Case))
		if !ok || err != nil {
			return inc, ok, err
		}
		if _, err := t.tx.ExecContext(t.ctx, `UPDATE incidents SET ip = ? WHERE id = ?`, n.IP, inc.id); err != nil {
			return inc, false, fmt.Errorf("set incident ip: %w", err)
		}
		inc.ip = n.IP
		return inc, true, nil
	case n.Case != "":
		inc, ok, err := scanIncidentRow(t.tx.QueryRowContext(t.ctx, `SELECT `+incidentCols+` FROM incidents
			WHERE id = (SELECT incident_id FROM notices WHERE provider = ? AND case_id = ? AND case_id != '' ORDER BY id DESC LIMIT 1)`,
			n.Provider, n.Case))
		if !ok || err != nil || inc.status == "open" || inc.ip == "" {
			return inc, ok, err
		}
		// The case's incident was resolved; if its IP has a newer open incident, join that
		// one rather than reopen a second incident for the same IP.
		open, found, err := t.latestForIP(inc.provider, inc.ip)
		if err != nil {
			return inc, false, err
		}
		if found && open.status == "open" {
			return open, true, nil
		}
		return inc, true, nil
	default:
		// Neither IP nor case: the notices of one message share one incident.
		return scanIncidentRow(t.tx.QueryRowContext(t.ctx, `SELECT `+incidentCols+` FROM incidents
			WHERE id = (SELECT n.incident_id FROM notices n JOIN incidents i ON i.id = n.incident_id
				WHERE n.message = ? AND i.provider = ? AND i.ip = '' AND i.case_id = '' LIMIT 1)`, msgID, n.Provider))
	}
}

// attach finds, opens or reopens the incident for n and folds n into it.
func (t *txn) attach(n Notice, msgID int64) (IncidentChange, error) {
	ch := IncidentChange{Provider: n.Provider, Notice: n, NewSeverity: n.Severity}
	inc, found, err := t.findIncident(n, msgID)
	if err != nil {
		return ch, err
	}
	if !found {
		ch.IncidentID, err = t.insert(`INSERT INTO incidents
			(provider, ip, case_id, service, status, kind, attack, severity, opened_at)
			VALUES (?, ?, ?, ?, 'open', ?, ?, ?, ?)`,
			n.Provider, n.IP, n.Case, n.Service, n.Kind, n.Attack, n.Severity, ms(t.now))
		if err != nil {
			return ch, fmt.Errorf("open incident: %w", err)
		}
		ch.IP, ch.Case, ch.Opened = n.IP, n.Case, true
		return ch, nil
	}
	if inc.status != "open" {
		if _, err := t.tx.ExecContext(t.ctx, `UPDATE incidents SET status = 'open', resolved_at = 0 WHERE id = ?`, inc.id); err != nil {
			return ch, fmt.Errorf("reopen incident: %w", err)
		}
		if err := t.timeline(inc.id, "reopened", fmt.Sprintf("reopened by a %s notice", n.Kind)); err != nil {
			return ch, err
		}
		ch.Reopened = true
	}
	ch.OldSeverity = inc.severity
	if ch.Escalated, err = t.fold(&inc, n); err != nil {
		return ch, err
	}
	ch.IncidentID, ch.IP, ch.Case, ch.NewSeverity = inc.id, inc.ip, inc.caseID, inc.severity
	return ch, nil
}

func knownAttack(a string) bool { return a != "" && a != "unknown" }

// fold applies notice n to incident inc: a more severe notice raises the severity and
// sets kind and attack; a known attack replaces an unknown one but never the reverse.
func (t *txn) fold(inc *incidentRow, n Notice) (escalated bool, err error) {
	old := *inc
	if n.Severity > inc.severity {
		escalated = true
		inc.severity, inc.kind = n.Severity, n.Kind
		if knownAttack(n.Attack) {
			inc.attack = n.Attack
		}
	}
	if !knownAttack(inc.attack) && knownAttack(n.Attack) {
		inc.attack = n.Attack
	}
	if inc.service == "" {
		inc.service = n.Service
	}
	if inc.caseID == "" {
		inc.caseID = n.Case
	}
	if *inc == old {
		return false, nil
	}
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE incidents SET severity = ?, kind = ?, attack = ?, service = ?, case_id = ? WHERE id = ?`,
		inc.severity, inc.kind, inc.attack, inc.service, inc.caseID, inc.id); err != nil {
		return false, fmt.Errorf("update incident: %w", err)
	}
	if escalated {
		text := fmt.Sprintf("severity %d → %d by a %s notice", old.severity, inc.severity, n.Kind)
		if err := t.timeline(inc.id, "escalated", text); err != nil {
			return false, err
		}
	}
	return escalated, nil
}

func (t *txn) timeline(incidentID int64, kind, text string) error {
	if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO timeline (incident_id, at, kind, text) VALUES (?, ?, ?, ?)`,
		incidentID, ms(t.now), kind, text); err != nil {
		return fmt.Errorf("add timeline: %w", err)
	}
	return nil
}

// noticeRow is a notice in its stored form, comparable for Reparse.
type noticeRow struct {
	provider, kind, attack, ip, service, caseID, reporter, rate, authentic string
	severity                                                               int
	deadline                                                               int64
	events                                                                 sql.NullString
	messageID, subject                                                     sql.NullString
	date                                                                   sql.NullInt64
}

// rowOf converts n; message-level fields are left NULL when they equal the message's,
// which saves repeating them on every notice.
func rowOf(n Notice, p Parsed) noticeRow {
	r := noticeRow{
		provider: n.Provider, kind: n.Kind, attack: n.Attack, ip: n.IP, service: n.Service, caseID: n.Case,
		reporter: n.Reporter, rate: n.Rate, authentic: n.Authentic, severity: n.Severity, deadline: ms(n.Deadline),
	}
	if len(n.Events) > 0 {
		r.events = sql.NullString{String: string(n.Events), Valid: true}
	}
	if n.MessageID != p.MessageID {
		r.messageID = sql.NullString{String: n.MessageID, Valid: true}
	}
	if n.Subject != p.Subject {
		r.subject = sql.NullString{String: n.Subject, Valid: true}
	}
	if ms(n.Date) != ms(p.Date) {
		r.date = sql.NullInt64{Int64: ms(n.Date), Valid: true}
	}
	return r
}

func (t *txn) insertNotice(msgID int64, seq int, incidentID int64, n Notice, p Parsed) (int64, error) {
	r := rowOf(n, p)
	id, err := t.insert(`INSERT INTO notices
		(message, seq, incident_id, provider, kind, attack, ip, service, case_id, severity, deadline,
		 reporter, rate, events, authentic, message_id, subject, date)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		msgID, seq, incidentID, r.provider, r.kind, r.attack, r.ip, r.service, r.caseID, r.severity, r.deadline,
		r.reporter, r.rate, r.events, r.authentic, r.messageID, r.subject, r.date)
	if err != nil {
		return 0, fmt.Errorf("insert notice: %w", err)
	}
	return id, nil
}

// enqueueAll inserts the tasks plan asks for; keys that exist already are skipped.
func (t *txn) enqueueAll(plan PlanFunc, ch IncidentChange) (created int, err error) {
	if plan == nil {
		return 0, nil
	}
	for _, nt := range plan(ch) {
		_, ok, err := t.enqueue(nt)
		if err != nil {
			return created, err
		}
		if ok {
			created++
		}
	}
	return created, nil
}

func (t *txn) enqueueTasks(tasks []NewTask) error {
	for _, nt := range tasks {
		if _, _, err := t.enqueue(nt); err != nil {
			return err
		}
	}
	return nil
}

func (t *txn) enqueue(nt NewTask) (id int64, created bool, err error) {
	if nt.Kind == "" || nt.Key == "" {
		return 0, false, fmt.Errorf("enqueue: task needs a kind and a key (kind %q, key %q)", nt.Kind, nt.Key)
	}
	runAt := nt.RunAt
	if runAt.IsZero() {
		runAt = t.now
	}
	res, err := t.tx.ExecContext(t.ctx, `INSERT INTO tasks (kind, key, payload, incident_id, run_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		nt.Kind, nt.Key, nt.Payload, nullID(nt.IncidentID), ms(runAt), ms(t.now))
	if err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", nt.Key, err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", nt.Key, err)
	} else if n == 1 {
		id, err = res.LastInsertId()
		return id, true, err
	}
	if err := t.tx.QueryRowContext(t.ctx, `SELECT id FROM tasks WHERE key = ?`, nt.Key).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", nt.Key, err)
	}
	return id, false, nil
}

// Checkpoint returns the mailbox's UIDVALIDITY and highest stored UID; 0, 0 when none.
func (s *Store) Checkpoint(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error) {
	err = s.r.QueryRowContext(ctx, `SELECT uidvalidity, last_uid FROM checkpoints WHERE mailbox = ?`, mailbox).
		Scan(&uidValidity, &lastUID)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("store: checkpoint %s: %w", mailbox, err)
	}
	return uidValidity, lastUID, nil
}

// ResetCheckpoint records a new UIDVALIDITY for the mailbox, with no UID seen yet.
func (s *Store) ResetCheckpoint(ctx context.Context, mailbox string, uidValidity uint32) error {
	_, err := s.w.ExecContext(ctx, `INSERT INTO checkpoints (mailbox, uidvalidity, last_uid) VALUES (?, ?, 0)
		ON CONFLICT (mailbox) DO UPDATE SET uidvalidity = excluded.uidvalidity, last_uid = 0`, mailbox, uidValidity)
	if err != nil {
		return fmt.Errorf("store: reset checkpoint %s: %w", mailbox, err)
	}
	return nil
}

// ReparseResult counts what Reparse did.
type ReparseResult struct {
	Messages int // messages parsed again
	Changed  int // messages whose parse result differed from the stored one
	Notices  int // notices after reparse
	Tasks    int // tasks created
}

// Reparse parses every stored raw message again and brings notices and incidents in line.
// Unchanged notices are left alone, so a second run changes nothing; plan is asked only
// about notices that are new or changed, and task keys dedupe what it asks for again.
// Incident severity only ever rises: it may also carry triage findings.
func (s *Store) Reparse(ctx context.Context, parse ReparseFunc, plan PlanFunc) (ReparseResult, error) {
	var res ReparseResult
	var after int64
	for {
		type stored struct {
			id        int64
			raw       []byte
			authentic string
		}
		var batch []stored
		rows, err := s.r.QueryContext(ctx, `SELECT r.message, r.body, m.authentic FROM raw r JOIN messages m ON m.id = r.message
			WHERE r.message > ? ORDER BY r.message LIMIT 100`, after)
		if err != nil {
			return res, fmt.Errorf("store: reparse: %w", err)
		}
		for rows.Next() {
			var m stored
			if err := rows.Scan(&m.id, &m.raw, &m.authentic); err != nil {
				rows.Close()
				return res, fmt.Errorf("store: reparse: %w", err)
			}
			batch = append(batch, m)
		}
		if err := errors.Join(rows.Err(), rows.Close()); err != nil {
			return res, fmt.Errorf("store: reparse: %w", err)
		}
		if len(batch) == 0 {
			return res, nil
		}
		for _, m := range batch {
			p := parse(m.raw, m.authentic)
			if err := checkStatus(p.Status); err != nil {
				return res, fmt.Errorf("store: reparse message %d: %w", m.id, err)
			}
			var changed bool
			var notices, tasks int
			err := s.write(ctx, func(tx *sql.Tx) error {
				t := txn{ctx: ctx, tx: tx, now: time.Now()}
				var err error
				changed, notices, tasks, err = t.reparse(m.id, p, plan)
				return err
			})
			if err != nil {
				return res, fmt.Errorf("store: reparse message %d: %w", m.id, err)
			}
			res.Messages++
			res.Notices += notices
			res.Tasks += tasks
			if changed {
				res.Changed++
			}
			after = m.id
		}
	}
}

func (t *txn) reparse(msgID int64, p Parsed, plan PlanFunc) (changed bool, notices, tasks int, err error) {
	up, err := t.tx.ExecContext(t.ctx, `UPDATE messages SET status = ?, reason = ?, authentic = ?, message_id = ?, subject = ?, date = ?
		WHERE id = ? AND NOT (status = ? AND reason = ? AND authentic = ? AND message_id = ? AND subject = ? AND date = ?)`,
		p.Status, p.Reason, p.Authentic, p.MessageID, p.Subject, ms(p.Date), msgID,
		p.Status, p.Reason, p.Authentic, p.MessageID, p.Subject, ms(p.Date))
	if err != nil {
		return false, 0, 0, fmt.Errorf("update message: %w", err)
	}
	if n, _ := up.RowsAffected(); n > 0 {
		changed = true
	}

	type old struct {
		id, incident int64
		row          noticeRow
	}
	var olds []old
	rows, err := t.tx.QueryContext(t.ctx, `SELECT id, incident_id, provider, kind, attack, ip, service, case_id,
		reporter, rate, authentic, severity, deadline, events, message_id, subject, date
		FROM notices WHERE message = ? ORDER BY seq`, msgID)
	if err != nil {
		return false, 0, 0, fmt.Errorf("read notices: %w", err)
	}
	for rows.Next() {
		var o old
		r := &o.row
		if err := rows.Scan(&o.id, &o.incident, &r.provider, &r.kind, &r.attack, &r.ip, &r.service, &r.caseID,
			&r.reporter, &r.rate, &r.authentic, &r.severity, &r.deadline, &r.events, &r.messageID, &r.subject, &r.date); err != nil {
			rows.Close()
			return false, 0, 0, fmt.Errorf("read notices: %w", err)
		}
		olds = append(olds, o)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return false, 0, 0, fmt.Errorf("read notices: %w", err)
	}

	// before holds each touched incident's severity before this message's notices changed,
	// so that escalation is judged once all of them are in.
	before := map[int64]int{}
	touch := func(id int64, severity int) {
		if _, ok := before[id]; !ok {
			before[id] = severity
		}
	}
	var changes []IncidentChange
	for i, n := range p.Notices {
		r := rowOf(n, p)
		switch {
		case i < len(olds) && sameNotice(olds[i].row, r):
			continue
		case i < len(olds) && olds[i].row.provider == r.provider && olds[i].row.ip == r.ip && olds[i].row.caseID == r.caseID:
			inc, ok, err := t.incidentByID(olds[i].incident)
			if err != nil {
				return false, 0, 0, err
			}
			if !ok {
				return false, 0, 0, fmt.Errorf("incident %d of notice %d: %w", olds[i].incident, olds[i].id, ErrNotFound)
			}
			touch(inc.id, inc.severity)
			if err := t.updateNotice(olds[i].id, inc.id, r); err != nil {
				return false, 0, 0, err
			}
			changes = append(changes, IncidentChange{IncidentID: inc.id, NoticeID: olds[i].id, Provider: n.Provider, Notice: n})
		default:
			// A new notice, or one that now names another IP or case: correlate it afresh.
			if i < len(olds) {
				inc, ok, err := t.incidentByID(olds[i].incident)
				if err != nil {
					return false, 0, 0, err
				}
				if ok {
					touch(inc.id, inc.severity)
				}
			}
			ch, err := t.attach(n, msgID)
			if err != nil {
				return false, 0, 0, err
			}
			touch(ch.IncidentID, ch.OldSeverity)
			if i < len(olds) {
				ch.NoticeID = olds[i].id
				err = t.updateNotice(ch.NoticeID, ch.IncidentID, r)
			} else {
				ch.NoticeID, err = t.insertNotice(msgID, i, ch.IncidentID, n, p)
			}
			if err != nil {
				return false, 0, 0, err
			}
			changes = append(changes, ch)
		}
		changed = true
	}
	for _, o := range olds[min(len(olds), len(p.Notices)):] {
		changed = true
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM notices WHERE id = ?`, o.id); err != nil {
			return false, 0, 0, fmt.Errorf("delete notice: %w", err)
		}
		text := fmt.Sprintf("a %s notice of message %d is gone after reparse", o.row.kind, msgID)
		if err := t.timeline(o.incident, "reparse", text); err != nil {
			return false, 0, 0, err
		}
		if _, ok := before[o.incident]; !ok {
			inc, found, err := t.incidentByID(o.incident)
			if err != nil {
				return false, 0, 0, err
			}
			if found {
				touch(inc.id, inc.severity)
			}
		}
	}

	after := map[int64]incidentRow{}
	ids := make([]int64, 0, len(before))
	for id := range before {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		inc, err := t.recompute(id)
		if err != nil {
			return false, 0, 0, err
		}
		after[id] = inc
	}
	for _, ch := range changes {
		inc := after[ch.IncidentID]
		ch.IP, ch.Case = inc.ip, inc.caseID
		ch.OldSeverity, ch.NewSeverity = before[ch.IncidentID], inc.severity
		ch.Escalated = !ch.Opened && ch.NewSeverity > ch.OldSeverity
		created, err := t.enqueueAll(plan, ch)
		if err != nil {
			return false, 0, 0, err
		}
		tasks += created
	}
	return changed, len(p.Notices), tasks, nil
}

// recompute sets an incident's kind and attack from its notices after Reparse changed
// them: kind from the most severe notice, attack from the most severe notice that names
// a known one. Severity only rises, as it may carry triage findings.
func (t *txn) recompute(id int64) (incidentRow, error) {
	inc, ok, err := t.incidentByID(id)
	if err != nil {
		return inc, err
	}
	if !ok {
		return inc, fmt.Errorf("incident %d: %w", id, ErrNotFound)
	}
	rows, err := t.tx.QueryContext(t.ctx, `SELECT kind, attack, severity FROM notices WHERE incident_id = ? ORDER BY severity DESC, id`, id)
	if err != nil {
		return inc, fmt.Errorf("read notices of incident %d: %w", id, err)
	}
	old := inc
	first := true
	attackSet := false
	for rows.Next() {
		var kind, attack string
		var severity int
		if err := rows.Scan(&kind, &attack, &severity); err != nil {
			rows.Close()
			return inc, fmt.Errorf("read notices of incident %d: %w", id, err)
		}
		if first && severity >= old.severity {
			inc.severity, inc.kind = severity, kind
		}
		first = false
		if !attackSet && knownAttack(attack) {
			inc.attack, attackSet = attack, true
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return inc, fmt.Errorf("read notices of incident %d: %w", id, err)
	}
	if inc == old {
		return inc, nil
	}
	if _, err := t.tx.ExecContext(t.ctx, `UPDATE incidents SET severity = ?, kind = ?, attack = ? WHERE id = ?`,
		inc.severity, inc.kind, inc.attack, id); err != nil {
		return inc, fmt.Errorf("update incident: %w", err)
	}
	if inc.severity > old.severity {
		if err := t.timeline(id, "escalated", fmt.Sprintf("severity %d → %d after reparse", old.severity, inc.severity)); err != nil {
			return inc, err
		}
	}
	return inc, nil
}

func sameNotice(a, b noticeRow) bool {
	// An empty events array and none at all are the same to the parser's readers.
	ae, be := a.events.String, b.events.String
	a.events, b.events = sql.NullString{}, sql.NullString{}
	return a == b && ae == be
}

func (t *txn) updateNotice(id, incidentID int64, r noticeRow) error {
	_, err := t.tx.ExecContext(t.ctx, `UPDATE notices SET incident_id = ?, provider = ?, kind = ?, attack = ?, ip = ?,
		service = ?, case_id = ?, severity = ?, deadline = ?, reporter = ?, rate = ?, events = ?, authentic = ?,
		message_id = ?, subject = ?, date = ? WHERE id = ?`,
		incidentID, r.provider, r.kind, r.attack, r.ip, r.service, r.caseID, r.severity, r.deadline, r.reporter, r.rate,
		r.events, r.authentic, r.messageID, r.subject, r.date, id)
	if err != nil {
		return fmt.Errorf("update notice: %w", err)
	}
	return nil
}
