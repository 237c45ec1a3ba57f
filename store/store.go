// Package store keeps abusewatch's durable state in one SQLite file: raw mail, notices,
// incidents and their timeline, provider state snapshots, the task queue, triage evidence,
// whitelist grants and mailbox checkpoints.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/mattn/go-sqlite3" // registers the "sqlite3" driver
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// applicationID marks the file as abusewatch's ("abus"), so that Open refuses to migrate
// some other program's SQLite database.
const applicationID = 0x61627573

// ErrNotFound is returned when an incident, task or grant does not exist.
var ErrNotFound = errors.New("store: not found")

// errLeaseLost is returned when a task is completed, retried or failed by an owner that no
// longer holds its lease.
var errLeaseLost = errors.New("store: task lease lost")

// Store is the SQLite database. It is safe for concurrent use.
type Store struct {
	// SQLite allows one writer at a time; a one-connection pool queues writers in Go
	// instead of making them spin on SQLITE_BUSY. Readers get their own pool and, with
	// WAL, never wait for the writer.
	w *sql.DB
	r *sql.DB
	// now is the clock of every time the store records itself.
	now func() time.Time
	// dir is the database's directory, where large raw mail is kept.
	dir string
	// pg is set on PostgreSQL (OpenPostgres), where w and r are one pool and
	// a few statements differ (see postgres.go).
	pg bool
	// pgcfg is the PostgreSQL connection's configuration, for the
	// connections that hold locks (locks.go); path is the SQLite file.
	pgcfg *pgx.ConnConfig
	path  string
}

// OpenOption adjusts a Store when it is opened.
type OpenOption func(*Store)

// WithClock makes the store read time from now instead of the wall clock, so
// that tests order events without sleeping.
func WithClock(now func() time.Time) OpenOption {
	return func(s *Store) { s.now = now }
}

// Open opens (creating it with mode 0600 if needed) and migrates the database at path.
func Open(ctx context.Context, path string, opts ...OpenOption) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	// SQLite would create the file with 0644; raw abuse mail and server state are not
	// for other local users. The -wal and -shm files inherit the main file's mode.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}

	// A file: URI lets a path contain '?' or '#' without being taken for parameters.
	name := "file:" + (&url.URL{Path: path}).EscapedPath()
	common := "_busy_timeout=10000&_foreign_keys=on&_stmt_cache_size=64"
	// The writer's larger page cache keeps the index pages that every ingest touches.
	w, err := sql.Open("sqlite3", name+"?"+common+"&_journal_mode=WAL&_synchronous=NORMAL&_txlock=immediate&_cache_size=-16384")
	if err != nil {
		return nil, fmt.Errorf("store: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, err
	}

	// The journal mode is persistent in the file once the writer set it, so readers
	// need not (and, being query-only, could not) set it again.
	r, err := sql.Open("sqlite3", name+"?"+common+"&_query_only=on")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open: %w", err)
	}
	r.SetMaxOpenConns(4)
	r.SetMaxIdleConns(4)
	s := &Store{w: w, r: r, now: time.Now, dir: filepath.Dir(path), path: path}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// Close closes the database. The last connection to close checkpoints and removes the WAL.
func (s *Store) Close() error {
	errR := s.r.Close()
	errW := s.w.Close()
	if err := errors.Join(errR, errW); err != nil {
		return fmt.Errorf("store: close: %w", err)
	}
	return nil
}

type migration struct {
	version int
	name    string
	sql     string
}

// migrations are SQLite's, in migrations/; PostgreSQL's twins are in
// migrations/postgres/ (pgMigrations).
func migrations() ([]migration, error) {
	return readMigrations(migrationFS, "migrations")
}

func readMigrations(fsys fs.FS, dir string) ([]migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %q: name must start with a number and '_'", e.Name())
		}
		body, err := fs.ReadFile(fsys, dir+"/"+e.Name())
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: e.Name(), sql: string(body)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	// Versions run 1, 2, … without a gap: a database at version n has applied
	// every migration up to n, so one numbered below it is never skipped.
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migrations: %q where version %d belongs", m.name, i+1)
		}
	}
	if len(ms) == 0 {
		return nil, errors.New("migrations: none embedded")
	}
	return ms, nil
}

