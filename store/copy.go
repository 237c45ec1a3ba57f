package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
)

// TableCount is one table copied by CopyTo: its rows in the source and,
// counted again after the copy, in the destination.
type TableCount struct {
	Table  string `json:"table"`
	Source int64  `json:"source"`
	Copied int64  `json:"copied"`
}

// CopyTo copies every row of this SQLite store into dst, an empty
// PostgreSQL store at the same schema version, in one transaction, and
// counts every table on both sides afterwards. Ids are kept (so that every
// reference still holds) and dst's id sequences continue after them. Large
// mail is copied with its chunks; one stored before migration 0008 in a
// file beside the database is not: it stays in the folder both stores name
// (store.path's).
func (s *Store) CopyTo(ctx context.Context, dst *Store) ([]TableCount, error) {
	if s.pg || !dst.pg {
		return nil, errors.New("store: copy: from a SQLite store to a PostgreSQL one only")
	}
	sv, err := s.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	dv, err := dst.SchemaVersion(ctx)
	if err != nil {
		return nil, err
	}
	if sv != dv {
		return nil, fmt.Errorf("store: copy: schema versions differ (SQLite %d, PostgreSQL %d)", sv, dv)
	}
	tables, err := dst.pgTablesInOrder(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	// A read transaction: the copy is of one moment of the source.
	src, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer src.Rollback()
	conn, err := dst.w.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	defer conn.Close()
	err = conn.Raw(func(dc any) error {
		pc := dc.(*rebindConn).Conn.Conn()
		tx, err := pc.Begin(ctx)
		if err != nil {
			return err
		}
		defer tx.Rollback(ctx)
		for _, t := range tables {
			var n int64
			if err := tx.QueryRow(ctx, `SELECT count(*) FROM `+pgx.Identifier{t.name}.Sanitize()).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				return fmt.Errorf("the PostgreSQL database is not empty: %s has %d rows", t.name, n)
			}
		}
		for _, t := range tables {
			if err := copyTable(ctx, src, tx, t); err != nil {
				return fmt.Errorf("%s: %w", t.name, err)
			}
			if slices.Contains(t.columns, "id") && t.identity {
				q := fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', 'id'), coalesce(max(id), 0) + 1, false) FROM %s`, t.name, pgx.Identifier{t.name}.Sanitize())
				if _, err := tx.Exec(ctx, q); err != nil {
					return fmt.Errorf("%s: id sequence: %w", t.name, err)
				}
			}
		}
		return tx.Commit(ctx)
	})
	if err != nil {
		return nil, fmt.Errorf("store: copy: %w", err)
	}
	var counts []TableCount
	var mismatch []string
	for _, t := range tables {
		c := TableCount{Table: t.name}
		q := `SELECT count(*) FROM ` + quoteIdent(t.name)
		if err := src.QueryRowContext(ctx, q).Scan(&c.Source); err != nil {
			return nil, fmt.Errorf("store: copy: count %s: %w", t.name, err)
		}
		if err := dst.r.QueryRowContext(ctx, q).Scan(&c.Copied); err != nil {
			return nil, fmt.Errorf("store: copy: count %s: %w", t.name, err)
		}
		if c.Source != c.Copied {
			mismatch = append(mismatch, fmt.Sprintf("%s: %d rows, %d copied", t.name, c.Source, c.Copied))
		}
		counts = append(counts, c)
	}
	if len(mismatch) > 0 {
		return counts, fmt.Errorf("store: copy: counts differ: %s", strings.Join(mismatch, "; "))
	}
	return counts, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// pgTable is a table of the PostgreSQL schema, with its columns in order and
// their types.
type pgTable struct {
	name     string
	columns  []string
	types    []string
	identity bool
}

// pgTablesInOrder lists the store's tables so that every table comes after
// those its foreign keys point at.
func (s *Store) pgTablesInOrder(ctx context.Context) ([]pgTable, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT table_name, column_name, data_type, is_identity = 'YES' FROM information_schema.columns
		WHERE table_schema = current_schema() AND table_name != ? ORDER BY table_name, ordinal_position`, pgVersionTable)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	byName := map[string]*pgTable{}
	var names []string
	for rows.Next() {
		var table, col, typ string
		var identity bool
		if err := rows.Scan(&table, &col, &typ, &identity); err != nil {
			return nil, err
		}
		t := byName[table]
		if t == nil {
			t = &pgTable{name: table}
			byName[table] = t
			names = append(names, table)
		}
		t.columns, t.types = append(t.columns, col), append(t.types, typ)
		t.identity = t.identity || identity
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	fk, err := s.r.QueryContext(ctx, `SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c
		JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = current_schema()`)
	if err != nil {
		return nil, err
	}
	defer fk.Close()
	for fk.Next() {
		var from, to string
		if err := fk.Scan(&from, &to); err != nil {
			return nil, err
		}
		if from != to {
			deps[from] = append(deps[from], to)
		}
	}
	if err := fk.Err(); err != nil {
		return nil, err
	}
	var order []pgTable
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(string) error
	visit = func(n string) error {
		switch state[n] {
		case 1:
			return fmt.Errorf("foreign keys form a cycle through %s", n)
		case 2:
			return nil
		}
		state[n] = 1
		for _, d := range deps[n] {
			if err := visit(d); err != nil {
				return err
			}
		}
		state[n] = 2
		if t := byName[n]; t != nil {
			order = append(order, *t)
		}
		return nil
	}
	for _, n := range names {
		if err := visit(n); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// copyTable streams one table from SQLite into PostgreSQL with COPY,
// converting what SQLite's loose typing may hold into the column's type.
func copyTable(ctx context.Context, src *sql.Tx, dst pgx.Tx, t pgTable) error {
	cols := make([]string, len(t.columns))
	for i, c := range t.columns {
		cols[i] = quoteIdent(c)
	}
	rows, err := src.QueryContext(ctx, `SELECT `+strings.Join(cols, ", ")+` FROM `+quoteIdent(t.name))
	if err != nil {
		return err
	}
	defer rows.Close()
	var rowErr error
	source := pgx.CopyFromFunc(func() ([]any, error) {
		if !rows.Next() {
			rowErr = rows.Err()
			return nil, rowErr
		}
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		for i, v := range vals {
			vals[i] = pgValue(v, t.types[i])
		}
		return vals, nil
	})
	_, err = dst.CopyFrom(ctx, pgx.Identifier{t.name}, t.columns, source)
	return errors.Join(err, rowErr)
}

// pgValue converts a value SQLite returned to the PostgreSQL column type typ.
func pgValue(v any, typ string) any {
	switch typ {
	case "boolean":
		if n, ok := v.(int64); ok {
			return n != 0
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s)
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b)
		}
	}
	return v
}
