package store

import (
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// On PostgreSQL each statement is a round trip, and most of an ingest's
// statements are INSERTs whose result nothing needs but the new row's id. In
// an ingest batch the notices' INSERTs therefore wait, with ids reserved
// from their sequence, and go in together in one statement (flushNotices)
// before the next statement that could read them: every statement a txn
// runs goes through exec, query or queryRow, which flush first, except the
// one storeMessagePG sends for each message. That statement reads notices
// only for an incident's prior trust, which latestForIP completes from the
// waiting notices (trustOf).

// laterNotices are the notices whose INSERT waits.
type laterNotices struct {
	on    bool    // in an ingest batch on PostgreSQL
	ids   []int64 // reserved for the notices of the message being stored
	args  [][]any // noticeArgs of each waiting notice, id first
	trust map[int64]string
}

// take returns the next id reserved for the current message's notices.
func (l *laterNotices) take() (int64, bool) {
	if !l.on || len(l.ids) == 0 {
		return 0, false
	}
	id := l.ids[0]
	l.ids = l.ids[1:]
	return id, true
}

// add keeps a notice for flushNotices and, when it is the first trusted one
// of its incident that waits, its trust for trustOf.
func (l *laterNotices) add(id, incidentID int64, trust string, args []any) {
	l.args = append(l.args, append([]any{id}, args...))
	if trust == "" {
		return
	}
	if l.trust == nil {
		l.trust = map[int64]string{}
	}
	if _, ok := l.trust[incidentID]; !ok {
		l.trust[incidentID] = trust
	}
}

// trustOf is the trust of the first trusted notice of incident id that waits
// for its INSERT, "" when none does.
func (l *laterNotices) trustOf(id int64) string { return l.trust[id] }

// reserveIDs is the expression storeMessagePG adds to its statement to
// reserve the ids of the message's notices: their sequence's next values,
// comma-separated. It takes the count as its one parameter.
const reserveIDs = `array_to_string(ARRAY(SELECT nextval(pg_get_serial_sequence('notices', 'id')) FROM generate_series(1, ?::int)), ',')`

// reserved sets the ids the current message's notices take, from
// reserveIDs' result.
func (l *laterNotices) reserved(list string) error {
	l.ids = l.ids[:0]
	for f := range strings.SplitSeq(list, ",") {
		if f == "" {
			continue
		}
		id, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return fmt.Errorf("reserve notice ids: %q: %w", list, err)
		}
		l.ids = append(l.ids, id)
	}
	return nil
}

// noticesPerInsert bounds the rows of one INSERT of waiting notices: twenty
// parameters each, far below PostgreSQL's 65,535.
const noticesPerInsert = 150

// flushNotices inserts the waiting notices.
func (t *txn) flushNotices() error {
	rows := t.later.args
	t.later.args, t.later.trust = nil, nil
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), noticesPerInsert)]
		rows = rows[len(chunk):]
		values := make([]string, len(chunk))
		var args []any
		for i, a := range chunk {
			values[i] = "(" + strings.TrimSuffix(strings.Repeat("?, ", len(a)), ", ") + ")"
			args = append(args, a...)
		}
		if _, err := t.tx.ExecContext(t.ctx, `INSERT INTO notices (id, `+noticeCols+`) VALUES `+strings.Join(values, ", "), args...); err != nil {
			return fmt.Errorf("insert notices: %w", err)
		}
	}
	return nil
}

// exec, query and queryRow run a statement of the transaction once the
// waiting notices are in.
func (t *txn) exec(query string, args ...any) (sql.Result, error) {
	if err := t.flushNotices(); err != nil {
		return nil, err
	}
	return t.tx.ExecContext(t.ctx, query, args...)
}

func (t *txn) query(query string, args ...any) (*sql.Rows, error) {
	if err := t.flushNotices(); err != nil {
		return nil, err
	}
	return t.tx.QueryContext(t.ctx, query, args...)
}

func (t *txn) queryRow(query string, args ...any) row {
	if err := t.flushNotices(); err != nil {
		return row{err: err}
	}
	return row{Row: t.tx.QueryRowContext(t.ctx, query, args...)}
}

// row is a *sql.Row, or the error that kept its statement from running.
type row struct {
	*sql.Row
	err error
}

func (r row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	return r.Row.Scan(dest...)
}
