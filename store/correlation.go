package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// incidentRow is the stored part of an incident that notices fold into.
type incidentRow struct {
	id                                                  int64
	provider, ip, caseID, service, status, kind, attack string
	severity                                            int
	// trust is that of the incident's first trusted notice, "" when none
	// is: read with the row, it saves a round trip per notice on
	// PostgreSQL.
	trust string
}

// incidentCols are the columns scanIncidentRow reads, of the incidents
// table as i.
const incidentCols = `i.id, i.provider, i.ip, i.case_id, i.service, i.status, i.kind, i.attack, i.severity,
	coalesce((SELECT t.trust FROM notices t WHERE t.incident_id = i.id AND t.trust != '' ORDER BY t.id LIMIT 1), '')`

func scanIncidentRow(row interface{ Scan(...any) error }) (incidentRow, bool, error) {
	var r incidentRow
	err := row.Scan(&r.id, &r.provider, &r.ip, &r.caseID, &r.service, &r.status, &r.kind, &r.attack, &r.severity, &r.trust)
	if errors.Is(err, sql.ErrNoRows) {
		return r, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("read incident: %w", err)
	}
	return r, true, nil
}

func (t *txn) incidentByID(id int64) (incidentRow, bool, error) {
	return scanIncidentRow(t.queryRow(`SELECT `+incidentCols+` FROM incidents i WHERE i.id = ?`, id))
}

// latestForIPQuery finds the open incident of (provider, ip), or else the
// latest resolved one.
const latestForIPQuery = `SELECT ` + incidentCols + ` FROM incidents i
		WHERE i.provider = ? AND i.ip = ? ORDER BY i.status = 'open' DESC, i.id DESC LIMIT 1`

// latestForIP runs latestForIPQuery, or takes its answer from t.ahead when
// the statement that stored the message asked it already.
func (t *txn) latestForIP(provider, ip string) (incidentRow, bool, error) {
	if a := t.ahead; a != nil {
		t.ahead = nil
		if a.provider == provider && a.ip == ip {
			if a.row.trust == "" {
				a.row.trust = t.later.trustOf(a.row.id)
			}
			return a.row, a.found, nil
		}
	}
	return scanIncidentRow(t.queryRow(latestForIPQuery, provider, ip))
}

// nullIncidentRow scans an incidentRow that may be all NULL (a LEFT JOIN
// that found none).
type nullIncidentRow struct {
	id, severity                                        sql.NullInt64
	provider, ip, caseID, service, status, kind, attack sql.NullString
	trust                                               sql.NullString
}

func (r *nullIncidentRow) dest() []any {
	return []any{&r.id, &r.provider, &r.ip, &r.caseID, &r.service, &r.status, &r.kind, &r.attack, &r.severity, &r.trust}
}

func (r *nullIncidentRow) row() (incidentRow, bool) {
	return incidentRow{
		id: r.id.Int64, provider: r.provider.String, ip: r.ip.String, caseID: r.caseID.String, service: r.service.String,
		status: r.status.String, kind: r.kind.String, attack: r.attack.String, severity: int(r.severity.Int64), trust: r.trust.String,
	}, r.id.Valid
}

// findIncident applies the correlation rules; found=false means n opens a new
// incident. In order: the IP (an IP-less incident of the same case or
// service learns it), the case, the service, and two copies of one mail
// (same Message-ID, distinct bytes: another relay's Received lines).
func (t *txn) findIncident(n Notice, msgID int64, seq int) (incidentRow, bool, error) {
	if n.IP != "" {
		return t.forIP(n)
	}
	if n.Case != "" {
		if inc, ok, err := t.forCase(n); ok || err != nil {
			return inc, ok, err
		}
	}
	if n.Service != "" {
		if inc, ok, err := t.openIPless(`i.service = ?`, n.Provider, n.Service); ok || err != nil {
			return inc, ok, err
		}
	}
	if n.MessageID != "" {
		inc, ok, err := scanIncidentRow(t.queryRow(`SELECT `+incidentCols+` FROM incidents i
			WHERE i.id = (SELECT n.incident_id FROM notices n JOIN messages m ON m.id = n.message
				WHERE m.message_id = ? AND n.provider = ? AND n.seq = ? AND m.id != ? ORDER BY n.id LIMIT 1)`,
			n.MessageID, n.Provider, seq, msgID))
		if ok || err != nil {
			return inc, ok, err
		}
	}
	// The notices of one message share one incident.
	return scanIncidentRow(t.queryRow(`SELECT `+incidentCols+` FROM incidents i
		WHERE i.id = (SELECT n.incident_id FROM notices n JOIN incidents j ON j.id = n.incident_id
			WHERE n.message = ? AND j.provider = ? AND j.ip = '' AND j.case_id = '' LIMIT 1)`, msgID, n.Provider))
}

