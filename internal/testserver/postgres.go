package testserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pgBinDirs are where distributions put the PostgreSQL server binaries,
// which are not on PATH (Debian: postgresql-15).
var pgBinDirs = []string{
	"/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin",
	"/usr/pgsql-15/bin", "/usr/local/pgsql/bin",
}

// Postgres is a throwaway PostgreSQL cluster on a loopback port, its data in
// a temporary directory, trusting loopback connections of its superuser.
type Postgres struct {
	Addr string // host:port
	User string
	dir  string
	cmd  *exec.Cmd
	done chan struct{}
	log  *bytes.Buffer
	dbs  atomic.Int64
}

// PostgresBin finds initdb and postgres; ok is false when the server is not
// installed.
func PostgresBin() (initdb, postgres string, ok bool) {
	for _, d := range pgBinDirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if _, err := os.Stat(i); err == nil {
			if _, err := os.Stat(p); err == nil {
				return i, p, true
			}
		}
	}
	if i, err := exec.LookPath("initdb"); err == nil {
		if p, err := exec.LookPath("postgres"); err == nil {
			return i, p, true
		}
	}
	return "", "", false
}

// RequirePostgres ends the test (skip, or fail under CI=true) when the
// PostgreSQL server binaries are missing.
func RequirePostgres(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("postgres: integration test skipped in -short mode")
	}
	if _, _, ok := PostgresBin(); ok {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("postgresql is not installed; scripts/test-deps.sh should have installed it")
	}
	t.Skip("postgresql is not installed (run scripts/test-deps.sh)")
}

// StartPostgres starts a cluster for one test and stops it when the test ends.
func StartPostgres(t testing.TB, settings ...string) *Postgres {
	t.Helper()
	RequirePostgres(t)
	p, err := NewPostgres(settings...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Stop)
	return p
}

// NewPostgres starts a cluster outside a test, for a TestMain that shares one
// cluster between a package's tests (initdb takes a second or two). settings
// are extra "name=value" server settings. The caller must Stop it.
//
// PostgreSQL refuses to run as root; as root the cluster runs as nobody, in a
// directory nobody owns. Durability is off (fsync=off) unless settings turn it
// on: the cluster is thrown away, and tests measure the program, not the disk.
func NewPostgres(settings ...string) (*Postgres, error) {
	initdb, postgres, ok := PostgresBin()
	if !ok {
		return nil, errors.New("postgres: server binaries not found")
	}
	dir, err := os.MkdirTemp("", "aw-pg-")
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		// nobody (65534) on Debian; the directory must be its own and 0700.
		cred = &syscall.Credential{Uid: 65534, Gid: 65534}
		if err := os.Chown(dir, 65534, 65534); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	data := filepath.Join(dir, "data")
	p := &Postgres{User: "abusewatch", dir: dir, done: make(chan struct{}), log: &bytes.Buffer{}}
	run := func(name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("postgres: %s: %w\n%s", filepath.Base(name), err, out)
		}
		return nil
	}
	if err := run(initdb, "-D", data, "-U", p.User, "--auth=trust", "--no-sync", "-E", "UTF8", "--locale=C"); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	p.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	args := []string{"-D", data, "-p", strconv.Itoa(port), "-k", dir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=200"}
	for _, s := range settings {
		args = append(args, "-c", s)
	}
	// postgres itself, not pg_ctl, is the child: its pid is the postmaster's,
	// so Stop signals exactly the server it started and waits for it.
	p.cmd = exec.Command(postgres, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	p.cmd.Dir = dir
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("postgres: start: %w", err)
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	if err := p.waitReady(30 * time.Second); err != nil {
		p.Stop()
		return nil, err
	}
	return p, nil
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postgres: free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// waitReady waits for the server to accept connections: the port opens
// before recovery ends, so the check is a psql-free startup of a session.
func (p *Postgres) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		select {
		case <-p.done:
			return fmt.Errorf("postgres exited during startup:\n%s", p.log.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", p.Addr, 200*time.Millisecond); err == nil {
			c.Close()
			if _, err := os.Stat(filepath.Join(p.dir, "data", "postmaster.pid")); err == nil {
				if b, _ := os.ReadFile(filepath.Join(p.dir, "data", "postmaster.pid")); bytes.Contains(b, []byte("ready")) {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres at %s not ready within %s:\n%s", p.Addr, timeout, p.log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// DSN is the URL of database db on the cluster.
func (p *Postgres) DSN(db string) string {
	return fmt.Sprintf("postgres://%s@%s/%s?sslmode=disable", p.User, p.Addr, db)
}

// CreateDB creates a fresh empty database and returns its DSN.
func (p *Postgres) CreateDB(ctx context.Context) (string, error) {
	name := fmt.Sprintf("t%d_%d", os.Getpid(), p.dbs.Add(1))
	c, err := pgx.Connect(ctx, p.DSN("postgres"))
	if err != nil {
		return "", fmt.Errorf("postgres: create database: %w", err)
	}
	defer c.Close(ctx)
	// The name is ours (digits and a letter), so it needs no quoting.
	if _, err := c.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", fmt.Errorf("postgres: create database: %w", err)
	}
	return p.DSN(name), nil
}

// NewDB is CreateDB for a test.
func (p *Postgres) NewDB(t testing.TB) string {
	t.Helper()
	dsn, err := p.CreateDB(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return dsn
}

// Stop shuts the server down (fast shutdown: SIGINT to the postmaster),
// killing its process group if it does not exit in 10 s, and removes its
// directory.
func (p *Postgres) Stop() {
	if p.cmd != nil && p.cmd.Process != nil {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-p.done:
			case <-time.After(10 * time.Second):
				syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
	}
	os.RemoveAll(p.dir)
}
