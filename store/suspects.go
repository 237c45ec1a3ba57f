package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"
)

// Suspect is what a triage run's checks implicate: a process, container, VM,
// account or SSH key, with the evidence lines that implicate it.
type Suspect struct {
	Rank      int    // 1 is the most likely culprit
	Kind      string // process | container | vm | account | ssh_key
	Name      string
	Host      string
	PID       int
	User      string
	Exe       string
	Container string
	VM        string
	Why       []string
}

// TriageRunRecord is one recorded run: why it ran, when, and what it implicates.
type TriageRunRecord struct {
	Run       string
	Trigger   string
	StartedAt time.Time
	Suspects  []Suspect // best first
}

// insertRun records the run's row and its suspects, ranked in the order given
// when they carry no rank of their own.
func (t *txn) insertRun(r TriageRun) error {
	started := r.StartedAt
	if started.IsZero() {
		started = t.now
	}
	if _, err := t.exec(`INSERT INTO triage_runs (run, incident_id, trigger, started_at) VALUES (?, ?, ?, ?)`,
		r.Run, r.IncidentID, r.Trigger, ms(started)); err != nil {
		return fmt.Errorf("insert triage run: %w", err)
	}
	for i, s := range r.Suspects {
		if s.Rank == 0 {
			s.Rank = i + 1
		}
		why, err := json.Marshal(nonNil(s.Why))
		if err != nil {
			return err
		}
		if _, err := t.exec(`INSERT INTO suspects
			(run, incident_id, rank, kind, name, host, pid, "user", exe, container, vm, why)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.Run, r.IncidentID, s.Rank, s.Kind, s.Name, s.Host, s.PID, s.User, s.Exe, s.Container, s.VM, string(why)); err != nil {
			return fmt.Errorf("insert suspect %d (%s %s): %w", s.Rank, s.Kind, s.Name, err)
		}
	}
	return nil
}

// TriageRuns lists an incident's recorded runs, oldest first, each with its
// suspects best first.
func (s *Store) TriageRuns(ctx context.Context, incidentID int64) ([]TriageRunRecord, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: triage runs of incident %d: %w", incidentID, err)
	}
	defer tx.Rollback()
	runs, err := triageRuns(ctx, tx, incidentID)
	if err != nil {
		return nil, fmt.Errorf("store: triage runs of incident %d: %w", incidentID, err)
	}
	return runs, nil
}

func triageRuns(ctx context.Context, tx *sql.Tx, incidentID int64) ([]TriageRunRecord, error) {
	rows, err := tx.QueryContext(ctx, `SELECT run, trigger, started_at FROM triage_runs
		WHERE incident_id = ? ORDER BY started_at, run`, incidentID)
	if err != nil {
		return nil, err
	}
	var runs []TriageRunRecord
	index := map[string]int{}
	for rows.Next() {
		var r TriageRunRecord
		var started int64
		if err := rows.Scan(&r.Run, &r.Trigger, &started); err != nil {
			rows.Close()
			return nil, err
		}
		r.StartedAt = fromMS(started)
		index[r.Run] = len(runs)
		runs = append(runs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	rows, err = tx.QueryContext(ctx, `SELECT run, rank, kind, name, host, pid, "user", exe, container, vm, why
		FROM suspects WHERE incident_id = ? ORDER BY run, rank`, incidentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var run, why string
		var sp Suspect
		if err := rows.Scan(&run, &sp.Rank, &sp.Kind, &sp.Name, &sp.Host, &sp.PID, &sp.User, &sp.Exe, &sp.Container, &sp.VM, &why); err != nil {
			return nil, err
		}
		if err := json.Unmarshal([]byte(why), &sp.Why); err != nil {
			return nil, fmt.Errorf("suspect %d of run %s: why: %w", sp.Rank, run, err)
		}
		if i, ok := index[run]; ok {
			runs[i].Suspects = append(runs[i].Suspects, sp)
		}
	}
	return runs, rows.Err()
}
