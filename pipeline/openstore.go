package pipeline

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/store"
)

// OpenStore opens the configured store: the SQLite file at store.path, or
// the PostgreSQL database at store.dsn, keeping mail too large for it in
// store.path's directory.
func OpenStore(ctx context.Context, cfg config.Store, opts ...store.OpenOption) (*store.Store, error) {
	dir := filepath.Dir(cfg.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store directory: %w", err)
	}
	if cfg.IsPostgres() {
		return store.OpenPostgres(ctx, cfg.DSN, dir, opts...)
	}
	return store.Open(ctx, cfg.Path, opts...)
}
