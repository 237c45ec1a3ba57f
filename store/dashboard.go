package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// The dashboard's reads (web/). Each is bounded (a page, a window of days),
// so that a page costs the same with a hundred incidents or a million notices.

// IncidentFilter selects incidents for the dashboard's list. Zero fields
// select everything.
type IncidentFilter struct {
	Status, Provider, Kind string
	Severity               int // a rank (config.SeverityRank), 0: any
	// Search matches the start of the IP, the case id (of the incident or
	// of any of its notices) or the service.
	Search string
	// Before pages: only incidents with a smaller id (older). 0: the newest.
	Before int64
	Limit  int
}

// IncidentPage is one page of incidents, newest first.
type IncidentPage struct {
	Incidents []Incident
	// Next is the Before of the following page, 0 when this is the last.
	Next int64
}

// prefixRange turns a prefix into a half-open range an index can seek.
// Both stores compare text by its bytes (SQLite's BINARY collation, the C
// locale of PostgreSQL's cluster), in which no character sorts after the
// last code point; a byte 0xFF would do on SQLite but is not valid text on
// PostgreSQL.
func prefixRange(p string) (lo, hi string) { return p, p + "\U0010FFFF" }

// DashboardIncidents returns one page of incidents matching f, newest first,
// each with its latest provider state.
func (s *Store) DashboardIncidents(ctx context.Context, f IncidentFilter) (IncidentPage, error) {
	if f.Limit <= 0 || f.Limit > 500 {
		f.Limit = 50
	}
	var where []string
	var args []any
	for _, c := range []struct{ col, v string }{{"status", f.Status}, {"provider", f.Provider}, {"kind", f.Kind}} {
		if c.v != "" {
			where = append(where, c.col+" = ?")
			args = append(args, c.v)
		}
	}
	if f.Severity > 0 {
		where = append(where, "severity = ?")
		args = append(args, f.Severity)
	}
	if q := strings.TrimSpace(f.Search); q != "" {
		lo, hi := prefixRange(q)
		// Each arm has its own index; SQLite unions them (OR optimisation).
		where = append(where, `(ip >= ? AND ip < ? AND ip != '')
			OR (case_id >= ? AND case_id < ? AND case_id != '')
			OR (service >= ? AND service < ? AND service != '')
			OR id IN (SELECT incident_id FROM notices WHERE case_id >= ? AND case_id < ? AND case_id != '')`)
		args = append(args, lo, hi, lo, hi, lo, hi, lo, hi)
	}
	if f.Before > 0 {
		where = append(where, "id < ?")
		args = append(args, f.Before)
	}
	cond := ""
	if len(where) > 0 {
		cond = " WHERE (" + strings.Join(where, ") AND (") + ")"
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return IncidentPage{}, fmt.Errorf("store: dashboard incidents: %w", err)
	}
	defer tx.Rollback()
	// The page's ids first (one more, to know whether a next page exists),
	// then the aggregates over their notices only.
	args = append(args, f.Limit+1)
	incs, err := queryIncidents(ctx, tx, incidentQuery+` WHERE i.id IN (SELECT id FROM incidents`+cond+
		` ORDER BY id DESC LIMIT ?) GROUP BY i.id ORDER BY i.id DESC`, args...)
	if err != nil {
		return IncidentPage{}, fmt.Errorf("store: dashboard incidents: %w", err)
	}
	var page IncidentPage
	if len(incs) > f.Limit {
		incs = incs[:f.Limit]
		page.Next = incs[len(incs)-1].ID
	}
	for i := range incs {
		_, st, err := scanState(tx.QueryRowContext(ctx, `SELECT `+stateCols+` FROM states WHERE incident_id = ? ORDER BY id DESC LIMIT 1`, incs[i].ID))
		switch {
		case err == nil:
			incs[i].State = st
		case !errors.Is(err, sql.ErrNoRows):
			return IncidentPage{}, fmt.Errorf("store: dashboard incidents: read state: %w", err)
		}
	}
	page.Incidents = incs
	return page, nil
}

// IncidentView is what the dashboard shows of one incident: everything but
// the notices, of which one page is read (an incident can have thousands).
type IncidentView struct {
	Incident
	NoticePage  []NoticeRecord // the page asked for, oldest first
	NoticePages int            // how many pages of that size there are
	Timeline    []TimelineEntry
	States      []StateSnapshot // newest first, at most maxStates
	Evidence    []Evidence
	Runs        []TriageRunRecord
	Statements  []Statement // oldest first
	Grants      []Grant     // of the incident's IP, newest first
}

