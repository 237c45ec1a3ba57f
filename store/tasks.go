package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// Task is a queued unit of work. A task is claimable when it is queued, due, and not
// leased (or its lease ran out).
type Task struct {
	ID         int64
	Kind, Key  string
	Payload    []byte
	IncidentID int64 // 0: none
	Attempts   int   // claims so far, the current one included
	RunAt      time.Time
	LastError  string
	Status     string // queued, done or failed
	LeaseOwner string
	LeaseUntil time.Time
	// MaybeSent is set when an earlier attempt may have delivered what this
	// one is about to send: its holder stopped after BeginSend and before
	// recording an outcome, or its send got no answer. It stays set.
	MaybeSent bool
}

// abandonedBy starts the last_error of a task claimed after its holder
// stopped mid-task (a process killed, a machine lost), followed by that
// holder's name, so that `tasks` lists say why a task ran again.
const abandonedBy = `lease ran out with no outcome recorded: abandoned by `

const taskCols = `id, kind, key, payload, coalesce(incident_id, 0), attempts, run_at, last_error, status, lease_owner, lease_until, maybe_sent`

func scanTask(sc interface{ Scan(...any) error }) (*Task, error) {
	var t Task
	var runAt, until int64
	if err := sc.Scan(&t.ID, &t.Kind, &t.Key, &t.Payload, &t.IncidentID, &t.Attempts, &runAt, &t.LastError,
		&t.Status, &t.LeaseOwner, &until, &t.MaybeSent); err != nil {
		return nil, err
	}
	t.RunAt, t.LeaseUntil = fromMS(runAt), fromMS(until)
	return &t, nil
}

// in returns "(?, ?, …)" for n values and the values as arguments.
func in(values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return "(" + strings.TrimSuffix(strings.Repeat("?, ", len(values)), ", ") + ")", args
}

// Enqueue adds a task unless one with the same key exists; then it returns that task's id
// and created=false.
func (s *Store) Enqueue(ctx context.Context, nt NewTask) (id int64, created bool, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		id, created, err = t.enqueue(nt)
		return err
	})
	if err != nil {
		return 0, false, fmt.Errorf("store: %w", err)
	}
	return id, created, nil
}

