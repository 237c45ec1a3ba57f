package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
)

// StoredMail is a stored raw mail as Reparse hands it to its parse function.
type StoredMail struct {
	ID        int64
	Raw       []byte // nil when the mail is Large
	Large     bool   // kept in chunks (or in a file) for being above the parse limit
	Size      int64
	Authentic string // the verdict recorded when it was last parsed
	s         *Store
}

// Bytes returns the mail, reading it whole when it is Large (only a parse
// function whose limit allows the size should).
func (m StoredMail) Bytes(ctx context.Context) ([]byte, error) {
	if !m.Large {
		return m.Raw, nil
	}
	r, err := m.s.OpenRaw(ctx, m.ID)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
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
		var batch []StoredMail
		rows, err := s.r.QueryContext(ctx, `SELECT m.id, r.body, r.message IS NULL, m.size, m.authentic
			FROM messages m LEFT JOIN raw r ON r.message = m.id
			WHERE m.id > ? AND (r.message IS NOT NULL OR m.raw_path != ''
				OR EXISTS (SELECT 1 FROM raw_chunks c WHERE c.message = m.id AND c.seq = 0)) ORDER BY m.id LIMIT 100`, after)
		if err != nil {
			return res, fmt.Errorf("store: reparse: %w", err)
		}
		for rows.Next() {
			m := StoredMail{s: s}
			if err := rows.Scan(&m.ID, &m.Raw, &m.Large, &m.Size, &m.Authentic); err != nil {
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
			p := parse(ctx, m)
			if err := checkStatus(p.Status); err != nil {
				return res, fmt.Errorf("store: reparse message %d: %w", m.ID, err)
			}
			var out reparseOutcome
			err := s.write(ctx, func(tx *sql.Tx) error {
				t := s.txn(ctx, tx)
				var err error
				out, err = t.reparse(m.ID, p, plan)
				return err
			})
			if err != nil {
				return res, fmt.Errorf("store: reparse message %d: %w", m.ID, err)
			}
			res.Messages++
			res.Notices += out.notices
			res.Tasks += out.tasks
			if out.changed {
				res.Changed++
			}
			after = m.ID
		}
	}
}

// reparseOutcome is what reparsing one message did.
type reparseOutcome struct {
	changed        bool
	notices, tasks int
}

// storedNotice is a notice as it is stored, with its ids.
type storedNotice struct {
	id, incident int64
	row          noticeRow
}

// noticeOp is what Reparse does with one notice.
type noticeOp int

const (
	opKeep     noticeOp = iota // the same notice: leave it
	opUpdate                   // same provider, IP and case: update it on its incident
	opReattach                 // it names another IP or case: correlate it afresh, keeping its row
	opInsert                   // a notice the mail did not give before
	opDelete                   // the mail no longer gives it
)

// noticeStep pairs an old notice with the new one at its place (-1: none).
type noticeStep struct {
	op       noticeOp
	old, new int
}

// diffNotices says what becomes of each stored notice of a mail when it now
// gives news instead of olds. Notices are matched by their place in the mail.
func diffNotices(olds, news []noticeRow) []noticeStep {
	steps := make([]noticeStep, 0, max(len(olds), len(news)))
	for i, n := range news {
		switch {
		case i >= len(olds):
			steps = append(steps, noticeStep{op: opInsert, old: -1, new: i})
		case sameNotice(olds[i], n):
			steps = append(steps, noticeStep{op: opKeep, old: i, new: i})
		case olds[i].provider == n.provider && olds[i].ip == n.ip && olds[i].caseID == n.caseID:
			steps = append(steps, noticeStep{op: opUpdate, old: i, new: i})
		default:
			steps = append(steps, noticeStep{op: opReattach, old: i, new: i})
		}
	}
	for i := len(news); i < len(olds); i++ {
		steps = append(steps, noticeStep{op: opDelete, old: i, new: -1})
	}
	return steps
}

func (t *txn) reparse(msgID int64, p Parsed, plan PlanFunc) (reparseOutcome, error) {
	out := reparseOutcome{notices: len(p.Notices)}
	changed, err := t.updateMessage(msgID, p)
	if err != nil {
		return out, err
	}
	out.changed = changed
	olds, err := t.storedNotices(msgID)
	if err != nil {
		return out, err
	}
	oldRows := make([]noticeRow, len(olds))
	for i, o := range olds {
		oldRows[i] = o.row
	}
	newRows := make([]noticeRow, len(p.Notices))
	for i, n := range p.Notices {
		newRows[i] = rowOf(n, p)
	}

	// before holds each touched incident's severity before this message's notices changed,
	// so that escalation is judged once all of them are in.
	before := map[int64]int{}
	touch := func(id int64) error {
		if _, ok := before[id]; ok {
			return nil
		}
		inc, found, err := t.incidentByID(id)
		if found {
			before[id] = inc.severity
		}
		return err
	}
	var changes []IncidentChange
	for _, st := range diffNotices(oldRows, newRows) {
		if st.op == opKeep {
			continue
		}
		out.changed = true
		ch, ok, err := t.applyStep(msgID, p, st, olds, newRows, touch, before)
		if err != nil {
			return out, err
		}
		if !ok {
			continue
		}
		if ch.PriorTrust, err = t.priorTrust(ch.IncidentID, ch.NoticeID); err != nil {
			return out, err
		}
		changes = append(changes, ch)
	}
	out.tasks, err = t.replan(before, changes, plan)
	return out, err
}

