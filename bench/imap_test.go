// Package bench holds the end-to-end benchmarks that need real servers and
// the abusewatch binary. Run them with ./bench/imap.sh, which builds the
// binary and passes its path in ABUSEWATCH_BIN.
package bench

import (
	"bytes"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "github.com/mattn/go-sqlite3"

	"github.com/abusewatch/abusewatch/internal/testserver"
)

// fixtures returns distinct mails built from the parser's fixtures.
func fixtures(b *testing.B, n int) [][]byte {
	b.Helper()
	files, err := filepath.Glob("../parser/testdata/*.eml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no fixtures: %v", err)
	}
	var base [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			b.Fatal(err)
		}
		base = append(base, raw)
	}
	mails := make([][]byte, n)
	for i := range mails {
		mails[i] = append(fmt.Appendf(nil, "X-Bench-Seq: %d\r\n", i), base[i%len(base)]...)
	}
	return mails
}

func binary(b *testing.B) string {
	b.Helper()
	bin := os.Getenv("ABUSEWATCH_BIN")
	if bin == "" {
		b.Skip("set ABUSEWATCH_BIN (bench/imap.sh does)")
	}
	return bin
}

// writeConfig writes the daemon's configuration: a SQLite store in dir, or
// the PostgreSQL database dsn when it is set (large mail is kept in dir).
func writeConfig(b *testing.B, d *testserver.Dovecot, dir, after, dsn string) string {
	b.Helper()
	store := fmt.Sprintf("  path: %s/abusewatch.db\n", dir)
	if dsn != "" {
		store += fmt.Sprintf("  driver: postgres\n  dsn: %q\n", dsn)
	}
	cfg := fmt.Sprintf(`store:
%smailboxes:
  - name: bench
    host: 127.0.0.1
    port: %d
    tls: none
    username: %s
    password: %s
    after: %s
    poll: 1h
http:
  listen: 127.0.0.1:0
`, store, d.Port, d.Username, d.Password, after)
	path := filepath.Join(dir, "abusewatch.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		b.Fatal(err)
	}
	return path
}

// run runs a command and returns its wall time and peak RSS in MiB.
func run(b *testing.B, name string, args ...string) (time.Duration, float64) {
	b.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatalf("%s %v: %v", name, args, err)
	}
	// The child's rusage maxrss is no measure: Go starts it with vfork, so
	// it counts the benchmark's own memory (the 10,000 mails) from before
	// the exec. VmHWM, the high-water mark of the memory the exec made, is
	// the program's own; it only grows, so the last reading is the peak
	// but for the final 20 ms.
	var peakKiB int64
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		if hwm, ok := vmHWM(cmd.Process.Pid); ok {
			peakKiB = max(peakKiB, hwm)
		}
		select {
		case err := <-done:
			if err != nil {
				b.Fatalf("%s %v: %v\n%s", name, args, err, tail(out.String()))
			}
			return time.Since(start), float64(peakKiB) / 1024
		case <-tick.C:
		}
	}
}

// vmHWM reads a process's peak resident set size in KiB from /proc.
func vmHWM(pid int) (int64, bool) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kib, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kib, err == nil
		}
	}
	return 0, false
}

func tail(s string) string {
	if len(s) > 2000 {
		return s[len(s)-2000:]
	}
	return s
}

// BenchmarkIMAPBacklog: 10,000 mails (and one of 90 MiB, over the parse
// limit, which is streamed to a file beside the store) in a real Dovecot,
// ingested by `abusewatch watch --once`, against mbsync downloading the same
// folder to a Maildir. Reports both times, their ratio and abusewatch's peak
// RSS, which must stay under 100 MiB: the large mail is never held whole.
// It runs on each store driver.
func BenchmarkIMAPBacklog(b *testing.B) {
	bin := binary(b)
	mbsync := testserver.RequireBinary(b, "mbsync")
	b.Run("sqlite", func(b *testing.B) { benchBacklog(b, bin, mbsync, func() string { return "" }) })
	b.Run("postgres", func(b *testing.B) {
		testserver.RequirePostgres(b)
		pg := testserver.StartPostgres(b)
		benchBacklog(b, bin, mbsync, func() string { return pg.NewDB(b) })
	})
}

