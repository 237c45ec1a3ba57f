package testserver

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

// TestPostgres: the cluster takes connections to fresh databases, and
// Stop ends the server and removes its directory.
func TestPostgres(t *testing.T) {
	p := StartPostgres(t)
	ctx := context.Background()
	for range 2 {
		c, err := pgx.Connect(ctx, p.NewDB(t))
		if err != nil {
			t.Fatal(err)
		}
		var tables int
		if err := c.QueryRow(ctx, `SELECT count(*) FROM pg_tables WHERE schemaname = 'public'`).Scan(&tables); err != nil || tables != 0 {
			t.Errorf("fresh database: %d tables, %v", tables, err)
		}
		c.Close(ctx)
	}
	p.Stop()
	if _, err := os.Stat(p.dir); !os.IsNotExist(err) {
		t.Errorf("cluster directory after Stop: %v", err)
	}
	if _, err := pgx.Connect(ctx, p.DSN("postgres")); err == nil {
		t.Error("server still accepts connections after Stop")
	}
}
