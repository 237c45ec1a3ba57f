package mailbox

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
)

// session is one logged-in connection with the folder selected.
type session struct {
	w           *Watcher
	c           *imapclient.Client
	uidValidity uint32
	// newMail is signalled (never blocking) by the client's reader goroutine
	// when the server reports EXISTS; the session loop does the fetching, as
	// the handler must not send commands.
	newMail chan struct{}
	// timedOut records that a watchdog closed the connection, to say so in
	// the error instead of a bare "connection closed".
	timedOut atomic.Bool
}

// connect dials, authenticates and selects the folder.
func (w *Watcher) connect(ctx context.Context) (*session, error) {
	cfg := &w.cfg
	addr := net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port))
	s := &session{w: w, newMail: make(chan struct{}, 1)}
	opts := &imapclient.Options{
		TLSConfig: &tls.Config{ServerName: cfg.Host, InsecureSkipVerify: cfg.InsecureSkipVerify},
		UnilateralDataHandler: &imapclient.UnilateralDataHandler{
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					select {
					case s.newMail <- struct{}{}:
					default:
					}
				}
			},
		},
	}
	// Keep-alive probes notice a peer that vanished while we IDLE, when no
	// command of ours is waiting for an answer.
	dialer := &net.Dialer{Timeout: w.opts.CommandTimeout, KeepAlive: 30 * time.Second}
	var conn net.Conn
	var err error
	if cfg.TLS == "tls" {
		conn, err = (&tls.Dialer{NetDialer: dialer, Config: opts.TLSConfig}).DialContext(ctx, "tcp", addr)
	} else {
		conn, err = dialer.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, fmt.Errorf("mailbox %s: connect: %w", cfg.Name, err)
	}

	// Until the client exists, the watchdog closes the raw connection.
	watchdog := time.AfterFunc(w.opts.CommandTimeout, func() { conn.Close() })
	if cfg.TLS == "starttls" {
		s.c, err = imapclient.NewStartTLS(conn, opts)
	} else {
		s.c = imapclient.New(conn, opts)
		err = s.c.WaitGreeting()
	}
	if !watchdog.Stop() && err != nil {
		err = fmt.Errorf("no answer within %s: %w", w.opts.CommandTimeout, err)
	}
	if err != nil {
		conn.Close()
		step := "greeting"
		if cfg.TLS == "starttls" {
			step = "starttls"
		}
		return nil, fmt.Errorf("mailbox %s: %s: %w", cfg.Name, step, err)
	}
	if err := s.login(); err != nil {
		s.c.Close()
		return nil, fmt.Errorf("mailbox %s: login as %s: %w", cfg.Name, cfg.Username, err)
	}
	if err := s.checkAfter(); err != nil {
		s.logout()
		return nil, fmt.Errorf("mailbox %s: after %s: %w", cfg.Name, cfg.After, err)
	}
	// after: none never changes the folder, so it is opened read-only.
	sel, err := await(s, s.c.Select(cfg.Folder, &imap.SelectOptions{ReadOnly: cfg.After == "none"}).Wait)
	if err != nil {
		s.logout()
		return nil, fmt.Errorf("mailbox %s: select %s: %w", cfg.Name, cfg.Folder, err)
	}
	if sel.UIDValidity == 0 {
		s.logout()
		return nil, fmt.Errorf("mailbox %s: select %s: server sent no UIDVALIDITY", cfg.Name, cfg.Folder)
	}
	s.uidValidity = sel.UIDValidity
	w.log.Debug("connected", "folder", cfg.Folder, "uidvalidity", sel.UIDValidity, "messages", sel.NumMessages)
	return s, nil
}

// login authenticates with an OAuth2 token when a token file is set, else
// with the password: AUTHENTICATE PLAIN when offered, LOGIN otherwise.
// Errors carry the server's text, never the secret.
func (s *session) login() error {
	cfg := &s.w.cfg
	var client sasl.Client
	switch {
	case cfg.TokenFile != "":
		// Re-read at every login: an external helper refreshes the token.
		b, err := os.ReadFile(cfg.TokenFile)
		if err != nil {
			return fmt.Errorf("reading token file: %w", err)
		}
		client = &xoauth2Client{username: cfg.Username, token: strings.TrimSpace(string(b))}
	case s.c.Caps().Has(imap.AuthCap(sasl.Plain)):
		client = sasl.NewPlainClient("", cfg.Username, cfg.Password)
	default:
		if s.c.Caps().Has(imap.CapLoginDisabled) {
			return errors.New("server offers neither AUTH=PLAIN nor LOGIN")
		}
		return s.await(s.c.Login(cfg.Username, cfg.Password).Wait)
	}
	return s.await(func() error { return s.c.Authenticate(client) })
}

