package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/store"
)

// TestMigrateToPostgres fills a SQLite store from the parser's fixtures
// (with a grant and a mail above the parse limit), copies it with `migrate --to`, and then reads both stores
// through the CLI: every table's count is verified, and messages and
// incidents list the same on either driver.
func TestMigrateToPostgres(t *testing.T) {
	testserver.RequirePostgres(t)
	pg := testserver.StartPostgres(t)
	dsn := pg.NewDB(t)
	e := newStoreEnv(t)
	if _, stderr, err := e.run(t, "", "ingest", "../../parser/testdata"); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}
	big := filepath.Join(t.TempDir(), "big.eml")
	bigRaw := []byte("From: abuse@example.net\r\nSubject: large\r\n\r\n" + strings.Repeat("0123456789abcdef", (config.DefaultMaxMessageBytes+3<<20)/16))
	if err := os.WriteFile(big, bigRaw, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, stderr, err := e.run(t, "", "ingest", big); err != nil {
		t.Fatalf("ingest %s: %v\n%s", big, err, stderr)
	}
	st, err := store.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateGrant(context.Background(), store.Grant{Provider: "ovh", ServerIP: "51.91.10.20", Source: "198.51.100.7/32",
		By: "alice", Reason: "scanner", Status: "active", ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	out, stderr, err := e.run(t, "", "migrate", "--to", dsn, "--json")
	if err != nil {
		t.Fatalf("migrate: %v\n%s", err, stderr)
	}
	var res migrateJSON
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("migrate --json: %v\n%s", err, out)
	}
	rows := map[string]int64{}
	for _, c := range res.Tables {
		if c.Source != c.Copied {
			t.Errorf("%s: %d rows, %d copied", c.Table, c.Source, c.Copied)
		}
		rows[c.Table] = c.Copied
	}
	for _, table := range []string{"messages", "raw", "notices", "incidents", "tasks", "grants", "checkpoints", "timeline"} {
		if _, ok := rows[table]; !ok {
			t.Errorf("table %s not copied", table)
		}
	}
	for _, table := range []string{"messages", "raw_chunks", "notices", "incidents", "tasks", "grants"} {
		if rows[table] == 0 {
			t.Errorf("table %s copied empty: the fixtures should fill it", table)
		}
	}

	// The copied store, through the CLI on the postgres driver.
	pgCfg := filepath.Join(t.TempDir(), "pg.yaml")
	t.Setenv("ABUSEWATCH_TEST_DSN", dsn)
	// Its own folder: nothing of the SQLite store's is at hand.
	pgDB := filepath.Join(t.TempDir(), "abusewatch.db")
	if err := os.WriteFile(pgCfg, []byte("store:\n  path: "+pgDB+"\n  driver: postgres\n  dsn_env: ABUSEWATCH_TEST_DSN\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	onPG := &cliEnv{cfg: pgCfg, db: pgDB}
	for _, args := range [][]string{{"messages", "list", "--json"}, {"incidents", "list", "--json"}, {"whitelist", "list", "--json"}} {
		lite, _, err := e.run(t, "", args...)
		if err != nil {
			t.Fatalf("%v on SQLite: %v", args, err)
		}
		pgOut, stderr, err := onPG.run(t, "", args...)
		if err != nil {
			t.Fatalf("%v on PostgreSQL: %v\n%s", args, err, stderr)
		}
		if lite != pgOut {
			t.Errorf("%v differs between the drivers:\nSQLite:   %.400s\nPostgres: %.400s", args, lite, pgOut)
		}
	}
	var oversize []struct {
		ID int64 `json:"id"`
	}
	if out, _, err := onPG.run(t, "", "messages", "list", "--status", "oversize", "--json"); err != nil || json.Unmarshal([]byte(out), &oversize) != nil || len(oversize) != 1 {
		t.Fatalf("oversize messages on PostgreSQL: %v\n%s", err, out)
	}
	if raw, stderr, err := onPG.run(t, "", "messages", "show", strconv.FormatInt(oversize[0].ID, 10), "--raw"); err != nil || raw != string(bigRaw) {
		t.Errorf("the large mail on PostgreSQL: %d bytes, %v, want its %d\n%s", len(raw), err, len(bigRaw), stderr)
	}
	// New rows continue after the copied ids.
	if _, stderr, err := onPG.run(t, "", "ingest", "../../internal/demo/demodata"); err != nil {
		t.Fatalf("ingest on PostgreSQL after the copy: %v\n%s", err, stderr)
	}

	if _, _, err := e.run(t, "", "migrate", "--to", dsn); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("second migrate into the same database: %v, want it refused as not empty", err)
	}
}
