// Package mailbox watches one IMAP folder and hands every new message, as raw
// bytes, to a Sink.
//
// The Sink's checkpoint (UIDVALIDITY and the highest committed UID) is the
// only record of what was processed: a message is told to the server (flagged
// or moved) only after the Sink committed it, and the flag is never read back.
// A crash between the two re-flags nothing and loses nothing.
package mailbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// Keyword is the IMAP keyword set on processed mail with `after: flag`.
const Keyword = "$AbuseWatch"

// Sink is where fetched mail goes (the pipeline implements it over the store).
type Sink interface {
	// Checkpoint returns the UIDVALIDITY and highest UID already committed
	// for the mailbox (0, 0 when none).
	Checkpoint(ctx context.Context, mailbox string) (uidValidity, lastUID uint32, err error)
	// ResetCheckpoint records a new UIDVALIDITY with last UID 0 (the folder
	// was recreated): the whole folder is rescanned and the store recognises
	// duplicates.
	ResetCheckpoint(ctx context.Context, mailbox string, uidValidity uint32) error
	// Deliver commits one message durably, advancing the checkpoint in the
	// same transaction. Only after it returns nil is the server told.
	Deliver(ctx context.Context, d Delivery) error
}

// BatchSink is a Sink that can commit the messages of one FETCH together,
// which saves a transaction per message where each costs round trips to a
// database server.
type BatchSink interface {
	Sink
	// DeliverBatch commits ds durably, in order, advancing the checkpoint
	// with them, in one transaction: all of them or, on an error, none. The
	// session then delivers them one by one, so that a message the sink
	// cannot take holds back no other.
	DeliverBatch(ctx context.Context, ds []Delivery) error
}

// LargeSink is a Sink that keeps mail above MaxMessageBytes without holding
// it in memory: the session streams the message's literal to it.
type LargeSink interface {
	Sink
	// DeliverLarge commits one message read from body (d.Raw is nil, d.Size
	// the size the server announced), advancing the checkpoint, after the
	// bytes are durable. kept is false when the message was recorded without
	// its bytes (over the sink's keep limit): the server is then not told,
	// so that the mail stays unflagged for a person to read.
	DeliverLarge(ctx context.Context, d Delivery, body io.Reader) (kept bool, err error)
}

// Delivery is one message of a mailbox.
type Delivery struct {
	Mailbox     string
	UIDValidity uint32
	UID         uint32
	// Raw is the whole message as the server stores it, or nil when it was
	// not downloaded; Reason then says why.
	Raw    []byte
	Size   int64
	Reason string
}

// Options tune a Watcher. The zero value of each field picks its default.
type Options struct {
	// MaxMessageBytes: a larger message is streamed to a LargeSink, or
	// delivered with Raw nil and a Reason to another Sink. Default 25 MiB.
	MaxMessageBytes int64
	// Logger is the mailbox's logger; nothing is logged when nil.
	Logger *slog.Logger
	// BatchSize is the number of UIDs per FETCH. Default 100.
	BatchSize int
	// BatchBytes bounds the message bytes fetched by one FETCH, and so the
	// bodies held in memory at once (a single message may exceed it, up to
	// MaxMessageBytes). Default 8 MiB.
	BatchBytes int64
	// IdleRestart is how long one IDLE runs before it is stopped and the
	// connection checked with a NOOP. Default 25 minutes, under the 30
	// minutes after which servers may drop an idle client (RFC 9051).
	IdleRestart time.Duration
	// CommandTimeout is how long to wait for the server to answer a
	// command before the connection is considered dead. Default 1 minute.
	CommandTimeout time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections,
	// which doubles after each failure. Defaults 1 second and 5 minutes.
	MinBackoff, MaxBackoff time.Duration
	// StopTimeout bounds how long a Deliver in flight may run once the
	// context is cancelled; it is not cancelled before. Default 30 seconds.
	StopTimeout time.Duration
}