// checkAfter refuses a move the server cannot do atomically, or to a folder
// that does not exist, before any mail is delivered.
func (s *session) checkAfter() error {
	target, ok := s.w.cfg.MoveTarget()
	if !ok {
		return nil
	}
	// imapclient would fall back to COPY + STORE \Deleted + EXPUNGE, which
	// can expunge other \Deleted mail and leaves copies behind when cut short.
	if !s.c.Caps().Has(imap.CapMove) {
		return errors.New("the server does not support MOVE (RFC 6851); refusing to emulate it with COPY and EXPUNGE")
	}
	boxes, err := await(s, s.c.List("", target, nil).Collect)
	if err != nil {
		return fmt.Errorf("list %s: %w", target, err)
	}
	if len(boxes) == 0 {
		return fmt.Errorf("folder %s does not exist", target)
	}
	return nil
}

// logout ends the session politely, then closes the connection.
func (s *session) logout() {
	if err := s.await(s.c.Logout().Wait); err != nil {
		s.w.log.Debug("logout", "err", err)
	}
	s.c.Close()
}

// await waits for a command under a watchdog. imapclient puts no deadline
// between sending a command and the first byte of its answer, so a peer that
// vanished would block forever; closing the connection fails the command.
func (s *session) await(wait func() error) error {
	_, err := await(s, func() (struct{}, error) { return struct{}{}, wait() })
	return err
}

func await[T any](s *session, wait func() (T, error)) (T, error) {
	wd := s.arm()
	v, err := wait()
	if wd.stop() && err != nil {
		err = fmt.Errorf("no answer within %s: %w", s.w.opts.CommandTimeout, err)
	}
	return v, err
}

// watchdog closes the connection when not kicked for CommandTimeout.
type watchdog struct {
	t *time.Timer
	d time.Duration
}

func (s *session) arm() *watchdog {
	d := s.w.opts.CommandTimeout
	return &watchdog{d: d, t: time.AfterFunc(d, func() {
		s.timedOut.Store(true)
		s.c.Close()
	})}
}

// kick pushes the deadline back: a large body on a slow link is progress,
// not a dead peer.
func (wd *watchdog) kick() { wd.t.Reset(wd.d) }

// stop disarms the watchdog and reports whether it fired.
func (wd *watchdog) stop() bool { return !wd.t.Stop() }

// kickReader kicks a watchdog on every read.
type kickReader struct {
	r  io.Reader
	wd *watchdog
}

func (k kickReader) Read(p []byte) (int, error) {
	k.wd.kick()
	return k.r.Read(p)
}

// sync delivers every message above the checkpoint, in UID order, and
// applies the after-action to each batch that was delivered. It stops
// between messages when ctx is done.
func (s *session) sync(ctx context.Context) error {
	w := s.w
	name := w.cfg.Name
	validity, last, err := w.sink.Checkpoint(ctx, name)
	if err != nil {
		return fmt.Errorf("mailbox %s: checkpoint: %w", name, err)
	}
	if validity != 0 && validity != s.uidValidity {
		w.log.Warn("UIDVALIDITY changed, rescanning the folder", "folder", w.cfg.Folder, "old", validity, "new", s.uidValidity)
		if err := w.sink.ResetCheckpoint(ctx, name, s.uidValidity); err != nil {
			return fmt.Errorf("mailbox %s: reset checkpoint: %w", name, err)
		}
		last = 0
	}

	// "UID n:*" always matches the highest UID, even below n: filter.
	criteria := &imap.SearchCriteria{UID: []imap.UIDSet{{{Start: imap.UID(last + 1), Stop: 0}}}}
	found, err := await(s, s.c.UIDSearch(criteria, nil).Wait)
	if err != nil {
		return fmt.Errorf("mailbox %s: search %s: %w", name, w.cfg.Folder, err)
	}
	uids := slices.DeleteFunc(found.AllUIDs(), func(u imap.UID) bool { return uint32(u) <= last })
	slices.Sort(uids)
	if len(uids) == 0 {
		return nil
	}
	w.log.Debug("ingesting", "folder", w.cfg.Folder, "messages", len(uids), "after_uid", last)

	delivered := 0
	for chunk := range slices.Chunk(uids, w.opts.BatchSize) {
		if err := ctx.Err(); err != nil {
			return err
		}
		sizes, err := s.fetchSizes(chunk)
		if err != nil {
			return fmt.Errorf("mailbox %s: fetch sizes: %w", name, err)
		}
		for _, group := range s.groupBySize(sizes) {
			n, err := s.ingest(ctx, group)
			delivered += n
			if err != nil {
				return err
			}
		}
	}
	w.log.Info("ingested", "folder", w.cfg.Folder, "delivered", delivered)
	return nil
}

