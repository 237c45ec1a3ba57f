package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"
)

// MessageRecord is a stored mail as `messages list` and `messages show` see
// it: where it came from, what became of it and why.
type MessageRecord struct {
	ID               int64
	Mailbox          string
	UIDValidity, UID uint32
	Path             string // the file it was ingested from
	ReceivedAt, Date time.Time
	From, Subject    string
	MessageID        string // the Message-ID header
	Size             int64  // the true size, kept or not
	Status, Reason   string
	Authentic        string
	Notices          int
	Kept             bool // the raw mail is stored (raw table, chunks, or its file before migration 0008)
}

// MessageStatuses are the statuses a stored mail may have.
var MessageStatuses = []string{"ok", "none", "error", "oversize", "unrecognised"}

const messageQuery = `SELECT m.id, m.mailbox, m.uidvalidity, m.uid, m.path, m.received_at, m.date, m.from_addr, m.subject,
	m.message_id, m.size, m.status, m.reason, m.authentic,
	(SELECT count(*) FROM notices n WHERE n.message = m.id),
	m.raw_path != '' OR EXISTS (SELECT 1 FROM raw r WHERE r.message = m.id)
		OR EXISTS (SELECT 1 FROM raw_chunks c WHERE c.message = m.id AND c.seq = 0)
	FROM messages m`

func scanMessage(sc interface{ Scan(...any) error }) (MessageRecord, error) {
	var m MessageRecord
	var received, date int64
	err := sc.Scan(&m.ID, &m.Mailbox, &m.UIDValidity, &m.UID, &m.Path, &received, &date, &m.From, &m.Subject,
		&m.MessageID, &m.Size, &m.Status, &m.Reason, &m.Authentic, &m.Notices, &m.Kept)
	m.ReceivedAt, m.Date = fromMS(received), fromMS(date)
	return m, err
}

// Messages lists every stored mail by id; status "" means all.
func (s *Store) Messages(ctx context.Context, status string) ([]MessageRecord, error) {
	if status != "" && !validStatus(status) {
		return nil, fmt.Errorf("store: messages: status %q is not one of %v", status, MessageStatuses)
	}
	rows, err := s.r.QueryContext(ctx, messageQuery+` WHERE ? = '' OR m.status = ? ORDER BY m.id`, status, status)
	if err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	defer rows.Close()
	var out []MessageRecord
	for rows.Next() {
		m, err := scanMessage(rows)
		if err != nil {
			return nil, fmt.Errorf("store: messages: %w", err)
		}
		out = append(out, m)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: messages: %w", err)
	}
	return out, nil
}

// MessageByID returns one stored mail.
func (s *Store) MessageByID(ctx context.Context, id int64) (*MessageRecord, error) {
	m, err := scanMessage(s.r.QueryRowContext(ctx, messageQuery+` WHERE m.id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: message %d: %w", id, err)
	}
	return &m, nil
}

// OpenRaw returns the stored bytes of a mail exactly, from the raw table,
// from its chunks or from its file beside the database. ErrNotFound means
// the mail was not kept.
func (s *Store) OpenRaw(ctx context.Context, id int64) (io.ReadCloser, error) {
	var rawPath string
	var size int64
	var chunked bool
	err := s.r.QueryRowContext(ctx, `SELECT raw_path, size, EXISTS (SELECT 1 FROM raw_chunks c WHERE c.message = m.id)
		FROM messages m WHERE id = ?`, id).Scan(&rawPath, &size, &chunked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: raw message %d: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: raw message %d: %w", id, err)
	}
	switch {
	case chunked:
		return &chunkReader{ctx: ctx, db: s.r, id: id, size: size}, nil
	case rawPath != "":
		return s.openRawFile(id, rawPath)
	}
	var body []byte
	err = s.r.QueryRowContext(ctx, `SELECT body FROM raw WHERE message = ?`, id).Scan(&body)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("store: raw message %d: not kept: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("store: raw message %d: %w", id, err)
	}
	return rawBody(body), nil
}

// MessageCounts counts the stored mails by status; every status is present.
func (s *Store) MessageCounts(ctx context.Context) (map[string]int, error) {
	counts := map[string]int{}
	for _, st := range MessageStatuses {
		counts[st] = 0
	}
	rows, err := s.r.QueryContext(ctx, `SELECT status, count(*) FROM messages GROUP BY status`)
	if err != nil {
		return nil, fmt.Errorf("store: message counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var st string
		var n int
		if err := rows.Scan(&st, &n); err != nil {
			return nil, fmt.Errorf("store: message counts: %w", err)
		}
		counts[st] = n
	}
	return counts, rows.Err()
}

func validStatus(s string) bool { return slices.Contains(MessageStatuses, s) }