// maxStates bounds the provider state history shown: a state task runs on
// every notice, so a long incident has many identical snapshots.
const maxStates = 100

// DashboardIncident returns one incident with the notices of page page
// (from 1) of perPage. ErrNotFound when it does not exist.
func (s *Store) DashboardIncident(ctx context.Context, id int64, page, perPage int) (*IncidentView, error) {
	if perPage <= 0 {
		perPage = 50
	}
	page = max(page, 1)
	v, err := s.dashboardIncident(ctx, id, page, perPage)
	if err != nil {
		return nil, fmt.Errorf("store: dashboard incident %d: %w", id, err)
	}
	return v, nil
}

func (s *Store) dashboardIncident(ctx context.Context, id int64, page, perPage int) (*IncidentView, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	incs, err := queryIncidents(ctx, tx, incidentQuery+` WHERE i.id = ? GROUP BY i.id`, id)
	if err != nil {
		return nil, err
	}
	if len(incs) == 0 {
		return nil, ErrNotFound
	}
	v := &IncidentView{Incident: incs[0]}
	v.NoticePages = max(1, (v.Incident.Notices+perPage-1)/perPage)

	rows, err := tx.QueryContext(ctx, `SELECT `+stateCols+` FROM states WHERE incident_id = ? ORDER BY id DESC LIMIT ?`, id, maxStates)
	if err != nil {
		return nil, fmt.Errorf("read states: %w", err)
	}
	for rows.Next() {
		_, st, err := scanState(rows)
		if err != nil {
			rows.Close()
			return nil, fmt.Errorf("read states: %w", err)
		}
		v.States = append(v.States, *st)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read states: %w", err)
	}
	if len(v.States) > 0 {
		v.State = &v.States[0]
	}

	if v.NoticePage, err = noticesPage(ctx, tx, id, perPage, (page-1)*perPage); err != nil {
		return nil, fmt.Errorf("read notices: %w", err)
	}
	// The notices are listed apart (paged); the timeline holds what
	// happened to the incident besides them.
	if v.Timeline, err = incidentTimeline(ctx, tx, id); err != nil {
		return nil, err
	}
	if v.Evidence, err = incidentEvidence(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("read evidence: %w", err)
	}
	if v.Runs, err = triageRuns(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("read triage runs: %w", err)
	}
	if v.Statements, err = statementsOf(ctx, tx, id); err != nil {
		return nil, fmt.Errorf("read statements: %w", err)
	}
	if v.IP != "" {
		if v.Grants, err = grantsOf(ctx, tx, v.Provider, v.IP); err != nil {
			return nil, fmt.Errorf("read grants: %w", err)
		}
	}
	return v, nil
}

func noticesPage(ctx context.Context, tx *sql.Tx, id int64, limit, offset int) ([]NoticeRecord, error) {
	rows, err := tx.QueryContext(ctx, noticeSelect+`WHERE n.incident_id = ? ORDER BY n.id LIMIT ? OFFSET ?`, id, limit, offset)
	if err != nil {
		return nil, err
	}
	return scanNotices(rows)
}

