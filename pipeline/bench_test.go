package pipeline

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/store"
)

// BenchmarkIngestMaildir ingests 10,000 fixture mails from a Maildir into a
// fresh store per iteration, as `abusewatch ingest` does (IngestFiles, in
// batches of up to 64 mails per transaction), and reports the rate, the p99
// of one batch and the database size against the raw mail, on each driver. Run: go test ./pipeline -run '^$' -bench IngestMaildir -benchtime 3x
//
// The PostgreSQL cluster is durable as SQLite's WAL with synchronous=NORMAL
// is: fsync on, commits flushed by the WAL writer (synchronous_commit=off),
// so a crash of the server may lose the last moments but never corrupts.
func BenchmarkIngestMaildir(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		benchIngestMaildir(b, func(ctx context.Context) (*store.Store, func() int64) {
			path := filepath.Join(b.TempDir(), "bench.db")
			st, err := store.Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			return st, func() int64 { return fileSize(path) + fileSize(path+"-wal") }
		})
	})
	b.Run("postgres", func(b *testing.B) {
		pg := testserver.StartPostgres(b, "fsync=on", "full_page_writes=on", "synchronous_commit=off")
		benchIngestMaildir(b, func(ctx context.Context) (*store.Store, func() int64) {
			dsn := pg.NewDB(b)
			st, err := store.OpenPostgres(ctx, dsn, b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			return st, func() int64 {
				c, err := pgx.Connect(ctx, dsn)
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close(ctx)
				var size int64
				if err := c.QueryRow(ctx, `SELECT pg_database_size(current_database())`).Scan(&size); err != nil {
					b.Fatal(err)
				}
				return size
			}
		})
	})
}

// benchIngestMaildir is BenchmarkIngestMaildir on the stores open returns,
// with the function that tells their size once closed.
func benchIngestMaildir(b *testing.B, open func(context.Context) (*store.Store, func() int64)) {
	const n = 10000
	dir, rawBytes := writeMaildir(b, n)
	files, err := ListMail([]string{dir})
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	// A batch's results come together: the gap between two results longer
	// than a millisecond is the time one batch took to parse and store.
	var gaps []time.Duration
	var dbBytes int64
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		st, size := open(ctx)
		p := New(Options{Store: st})
		gaps = gaps[:0]
		stored := 0
		b.StartTimer()
		last := time.Now()
		err := p.IngestFiles(ctx, files, nil, 25<<20, func(f FileResult) {
			if f.Err != nil || f.ReadErr != nil {
				b.Fatal(f.Path, f.Err, f.ReadErr)
			}
			if gap := time.Since(last); gap > time.Millisecond {
				gaps = append(gaps, gap)
			}
			last = time.Now()
			stored++
		})
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if stored != n {
			b.Fatalf("%d mails stored, want %d", stored, n)
		}
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
		dbBytes = size()
		b.StartTimer()
	}
	slices.Sort(gaps)
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "mails/s")
	if len(gaps) > 0 {
		b.ReportMetric(float64(gaps[len(gaps)*99/100].Microseconds())/1000, "batch-p99-ms")
	}
	b.ReportMetric(float64(dbBytes)/float64(rawBytes), "db/raw")
	b.ReportMetric(float64(dbBytes)/(1<<20), "db-MiB")
}

func fileSize(path string) int64 {
	info, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return info.Size()
}