type sized struct {
	uid  imap.UID
	size int64
}

// fetchSizes returns the RFC822.SIZE of each UID still in the folder, in
// UID order.
func (s *session) fetchSizes(uids []imap.UID) ([]sized, error) {
	cmd := s.c.Fetch(imap.UIDSetNum(uids...), &imap.FetchOptions{UID: true, RFC822Size: true})
	msgs, err := await(s, cmd.Collect)
	if err != nil {
		return nil, err
	}
	out := make([]sized, 0, len(msgs))
	for _, m := range msgs {
		if m.UID != 0 {
			out = append(out, sized{m.UID, m.RFC822Size})
		}
	}
	slices.SortFunc(out, func(a, b sized) int { return cmp.Compare(a.uid, b.uid) })
	return out, nil
}

// groupBySize splits a chunk into FETCHes of at most BatchBytes of bodies,
// so memory stays bounded whatever the batch size. A message over
// MaxMessageBytes gets a group of its own when the sink streams it, and is
// not downloaded (weighing nothing) otherwise; one over BatchBytes alone
// gets a FETCH of its own.
func (s *session) groupBySize(msgs []sized) [][]sized {
	_, streams := s.w.sink.(LargeSink)
	var groups [][]sized
	var cur []sized
	var bytes int64
	for _, m := range msgs {
		weight := m.size
		if weight > s.w.opts.MaxMessageBytes {
			if streams {
				if len(cur) > 0 {
					groups = append(groups, cur)
				}
				groups = append(groups, []sized{m})
				cur, bytes = nil, 0
				continue
			}
			weight = 0
		}
		if len(cur) > 0 && bytes+weight > s.w.opts.BatchBytes {
			groups = append(groups, cur)
			cur, bytes = nil, 0
		}
		cur = append(cur, m)
		bytes += weight
	}
	if len(cur) > 0 {
		groups = append(groups, cur)
	}
	return groups
}

// ingest fetches a group's bodies, delivers its messages in UID order (in
// one batch when the sink takes batches) and applies the after-action to
// those delivered, even when a later one failed: they are committed and must
// not stay unmarked until the next success.
func (s *session) ingest(ctx context.Context, group []sized) (int, error) {
	w := s.w
	dctx, stop := s.deliveryContext(ctx)
	defer stop()
	if large, ok := w.sink.(LargeSink); ok && len(group) == 1 && group[0].size > w.opts.MaxMessageBytes {
		return s.ingestLarge(ctx, dctx, large, group[0])
	}
	ds, err := s.fetchBodies(group)
	if err != nil {
		return 0, fmt.Errorf("mailbox %s: fetch %s: %w", w.cfg.Name, w.cfg.Folder, err)
	}

	for _, d := range ds {
		if d.Raw == nil {
			w.log.Warn("message not downloaded", "uid", d.UID, "size", d.Size, "reason", d.Reason)
		}
	}
	if done, ok := s.deliverBatch(ctx, dctx, ds); ok {
		return len(done), s.after(done)
	}
	var done []imap.UID
	var derr error
	for _, d := range ds {
		if err := ctx.Err(); err != nil {
			derr = err
			break
		}
		if err := w.sink.Deliver(dctx, d); err != nil {
			derr = fmt.Errorf("mailbox %s: deliver UID %d: %w", w.cfg.Name, d.UID, err)
			break
		}
		done = append(done, imap.UID(d.UID))
	}
	if err := s.after(done); err != nil {
		return len(done), errors.Join(derr, err)
	}
	return len(done), derr
}

// deliverBatch commits ds in one transaction when the sink can. ok is false
// when it cannot, or the batch failed (and nothing of it was committed): the
// caller then delivers the messages one by one.
func (s *session) deliverBatch(ctx, dctx context.Context, ds []Delivery) (done []imap.UID, ok bool) {
	bs, can := s.w.sink.(BatchSink)
	if !can || len(ds) < 2 || ctx.Err() != nil {
		return nil, false
	}
	if err := bs.DeliverBatch(dctx, ds); err != nil {
		s.w.log.Warn("batch not committed: delivering its messages one by one", "messages", len(ds), "err", err)
		return nil, false
	}
	for _, d := range ds {
		done = append(done, imap.UID(d.UID))
	}
	return done, true
}