// benchBacklog is BenchmarkIMAPBacklog on one store: SQLite when newDSN
// returns "", else a fresh PostgreSQL database for each run.
func benchBacklog(b *testing.B, bin, mbsync string, newDSN func() string) {
	const n = 10000
	for b.Loop() {
		dsn := newDSN()
		d := testserver.StartDovecot(b)
		mails := fixtures(b, n)
		big := append([]byte("From: someone@example.org\r\nSubject: huge\r\nMessage-ID: <huge@bench>\r\n\r\n"),
			bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n"), 90<<20/70)...)
		mails = slices.Insert(mails, n/2, big)
		for i := 0; i < len(mails); i += 500 {
			d.Append(b, "INBOX", mails[i:min(i+500, len(mails))]...)
		}
		dir := b.TempDir()
		cfg := writeConfig(b, d, dir, "flag", dsn)

		mbDir := filepath.Join(dir, "mbsync")
		rc := filepath.Join(dir, "mbsyncrc")
		if err := os.WriteFile(rc, []byte(fmt.Sprintf(`IMAPAccount bench
Host 127.0.0.1
Port %d
User %s
Pass %s
SSLType None
AuthMechs LOGIN

IMAPStore remote
Account bench

MaildirStore local
Path %s/
Inbox %s/INBOX

Channel bench
Far :remote:INBOX
Near :local:INBOX
Sync Pull
Create Near
SyncState *
`, d.Port, d.Username, d.Password, mbDir, mbDir)), 0o600); err != nil {
			b.Fatal(err)
		}
		if err := os.MkdirAll(mbDir, 0o700); err != nil {
			b.Fatal(err)
		}
		mbTime, _ := run(b, mbsync, "-q", "-c", rc, "bench")
		awTime, awRSS := run(b, bin, "--config", cfg, "watch", "--once")

		db := openStore(b, dir, dsn)
		got, err := messageCount(db)
		if err != nil || got != n+1 {
			b.Fatalf("abusewatch stored %d messages (%v), want %d", got, err, n+1)
		}
		if info, err := os.Stat(bigFile(b, db, dir)); err != nil || info.Size() != int64(len(big)) {
			b.Fatalf("the 90 MiB mail is not kept whole beside the store: %v", err)
		}
		if awRSS >= 100 {
			b.Errorf("peak RSS %.1f MiB, want under 100 MiB", awRSS)
		}
		b.ReportMetric(awTime.Seconds(), "abusewatch-s")
		b.ReportMetric(mbTime.Seconds(), "mbsync-s")
		b.ReportMetric(awTime.Seconds()/mbTime.Seconds(), "x-mbsync")
		b.ReportMetric(float64(n+1)/awTime.Seconds(), "mails/s")
		b.ReportMetric(awRSS, "peak-RSS-MiB")
	}
}

// openStore opens the daemon's store for reading: the SQLite file in dir,
// or the PostgreSQL database dsn.
func openStore(b *testing.B, dir, dsn string) *sql.DB {
	b.Helper()
	driver, source := "sqlite3", "file:"+filepath.Join(dir, "abusewatch.db")+"?mode=ro"
	if dsn != "" {
		driver, source = "pgx", dsn
	}
	db, err := sql.Open(driver, source)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// bigFile returns the path of the one mail kept in a file beside the store.
func bigFile(b *testing.B, db *sql.DB, dir string) string {
	b.Helper()
	var name string
	if err := db.QueryRow(`SELECT raw_path FROM messages WHERE status = 'oversize' AND raw_path != ''`).Scan(&name); err != nil {
		b.Fatalf("no oversize mail kept: %v", err)
	}
	return filepath.Join(dir, name)
}

// BenchmarkIMAPLatency: the daemon idles on a real Dovecot (poll 1h, so
// only IDLE can explain a fast pick-up); each of 200 mails is APPENDed and
// timed until its incident is committed in the store. A second connection in
// IDLE measures the server's own APPEND → EXISTS delay in the same run.
func BenchmarkIMAPLatency(b *testing.B) {
	bin := binary(b)
	const n = 200
	for b.Loop() {
		d := testserver.StartDovecot(b)
		dir := b.TempDir()
		cfg := writeConfig(b, d, dir, "flag", "")
		logs := startWatch(b, bin, cfg)
		exists := watchExists(b, d, n)

		db, err := sql.Open("sqlite3", "file:"+filepath.Join(dir, "abusewatch.db")+"?mode=ro&_busy_timeout=1000")
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		// One connection for all APPENDs, so that neither delay includes a
		// login.
		appender := d.Dial(b)
		// A first mail waits for the daemon to be up and idling, so that no
		// measured mail pays for its start.
		mails := fixtures(b, n+1)
		if _, err := waitCommitted(db, appendOne(b, appender, mails[n])); err != nil {
			b.Fatalf("warm-up mail: %v; daemon log:\n%s", err, tail(logs.String()))
		}
		drain(exists)
		var pipeline, server []time.Duration
		incidents := 0
		for i, raw := range mails[:n] {
			start := time.Now()
			uid := appendOne(b, appender, raw)
			var got time.Time
			select {
			case got = <-exists:
			case <-time.After(30 * time.Second):
				b.Fatal("no EXISTS within 30s")
			}
			server = append(server, got.Sub(start))
			// The message, its notices and their incident are one transaction:
			// the message row is the moment the incident is committed.
			withIncident, err := waitCommitted(db, uid)
			if err != nil {
				b.Fatalf("mail %d (UID %d): %v; daemon log:\n%s\ndovecot log:\n%s", i, uid, err, tail(logs.String()), tail(d.Log()))
			}
			pipeline = append(pipeline, time.Since(start))
			if withIncident {
				incidents++
			}
		}
		if incidents == 0 {
			b.Fatal("no mail opened or updated an incident: the fixtures are not notices")
		}
		reportLatency(b, pipeline, server, logs)
		b.ReportMetric(float64(incidents), "mails-with-incident")
	}
}

// startWatch starts `abusewatch watch` on cfg, stopped when the benchmark
// ends, and returns its log (debug: it is shown on failure).
func startWatch(b *testing.B, bin, cfg string) *bytes.Buffer {
	b.Helper()
	daemon := exec.Command(bin, "--config", cfg, "--log-level", "debug", "watch")
	var logs bytes.Buffer
	daemon.Stdout, daemon.Stderr = &logs, &logs
	if err := daemon.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = daemon.Process.Signal(syscall.SIGTERM)
		_ = daemon.Wait()
	})
	return &logs
}

