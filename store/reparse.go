package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"
)

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
