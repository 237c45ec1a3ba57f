package store

import (
	"context"
	"fmt"
)

// NoticeCount is the number of stored notices of one provider and kind.
type NoticeCount struct {
	Provider string
	Kind     string
	Count    int
}

// MailboxCounts returns how many mails each mailbox has delivered. Mail fed
// from files (`abusewatch ingest`) has no mailbox and is left out. Messages
// are never deleted, so the counts only grow: /metrics exposes them as
// counters read at scrape time instead of hooks in the ingest path.
func (s *Store) MailboxCounts(ctx context.Context) (map[string]int, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT mailbox, count(*) FROM messages WHERE mailbox != '' GROUP BY mailbox`)
	if err != nil {
		return nil, fmt.Errorf("store: mailbox counts: %w", err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var name string
		var n int
		if err := rows.Scan(&name, &n); err != nil {
			return nil, fmt.Errorf("store: mailbox counts: %w", err)
		}
		out[name] = n
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: mailbox counts: %w", err)
	}
	return out, nil
}

// NoticeCounts returns the stored notices per provider and kind. A reparse
// may replace notices, so these can go down.
func (s *Store) NoticeCounts(ctx context.Context) ([]NoticeCount, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT provider, kind, count(*) FROM notices GROUP BY provider, kind ORDER BY provider, kind`)
	if err != nil {
		return nil, fmt.Errorf("store: notice counts: %w", err)
	}
	defer rows.Close()
	var out []NoticeCount
	for rows.Next() {
		var c NoticeCount
		if err := rows.Scan(&c.Provider, &c.Kind, &c.Count); err != nil {
			return nil, fmt.Errorf("store: notice counts: %w", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: notice counts: %w", err)
	}
	return out, nil
}