func statementsOf(ctx context.Context, tx *sql.Tx, incidentID int64) ([]Statement, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+statementCols+` FROM statements WHERE incident_id = ? ORDER BY id`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		st, err := scanStatement(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, rows.Err()
}

func grantsOf(ctx context.Context, tx *sql.Tx, provider, ip string) ([]Grant, error) {
	rows, err := tx.QueryContext(ctx, `SELECT `+grantCols+` FROM grants WHERE provider = ? AND server_ip = ? ORDER BY id DESC`, provider, ip)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// MessagePage is one page of the dashboard's list of stored mail.
type MessagePage struct {
	Messages []MessageRecord
	More     bool // a next page exists
	// Attention counts the mails a person must read, over all pages.
	Attention map[string]int
}

// attentionStatuses are listed before the rest: mail a person must read.
var attentionStatuses = []string{"unrecognised", "oversize"}

// DashboardMessages returns page page (from 1) of perPage stored mails: of
// one status when status is set, else every mail with the unrecognised and
// then the oversize ones first, each group newest first. Only the (few)
// mails needing attention are counted: counting a million is a scan.
func (s *Store) DashboardMessages(ctx context.Context, status string, page, perPage int) (MessagePage, error) {
	if status != "" && !validStatus(status) {
		return MessagePage{}, fmt.Errorf("store: dashboard messages: status %q is not one of %v", status, MessageStatuses)
	}
	if perPage <= 0 {
		perPage = 50
	}
	page = max(page, 1)
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return MessagePage{}, fmt.Errorf("store: dashboard messages: %w", err)
	}
	defer tx.Rollback()
	out := MessagePage{Attention: map[string]int{}}
	for _, st := range attentionStatuses {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM messages WHERE status = ?`, st).Scan(&n); err != nil {
			return MessagePage{}, fmt.Errorf("store: dashboard messages: %w", err)
		}
		out.Attention[st] = n
	}
	// The groups are read one after the other, each newest first (the
	// status index, or the table, in id order): nothing sorts the table.
	type group struct {
		cond  string
		args  []any
		count int // -1: not counted
	}
	var groups []group
	switch {
	case status != "":
		groups = []group{{"m.status = ?", []any{status}, -1}}
	default:
		for _, st := range attentionStatuses {
			groups = append(groups, group{"m.status = ?", []any{st}, out.Attention[st]})
		}
		groups = append(groups, group{"m.status NOT IN (?, ?)", []any{attentionStatuses[0], attentionStatuses[1]}, -1})
	}
	skip, want := (page-1)*perPage, perPage+1 // one more tells whether a next page exists
	for _, g := range groups {
		if want == 0 {
			break
		}
		if g.count >= 0 && skip >= g.count {
			skip -= g.count
			continue
		}
		rows, err := tx.QueryContext(ctx, messageQuery+` WHERE `+g.cond+` ORDER BY m.id DESC LIMIT ? OFFSET ?`, append(g.args, want, skip)...)
		if err != nil {
			return MessagePage{}, fmt.Errorf("store: dashboard messages: %w", err)
		}
		for rows.Next() {
			m, err := scanMessage(rows)
			if err != nil {
				rows.Close()
				return MessagePage{}, fmt.Errorf("store: dashboard messages: %w", err)
			}
			out.Messages = append(out.Messages, m)
			want--
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return MessagePage{}, fmt.Errorf("store: dashboard messages: %w", err)
		}
		skip = 0
	}
	if len(out.Messages) > perPage {
		out.Messages, out.More = out.Messages[:perPage], true
	}
	return out, nil
}

// DayCount is the number of notices of one provider and attack received on
// one day (UTC).
type DayCount struct {
	Day              time.Time
	Provider, Attack string
	Notices          int
}

// NoticesPerDay counts the notices received in [from, to) (to zero: up to
// now), per day (UTC), provider and attack, oldest day first.
func (s *Store) NoticesPerDay(ctx context.Context, from, to time.Time) ([]DayCount, error) {
	const day = int64(24 * time.Hour / time.Millisecond)
	end := int64(math.MaxInt64)
	if !to.IsZero() {
		end = ms(to)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT m.received_at / ? AS d, n.provider, n.attack, count(*)
		FROM messages m JOIN notices n ON n.message = m.id
		WHERE m.received_at >= ? AND m.received_at < ? GROUP BY d, n.provider, n.attack ORDER BY d, n.provider, n.attack`, day, ms(from), end)
	if err != nil {
		return nil, fmt.Errorf("store: notices per day: %w", err)
	}
	defer rows.Close()
	var out []DayCount
	for rows.Next() {
		var c DayCount
		var d int64
		if err := rows.Scan(&d, &c.Provider, &c.Attack, &c.Notices); err != nil {
			return nil, fmt.Errorf("store: notices per day: %w", err)
		}
		c.Day = fromMS(d * day)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: notices per day: %w", err)
	}
	return out, nil
}

// OpenBySeverity counts the open incidents per severity rank.
func (s *Store) OpenBySeverity(ctx context.Context) (map[int]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT severity, count(*) FROM incidents WHERE status = 'open' GROUP BY severity`)
	if err != nil {
		return nil, fmt.Errorf("store: open incidents by severity: %w", err)
	}
	defer rows.Close()
	out := map[int]int{}
	for rows.Next() {
		var sev, n int
		if err := rows.Scan(&sev, &n); err != nil {
			return nil, fmt.Errorf("store: open incidents by severity: %w", err)
		}
		out[sev] = n
	}
	return out, rows.Err()
}
