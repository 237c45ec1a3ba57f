package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// checkpointMarks are the checkpoints a batch moves, in order: consecutive
// mail of one mailbox and UIDVALIDITY collapse to the highest UID, which is
// what advancing after each of them would leave, in one statement.
type checkpointMarks []Source

func (m *checkpointMarks) add(src Source) {
	if src.Mailbox == "" {
		return
	}
	if n := len(*m); n > 0 {
		if last := &(*m)[n-1]; last.Mailbox == src.Mailbox && last.UIDValidity == src.UIDValidity {
			last.UID = max(last.UID, src.UID)
			return
		}
	}
	*m = append(*m, src)
}

func (t *txn) advanceCheckpoints(marks checkpointMarks) error {
	for _, src := range marks {
		if err := t.advanceCheckpoint(src); err != nil {
			return err
		}
	}
	return nil
}

// advanceCheckpoint moves the mailbox's checkpoint to src's UID. A different UIDVALIDITY
// replaces the checkpoint: the old UIDs mean nothing any more.
func (t *txn) advanceCheckpoint(src Source) error {
	if src.Mailbox == "" {
		return nil
	}
	_, err := t.exec(`INSERT INTO checkpoints (mailbox, uidvalidity, last_uid) VALUES (?, ?, ?)
		ON CONFLICT (mailbox) DO UPDATE SET
			last_uid = CASE WHEN checkpoints.uidvalidity = excluded.uidvalidity AND checkpoints.last_uid > excluded.last_uid
				THEN checkpoints.last_uid ELSE excluded.last_uid END,
			uidvalidity = excluded.uidvalidity`,
		src.Mailbox, src.UIDValidity, src.UID)
	if err != nil {
		return fmt.Errorf("advance checkpoint: %w", err)
	}
	return nil
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
