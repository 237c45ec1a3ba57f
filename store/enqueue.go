package store

import (
	"fmt"
)

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
	id, created, err = t.insertIfNew(`INSERT INTO tasks (kind, key, payload, incident_id, run_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`,
		nt.Kind, nt.Key, nt.Payload, nullID(nt.IncidentID), ms(runAt), ms(t.now))
	if err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", nt.Key, err)
	}
	if created {
		return id, true, nil
	}
	if err := t.tx.QueryRowContext(t.ctx, `SELECT id FROM tasks WHERE key = ?`, nt.Key).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", nt.Key, err)
	}
	return id, false, nil
}