// forIP finds the incident of n's IP; without one, an open IP-less incident
// of n's case or service learns the IP and is n's.
func (t *txn) forIP(n Notice) (incidentRow, bool, error) {
	inc, ok, err := t.latestForIP(n.Provider, n.IP)
	if ok || err != nil {
		return inc, ok, err
	}
	if n.Case != "" {
		inc, ok, err = scanIncidentRow(t.queryRow(`SELECT `+incidentCols+` FROM incidents i
			WHERE i.id = (SELECT n.incident_id FROM notices n JOIN incidents j ON j.id = n.incident_id
				WHERE n.provider = ? AND n.case_id = ? AND n.case_id != '' AND j.ip = '' ORDER BY n.id DESC LIMIT 1)`, n.Provider, n.Case))
		if err != nil {
			return inc, false, err
		}
	}
	if !ok && n.Service != "" {
		if inc, ok, err = t.openIPless(`i.service = ?`, n.Provider, n.Service); err != nil {
			return inc, false, err
		}
	}
	if !ok {
		return inc, false, nil
	}
	return inc, true, t.learnIP(&inc, n.IP)
}

// learnIP gives an IP-less incident the IP a notice or the provider named.
func (t *txn) learnIP(inc *incidentRow, ip string) error {
	if _, err := t.exec(`UPDATE incidents SET ip = ? WHERE id = ?`, ip, inc.id); err != nil {
		return fmt.Errorf("set incident ip: %w", err)
	}
	inc.ip = ip
	return t.timeline(inc.id, "correlated", "the incident's IP is "+ip)
}

// LearnIncidentIP gives an incident without an IP the one the provider
// named for its service; an incident that has one keeps it. When that IP
// already has an open incident, the IP-less one is merged into it (see
// merge). It returns the incident that now holds the notices: incidentID,
// or the one it was merged into.
func (s *Store) LearnIncidentIP(ctx context.Context, incidentID int64, ip, why string) (int64, error) {
	into := incidentID
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		inc, ok, err := t.incidentByID(incidentID)
		if err != nil || !ok || inc.ip != "" {
			if !ok && err == nil {
				err = ErrNotFound
			}
			return err
		}
		open, found, err := t.latestForIP(inc.provider, ip)
		if err != nil {
			return err
		}
		if found && open.status == "open" {
			into = open.id
			return t.merge(inc, open, why)
		}
		if err := t.learnIP(&inc, ip); err != nil {
			return err
		}
		return t.timeline(incidentID, "correlated", why)
	})
	if err != nil {
		return 0, fmt.Errorf("store: learn IP of incident %d: %w", incidentID, err)
	}
	return into, nil
}