// migrate brings the schema to the newest version in one transaction, so a failed
// migration leaves the file as it was.
func migrate(ctx context.Context, db *sql.DB) error {
	ms, err := migrations()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	// The schema version is the number of the last migration applied.
	known := ms[len(ms)-1].version
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()

	var version, appID int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	if err := tx.QueryRowContext(ctx, "PRAGMA application_id").Scan(&appID); err != nil {
		return fmt.Errorf("store: migrate: read application id: %w", err)
	}
	if appID != 0 && appID != applicationID {
		return fmt.Errorf("store: database application id %#x is not abusewatch's; refusing to use it", appID)
	}
	if applied, err := applyMigrations(ctx, tx, ms, version, ""); err != nil || !applied {
		return err
	}
	// PRAGMA takes no bound parameters; both values are integers of ours.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d; PRAGMA application_id = %d", known, applicationID)); err != nil {
		return fmt.Errorf("store: migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// applyMigrations runs, in tx, the migrations newer than the database's
// version; applied is false when there were none. dir names the driver's
// folder in errors.
func applyMigrations(ctx context.Context, tx *sql.Tx, ms []migration, version int, dir string) (applied bool, err error) {
	known := ms[len(ms)-1].version
	if version > known {
		return false, fmt.Errorf("store: database schema version %d is newer than this abusewatch knows (%d); upgrade abusewatch", version, known)
	}
	for _, m := range ms[version:] {
		if _, err := tx.ExecContext(ctx, m.sql); err != nil {
			return false, fmt.Errorf("store: migrate: %s%s: %w", dir, m.name, err)
		}
	}
	return version < known, nil
}

// SchemaVersion reports the schema version of the open database.
func (s *Store) SchemaVersion(ctx context.Context) (int, error) {
	var v int
	q := "PRAGMA user_version"
	if s.pg {
		q = pgVersionQuery
	}
	if err := s.r.QueryRowContext(ctx, q).Scan(&v); err != nil {
		return 0, fmt.Errorf("store: schema version: %w", err)
	}
	return v, nil
}

// ms converts a time to the stored form: milliseconds since the epoch, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromMS is the inverse of ms; times come back in UTC.
func fromMS(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMilli(v).UTC()
}

func nullID(id int64) any {
	if id == 0 {
		return nil
	}
	return id
}

// write runs fn in a BEGIN IMMEDIATE transaction on the writer connection.
// On PostgreSQL the transaction first takes the store's writer lock, so that
// write transactions are serialised there too, across processes: what fn
// reads stays true until it commits, as with SQLite's single writer.
func (s *Store) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	if s.pg {
		// rebindConn.BeginTx takes the lock with the BEGIN.
		ctx = context.WithValue(ctx, writerTx{}, true)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// Stats counts what the database holds, for the CLI summary.
type Stats struct {
	Messages      int
	RawBytes      int64 // total size of the mails, fetched or not
	Notices       int
	Incidents     int
	OpenIncidents int
	QueuedTasks   int
	FailedTasks   int
}

// Stats returns the counts of messages, notices, incidents and tasks.
func (s *Store) Stats(ctx context.Context) (Stats, error) {
	var st Stats
	err := s.r.QueryRowContext(ctx, `SELECT
		(SELECT count(*) FROM messages),
		(SELECT coalesce(sum(size), 0) FROM messages),
		(SELECT count(*) FROM notices),
		(SELECT count(*) FROM incidents),
		(SELECT count(*) FROM incidents WHERE status = 'open'),
		(SELECT count(*) FROM tasks WHERE status = 'queued'),
		(SELECT count(*) FROM tasks WHERE status = 'failed')`).
		Scan(&st.Messages, &st.RawBytes, &st.Notices, &st.Incidents, &st.OpenIncidents, &st.QueuedTasks, &st.FailedTasks)
	if err != nil {
		return Stats{}, fmt.Errorf("store: stats: %w", err)
	}
	return st, nil
}