// deliveryContext is the context of Deliver calls: one that has begun runs to
// its end even when ctx is cancelled (bounded by StopTimeout), since a
// half-done commit is rolled back and would be fetched again, which is
// wasteful but never wrong.
func (s *session) deliveryContext(ctx context.Context) (context.Context, func()) {
	dctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, func() {
		t := time.AfterFunc(s.w.opts.StopTimeout, cancel)
		context.AfterFunc(dctx, func() { t.Stop() })
	})
	return dctx, func() { stop(); cancel() }
}

// ingestLarge streams one message over MaxMessageBytes from its FETCH
// literal to the sink, which makes it durable before it commits; only then,
// and only when the sink kept it, is the server told.
func (s *session) ingestLarge(ctx, dctx context.Context, sink LargeSink, m sized) (int, error) {
	w := s.w
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(imap.UIDSetNum(m.uid), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	wd := s.arm()
	var delivered, kept bool
	err := func() error {
		defer cmd.Close()
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			wd.kick()
			// One UID was asked for: the answer is about it, whatever
			// order its items come in.
			d := Delivery{Mailbox: w.cfg.Name, UIDValidity: s.uidValidity, UID: uint32(m.uid), Size: m.size}
			for item := msg.Next(); item != nil; item = msg.Next() {
				if item, ok := item.(imapclient.FetchItemDataBodySection); ok {
					if item.Literal == nil {
						continue
					}
					d.Size = item.Literal.Size()
					body := kickReader{item.Literal, wd}
					var err error
					if kept, err = sink.DeliverLarge(dctx, d, body); err != nil {
						return fmt.Errorf("mailbox %s: deliver UID %d: %w", w.cfg.Name, d.UID, err)
					}
					// The sink may stop reading early; the rest of the
					// literal must still be read off the connection.
					if _, err := io.Copy(io.Discard, body); err != nil {
						return err
					}
					delivered = true
				}
			}
		}
		return cmd.Close()
	}()
	if wd.stop() && err != nil {
		err = fmt.Errorf("no progress within %s: %w", w.opts.CommandTimeout, err)
	}
	if err != nil {
		return 0, fmt.Errorf("mailbox %s: fetch UID %d: %w", w.cfg.Name, m.uid, err)
	}
	if !delivered {
		return 0, nil // expunged meanwhile
	}
	if !kept {
		w.log.Warn("message too large to keep; left unmarked", "uid", m.uid, "size", m.size)
		return 1, nil
	}
	return 1, s.after([]imap.UID{m.uid})
}

// fetchBodies downloads the bodies of a group with BODY.PEEK[] (which leaves
// \Seen alone), reading each literal straight into a buffer of its size.
// Messages over MaxMessageBytes come back with Raw nil and a Reason; those
// expunged meanwhile are left out.
func (s *session) fetchBodies(group []sized) ([]Delivery, error) {
	w := s.w
	ds := make([]Delivery, 0, len(group))
	var want []imap.UID
	for _, m := range group {
		if m.size > w.opts.MaxMessageBytes {
			ds = append(ds, s.oversize(m.uid, m.size))
		} else {
			want = append(want, m.uid)
		}
	}
	if len(want) == 0 {
		return ds, nil
	}
	section := &imap.FetchItemBodySection{Peek: true}
	cmd := s.c.Fetch(imap.UIDSetNum(want...), &imap.FetchOptions{UID: true, BodySection: []*imap.FetchItemBodySection{section}})
	wd := s.arm()
	err := func() error {
		defer cmd.Close()
		for msg := cmd.Next(); msg != nil; msg = cmd.Next() {
			wd.kick()
			// imapclient hands a UID FETCH only the messages whose UID it
			// saw, so d.UID is set; missing ones were expunged meanwhile.
			d, err := s.readMessage(msg, wd)
			if err != nil {
				return err
			}
			ds = append(ds, d)
		}
		return cmd.Close()
	}()
	if wd.stop() && err != nil {
		err = fmt.Errorf("no progress within %s: %w", s.w.opts.CommandTimeout, err)
	}
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ds, func(a, b Delivery) int { return cmp.Compare(a.UID, b.UID) })
	return ds, nil
}