func (o *Options) applyDefaults() {
	if o.MaxMessageBytes <= 0 {
		o.MaxMessageBytes = config.DefaultMaxMessageBytes
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 100
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.IdleRestart <= 0 {
		o.IdleRestart = 25 * time.Minute
	}
	if o.CommandTimeout <= 0 {
		o.CommandTimeout = time.Minute
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
}

// Health is a snapshot of a Watcher's state, for /healthz and the "mailbox
// failing" event.
type Health struct {
	// Connected is true while a session is logged in with the folder selected.
	Connected bool
	// LastSync is when the folder was last fully ingested.
	LastSync time.Time
	// LastError is the most recent failure ("" if none since the last sync).
	LastError string
	// FailingSince is when the current run of failures began (zero when healthy).
	FailingSince time.Time
	// Failures counts consecutive failed connection attempts or sessions.
	Failures int
}

// Watcher watches one mailbox. Watchers share nothing: one failing mailbox
// never holds up another.
type Watcher struct {
	cfg  config.Mailbox
	sink Sink
	opts Options
	log  *slog.Logger

	mu     sync.Mutex
	health Health
}

// New returns a Watcher for a validated mailbox configuration.
func New(cfg config.Mailbox, sink Sink, opts Options) *Watcher {
	opts.applyDefaults()
	if cfg.Poll <= 0 {
		// A configuration built in code skipped config's defaults; a zero
		// interval would poll in a busy loop.
		cfg.Poll = time.Minute
	}
	return &Watcher{cfg: cfg, sink: sink, opts: opts, log: opts.Logger}
}

// Health returns the Watcher's current state.
func (w *Watcher) Health() Health {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.health
}

// Run watches the mailbox until ctx is done, reconnecting with exponential
// backoff and jitter after any failure. It returns nil once ctx is done: a
// Deliver in flight is finished first and the session logged out.
func (w *Watcher) Run(ctx context.Context) error {
	backoff := w.opts.MinBackoff
	for {
		synced, err := w.session(ctx, true)
		if ctx.Err() != nil {
			return nil
		}
		if synced {
			// The server worked a moment ago: this is a fresh outage, not
			// the next step of an old one.
			backoff = w.opts.MinBackoff
		}
		failures := w.fail(err)
		// Half fixed, half random: watchers cut off together do not
		// reconnect in lockstep.
		delay := backoff/2 + rand.N(backoff/2+1)
		w.log.Warn("mailbox failing", "err", err, "failures", failures, "retry_in", delay.Round(time.Millisecond))
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, w.opts.MaxBackoff)
	}
}

// Drain connects once, ingests everything above the checkpoint, applies the
// after-action and logs out (for `watch --once`).
func (w *Watcher) Drain(ctx context.Context) error {
	if _, err := w.session(ctx, false); err != nil {
		w.fail(err)
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("mailbox %s: drain interrupted: %w", w.cfg.Name, err)
	}
	return nil
}

// session runs one connection: connect, sync and, when watch is set, wait
// for new mail and sync again until ctx is done or the connection fails.
// synced reports whether at least one sync completed.
func (w *Watcher) session(ctx context.Context, watch bool) (synced bool, err error) {
	s, err := w.connect(ctx)
	if err != nil {
		return false, err
	}
	defer s.logout()
	w.setConnected(true)
	defer w.setConnected(false)
	for {
		if err := s.sync(ctx); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return synced, nil
			}
			return synced, err
		}
		synced = true
		w.synced()
		if !watch {
			return true, nil
		}
		if err := s.waitForMail(ctx); err != nil {
			return true, err
		}
		if ctx.Err() != nil {
			return true, nil
		}
	}
}

func (w *Watcher) setConnected(c bool) {
	w.mu.Lock()
	w.health.Connected = c
	w.mu.Unlock()
}

func (w *Watcher) synced() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.health.Failures > 0 {
		w.log.Info("mailbox recovered", "failures", w.health.Failures)
	}
	w.health.LastSync = time.Now()
	w.health.LastError = ""
	w.health.FailingSince = time.Time{}
	w.health.Failures = 0
}

func (w *Watcher) fail(err error) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.health.Failures == 0 {
		w.health.FailingSince = time.Now()
	}
	w.health.Failures++
	w.health.LastError = err.Error()
	return w.health.Failures
}

// Check connects, logs in and opens the folder as a watcher would, then
// logs out: one authenticated session, for `config check --online`.
func (w *Watcher) Check(ctx context.Context) error {
	s, err := w.connect(ctx)
	if err != nil {
		return err
	}
	s.logout()
	return nil
}
