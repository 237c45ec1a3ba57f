package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
)

// rawDir is the folder beside the database that keeps mail too large to
// parse, one file per mail, named by its sha256.
const rawDir = "raw"

// RawFile receives a large mail as it streams in, beside the database, so
// that it is never held whole in memory. Commit makes it durable; a mail is
// stored with its file only after that.
type RawFile struct {
	f    *os.File
	dir  string
	h    hash.Hash
	size int64
	done bool
}

// NewRawFile starts a file for one large mail (mode 0600).
func (s *Store) NewRawFile() (*RawFile, error) {
	dir := filepath.Join(s.dir, rawDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: raw file: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	f, err := os.OpenFile(filepath.Join(dir, ".incoming-"+hex.EncodeToString(b[:])), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: raw file: %w", err)
	}
	return &RawFile{f: f, dir: dir, h: sha256.New()}, nil
}

// Write appends to the file and to its checksum.
func (r *RawFile) Write(p []byte) (int, error) {
	n, err := r.f.Write(p)
	r.h.Write(p[:n])
	r.size += int64(n)
	return n, err
}

// Size is the number of bytes written so far.
func (r *RawFile) Size() int64 { return r.size }

// Commit flushes the file to disk, names it by its sha256 and makes the
// name durable too, so that a row pointing at it never outlives it. It
// returns the name to store (relative to the database's folder) and the sum.
func (r *RawFile) Commit() (name string, sum []byte, err error) {
	r.done = true
	tmp := r.f.Name()
	if err := errors.Join(r.f.Sync(), r.f.Close()); err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("store: raw file: %w", err)
	}
	sum = r.h.Sum(nil)
	name = filepath.Join(rawDir, hex.EncodeToString(sum)+".eml")
	if err := os.Rename(tmp, filepath.Join(filepath.Dir(r.dir), name)); err != nil {
		os.Remove(tmp)
		return "", nil, fmt.Errorf("store: raw file: %w", err)
	}
	if err := syncDir(r.dir); err != nil {
		return "", nil, fmt.Errorf("store: raw file: %w", err)
	}
	return name, sum, nil
}

// Abort removes a file that will not be committed; after Commit it does nothing.
func (r *RawFile) Abort() {
	if r.done {
		return
	}
	r.done = true
	r.f.Close()
	os.Remove(r.f.Name())
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// dropUnusedRawFile deletes a committed file that no row points at (the
// mail was a duplicate of another UID, or its ingest failed). Files are
// named by their sum, so a duplicate of the same bytes shares its file.
func (s *Store) dropUnusedRawFile(ctx context.Context, name string) {
	if name == "" {
		return
	}
	var used bool
	if err := s.r.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM messages WHERE raw_path = ?)`, name).Scan(&used); err == nil && !used {
		os.Remove(s.rawFile(name))
	}
}
