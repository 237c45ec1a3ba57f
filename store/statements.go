package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// ErrStatementSent is returned when the same text was sent (or is being
// sent) for the incident already.
var ErrStatementSent = errors.New("store: this statement was sent already")

// Statement is one text answering a provider, as it was (or is being) sent.
type Statement struct {
	ID, IncidentID int64
	SHA256         string // hex of Body
	Lang           string
	Channel        string   // smtp | ovh-ticket
	Recipients     []string // mail addresses, or "ticket N"
	Subject        string
	MessageID      string // of the mail sent
	InReplyTo      string
	Body           string
	Status         string // sending | sent | failed
	Error          string
	CreatedAt      time.Time
	SentAt         time.Time // zero until sent
}

const statementCols = `id, incident_id, sha256, lang, channel, recipients, subject, message_id, in_reply_to, body, status, error, created_at, sent_at`

func scanStatement(sc interface{ Scan(...any) error }) (Statement, error) {
	var st Statement
	var recipients string
	var created, sent int64
	if err := sc.Scan(&st.ID, &st.IncidentID, &st.SHA256, &st.Lang, &st.Channel, &recipients, &st.Subject, &st.MessageID,
		&st.InReplyTo, &st.Body, &st.Status, &st.Error, &created, &sent); err != nil {
		return st, err
	}
	st.CreatedAt, st.SentAt = fromMS(created), fromMS(sent)
	if err := json.Unmarshal([]byte(recipients), &st.Recipients); err != nil {
		return st, fmt.Errorf("statement %d recipients: %w", st.ID, err)
	}
	return st, nil
}

// ReserveStatement records that st is about to be sent, before it leaves:
// the same text of the same incident can then not go out twice. It returns
// the reservation's id, or ErrStatementSent (with the earlier row) when the
// text was sent or is being sent. force takes over a reservation that never
// finished (a crash mid-send), not a finished send.
func (s *Store) ReserveStatement(ctx context.Context, st Statement, force bool) (id int64, prior *Statement, err error) {
	recipients, err := json.Marshal(nonNil(st.Recipients))
	if err != nil {
		return 0, nil, err
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		if _, ok, err := t.incidentByID(st.IncidentID); err != nil {
			return err
		} else if !ok {
			return ErrNotFound
		}
		p, err := scanStatement(tx.QueryRowContext(ctx, `SELECT `+statementCols+` FROM statements
			WHERE incident_id = ? AND sha256 = ? AND status != 'failed'`, st.IncidentID, st.SHA256))
		switch {
		case errors.Is(err, sql.ErrNoRows):
		case err != nil:
			return err
		case p.Status == "sending" && force:
			if _, err := tx.ExecContext(ctx, `UPDATE statements SET status = 'failed', error = 'taken over by a forced send' WHERE id = ?`, p.ID); err != nil {
				return err
			}
		default:
			prior = &p
			return ErrStatementSent
		}
		id, err = t.insert(`INSERT INTO statements (incident_id, sha256, lang, channel, recipients, subject, message_id, in_reply_to, body, status, created_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'sending', ?)`,
			st.IncidentID, st.SHA256, st.Lang, st.Channel, string(recipients), st.Subject, st.MessageID, st.InReplyTo, st.Body, ms(t.now))
		return err
	})
	if err != nil {
		return 0, prior, fmt.Errorf("store: reserve statement for incident %d: %w", st.IncidentID, err)
	}
	return id, nil, nil
}

// FinishStatement records the outcome of a reserved send: sent (sendErr nil,
// and the timeline says where it went and the text's sha256) or failed,
// which frees the text for another try.
func (s *Store) FinishStatement(ctx context.Context, id int64, sendErr error) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		st, err := scanStatement(tx.QueryRowContext(ctx, `SELECT `+statementCols+` FROM statements WHERE id = ?`, id))
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		if st.Status != "sending" {
			return fmt.Errorf("statement %d is %s, not sending", id, st.Status)
		}
		if sendErr != nil {
			_, err := tx.ExecContext(ctx, `UPDATE statements SET status = 'failed', error = ? WHERE id = ?`, sendErr.Error(), id)
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE statements SET status = 'sent', sent_at = ? WHERE id = ?`, ms(t.now), id); err != nil {
			return err
		}
		return t.timeline(st.IncidentID, "statement", fmt.Sprintf("statement (%s) sent by %s to %s, sha256 %s",
			st.Lang, st.Channel, strings.Join(st.Recipients, ", "), st.SHA256))
	})
	if err != nil {
		return fmt.Errorf("store: finish statement %d: %w", id, err)
	}
	return nil
}

// Statements lists an incident's statements, oldest first.
func (s *Store) Statements(ctx context.Context, incidentID int64) ([]Statement, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+statementCols+` FROM statements WHERE incident_id = ? ORDER BY id`, incidentID)
	if err != nil {
		return nil, fmt.Errorf("store: statements of incident %d: %w", incidentID, err)
	}
	defer rows.Close()
	var out []Statement
	for rows.Next() {
		st, err := scanStatement(rows)
		if err != nil {
			return nil, fmt.Errorf("store: statements of incident %d: %w", incidentID, err)
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: statements of incident %d: %w", incidentID, err)
	}
	return out, nil
}
