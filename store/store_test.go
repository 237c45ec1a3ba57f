package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestOpenFileModes(t *testing.T) {
	onlySQLite(t)
	s, path := openTest(t)
	// A write makes sure the -wal and -shm files exist while the store is open.
	ingest(t, s, Source{Path: "a.eml"}, mail("a", "ovh|attack|syn_flood|1.2.3.4||3|pass"), nil)
	for _, name := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(name)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", filepath.Base(name), perm)
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o600 {
		t.Errorf("database mode %v, want 0600", perm)
	}
}

func TestOpenMigrates(t *testing.T) {
	onlySQLite(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		file       string // under a fresh temporary directory
		setup      func(t *testing.T, path string)
		wantQueued int
	}{
		{"missing file", "aw.db", nil, 0},
		{"empty file", "aw.db", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"missing directory", "sub/dir/aw.db", nil, 0},
		{"first schema, with a queued task", "aw.db", func(t *testing.T, path string) {
			db, err := sql.Open("sqlite3", path)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(ms[0].sql); err != nil {
				t.Fatal(err)
			}
			if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = 1; PRAGMA application_id = %d;
				INSERT INTO tasks (kind, key, run_at, created_at) VALUES ('state', 'kept', 0, 0)`, applicationID)); err != nil {
				t.Fatal(err)
			}
		}, 1},
		{"path with URI characters", "a?b#c%20d.db", nil, 0},
		{"already migrated", "aw.db", func(t *testing.T, path string) {
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := s.Enqueue(context.Background(), NewTask{Kind: "state", Key: "kept"}); err != nil {
				t.Fatal(err)
			}
			s.Close()
		}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file)
			if tt.setup != nil {
				tt.setup(t, path)
			}
			s, err := Open(context.Background(), path)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("database not at %s: %v", path, err)
			}
			v, err := s.SchemaVersion(context.Background())
			if want := ms[len(ms)-1].version; err != nil || v != want {
				t.Fatalf("schema version %d, %v; want %d", v, err, want)
			}
			if st := stats(t, s); st.QueuedTasks != tt.wantQueued {
				t.Errorf("queued tasks %d, want %d", st.QueuedTasks, tt.wantQueued)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	onlySQLite(t)
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		pragma  string // run on a fresh abusewatch database
		raw     []byte // or the file's content
		wantErr string
	}{
		// Each wave adds migrations: a version far ahead stays newer than any.
		{name: "newer schema", pragma: "PRAGMA user_version = 99",
			wantErr: fmt.Sprintf("store: database schema version 99 is newer than this abusewatch knows (%d); upgrade abusewatch", ms[len(ms)-1].version)},
		{name: "other application", pragma: "PRAGMA application_id = 42", wantErr: "is not abusewatch's"},
		{name: "not a database", raw: []byte(strings.Repeat("this is not sqlite\n", 100)), wantErr: "not a database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "aw.db")
			if tt.raw != nil {
				if err := os.WriteFile(path, tt.raw, 0o600); err != nil {
					t.Fatal(err)
				}
			} else {
				s, err := Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				s.Close()
				db, err := sql.Open("sqlite3", path)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := db.Exec(tt.pragma); err != nil {
					t.Fatal(err)
				}
				db.Close()
			}
			s, err := Open(context.Background(), path)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
}

func TestGrants(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	id, err := s.CreateGrant(ctx, Grant{Provider: "ovh", ServerIP: "51.91.10.20", Source: "203.0.113.7", By: "ops",
		Reason: "locked out", Status: "active", ExpiresAt: fromMS(ms(time.Now().Add(2 * time.Hour)))})
	if err != nil {
		t.Fatal(err)
	}
	g, err := s.GrantByID(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if g.Source != "203.0.113.7" || g.Status != "active" || g.RevokedAt != nil || g.CreatedAt.IsZero() {
		t.Fatalf("grant read back as %+v", g)
	}
	revoked := fromMS(ms(time.Now()))
	g.Status, g.RevokedAt, g.RuleRef = "revoked", &revoked, "fw-rule-9"
	if err := s.UpdateGrant(ctx, *g); err != nil {
		t.Fatal(err)
	}
	all, err := s.Grants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Status != "revoked" || all[0].RevokedAt == nil || !all[0].RevokedAt.Equal(revoked) ||
		all[0].RuleRef != "fw-rule-9" || !all[0].ExpiresAt.Equal(g.ExpiresAt) {
		t.Fatalf("grants %+v", all)
	}
	if _, err := s.GrantByID(ctx, id+1); !errors.Is(err, ErrNotFound) {
		t.Errorf("GrantByID(missing) = %v, want ErrNotFound", err)
	}
	if err := s.UpdateGrant(ctx, Grant{ID: id + 1}); !errors.Is(err, ErrNotFound) {
		t.Errorf("UpdateGrant(missing) = %v, want ErrNotFound", err)
	}
}

// TestMigrationRebuildsMessagesKeepingTheirRows: migration 3 rebuilds the
// messages table to widen its status vocabulary; every row, and every notice and
// raw body that points at one, must survive it.
func TestMigrationRebuildsMessagesKeepingTheirRows(t *testing.T) {
	onlySQLite(t)
	path := filepath.Join(t.TempDir(), "aw.db")
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite3", path+"?_foreign_keys=on")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:2] {
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	if _, err := db.Exec(fmt.Sprintf(`PRAGMA user_version = 2; PRAGMA application_id = %d;
		INSERT INTO messages (id, sha256, size, received_at, status, reason, subject) VALUES (7, x'01', 5, 1000, 'none', 'not abuse', 'hello');
		INSERT INTO raw (message, body) VALUES (7, x'68656c6c6f');
		INSERT INTO incidents (id, provider, ip, status, opened_at) VALUES (3, 'ovh', '51.91.10.20', 'open', 1000);
		INSERT INTO notices (message, seq, incident_id, provider, kind, severity) VALUES (7, 0, 3, 'ovh', 'block', 4);`, applicationID)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open over version 2: %v", err)
	}
	defer s.Close()
	var subject, status string
	var body []byte
	if err := s.r.QueryRow(`SELECT m.subject, m.status, r.body FROM messages m JOIN raw r ON r.message = m.id WHERE m.id = 7`).Scan(&subject, &status, &body); err != nil {
		t.Fatalf("message 7 after the rebuild: %v", err)
	}
	if subject != "hello" || status != "none" || string(body) != "hello" {
		t.Errorf("message 7 = %q %q %q", subject, status, body)
	}
	rows, err := s.r.Query(`PRAGMA foreign_key_check`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	if rows.Next() {
		t.Error("foreign key violations after the rebuild")
	}
	if _, err := s.w.Exec(`INSERT INTO messages (size, received_at, status, reason) VALUES (1, 1, 'oversize', 'x')`); err != nil {
		t.Errorf("status oversize refused after migration 3: %v", err)
	}
	if _, err := s.w.Exec(`INSERT INTO messages (size, received_at, status, reason) VALUES (1, 1, 'bogus', 'x')`); err == nil {
		t.Error("status bogus accepted")
	}
}

// TestMigrationNumbering: versions run 1, 2, … so that a database at version
// n has applied every migration below n; a gap or a repeat is refused.
func TestMigrationNumbering(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files []string
		ok    bool
	}{
		{"contiguous", []string{"0001_a.sql", "0002_b.sql", "0003_c.sql"}, true},
		{"gap", []string{"0001_a.sql", "0002_b.sql", "0004_d.sql"}, false},
		{"repeat", []string{"0001_a.sql", "0002_b.sql", "0002_c.sql"}, false},
		{"not from one", []string{"0002_b.sql"}, false},
		{"none", nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{"m": &fstest.MapFile{Mode: fs.ModeDir | 0o755}}
			for _, f := range tc.files {
				fsys["m/"+f] = &fstest.MapFile{Data: []byte("SELECT 1;")}
			}
			_, err := readMigrations(fsys, "m")
			if (err == nil) != tc.ok {
				t.Errorf("readMigrations(%v) = %v, want ok %v", tc.files, err, tc.ok)
			}
		})
	}
	for _, read := range []func() ([]migration, error){migrations, pgMigrations} {
		if _, err := read(); err != nil {
			t.Errorf("the embedded migrations: %v", err)
		}
	}
}
