package store

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
)

// rawDir is the folder beside the database where a large mail is spooled
// while it streams in, and where mail stored before migration 0008 stays,
// one file per mail named by its sha256 (messages.raw_path).
const rawDir = "raw"

// rawChunkSize is the size of the raw_chunks rows a large mail is stored in:
// a large mail is never held whole in memory, and one row stays well below
// either driver's limits.
const rawChunkSize = 1 << 20

// RawFile receives a large mail as it streams in, in a file beside the
// database, so that it is never held whole in memory; Ingest then stores it
// in the database in chunks (Message.Large).
type RawFile struct {
	f    *os.File
	h    hash.Hash
	size int64
}

// NewRawFile starts a spool file for one large mail (mode 0600). Close
// removes it.
func (s *Store) NewRawFile() (*RawFile, error) {
	dir := filepath.Join(s.dir, rawDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: raw file: %w", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand never fails on Linux
	f, err := os.OpenFile(filepath.Join(dir, ".incoming-"+hex.EncodeToString(b[:])), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: raw file: %w", err)
	}
	return &RawFile{f: f, h: sha256.New()}, nil
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

// Sum is the sha256 of the bytes written so far.
func (r *RawFile) Sum() []byte { return r.h.Sum(nil) }

// Close removes the spool file: call it once the mail is stored, or given up.
func (r *RawFile) Close() {
	r.f.Close()
	os.Remove(r.f.Name())
}

// insertChunks stores the spooled mail of message id in raw_chunks, reading
// the file from its start, one chunk at a time.
func (t *txn) insertChunks(id int64, r *RawFile) error {
	buf := make([]byte, rawChunkSize)
	for seq, off := 0, int64(0); off < r.size; seq++ {
		n, err := r.f.ReadAt(buf, off)
		if n == 0 && err != nil {
			return fmt.Errorf("insert raw chunks: %w", err)
		}
		if _, err := t.exec(`INSERT INTO raw_chunks (message, seq, data) VALUES (?, ?, ?)`, id, seq, buf[:n]); err != nil {
			return fmt.Errorf("insert raw chunks: %w", err)
		}
		off += int64(n)
	}
	return nil
}

// chunkReader streams a mail from raw_chunks, one row at a time, and checks
// at the end that it read as many bytes as the message's size.
type chunkReader struct {
	ctx  context.Context
	db   *sql.DB
	id   int64
	size int64
	seq  int
	read int64
	buf  []byte
}

func (c *chunkReader) Read(p []byte) (int, error) {
	for len(c.buf) == 0 {
		err := c.db.QueryRowContext(c.ctx, `SELECT data FROM raw_chunks WHERE message = ? AND seq = ?`, c.id, c.seq).Scan(&c.buf)
		if errors.Is(err, sql.ErrNoRows) {
			if c.read != c.size {
				return 0, fmt.Errorf("store: raw message %d: %d of its %d bytes are stored", c.id, c.read, c.size)
			}
			return 0, io.EOF
		}
		if err != nil {
			return 0, fmt.Errorf("store: raw message %d: %w", c.id, err)
		}
		c.seq++
	}
	n := copy(p, c.buf)
	c.buf = c.buf[n:]
	c.read += int64(n)
	return n, nil
}

func (c *chunkReader) Close() error { return nil }

// openRawFile opens a mail kept in a file beside the database (stored
// before migration 0008).
func (s *Store) openRawFile(id int64, name string) (io.ReadCloser, error) {
	f, err := os.Open(filepath.Join(s.dir, name))
	if err != nil {
		return nil, fmt.Errorf("store: raw message %d: %w", id, err)
	}
	return f, nil
}

// rawBody is a mail from the raw table.
func rawBody(body []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(body)) }