// merge moves the notices of the IP-less incident from into the open
// incident of the IP the provider named, folds its severity, attack,
// service and case in, and resolves the emptied one, saying so on both
// timelines. The emptied incident keeps its row and timeline (so its id,
// as chat and operators knew it, still shows where it went); the
// incidents table's statuses are open and resolved, and a merged incident
// is a resolved one whose timeline says "merged".
func (t *txn) merge(from, into incidentRow, why string) error {
	res, err := t.exec(`UPDATE notices SET incident_id = ? WHERE incident_id = ?`, into.id, from.id)
	if err != nil {
		return fmt.Errorf("move notices of incident %d: %w", from.id, err)
	}
	moved, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("move notices of incident %d: %w", from.id, err)
	}
	if _, err := t.fold(&into, Notice{Kind: from.kind, Attack: from.attack, Severity: from.severity, Service: from.service, Case: from.caseID}); err != nil {
		return err
	}
	if _, err := t.exec(`UPDATE incidents SET status = 'resolved', resolved_at = ? WHERE id = ?`, ms(t.now), from.id); err != nil {
		return fmt.Errorf("resolve merged incident %d: %w", from.id, err)
	}
	if err := t.timeline(into.id, "merged", fmt.Sprintf("incident %d merged in (%s): %s", from.id, plural(int(moved), "notice"), why)); err != nil {
		return err
	}
	return t.timeline(from.id, "merged", fmt.Sprintf("merged into incident %d, the open incident of %s: %s", into.id, into.ip, why))
}

// openIPless returns the newest open incident of provider without an IP
// that matches cond (one placeholder, bound to arg).
func (t *txn) openIPless(cond, provider, arg string) (incidentRow, bool, error) {
	return scanIncidentRow(t.queryRow(`SELECT `+incidentCols+` FROM incidents i
		WHERE i.provider = ? AND i.status = 'open' AND i.ip = '' AND `+cond+` ORDER BY i.id DESC LIMIT 1`, provider, arg))
}

// forCase finds the incident of n's case; a resolved one gives way to a
// newer open incident of its IP rather than reopen a second one for it.
func (t *txn) forCase(n Notice) (incidentRow, bool, error) {
	inc, ok, err := scanIncidentRow(t.queryRow(`SELECT `+incidentCols+` FROM incidents i
		WHERE i.id = (SELECT incident_id FROM notices WHERE provider = ? AND case_id = ? AND case_id != '' ORDER BY id DESC LIMIT 1)`,
		n.Provider, n.Case))
	if !ok || err != nil || inc.status == "open" || inc.ip == "" {
		return inc, ok, err
	}
	open, found, err := t.latestForIP(inc.provider, inc.ip)
	if err != nil {
		return inc, false, err
	}
	if found && open.status == "open" {
		return open, true, nil
	}
	return inc, true, nil
}

// attach finds, opens or reopens the incident for n and folds n into it.
func (t *txn) attach(n Notice, msgID int64, seq int) (IncidentChange, error) {
	ch := IncidentChange{Provider: n.Provider, Notice: n, NewSeverity: n.Severity}
	inc, found, err := t.findIncident(n, msgID, seq)
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
		if _, err := t.exec(`UPDATE incidents SET status = 'open', resolved_at = 0 WHERE id = ?`, inc.id); err != nil {
			return ch, fmt.Errorf("reopen incident: %w", err)
		}
		if err := t.timeline(inc.id, "reopened", fmt.Sprintf("reopened by a %s notice", n.Kind)); err != nil {
			return ch, err
		}
		ch.Reopened = true
	}
	ch.OldSeverity, ch.PriorTrust = inc.severity, inc.trust
	if ch.Escalated, err = t.fold(&inc, n); err != nil {
		return ch, err
	}
	ch.IncidentID, ch.IP, ch.Case, ch.NewSeverity = inc.id, inc.ip, inc.caseID, inc.severity
	return ch, nil
}

// priorTrust returns the trust of a trusted notice of the incident other than
// notice except, "" when it has none.
func (t *txn) priorTrust(incidentID, except int64) (string, error) {
	var trust string
	err := t.queryRow(`SELECT trust FROM notices WHERE incident_id = ? AND trust != '' AND id != ? ORDER BY id LIMIT 1`,
		incidentID, except).Scan(&trust)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", fmt.Errorf("read trust of incident %d: %w", incidentID, err)
	}
	return trust, nil
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
	if _, err := t.exec(`UPDATE incidents SET severity = ?, kind = ?, attack = ?, service = ?, case_id = ? WHERE id = ?`,
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

// plural says n things in English: "1 notice", "2 notices".
func plural(n int, thing string) string {
	if n == 1 {
		return "1 " + thing
	}
	return fmt.Sprintf("%d %ss", n, thing)
}
