package store

import (
	"context"
	"database/sql/driver"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// The store's queries are written once, with SQLite's '?' placeholders. On
// PostgreSQL every query passes through rebindConn, which numbers them ($1,
// $2, …) before pgx sees them, so that code holding a *sql.Tx (the store's
// and anyone's) runs unchanged on either driver.

// rebind numbers the '?' placeholders of q outside string literals, quoted
// identifiers and comments.
func rebind(q string) string {
	if !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch c {
		case '\'', '"':
			j := i + 1
			for j < len(q) && q[j] != c {
				j++
			}
			b.WriteString(q[i:min(j+1, len(q))])
			i = j
		case '-':
			if i+1 < len(q) && q[i+1] == '-' {
				j := strings.IndexByte(q[i:], '\n')
				if j < 0 {
					j = len(q) - i
				}
				b.WriteString(q[i : i+j])
				i += j - 1
				continue
			}
			b.WriteByte(c)
		case '?':
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// rebinder caches rebind's results: the store's queries are a few dozen
// constant strings, and every ingest runs a dozen of them.
type rebinder struct{ m sync.Map }

func (r *rebinder) rebind(q string) string {
	if v, ok := r.m.Load(q); ok {
		return v.(string)
	}
	out := rebind(q)
	r.m.Store(q, out)
	return out
}

// pgConnector opens pgx connections wrapped in rebindConn.
type pgConnector struct {
	base driver.Connector
	r    *rebinder
}

func (c pgConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.base.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &rebindConn{Conn: conn.(*stdlib.Conn), r: c.r}, nil
}

func (c pgConnector) Driver() driver.Driver { return c.base.Driver() }

// rebindConn is pgx's database/sql connection with its queries rebound. It
// offers the same optional interfaces as the connection it wraps.
type rebindConn struct {
	*stdlib.Conn
	r *rebinder
}

func (c *rebindConn) Prepare(query string) (driver.Stmt, error) {
	return c.Conn.Prepare(c.r.rebind(query))
}

func (c *rebindConn) PrepareContext(ctx context.Context, query string) (driver.Stmt, error) {
	return c.Conn.PrepareContext(ctx, c.r.rebind(query))
}

func (c *rebindConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	return c.Conn.ExecContext(ctx, c.r.rebind(query), args)
}

func (c *rebindConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	return c.Conn.QueryContext(ctx, c.r.rebind(query), args)
}

// writerTx marks the context of a write transaction (Store.write): its
// BEGIN takes the writer lock in the same round trip, one of the few an
// ingest costs on PostgreSQL.
type writerTx struct{}

// BeginTx begins a transaction as pgx's connection does; a write
// transaction sends "BEGIN; SELECT pg_advisory_xact_lock(…)" as one simple
// query. The lock is its own statement, so the statements after it read a
// snapshot taken once the lock is held, as when they were sent apart.
func (c *rebindConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if ctx.Value(writerTx{}) == nil || opts.Isolation != 0 || opts.ReadOnly {
		return c.Conn.BeginTx(ctx, opts)
	}
	conn := c.Conn.Conn()
	if conn.IsClosed() {
		return nil, driver.ErrBadConn
	}
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN; " + pgWriterLock})
	if err != nil {
		// BEGIN may have succeeded and the lock failed (a statement
		// timeout): end the transaction it left open. Should that fail too,
		// the pool discards the connection (stdlib's ResetSession).
		if !conn.IsClosed() && conn.PgConn().TxStatus() != 'I' {
			_, _ = conn.Exec(ctx, "ROLLBACK")
		}
		return nil, fmt.Errorf("writer lock: %w", err)
	}
	return pgTx{ctx: ctx, tx: tx}, nil
}

// pgTx is stdlib's driver.Tx (which it does not export) for a transaction
// begun by rebindConn.BeginTx.
type pgTx struct {
	ctx context.Context
	tx  pgx.Tx
}

func (t pgTx) Commit() error   { return t.tx.Commit(t.ctx) }
func (t pgTx) Rollback() error { return t.tx.Rollback(t.ctx) }

var (
	_ driver.ExecerContext      = (*rebindConn)(nil)
	_ driver.QueryerContext     = (*rebindConn)(nil)
	_ driver.ConnPrepareContext = (*rebindConn)(nil)
	_ driver.ConnBeginTx        = (*rebindConn)(nil)
	_ driver.Pinger             = (*rebindConn)(nil)
	_ driver.SessionResetter    = (*rebindConn)(nil)
	_ driver.NamedValueChecker  = (*rebindConn)(nil)
)
