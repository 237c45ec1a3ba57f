package store

import (
	"fmt"
	"strings"
)

// enqueueAll inserts the tasks plan asks for; keys that exist already are skipped.
func (t *txn) enqueueAll(plan PlanFunc, ch IncidentChange) (created int, err error) {
	if plan == nil {
		return 0, nil
	}
	ids, err := t.insertTasks(plan(ch))
	return len(ids), err
}

func (t *txn) enqueueTasks(tasks []NewTask) error {
	_, err := t.insertTasks(tasks)
	return err
}

func (t *txn) enqueue(nt NewTask) (id int64, created bool, err error) {
	ids, err := t.insertTasks([]NewTask{nt})
	if err != nil {
		return 0, false, err
	}
	if id, ok := ids[nt.Key]; ok {
		return id, true, nil
	}
	if err := t.queryRow(`SELECT id FROM tasks WHERE key = ?`, nt.Key).Scan(&id); err != nil {
		return 0, false, fmt.Errorf("enqueue %s: %w", nt.Key, err)
	}
	return id, false, nil
}

// tasksPerInsert bounds the rows of one INSERT on PostgreSQL: six
// parameters each, far below its limit on the parameters of a statement.
const tasksPerInsert = 500

// insertTasks inserts tasks, skipping a key that exists or came earlier in
// tasks, and returns the ids of those it created by key. A batch of ingests
// enqueues all of its tasks here at once: on PostgreSQL, where each
// statement is a round trip, in as few statements as it takes.
func (t *txn) insertTasks(tasks []NewTask) (map[string]int64, error) {
	created := map[string]int64{}
	if !t.pg {
		return created, t.insertTasksSQLite(tasks, created)
	}
	for len(tasks) > 0 {
		chunk := tasks[:min(len(tasks), tasksPerInsert)]
		tasks = tasks[len(chunk):]
		values := make([]string, 0, len(chunk))
		args := make([]any, 0, 6*len(chunk))
		for _, nt := range chunk {
			a, err := t.taskArgs(nt)
			if err != nil {
				return nil, err
			}
			values = append(values, "(?, ?, ?, ?, ?, ?)")
			args = append(args, a...)
		}
		rows, err := t.query(`INSERT INTO tasks (kind, key, payload, incident_id, run_at, created_at)
			VALUES `+strings.Join(values, ", ")+` ON CONFLICT (key) DO NOTHING RETURNING id, key`, args...)
		if err != nil {
			return nil, fmt.Errorf("enqueue %s: %w", chunk[0].Key, err)
		}
		for rows.Next() {
			var id int64
			var key string
			if err := rows.Scan(&id, &key); err != nil {
				rows.Close()
				return nil, fmt.Errorf("enqueue: %w", err)
			}
			created[key] = id
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("enqueue: %w", err)
		}
	}
	return created, nil
}

// insertTasksSQLite is insertTasks one statement per task, which costs
// SQLite nothing more: what it saves is reading RETURNING rows, for which
// database/sql starts a goroutine in a transaction.
func (t *txn) insertTasksSQLite(tasks []NewTask, created map[string]int64) error {
	for _, nt := range tasks {
		args, err := t.taskArgs(nt)
		if err != nil {
			return err
		}
		id, ok, err := t.insertIfNew(`INSERT INTO tasks (kind, key, payload, incident_id, run_at, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (key) DO NOTHING`, args...)
		if err != nil {
			return fmt.Errorf("enqueue %s: %w", nt.Key, err)
		}
		if ok {
			created[nt.Key] = id
		}
	}
	return nil
}

// taskArgs are the values of a task's row, in insertTasks' column order.
func (t *txn) taskArgs(nt NewTask) ([]any, error) {
	if nt.Kind == "" || nt.Key == "" {
		return nil, fmt.Errorf("enqueue: task needs a kind and a key (kind %q, key %q)", nt.Kind, nt.Key)
	}
	runAt := nt.RunAt
	if runAt.IsZero() {
		runAt = t.now
	}
	return []any{nt.Kind, nt.Key, nt.Payload, nullID(nt.IncidentID), ms(runAt), ms(t.now)}, nil
}
