package store

import (
	"context"
	"database/sql"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestRebind(t *testing.T) {
	tests := []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT ? , ?", "SELECT $1 , $2"},
		{"WHERE a = ? AND b IN (?, ?)", "WHERE a = $1 AND b IN ($2, $3)"},
		{"WHERE a = '?' AND b = ?", "WHERE a = '?' AND b = $1"},
		{`SELECT "wh?re" FROM t WHERE x = ?`, `SELECT "wh?re" FROM t WHERE x = $1`},
		{"SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1"},
		{"-- why?\nSELECT ?", "-- why?\nSELECT $1"},
		{"SELECT a - ? -- b?", "SELECT a - $1 -- b?"},
		{"SELECT 'unterminated ?", "SELECT 'unterminated ?"},
	}
	for _, tt := range tests {
		if got := rebind(tt.in); got != tt.want {
			t.Errorf("rebind(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestMigrationTwins: every SQLite migration has a PostgreSQL twin of the same name.
func TestMigrationTwins(t *testing.T) {
	lite, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	pg, err := pgMigrations()
	if err != nil {
		t.Fatal(err)
	}
	name := func(m migration) string { return m.name }
	if a, b := names(lite, name), names(pg, name); !slices.Equal(a, b) {
		t.Errorf("SQLite migrations %v, PostgreSQL migrations %v: each needs its twin in migrations/postgres/", a, b)
	}
}

func names[T any](xs []T, f func(T) string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// column is what both drivers must agree on about a column.
type column struct {
	Type    string // integer, text or blob (SQLite's affinities)
	NotNull bool
}

// schema maps "table.column" to its column and "index on table" to the
// indexes' names; only names the migrations chose are compared (not those of
// the indexes behind PRIMARY KEY and UNIQUE constraints).
type schema struct {
	Columns map[string]column
	Indexes map[string]bool
}

func sqliteSchema(t *testing.T, db *sql.DB) schema {
	t.Helper()
	sc := schema{Columns: map[string]column{}, Indexes: map[string]bool{}}
	rows, err := db.Query(`SELECT m.name, p.name, p.type, p."notnull" OR p.pk FROM sqlite_master m, pragma_table_info(m.name) p
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, col, typ string
		var notNull bool
		if err := rows.Scan(&table, &col, &typ, &notNull); err != nil {
			t.Fatal(err)
		}
		sc.Columns[table+"."+col] = column{Type: strings.ToLower(typ), NotNull: notNull}
	}
	idx, err := db.Query(`SELECT name, tbl_name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%'`)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for idx.Next() {
		var name, table string
		if err := idx.Scan(&name, &table); err != nil {
			t.Fatal(err)
		}
		sc.Indexes[name+" on "+table] = true
	}
	return sc
}

// pgAffinity maps PostgreSQL's types to the SQLite type their twin column has.
var pgAffinity = map[string]string{"bigint": "integer", "boolean": "integer", "text": "text", "bytea": "blob"}

func postgresSchema(t *testing.T, db *sql.DB) schema {
	t.Helper()
	sc := schema{Columns: map[string]column{}, Indexes: map[string]bool{}}
	rows, err := db.Query(`SELECT table_name, column_name, data_type, is_nullable = 'NO' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name != ?`, pgVersionTable)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var table, col, typ string
		var notNull bool
		if err := rows.Scan(&table, &col, &typ, &notNull); err != nil {
			t.Fatal(err)
		}
		sc.Columns[table+"."+col] = column{Type: typ, NotNull: notNull}
	}
	idx, err := db.Query(`SELECT i.indexname, i.tablename FROM pg_indexes i WHERE i.schemaname = current_schema()
		AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname AND c.contype IN ('p', 'u'))`)
	if err != nil {
		t.Fatal(err)
	}
	defer idx.Close()
	for idx.Next() {
		var name, table string
		if err := idx.Scan(&name, &table); err != nil {
			t.Fatal(err)
		}
		sc.Indexes[name+" on "+table] = true
	}
	return sc
}

// TestSchemasMatch: the migrated schemas of both drivers have the same
// tables, columns (of twin types, equally nullable) and named indexes.
func TestSchemasMatch(t *testing.T) {
	ctx := context.Background()
	lite, err := Open(ctx, t.TempDir()+"/aw.db")
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := OpenPostgres(ctx, newPGDatabase(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	a, b := sqliteSchema(t, lite.r), postgresSchema(t, pg.r)
	if len(a.Columns) == 0 || len(a.Indexes) == 0 {
		t.Fatalf("SQLite schema read as empty: %+v", a)
	}
	for _, k := range slices.Sorted(maps.Keys(a.Columns)) {
		ca := a.Columns[k]
		cb, okb := b.Columns[k]
		switch {
		case !okb:
			t.Errorf("column %s (%s) missing on PostgreSQL", k, ca.Type)
		case pgAffinity[cb.Type] != ca.Type && !(k == "notices.events" && cb.Type == "text"):
			t.Errorf("column %s is %s on SQLite but %s on PostgreSQL", k, ca.Type, cb.Type)
		case ca.NotNull != cb.NotNull:
			t.Errorf("column %s: NOT NULL %v on SQLite, %v on PostgreSQL", k, ca.NotNull, cb.NotNull)
		}
	}
	for k := range b.Columns {
		if _, ok := a.Columns[k]; !ok {
			t.Errorf("column %s only on PostgreSQL", k)
		}
	}
	if !maps.Equal(a.Indexes, b.Indexes) {
		t.Errorf("indexes differ:\nSQLite     %v\nPostgreSQL %v", slices.Sorted(maps.Keys(a.Indexes)), slices.Sorted(maps.Keys(b.Indexes)))
	}
	v, err := pg.SchemaVersion(ctx)
	if ms, _ := migrations(); err != nil || v != ms[len(ms)-1].version {
		t.Errorf("PostgreSQL schema version %d, %v; want %d", v, err, ms[len(ms)-1].version)
	}
}

// TestPostgresOpen: a new database is migrated once even by processes
// starting together; a database that is some other program's, or newer, is
// refused.
func TestPostgresOpen(t *testing.T) {
	ctx := context.Background()
	ms, err := pgMigrations()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		setup   string // SQL run on the database after a first Open, or before any
		before  bool
		wantErr string
	}{
		{name: "fresh"},
		{name: "already migrated, with a task", setup: `INSERT INTO tasks (kind, key, run_at, created_at) VALUES ('state', 'kept', 0, 0)`},
		{name: "newer schema", setup: `UPDATE abusewatch_schema SET version = 99`,
			wantErr: fmt.Sprintf("schema version 99 is newer than this abusewatch knows (%d)", ms[len(ms)-1].version)},
		{name: "other program's", before: true, setup: `CREATE TABLE accounts (id INTEGER)`, wantErr: "is not abusewatch's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dsn := newPGDatabase(t)
			dir := t.TempDir()
			if tt.setup != "" {
				if !tt.before {
					s, err := OpenPostgres(ctx, dsn, dir)
					if err != nil {
						t.Fatal(err)
					}
					s.Close()
				}
				db, err := sql.Open("pgx", dsn)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(tt.setup); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			// Three processes starting at once.
			var wg sync.WaitGroup
			errs := make([]error, 3)
			stores := make([]*Store, 3)
			for i := range stores {
				wg.Go(func() { stores[i], errs[i] = OpenPostgres(ctx, dsn, dir) })
			}
			wg.Wait()
			for i, err := range errs {
				if tt.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
						t.Errorf("open %d: error %v, want %q", i, err, tt.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("open %d: %v", i, err)
				}
				defer stores[i].Close()
				if v, err := stores[i].SchemaVersion(ctx); err != nil || v != ms[len(ms)-1].version {
					t.Errorf("open %d: schema version %d, %v; want %d", i, v, err, ms[len(ms)-1].version)
				}
			}
			if tt.wantErr == "" {
				want := 0
				if strings.Contains(tt.setup, "kept") {
					want = 1
				}
				if st := stats(t, stores[0]); st.QueuedTasks != want {
					t.Errorf("queued tasks %d, want %d", st.QueuedTasks, want)
				}
			}
		})
	}
}

// TestPostgresWriterLock checks that a write transaction holds the writer
// lock from its first statement (rebindConn.BeginTx sends it with the
// BEGIN), and that other transactions do not take it.
func TestPostgresWriterLock(t *testing.T) {
	ctx := context.Background()
	s, err := OpenPostgres(ctx, newPGDatabase(t), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const held = `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()
		AND classid = 1633841523 AND objid = 1 AND granted`
	tests := []struct {
		name  string
		begin func(context.Context, func(*sql.Tx) error) error
		want  int
	}{
		{name: "write", begin: s.write, want: 1},
		{name: "read", want: 0, begin: func(ctx context.Context, fn func(*sql.Tx) error) error {
			tx, err := s.r.BeginTx(ctx, nil)
			if err != nil {
				return err
			}
			defer tx.Rollback()
			return fn(tx)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n int
			if err := tt.begin(ctx, func(tx *sql.Tx) error { return tx.QueryRowContext(ctx, held).Scan(&n) }); err != nil {
				t.Fatal(err)
			}
			if n != tt.want {
				t.Errorf("writer locks held: %d, want %d", n, tt.want)
			}
		})
	}
}
