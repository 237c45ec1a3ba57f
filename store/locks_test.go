package store

import (
	"context"
	"testing"
	"time"
)

// TestLocks: of two stores on one database (two processes), one holds a
// lock at a time; a release hands it over; names are independent.
func TestLocks(t *testing.T) {
	ctx := context.Background()
	a, loc := openTest(t)
	b, err := openAt(t, loc)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	try := func(s *Store, name string) *Lock {
		t.Helper()
		l, held, err := s.TryLock(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			return nil
		}
		return l
	}
	la := try(a, "mailbox:abuse")
	if la == nil {
		t.Fatal("first TryLock not held")
	}
	if l := try(b, "mailbox:abuse"); l != nil {
		t.Fatal("a second process took a held lock")
	}
	other := try(b, "mailbox:other")
	if other == nil {
		t.Fatal("another name's lock not held")
	}
	defer other.Release()
	if err := la.Release(); err != nil {
		t.Fatal(err)
	}
	if err := la.Release(); err != nil {
		t.Fatalf("second Release: %v", err)
	}
	lb := try(b, "mailbox:abuse")
	if lb == nil {
		t.Fatal("lock not taken over after its release")
	}
	defer lb.Release()
	select {
	case <-lb.Lost():
		t.Fatal("a held lock reports lost")
	default:
	}
}

// TestLockLostWithItsConnection: when the server ends the holder's
// connection (as when its machine vanished), the holder is told and another
// process takes the lock.
func TestLockLostWithItsConnection(t *testing.T) {
	ctx := context.Background()
	dsn := newPGDatabase(t)
	a, err := OpenPostgres(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := OpenPostgres(ctx, dsn, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	l, held, err := a.TryLock(ctx, "mailbox:abuse")
	if err != nil || !held {
		t.Fatalf("TryLock: %v, %v", held, err)
	}
	defer l.Release()
	if _, err := b.w.ExecContext(ctx, `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'abusewatch lock' AND datname = current_database()`); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(lockPing + lockPingTimeout + time.Second):
		t.Fatal("the holder was not told its lock was lost")
	}
	lb, held, err := b.TryLock(ctx, "mailbox:abuse")
	if err != nil || !held {
		t.Fatalf("TryLock after the holder's connection ended: %v, %v", held, err)
	}
	lb.Release()
}