// watchExists idles on INBOX on a connection of its own and sends the time
// of each EXISTS: the server's own APPEND → EXISTS delay.
func watchExists(b *testing.B, d *testserver.Dovecot, n int) chan time.Time {
	b.Helper()
	exists := make(chan time.Time, n*2)
	watcher, err := imapclient.DialInsecure(d.Addr, &imapclient.Options{
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(data *imapclient.UnilateralDataMailbox) {
				if data.NumMessages != nil {
					exists <- time.Now()
				}
			},
		},
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { watcher.Close() })
	if err := watcher.Login(d.Username, d.Password).Wait(); err != nil {
		b.Fatal(err)
	}
	if _, err := watcher.Select("INBOX", nil).Wait(); err != nil {
		b.Fatal(err)
	}
	idle, err := watcher.Idle()
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { idle.Close() })
	return exists
}

// reportLatency reports p50 and p99 of our delays and of the server's, the
// difference of each, and the daemon's errors if it logged any.
func reportLatency(b *testing.B, ours, server []time.Duration, logs *bytes.Buffer) {
	b.Helper()
	slices.Sort(ours)
	slices.Sort(server)
	p := func(s []time.Duration, q int) float64 { return float64(s[len(s)*q/100].Microseconds()) / 1000 }
	b.ReportMetric(p(ours, 50), "p50-ms")
	b.ReportMetric(p(ours, 99), "p99-ms")
	b.ReportMetric(p(server, 50), "server-p50-ms")
	b.ReportMetric(p(server, 99), "server-p99-ms")
	b.ReportMetric(p(ours, 50)-p(server, 50), "above-server-p50-ms")
	b.ReportMetric(p(ours, 99)-p(server, 99), "above-server-p99-ms")
	if strings.Contains(logs.String(), `"level":"ERROR"`) {
		b.Logf("daemon logged errors:\n%s", tail(logs.String()))
	}
}

func drain(c chan time.Time) {
	for {
		select {
		case <-c:
		default:
			return
		}
	}
}

// appendOne APPENDs a mail on an open connection and returns its UID.
func appendOne(b *testing.B, c *imapclient.Client, raw []byte) uint32 {
	b.Helper()
	cmd := c.Append("INBOX", int64(len(raw)), nil)
	if _, err := cmd.Write(raw); err != nil {
		b.Fatal(err)
	}
	if err := cmd.Close(); err != nil {
		b.Fatal(err)
	}
	data, err := cmd.Wait()
	if err != nil {
		b.Fatal(err)
	}
	return uint32(data.UID)
}

func messageCount(db *sql.DB) (int, error) {
	var n int
	err := db.QueryRow(`SELECT count(*) FROM messages`).Scan(&n)
	return n, err
}

// waitCommitted polls the local database (never the IMAP server) until the
// message with this UID is stored, and tells whether it is attached to an
// incident; it reports the last error on a timeout.
func waitCommitted(db *sql.DB, uid uint32) (withIncident bool, err error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		var notices int
		err = db.QueryRow(`SELECT count(n.id) FROM messages m LEFT JOIN notices n ON n.message = m.id
			WHERE m.uid = ? GROUP BY m.id`, uid).Scan(&notices)
		if err == nil {
			return notices > 0, nil
		}
		if time.Now().After(deadline) {
			return false, fmt.Errorf("not stored after 30s (last error: %v)", err)
		}
		time.Sleep(time.Millisecond)
	}
}