func (s *session) readMessage(msg *imapclient.FetchMessageData, wd *watchdog) (Delivery, error) {
	var d Delivery
	var raw []byte
	var haveBody bool
	for item := msg.Next(); item != nil; item = msg.Next() {
		switch item := item.(type) {
		case imapclient.FetchItemDataUID:
			d.UID = uint32(item.UID)
		case imapclient.FetchItemDataBodySection:
			haveBody = true
			if item.Literal == nil { // NIL: an empty message
				raw = []byte{}
				continue
			}
			size := item.Literal.Size()
			d.Size = size
			if size > s.w.opts.MaxMessageBytes {
				// RFC822.SIZE said otherwise; never trust a size to allocate.
				if _, err := io.Copy(io.Discard, kickReader{item.Literal, wd}); err != nil {
					return d, err
				}
				continue
			}
			raw = make([]byte, size)
			if _, err := io.ReadFull(kickReader{item.Literal, wd}, raw); err != nil {
				return d, fmt.Errorf("reading UID %d: %w", d.UID, err)
			}
		}
	}
	switch {
	case !haveBody:
		return d, fmt.Errorf("server sent no body for UID %d", d.UID)
	case raw == nil:
		return s.oversize(imap.UID(d.UID), d.Size), nil
	}
	d.Mailbox, d.UIDValidity, d.Raw, d.Size = s.w.cfg.Name, s.uidValidity, raw, int64(len(raw))
	return d, nil
}

func (s *session) oversize(uid imap.UID, size int64) Delivery {
	return Delivery{
		Mailbox:     s.w.cfg.Name,
		UIDValidity: s.uidValidity,
		UID:         uint32(uid),
		Size:        size,
		Reason:      fmt.Sprintf("not downloaded: %d bytes is over the limit of %d", size, s.w.opts.MaxMessageBytes),
	}
}

// after tells the server that the UIDs were processed. The checkpoint
// already says so; a lost flag only costs an operator's view.
func (s *session) after(uids []imap.UID) error {
	if len(uids) == 0 {
		return nil
	}
	cfg := &s.w.cfg
	set := imap.UIDSetNum(uids...)
	if target, ok := cfg.MoveTarget(); ok {
		if _, err := await(s, s.c.Move(set, target).Wait); err != nil {
			return fmt.Errorf("mailbox %s: move to %s: %w", cfg.Name, target, err)
		}
		return nil
	}
	if cfg.After == "flag" {
		store := s.c.Store(set, &imap.StoreFlags{Op: imap.StoreFlagsAdd, Silent: true, Flags: []imap.Flag{Keyword}}, nil)
		if err := s.await(store.Close); err != nil {
			return fmt.Errorf("mailbox %s: flag %s: %w", cfg.Name, Keyword, err)
		}
	}
	return nil
}

// waitForMail returns when the folder may hold new mail or ctx is done. With
// IDLE the server tells; IDLE is restarted every IdleRestart with a NOOP in
// between to prove the connection alive. Without IDLE it waits cfg.Poll.
func (s *session) waitForMail(ctx context.Context) error {
	cfg := &s.w.cfg
	if !s.c.Caps().Has(imap.CapIdle) {
		t := time.NewTimer(cfg.Poll)
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-s.newMail:
		case <-t.C:
		case <-s.c.Closed():
			return s.closedErr()
		}
		return nil
	}
	for {
		idle, err := await(s, s.c.Idle)
		if err != nil {
			return fmt.Errorf("mailbox %s: idle: %w", cfg.Name, err)
		}
		t := time.NewTimer(s.w.opts.IdleRestart)
		restart := false
		select {
		case <-ctx.Done():
		case <-s.newMail:
		case <-t.C:
			restart = true
		case <-s.c.Closed():
			t.Stop()
			idle.Close()
			return s.closedErr()
		}
		t.Stop()
		if err := idle.Close(); err != nil {
			return fmt.Errorf("mailbox %s: stop idle: %w", cfg.Name, err)
		}
		if err := s.await(idle.Wait); err != nil {
			return fmt.Errorf("mailbox %s: stop idle: %w", cfg.Name, err)
		}
		if !restart {
			return nil
		}
		if err := s.await(s.c.Noop().Wait); err != nil {
			return fmt.Errorf("mailbox %s: noop: %w", cfg.Name, err)
		}
		select {
		case <-s.newMail: // reported with the NOOP's answer
			return nil
		default:
		}
	}
}

func (s *session) closedErr() error {
	if s.timedOut.Load() {
		return fmt.Errorf("mailbox %s: connection timed out", s.w.cfg.Name)
	}
	return fmt.Errorf("mailbox %s: connection closed by the server", s.w.cfg.Name)
}