// updateMessage records the message's new parse; changed is false when it is as stored.
func (t *txn) updateMessage(msgID int64, p Parsed) (changed bool, err error) {
	up, err := t.exec(`UPDATE messages SET status = ?, reason = ?, authentic = ?, message_id = ?, subject = ?, date = ?, from_addr = ?
		WHERE id = ? AND NOT (status = ? AND reason = ? AND authentic = ? AND message_id = ? AND subject = ? AND date = ? AND from_addr = ?)`,
		p.Status, p.Reason, p.Authentic, p.MessageID, p.Subject, ms(p.Date), p.From, msgID,
		p.Status, p.Reason, p.Authentic, p.MessageID, p.Subject, ms(p.Date), p.From)
	if err != nil {
		return false, fmt.Errorf("update message: %w", err)
	}
	n, _ := up.RowsAffected()
	return n > 0, nil
}

func (t *txn) storedNotices(msgID int64) ([]storedNotice, error) {
	rows, err := t.query(`SELECT id, incident_id, provider, kind, attack, ip, service, case_id,
		reporter, rate, authentic, trust, severity, deadline, events, message_id, subject, date
		FROM notices WHERE message = ? ORDER BY seq`, msgID)
	if err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	defer rows.Close()
	var olds []storedNotice
	for rows.Next() {
		var o storedNotice
		r := &o.row
		if err := rows.Scan(&o.id, &o.incident, &r.provider, &r.kind, &r.attack, &r.ip, &r.service, &r.caseID,
			&r.reporter, &r.rate, &r.authentic, &r.trust, &r.severity, &r.deadline, &r.events, &r.messageID, &r.subject, &r.date); err != nil {
			return nil, fmt.Errorf("read notices: %w", err)
		}
		olds = append(olds, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	return olds, nil
}

// applyStep carries out one step of diffNotices; ok says whether it gives an
// incident change to plan for.
func (t *txn) applyStep(msgID int64, p Parsed, st noticeStep, olds []storedNotice, rows []noticeRow,
	touch func(int64) error, before map[int64]int) (ch IncidentChange, ok bool, err error) {
	switch st.op {
	case opUpdate:
		o := olds[st.old]
		if _, found, err := t.incidentByID(o.incident); err != nil {
			return ch, false, err
		} else if !found {
			return ch, false, fmt.Errorf("incident %d of notice %d: %w", o.incident, o.id, ErrNotFound)
		}
		if err := touch(o.incident); err != nil {
			return ch, false, err
		}
		n := p.Notices[st.new]
		return IncidentChange{IncidentID: o.incident, NoticeID: o.id, Provider: n.Provider, Notice: n}, true,
			t.updateNotice(o.id, o.incident, rows[st.new])
	case opReattach, opInsert:
		if st.old >= 0 {
			if err := touch(olds[st.old].incident); err != nil {
				return ch, false, err
			}
		}
		n := p.Notices[st.new]
		if ch, err = t.attach(n, msgID, st.new); err != nil {
			return ch, false, err
		}
		if _, seen := before[ch.IncidentID]; !seen {
			before[ch.IncidentID] = ch.OldSeverity
		}
		if st.old >= 0 {
			ch.NoticeID = olds[st.old].id
			err = t.updateNotice(ch.NoticeID, ch.IncidentID, rows[st.new])
		} else {
			ch.NoticeID, err = t.insertNotice(msgID, st.new, ch.IncidentID, n, p)
		}
		return ch, true, err
	case opDelete:
		o := olds[st.old]
		if _, err := t.exec(`DELETE FROM notices WHERE id = ?`, o.id); err != nil {
			return ch, false, fmt.Errorf("delete notice: %w", err)
		}
		text := fmt.Sprintf("a %s notice of message %d is gone after reparse", o.row.kind, msgID)
		if err := t.timeline(o.incident, "reparse", text); err != nil {
			return ch, false, err
		}
		return ch, false, touch(o.incident)
	}
	return ch, false, nil
}

// replan recomputes every touched incident, then asks plan about each change
// with the severities from before and after.
func (t *txn) replan(before map[int64]int, changes []IncidentChange, plan PlanFunc) (tasks int, err error) {
	after := map[int64]incidentRow{}
	ids := slices.Sorted(maps.Keys(before))
	for _, id := range ids {
		inc, err := t.recompute(id)
		if err != nil {
			return 0, err
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
			return tasks, err
		}
		tasks += created
	}
	return tasks, nil
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
	rows, err := t.query(`SELECT kind, attack, severity FROM notices WHERE incident_id = ? ORDER BY severity DESC, id`, id)
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
	if _, err := t.exec(`UPDATE incidents SET severity = ?, kind = ?, attack = ? WHERE id = ?`,
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
	_, err := t.exec(`UPDATE notices SET incident_id = ?, provider = ?, kind = ?, attack = ?, ip = ?,
		service = ?, case_id = ?, severity = ?, deadline = ?, reporter = ?, rate = ?, events = ?, authentic = ?,
		trust = ?, message_id = ?, subject = ?, date = ? WHERE id = ?`,
		incidentID, r.provider, r.kind, r.attack, r.ip, r.service, r.caseID, r.severity, r.deadline, r.reporter, r.rate,
		r.events, r.authentic, r.trust, r.messageID, r.subject, r.date, id)
	if err != nil {
		return fmt.Errorf("update notice: %w", err)
	}
	return nil
}
