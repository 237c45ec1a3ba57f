package store

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// A Lock is held by one process at a time among all those using the store,
// and let go by the system when its holder dies: a mailbox is watched by the
// process holding its lock. On PostgreSQL it is a session advisory lock on a
// connection of its own, which the server drops with the connection; on
// SQLite, an flock(2) on a file beside the database, which the kernel drops
// with the process. Neither can go stale, so a takeover needs no expiry: it
// waits only for the holder's death to be seen (at once for a killed
// process; within lockDeadAfter for a machine that vanished).
type Lock struct {
	name    string
	lost    chan struct{}
	stop    chan struct{}
	once    sync.Once
	release func() error
	done    chan struct{} // closed when the watch goroutine (PostgreSQL) ends
}

// How a lock's connection is kept alive on PostgreSQL: the holder pings the
// server every lockPing and gives the lock up when a ping fails within
// lockPingTimeout; the server closes the connection of a holder whose
// machine stopped answering after lockDeadAfter (TCP keepalives and user
// timeout, set for that session), which lets the lock go.
const (
	lockPing        = 2 * time.Second
	lockPingTimeout = 3 * time.Second
	lockDeadAfter   = 9 * time.Second
)

// Lost is closed when the lock was lost without Release (its connection
// broke): the holder must stop what the lock guards.
func (l *Lock) Lost() <-chan struct{} { return l.lost }

// Name is the lock's name.
func (l *Lock) Name() string { return l.name }

// Release lets the lock go. It is safe to call more than once.
func (l *Lock) Release() error {
	var err error
	l.once.Do(func() {
		close(l.stop)
		if l.done != nil {
			<-l.done
		}
		err = l.release()
	})
	return err
}

// TryLock takes the lock called name if no process holds it; held is false
// when one does.
func (s *Store) TryLock(ctx context.Context, name string) (l *Lock, held bool, err error) {
	if s.pg {
		l, held, err = s.tryLockPG(ctx, name)
	} else {
		l, held, err = s.tryLockFile(name)
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: lock %s: %w", name, err)
	}
	return l, held, nil
}

// lockKey is the advisory lock key of name: 64 bits of its hash, so that two
// names collide with negligible odds.
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("abusewatch lock\x00" + name))
	return int64(h.Sum64())
}

func (s *Store) tryLockPG(ctx context.Context, name string) (*Lock, bool, error) {
	cfg := s.pgcfg.Copy()
	ms := func(d time.Duration) string { return fmt.Sprint(d.Milliseconds()) }
	cfg.RuntimeParams["application_name"] = "abusewatch lock"
	cfg.RuntimeParams["tcp_keepalives_idle"] = "3"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	cfg.RuntimeParams["tcp_user_timeout"] = ms(lockDeadAfter)
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, false, err
	}
	var held bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, lockKey(name)).Scan(&held); err != nil || !held {
		return nil, false, errors.Join(err, conn.Close(context.Background()))
	}
	l := &Lock{name: name, lost: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{})}
	// Closing the connection ends the session and so the lock; an unlock
	// first would only cost a round trip.
	l.release = func() error { return conn.Close(context.Background()) }
	go func() {
		defer close(l.done)
		t := time.NewTicker(lockPing)
		defer t.Stop()
		for {
			select {
			case <-l.stop:
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(context.Background(), lockPingTimeout)
			err := conn.Ping(pctx)
			cancel()
			if err != nil {
				close(l.lost)
				return
			}
		}
	}()
	return l, true, nil
}

func (s *Store) tryLockFile(name string) (*Lock, bool, error) {
	path := fmt.Sprintf("%s.lock-%016x", s.path, uint64(lockKey(name)))
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, false, nil
		}
		return nil, false, err
	}
	return &Lock{name: name, lost: make(chan struct{}), stop: make(chan struct{}), release: f.Close}, true, nil
}
