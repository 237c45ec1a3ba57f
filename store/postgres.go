package store

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// PostgreSQL runs the same store: the same queries (rebound, pgdriver.go),
// the same schema (migrations/postgres/, twins of SQLite's), the same
// guarantees. Where SQLite had one writer connection, PostgreSQL write
// transactions take one advisory lock (pgWriterLock), so that everything
// written in one transaction is decided on what no other process can change
// meanwhile — across several abusewatch processes sharing the database.

//go:embed migrations/postgres/*.sql
var pgMigrationFS embed.FS

func pgMigrations() ([]migration, error) {
	return readMigrations(pgMigrationFS, "migrations/postgres")
}

// Advisory lock keys: applicationID's class, then what the lock guards.
const (
	pgWriterLock  = `SELECT pg_advisory_xact_lock(1633841523, 1)`
	pgMigrateLock = `SELECT pg_advisory_xact_lock(1633841523, 2)`
)

// pgVersionTable records the schema version, as SQLite's user_version does;
// its presence marks the database as abusewatch's.
const (
	pgVersionTable = `abusewatch_schema`
	pgVersionQuery = `SELECT version FROM abusewatch_schema`
)

// OpenPostgres connects to the PostgreSQL database at dsn (a postgres:// URL
// or key=value string) and migrates it. dir is where mail too large for the
// database is kept (RawFile), as beside a SQLite file.
func OpenPostgres(ctx context.Context, dsn, dir string, opts ...OpenOption) (*Store, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		// pgx's message quotes the DSN, password included.
		return nil, fmt.Errorf("store: open postgres: the DSN does not parse")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: open postgres: %w", err)
	}
	db := sql.OpenDB(pgConnector{base: stdlib.GetConnector(*cfg), r: &rebinder{}})
	// Writers queue on the writer lock in the server; readers need few
	// connections. Idle ones are kept so that an ingest does not reconnect.
	db.SetMaxOpenConns(16)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: open postgres %s@%s/%s: %w", cfg.User, cfg.Host, cfg.Database, err)
	}
	if err := migratePG(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	s := &Store{w: db, r: db, now: time.Now, dir: dir, pg: true, pgcfg: cfg}
	for _, o := range opts {
		o(s)
	}
	return s, nil
}

// migratePG is migrate for PostgreSQL, whose DDL is transactional too. The
// migrate lock makes processes starting together migrate one after another.
func migratePG(ctx context.Context, db *sql.DB) error {
	ms, err := pgMigrations()
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	// As in SQLite: the version is the number of the last migration applied.
	known := ms[len(ms)-1].version
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, pgMigrateLock); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	var marked bool
	if err := tx.QueryRowContext(ctx, `SELECT to_regclass(?) IS NOT NULL`, pgVersionTable).Scan(&marked); err != nil {
		return fmt.Errorf("store: migrate: read schema version: %w", err)
	}
	version := 0
	if marked {
		if err := tx.QueryRowContext(ctx, pgVersionQuery).Scan(&version); err != nil {
			return fmt.Errorf("store: migrate: read schema version: %w", err)
		}
	} else {
		// A database holding tables but no version is some other program's.
		var tables int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()`).Scan(&tables); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
		if tables > 0 {
			return fmt.Errorf("store: database has %d tables and is not abusewatch's; refusing to use it", tables)
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE abusewatch_schema (version BIGINT NOT NULL);
			INSERT INTO abusewatch_schema VALUES (0)`); err != nil {
			return fmt.Errorf("store: migrate: %w", err)
		}
	}
	if applied, err := applyMigrations(ctx, tx, ms, version, "postgres/"); err != nil || !applied {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE abusewatch_schema SET version = ?`, known); err != nil {
		return fmt.Errorf("store: migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: migrate: %w", err)
	}
	return nil
}

// Driver names the store's database: "sqlite" or "postgres".
func (s *Store) Driver() string {
	if s.pg {
		return "postgres"
	}
	return "sqlite"
}
