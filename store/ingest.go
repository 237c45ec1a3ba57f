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
	Source Source
	// Raw is the mail; nil when it is in Large or was not kept (Reason
	// says why, Size is set).
	Raw []byte
	// Large holds a mail too large to parse, stored in chunks; SHA256 and
	// Size are then its own.
	Large      *RawFile
	SHA256     []byte
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
	// Trust names who vouches for the notice so that it may trigger host
	// actions (a DKIM pass of the provider's or a trusted reporter's
	// domain), "" when nobody does.
	Trust              string
	MessageID, Subject string
	Date               time.Time
}

// Parsed is what the parser made of one raw mail, in the store's terms.
type Parsed struct {
	Status                                string // ok|none|error|oversize|unrecognised
	Reason, Authentic, MessageID, Subject string
	From                                  string // the From address
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

// ReparseFunc parses a stored mail again.
type ReparseFunc func(ctx context.Context, m StoredMail) Parsed

// IncidentChange tells a PlanFunc what one notice did to its incident.
type IncidentChange struct {
	IncidentID                  int64
	NoticeID                    int64
	Provider, IP, Case          string
	Opened, Reopened, Escalated bool
	OldSeverity, NewSeverity    int
	Notice                      Notice
	// PriorTrust is the trust of a notice the incident had before this one,
	// "" when none was trusted: the first trusted notice is the one that
	// may trigger host actions, whatever came before it.
	PriorTrust string
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
	Reason    string // why the mail is not a notice, was not parsed or not kept
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
// p is what the parser made of msg.Raw; the caller parses before the transaction, which
// lets concurrent ingests parse in parallel (a duplicate found under the lock only wastes
// that parse). A message whose body was not fetched records p's status, or "error" when
// p has none, with msg.Reason. plan runs inside the transaction and may not call the
// Store, whose single writer connection the transaction holds.
func (s *Store) Ingest(ctx context.Context, msg Message, p Parsed, plan PlanFunc) (IngestResult, error) {
	res, err := s.IngestBatch(ctx, []IngestItem{{Msg: msg, Parsed: p, Plan: plan}})
	if err != nil {
		return IngestResult{}, err
	}
	return res[0], nil
}

// IngestItem is one message of a batch: the mail, what the parser made of
// it and the plan for its incident changes (see Ingest).
type IngestItem struct {
	Msg    Message
	Parsed Parsed
	Plan   PlanFunc
}

// IngestBatch is Ingest for several messages in one transaction, in order: a
// message sees those before it, so a copy of an earlier one is a duplicate.
// Either all are stored or, on an error, none. On PostgreSQL, where every
// statement is a round trip, the batch saves the BEGIN, the writer lock and
// the COMMIT of each message but the first, the larger part of an ingest
// when a backlog is read.
func (s *Store) IngestBatch(ctx context.Context, items []IngestItem) ([]IngestResult, error) {
	items = slices.Clone(items)
	for i := range items {
		if err := items[i].prepare(); err != nil {
			return nil, fmt.Errorf("store: ingest: %w", err)
		}
	}
	res := make([]IngestResult, len(items))
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		t.later.on = t.pg
		var planned []NewTask
		var by []int // the item that planned each task
		var marks checkpointMarks
		for i, it := range items {
			r, tasks, err := t.ingest(it)
			if err != nil {
				return err
			}
			res[i] = r
			marks.add(it.Msg.Source)
			planned = append(planned, tasks...)
			for range tasks {
				by = append(by, i)
			}
		}
		// Ingest reads no task, so the batch's tasks go in together, last,
		// after the notices that still wait.
		if err := t.flushNotices(); err != nil {
			return err
		}
		if err := t.advanceCheckpoints(marks); err != nil {
			return err
		}
		created, err := t.insertTasks(planned)
		if err != nil {
			return err
		}
		for j, nt := range planned {
			if _, ok := created[nt.Key]; ok {
				delete(created, nt.Key) // a key planned twice counts once
				res[by[j]].Tasks++
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: ingest: %w", err)
	}
	return res, nil
}

// prepare completes an item before its transaction: the sum and size of a
// fetched mail, the status of one that was not.
func (it *IngestItem) prepare() error {
	msg := &it.Msg
	if msg.Raw != nil {
		h := sha256.Sum256(msg.Raw)
		msg.SHA256 = h[:]
		msg.Size = int64(len(msg.Raw))
	} else if it.Parsed.Status == "" {
		it.Parsed = Parsed{Status: "error", Reason: msg.Reason}
		if it.Parsed.Reason == "" {
			it.Parsed.Reason = "not fetched"
		}
	}
	return checkStatus(it.Parsed.Status)
}

// ingest stores one prepared item (see Ingest) and returns the tasks its
// plan asks for, for the caller to insert; the caller advances the checkpoint.
func (t *txn) ingest(it IngestItem) (IngestResult, []NewTask, error) {
	msg, p := it.Msg, it.Parsed
	t.ahead, t.later.ids = nil, nil
	if msg.ReceivedAt.IsZero() {
		msg.ReceivedAt = t.now
	}
	id, status, dup, err := t.storeMessage(msg, p)
	if err != nil {
		return IngestResult{}, nil, err
	}
	if dup {
		return IngestResult{MessageID: id, Duplicate: true, Status: status}, nil, nil
	}
	if msg.Large != nil {
		if err := t.insertChunks(id, msg.Large); err != nil {
			return IngestResult{}, nil, err
		}
	}
	res := IngestResult{MessageID: id, Status: p.Status, Reason: p.Reason, Notices: len(p.Notices)}
	opened := map[int64]bool{}
	updated := map[int64]bool{}
	var tasks []NewTask
	for i, n := range p.Notices {
		ch, err := t.attach(n, id, i)
		if err != nil {
			return IngestResult{}, nil, err
		}
		if ch.NoticeID, err = t.insertNotice(id, i, ch.IncidentID, n, p); err != nil {
			return IngestResult{}, nil, err
		}
		if ch.Opened {
			opened[ch.IncidentID] = true
			res.Opened = append(res.Opened, ch.IncidentID)
		} else if !opened[ch.IncidentID] && !updated[ch.IncidentID] {
			updated[ch.IncidentID] = true
			res.Updated = append(res.Updated, ch.IncidentID)
		}
		if it.Plan != nil {
			tasks = append(tasks, it.Plan(ch)...)
		}
	}
	return res, tasks, nil
}

func checkStatus(s string) error {
	if !validStatus(s) {
		return fmt.Errorf("parse status %q is not one of %v", s, MessageStatuses)
	}
	return nil
}

// txn bundles what the write helpers below share within one transaction.
type txn struct {
	ctx context.Context
	tx  *sql.Tx
	now time.Time
	pg  bool
	// ahead is the incident lookup storeMessagePG made in its statement
	// for the message's first notice; the lookup that follows it takes it
	// instead of asking again (see latestForIP).
	ahead *lookahead
	// later holds the notices of an ingest batch whose INSERT waits.
	later laterNotices
}

// lookahead is latestForIP's answer for (provider, ip), read in advance.
type lookahead struct {
	provider, ip string
	row          incidentRow
	found        bool
}

// txn starts the helpers of one transaction; its time is the store clock's
// once, so that everything the transaction writes shares it.
func (s *Store) txn(ctx context.Context, tx *sql.Tx) txn {
	return txn{ctx: ctx, tx: tx, now: s.now(), pg: s.pg}
}

// messageCols are the columns storeMessage fills, messageArgs their values.
const messageCols = `sha256, message_id, mailbox, uidvalidity, uid, path, size, received_at, status, reason, authentic, subject, date, from_addr`

func messageArgs(msg Message, p Parsed) []any {
	return []any{msg.SHA256, p.MessageID, msg.Source.Mailbox, msg.Source.UIDValidity, msg.Source.UID, msg.Source.Path,
		msg.Size, ms(msg.ReceivedAt), p.Status, p.Reason, p.Authentic, p.Subject, ms(p.Date), p.From}
}

// storeMessage inserts msg (prepared: its sum, size and time set) and its
// raw mail unless it duplicates a stored message (see duplicate), whose id
// and status it then returns with dup set.
func (t *txn) storeMessage(msg Message, p Parsed) (id int64, status string, dup bool, err error) {
	if t.pg {
		return t.storeMessagePG(msg, p)
	}
	id, status, dup, err = t.duplicate(msg.Source, msg.SHA256)
	if err != nil || dup {
		return id, status, dup, err
	}
	id, err = t.insert(`INSERT INTO messages (`+messageCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, messageArgs(msg, p)...)
	if err != nil {
		return 0, "", false, fmt.Errorf("insert message: %w", err)
	}
	if msg.Raw != nil {
		if _, err := t.exec(`INSERT INTO raw (message, body) VALUES (?, ?)`, id, msg.Raw); err != nil {
			return 0, "", false, fmt.Errorf("insert raw message: %w", err)
		}
	}
	return id, "", false, nil
}

// storeMessagePG is storeMessage in one statement, where SQLite takes up to
// three: on PostgreSQL each is a round trip to the server, the larger part
// of an ingest. The statement runs after the writer lock's, so its snapshot
// sees every message committed before, as duplicate's does. It also looks
// up the incident of the first notice's IP, the query attach makes next,
// and leaves the answer in t.ahead: one round trip fewer per message.
func (t *txn) storeMessagePG(msg Message, p Parsed) (id int64, status string, dup bool, err error) {
	args := []any{msg.Source.Mailbox, msg.Source.UIDValidity, msg.Source.UID, msg.SHA256}
	args = append(args, messageArgs(msg, p)...)
	raw := ``
	if msg.Raw != nil {
		raw = `, r AS (INSERT INTO raw (message, body) SELECT id, ?::bytea FROM m)`
		args = append(args, msg.Raw)
	}
	// The placeholders of cols come before those of from, as do their args.
	cols, from := `s.id, s.status, s.dup`, ` FROM s`
	dest := []any{&id, &status, &dup}
	var ids string
	reserve := t.later.on && len(p.Notices) > 0
	if reserve {
		cols += `, ` + reserveIDs
		args = append(args, len(p.Notices))
		dest = append(dest, &ids)
	}
	var ahead *lookahead
	var inc nullIncidentRow
	if len(p.Notices) > 0 && p.Notices[0].IP != "" {
		ahead = &lookahead{provider: p.Notices[0].Provider, ip: p.Notices[0].IP}
		cols += `, inc.*`
		from += ` LEFT JOIN LATERAL (` + latestForIPQuery + `) inc ON true`
		args = append(args, ahead.provider, ahead.ip)
		dest = append(dest, inc.dest()...)
	}
	q := `WITH d AS (` + duplicateQuery + `),
		m AS (INSERT INTO messages (` + messageCols + `)
			SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? WHERE NOT EXISTS (SELECT 1 FROM d) RETURNING id)` + raw + `,
		s AS (SELECT id, status, true AS dup FROM d UNION ALL SELECT id, '', false FROM m)
		SELECT ` + cols + from
	// Not t.queryRow: the waiting notices stay waiting (see later.go).
	err = t.tx.QueryRowContext(t.ctx, q, args...).Scan(dest...)
	if err == nil && reserve {
		err = t.later.reserved(ids)
	}
	if err == nil && ahead != nil {
		ahead.row, ahead.found = inc.row()
		t.ahead = ahead
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("store message: %w", err)
	}
	return id, status, dup, nil
}

// duplicateQuery finds a stored message of the same mailbox UID or the same
// bytes. Excluding the empty mailbox selects the partial index; a nil sum
// matches no row.
const duplicateQuery = `SELECT id, status FROM messages
		WHERE (mailbox = ? AND uidvalidity = ? AND uid = ? AND mailbox != '') OR sha256 = ? LIMIT 1`

func (t *txn) duplicate(src Source, sum []byte) (id int64, status string, dup bool, err error) {
	err = t.queryRow(duplicateQuery, src.Mailbox, src.UIDValidity, src.UID, sum).Scan(&id, &status)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, "", false, nil
	}
	if err != nil {
		return 0, "", false, fmt.Errorf("find duplicate: %w", err)
	}
	return id, status, true, nil
}

// insert runs an INSERT and returns the new row's id. On SQLite it uses Exec rather
// than INSERT … RETURNING because database/sql starts a goroutine for every Rows read
// inside a transaction, which is a measurable part of an ingest; PostgreSQL has no
// last insert id, so there it returns the id.
func (t *txn) insert(query string, args ...any) (int64, error) {
	id, _, err := t.insertIfNew(query, args...)
	return id, err
}

// insertIfNew is insert for an INSERT … ON CONFLICT DO NOTHING: inserted is false,
// and id 0, when the row existed.
func (t *txn) insertIfNew(query string, args ...any) (id int64, inserted bool, err error) {
	if t.pg {
		err := t.queryRow(query+" RETURNING id", args...).Scan(&id)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, false, nil
		}
		return id, err == nil, err
	}
	res, err := t.exec(query, args...)
	if err != nil {
		return 0, false, err
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		return 0, false, err
	}
	id, err = res.LastInsertId()
	return id, err == nil, err
}

func (t *txn) timeline(incidentID int64, kind, text string) error {
	if _, err := t.exec(`INSERT INTO timeline (incident_id, at, kind, text) VALUES (?, ?, ?, ?)`,
		incidentID, ms(t.now), kind, text); err != nil {
		return fmt.Errorf("add timeline: %w", err)
	}
	return nil
}

// noticeRow is a notice in its stored form, comparable for Reparse.
type noticeRow struct {
	provider, kind, attack, ip, service, caseID, reporter, rate, authentic, trust string
	severity                                                                      int
	deadline                                                                      int64
	events                                                                        sql.NullString
	messageID, subject                                                            sql.NullString
	date                                                                          sql.NullInt64
}

// rowOf converts n; message-level fields are left NULL when they equal the message's,
// which saves repeating them on every notice.
func rowOf(n Notice, p Parsed) noticeRow {
	r := noticeRow{
		provider: n.Provider, kind: n.Kind, attack: n.Attack, ip: n.IP, service: n.Service, caseID: n.Case,
		reporter: n.Reporter, rate: n.Rate, authentic: n.Authentic, trust: n.Trust, severity: n.Severity, deadline: ms(n.Deadline),
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

// noticeCols are the columns insertNotice fills, noticeArgs their values.
const noticeCols = `message, seq, incident_id, provider, kind, attack, ip, service, case_id, severity, deadline,
	reporter, rate, events, authentic, trust, message_id, subject, date`

func noticeArgs(msgID int64, seq int, incidentID int64, r noticeRow) []any {
	return []any{msgID, seq, incidentID, r.provider, r.kind, r.attack, r.ip, r.service, r.caseID, r.severity, r.deadline,
		r.reporter, r.rate, r.events, r.authentic, r.trust, r.messageID, r.subject, r.date}
}

// insertNotice inserts notice seq of message msgID, or, in an ingest batch
// on PostgreSQL, gives it the id reserved for it and leaves the INSERT to
// flushNotices.
func (t *txn) insertNotice(msgID int64, seq int, incidentID int64, n Notice, p Parsed) (int64, error) {
	r := rowOf(n, p)
	if id, ok := t.later.take(); ok {
		t.later.add(id, incidentID, r.trust, noticeArgs(msgID, seq, incidentID, r))
		return id, nil
	}
	id, err := t.insert(`INSERT INTO notices (`+noticeCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, noticeArgs(msgID, seq, incidentID, r)...)
	if err != nil {
		return 0, fmt.Errorf("insert notice: %w", err)
	}
	return id, nil
}
