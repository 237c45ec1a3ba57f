package pipeline

import (
	"context"
	"database/sql"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

const crashCorpus = 2000

// ingestDir feeds every mail of dir through a pipeline on dbPath.
func ingestDir(ctx context.Context, dbPath, dir string) error {
	st, err := store.Open(ctx, dbPath)
	if err != nil {
		return err
	}
	defer st.Close()
	p := New(Options{Store: st, Notifier: nil})
	files, err := ListMail([]string{dir})
	if err != nil {
		return err
	}
	for _, f := range files {
		err := ReadMail(f, nil, 25<<20, func(m MailFile) error {
			_, err := p.Ingest(ctx, store.Message{Source: store.Source{Path: filepath.Base(m.Path)}, Raw: m.Raw, Size: int64(len(m.Raw))})
			return err
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestCrashChild is the process the crash test kills; it runs only when asked.
func TestCrashChild(t *testing.T) {
	db, dir := os.Getenv("ABUSEWATCH_CRASH_DB"), os.Getenv("ABUSEWATCH_CRASH_DIR")
	if db == "" {
		t.Skip("child of TestCrashSafety only")
	}
	if err := ingestDir(context.Background(), db, dir); err != nil {
		t.Fatal(err)
	}
}

// TestCrashSafety kills a process ingesting 2,000 mails with SIGKILL at
// random points, several times, lets a last run finish, and compares the
// database with one from a run that was never interrupted: the same
// messages, notices, incidents and task keys, none lost and none twice.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test spawns processes")
	}
	dir, _ := writeMaildir(t, crashCorpus)
	clean := filepath.Join(t.TempDir(), "clean.db")
	start := time.Now()
	if err := ingestDir(context.Background(), clean, dir); err != nil {
		t.Fatal(err)
	}
	// Kills are spread over the span of a whole run, process start included.
	span := time.Since(start)/3 + 150*time.Millisecond

	crashed := filepath.Join(t.TempDir(), "crashed.db")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 7))
	kills, partial := 0, 0
	// Keep killing until three kills landed mid-corpus or the corpus is in.
	for attempt := 0; attempt < 20 && partial < 3 && messageCount(t, crashed) < crashCorpus; attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "ABUSEWATCH_CRASH_DB="+crashed, "ABUSEWATCH_CRASH_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.Int64N(int64(span))))
		if err := cmd.Process.Signal(syscall.SIGKILL); err == nil {
			kills++
		}
		_ = cmd.Wait()
		if n := messageCount(t, crashed); n > 0 && n < crashCorpus {
			partial++
		}
	}
	t.Logf("killed the ingesting process %d times, %d times in the middle of the corpus", kills, partial)
	if partial == 0 {
		t.Fatal("no kill landed in the middle of an ingest: the test proved nothing")
	}
	if err := ingestDir(context.Background(), crashed, dir); err != nil {
		t.Fatalf("final run after the crashes: %v", err)
	}

	want, got := snapshot(t, clean), snapshot(t, crashed)
	if got.messages != crashCorpus {
		t.Errorf("messages = %d, want exactly %d", got.messages, crashCorpus)
	}
	for _, c := range []struct {
		name      string
		got, want []string
	}{
		{"notices", got.notices, want.notices},
		{"incidents", got.incidents, want.incidents},
		{"task keys", got.tasks, want.tasks},
	} {
		if !slices.Equal(c.got, c.want) {
			t.Errorf("%s differ from an uninterrupted run: got %d, want %d\nfirst got:  %v\nfirst want: %v",
				c.name, len(c.got), len(c.want), head(c.got), head(c.want))
		}
	}
	if len(want.notices) == 0 || len(want.tasks) == 0 {
		t.Fatal("the corpus produced no notices or tasks: the test would prove nothing")
	}
}

func messageCount(t *testing.T, path string) int {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		return 0
	}
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n int
	err = db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n)
	// A kill before the first migration committed leaves an empty file.
	if err != nil && strings.Contains(err.Error(), "no such table") {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return n
}

type dbSnapshot struct {
	messages                  int
	notices, incidents, tasks []string
}

// snapshot reads what must survive crashes, in a form that does not depend
// on row ids (a killed run burns ids that a clean run does not).
func snapshot(t *testing.T, path string) dbSnapshot {
	t.Helper()
	db, err := sql.Open("sqlite3", "file:"+path+"?mode=ro")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var s dbSnapshot
	if err := db.QueryRow(`SELECT count(*) FROM messages`).Scan(&s.messages); err != nil {
		t.Fatal(err)
	}
	s.notices = column(t, db, `SELECT m.path || '|' || n.seq || '|' || n.provider || '|' || n.kind || '|' || n.ip || '|' || n.case_id
		FROM notices n JOIN messages m ON m.id = n.message`)
	s.incidents = column(t, db, `SELECT provider || '|' || ip || '|' || status || '|' ||
		(SELECT count(*) FROM notices n WHERE n.incident_id = i.id) FROM incidents i`)
	s.tasks = column(t, db, `SELECT kind || '|' || (SELECT provider || '|' || ip FROM incidents WHERE id = t.incident_id) || '|' ||
		(SELECT count(*) FROM tasks t2 WHERE t2.incident_id = t.incident_id AND t2.kind = t.kind) FROM tasks t`)
	return s
}

func column(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v sql.NullString
		if err := rows.Scan(&v); err != nil {
			t.Fatal(err)
		}
		out = append(out, v.String)
	}
	slices.Sort(out)
	return out
}

func head(s []string) string {
	return strings.Join(s[:min(3, len(s))], "; ")
}
