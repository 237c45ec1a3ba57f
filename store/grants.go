package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Grant is a time-boxed whitelist hole: Source may reach ServerIP until ExpiresAt.
type Grant struct {
	ID                                                      int64
	Provider, ServerIP, Source, RuleRef, By, Reason, Status string
	CreatedAt, ExpiresAt                                    time.Time
	RevokedAt                                               *time.Time
}

const grantCols = `id, provider, server_ip, source, rule_ref, by, reason, status, created_at, expires_at, revoked_at`

func scanGrant(sc interface{ Scan(...any) error }) (*Grant, error) {
	var g Grant
	var created, expires int64
	var revoked sql.NullInt64
	if err := sc.Scan(&g.ID, &g.Provider, &g.ServerIP, &g.Source, &g.RuleRef, &g.By, &g.Reason, &g.Status,
		&created, &expires, &revoked); err != nil {
		return nil, err
	}
	g.CreatedAt, g.ExpiresAt = fromMS(created), fromMS(expires)
	if revoked.Valid {
		t := fromMS(revoked.Int64)
		g.RevokedAt = &t
	}
	return &g, nil
}

func revokedAt(t *time.Time) any {
	if t == nil {
		return nil
	}
	return ms(*t)
}

// CreateGrant stores a grant; CreatedAt defaults to now.
func (s *Store) CreateGrant(ctx context.Context, g Grant) (int64, error) {
	if g.CreatedAt.IsZero() {
		g.CreatedAt = s.now()
	}
	var id int64
	err := s.w.QueryRowContext(ctx, `INSERT INTO grants
		(provider, server_ip, source, rule_ref, by, reason, status, created_at, expires_at, revoked_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
		g.Provider, g.ServerIP, g.Source, g.RuleRef, g.By, g.Reason, g.Status, ms(g.CreatedAt), ms(g.ExpiresAt),
		revokedAt(g.RevokedAt)).Scan(&id)
	if err != nil {
		return 0, fmt.Errorf("store: create grant: %w", err)
	}
	return id, nil
}

// GrantByID returns one grant, or ErrNotFound.
func (s *Store) GrantByID(ctx context.Context, id int64) (*Grant, error) {
	g, err := scanGrant(s.r.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: grant %d: %w", id, err)
	}
	return g, nil
}

// Grants lists all grants by id.
func (s *Store) Grants(ctx context.Context) ([]Grant, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+grantCols+` FROM grants ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: grants: %w", err)
	}
	defer rows.Close()
	var out []Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, fmt.Errorf("store: grants: %w", err)
		}
		out = append(out, *g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: grants: %w", err)
	}
	return out, nil
}

// UpdateGrant writes every field of g but ID and CreatedAt back; ErrNotFound when g.ID
// does not exist.
func (s *Store) UpdateGrant(ctx context.Context, g Grant) error {
	res, err := s.w.ExecContext(ctx, `UPDATE grants SET provider = ?, server_ip = ?, source = ?, rule_ref = ?, by = ?,
		reason = ?, status = ?, expires_at = ?, revoked_at = ? WHERE id = ?`,
		g.Provider, g.ServerIP, g.Source, g.RuleRef, g.By, g.Reason, g.Status, ms(g.ExpiresAt), revokedAt(g.RevokedAt), g.ID)
	if err != nil {
		return fmt.Errorf("store: update grant %d: %w", g.ID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("store: update grant %d: %w", g.ID, err)
	}
	if n == 0 {
		return fmt.Errorf("store: update grant %d: %w", g.ID, ErrNotFound)
	}
	return nil
}