// Claim leases the oldest due task of one of kinds to owner until now+lease, counting an
// attempt. It returns nil, nil when no task is claimable. The claim is one UPDATE, so two
// workers (or two processes) can never both get the same task: SQLite runs one writer
// at a time; on PostgreSQL the chosen row is locked FOR UPDATE, a claimer running
// alongside skips it (SKIP LOCKED) for the next one, and the outer conditions are
// checked again on the row as committed.
func (s *Store) Claim(ctx context.Context, owner string, kinds []string, lease time.Duration, now time.Time) (*Task, error) {
	if owner == "" {
		return nil, errors.New("store: claim task: owner is empty")
	}
	if len(kinds) == 0 {
		return nil, nil
	}
	list, kindArgs := in(kinds)
	args := append([]any{owner, ms(now.Add(lease))}, kindArgs...)
	args = append(args, ms(now), ms(now), ms(now))
	lock := ""
	if s.pg {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	// A queued task still leased to an owner is one whose lease ran out
	// with no outcome recorded: Complete, Retry, Fail and ReleaseLeases all
	// clear the owner. The claim says so in last_error (abandonedBy), and
	// if that holder had begun sending (BeginSend), in maybe_sent. SET
	// expressions read the row as it was before the UPDATE.
	t, err := scanTask(s.w.QueryRowContext(ctx, `UPDATE tasks SET lease_owner = ?, lease_until = ?, attempts = attempts + 1,
			last_error = CASE WHEN lease_owner != '' THEN '`+abandonedBy+`' || lease_owner ELSE last_error END,
			maybe_sent = CASE WHEN lease_owner != '' AND sending = 1 THEN 1 ELSE maybe_sent END, sending = 0
		WHERE id = (SELECT id FROM tasks WHERE status = 'queued' AND kind IN `+list+` AND run_at <= ? AND lease_until <= ?
			ORDER BY run_at, id LIMIT 1`+lock+`)
		AND status = 'queued' AND lease_until <= ?
		RETURNING `+taskCols, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: claim task: %w", err)
	}
	return t, nil
}

// Complete marks a leased task done. Its payload is dropped; the row stays so that its
// key keeps deduplicating.
func (s *Store) Complete(ctx context.Context, id int64, owner string) error {
	res, err := s.w.ExecContext(ctx, `UPDATE tasks SET status = 'done', payload = NULL, lease_owner = '', lease_until = 0,
		finished_at = ? WHERE id = ? AND lease_owner = ? AND status = 'queued'`, ms(s.now()), id, owner)
	if err != nil {
		return fmt.Errorf("store: complete task %d: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: complete task %d: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("store: complete task %d for %s: %w", id, owner, errLeaseLost)
	}
	return nil
}

// BeginSend records that owner is about to send what cannot be taken back
// (a chat message) and renews its lease until until, so that the send has a
// whole lease. Should owner stop before recording the outcome, the next claim
// has MaybeSent set. It fails with errLeaseLost when owner no longer holds the
// task: another process has it, and sending now would send twice.
func (s *Store) BeginSend(ctx context.Context, id int64, owner string, until time.Time) error {
	res, err := s.w.ExecContext(ctx, `UPDATE tasks SET sending = 1, lease_until = ? WHERE id = ? AND lease_owner = ? AND status = 'queued'`,
		ms(until), id, owner)
	if err != nil {
		return fmt.Errorf("store: begin send of task %d: %w", id, err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 0 {
		if err == nil {
			err = errLeaseLost
		}
		return fmt.Errorf("store: begin send of task %d for %s: %w", id, owner, err)
	}
	return nil
}

// backoff is 5s·2^(attempts-1) capped at an hour, jittered down by up to half so that
// tasks failing together do not retry together.
func backoff(attempts int) time.Duration {
	d := time.Hour
	if attempts < 1 {
		attempts = 1
	}
	// Past 10 attempts the cap applies anyway; stopping the shift there keeps it from overflowing.
	if attempts <= 10 {
		d = min(5*time.Second<<(attempts-1), time.Hour)
	}
	return d/2 + rand.N(d/2+1)
}

// Retry releases a leased task to run again after a backoff that grows with its attempts.
// unanswered says the attempt's send got no answer (a timeout): if it had begun
// sending, what it sent may have arrived, and MaybeSent is set.
func (s *Store) Retry(ctx context.Context, id int64, owner string, cause string, unanswered bool, now time.Time) (next time.Time, err error) {
	err = s.write(ctx, func(tx *sql.Tx) error {
		var attempts int
		err := tx.QueryRowContext(ctx, `SELECT attempts FROM tasks WHERE id = ? AND lease_owner = ? AND status = 'queued'`, id, owner).
			Scan(&attempts)
		if errors.Is(err, sql.ErrNoRows) {
			return errLeaseLost
		}
		if err != nil {
			return err
		}
		next = fromMS(ms(now.Add(backoff(attempts))))
		_, err = tx.ExecContext(ctx, `UPDATE tasks SET run_at = ?, lease_owner = '', lease_until = 0, last_error = ?,
			maybe_sent = CASE WHEN sending = 1 AND ? THEN 1 ELSE maybe_sent END, sending = 0 WHERE id = ?`,
			ms(next), cause, unanswered, id)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("store: retry task %d for %s: %w", id, owner, err)
	}
	return next, nil
}

// Fail marks a leased task failed for good. It stays in the table, visible through Tasks
// and Stats, and its incident's timeline says so.
func (s *Store) Fail(ctx context.Context, id int64, owner, cause string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		t := s.txn(ctx, tx)
		var kind string
		var incident int64
		err := tx.QueryRowContext(ctx, `UPDATE tasks SET status = 'failed', lease_owner = '', lease_until = 0, last_error = ?,
			finished_at = ? WHERE id = ? AND lease_owner = ? AND status = 'queued' RETURNING kind, coalesce(incident_id, 0)`,
			cause, ms(t.now), id, owner).Scan(&kind, &incident)
		if errors.Is(err, sql.ErrNoRows) {
			return errLeaseLost
		}
		if err != nil || incident == 0 {
			return err
		}
		return t.timeline(incident, "task", fmt.Sprintf("%s task failed: %s", kind, cause))
	})
	if err != nil {
		return fmt.Errorf("store: fail task %d for %s: %w", id, owner, err)
	}
	return nil
}

// ReleaseLeases gives back every task owner holds, at shutdown. The interrupted attempt
// is not counted, so a restart does not lengthen backoffs.
func (s *Store) ReleaseLeases(ctx context.Context, owner string) error {
	// A send cut short by the shutdown may have gone out: that is kept.
	_, err := s.w.ExecContext(ctx, `UPDATE tasks SET lease_owner = '', lease_until = 0, attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END,
			maybe_sent = CASE WHEN sending = 1 THEN 1 ELSE maybe_sent END, sending = 0
		WHERE lease_owner = ? AND status = 'queued'`, owner)
	if err != nil {
		return fmt.Errorf("store: release leases of %s: %w", owner, err)
	}
	return nil
}

// NextDue returns when the next queued task of kinds becomes claimable (possibly in the
// past); ok is false when there is none.
func (s *Store) NextDue(ctx context.Context, kinds []string) (at time.Time, ok bool, err error) {
	list, args := in(kinds)
	var next sql.NullInt64
	err = s.r.QueryRowContext(ctx, `SELECT min(CASE WHEN run_at > lease_until THEN run_at ELSE lease_until END) FROM tasks WHERE status = 'queued' AND kind IN `+list, args...).
		Scan(&next)
	if err != nil {
		return time.Time{}, false, fmt.Errorf("store: next due task: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(next.Int64).UTC(), true, nil
}

// UnknownTasks counts queued tasks by kind for kinds not in known. They stay queued, so
// that a newer abusewatch that knows them can run them.
func (s *Store) UnknownTasks(ctx context.Context, known []string) (map[string]int, error) {
	list, args := in(known)
	rows, err := s.r.QueryContext(ctx, `SELECT kind, count(*) FROM tasks WHERE status = 'queued' AND kind NOT IN `+list+` GROUP BY kind`, args...)
	if err != nil {
		return nil, fmt.Errorf("store: unknown tasks: %w", err)
	}
	defer rows.Close()
	m := map[string]int{}
	for rows.Next() {
		var kind string
		var n int
		if err := rows.Scan(&kind, &n); err != nil {
			return nil, fmt.Errorf("store: unknown tasks: %w", err)
		}
		m[kind] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: unknown tasks: %w", err)
	}
	return m, nil
}

// QueueStats returns the number of queued tasks and how long the longest-waiting due
// task has been due (0 when none is due).
func (s *Store) QueueStats(ctx context.Context, now time.Time) (depth int, oldest time.Duration, err error) {
	var first int64
	err = s.r.QueryRowContext(ctx, `SELECT count(*), coalesce(min(CASE WHEN run_at <= ? THEN run_at END), 0)
		FROM tasks WHERE status = 'queued'`, ms(now)).Scan(&depth, &first)
	if err != nil {
		return 0, 0, fmt.Errorf("store: queue stats: %w", err)
	}
	if first != 0 {
		oldest = now.Sub(fromMS(first))
	}
	return depth, oldest, nil
}

// Tasks lists tasks with the given status (queued, done, failed), oldest first.
func (s *Store) Tasks(ctx context.Context, status string) ([]Task, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+taskCols+` FROM tasks WHERE status = ? ORDER BY id`, status)
	if err != nil {
		return nil, fmt.Errorf("store: tasks: %w", err)
	}
	defer rows.Close()
	var out []Task
	for rows.Next() {
		t, err := scanTask(rows)
		if err != nil {
			return nil, fmt.Errorf("store: tasks: %w", err)
		}
		out = append(out, *t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: tasks: %w", err)
	}
	return out, nil
}
