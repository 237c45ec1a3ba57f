package triage

import "sync"

// capWriter keeps the first max bytes written to it and counts the rest.
// It never fails a write: a command that prints too much keeps streaming
// (and is not killed by a broken pipe) while memory stays bounded by max.
// Stdout and stderr write to it from different goroutines, hence the lock.
type capWriter struct {
	mu      sync.Mutex
	max     int64
	buf     []byte
	dropped int64
}

func newCapWriter(max int64) *capWriter {
	return &capWriter{max: max}
}

func (w *capWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	room := w.max - int64(len(w.buf))
	switch {
	case room >= int64(len(p)):
		w.buf = append(w.buf, p...)
	case room > 0:
		w.buf = append(w.buf, p[:room]...)
		w.dropped += int64(len(p)) - room
	default:
		w.dropped += int64(len(p))
	}
	return len(p), nil
}

// result returns a copy of what was kept, safe to hand out even if a
// writer that was given up on (see closeGrace) still writes.
func (w *capWriter) result() ([]byte, int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]byte(nil), w.buf...), w.dropped
}
