// Package notifytest provides a chat webhook receiver for tests: it accepts
// what shoutrrr's generic webhook and Mattermost services send, records it,
// and can be told to fail, to hang, or to go away and come back on the same
// port, so that outbox retries can be tested end to end.
package notifytest

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// Request is one HTTP request the receiver got.
type Request struct {
	Method string
	Path   string
	Header http.Header
	// Body is the raw request body.
	Body string
	// Text is the chat message: the "text" field of a Mattermost payload, the
	// "message" field of a generic JSON payload, or the plain body.
	Text string
	// Status is what the receiver answered; 0 for a held request.
	Status int
	// At is when the request's body was read (latency benchmarks).
	At time.Time
}

// Receiver is a local HTTP server standing in for a chat service.
type Receiver struct {
	tb   testing.TB
	addr string

	mu       sync.Mutex
	srv      *http.Server
	listener net.Listener
	release  chan struct{} // closed by Stop: frees held requests
	requests []Request
	fail     []int // statuses for the next requests, in order
	hold     int   // how many of the next requests to hold
}

// NewReceiver starts a receiver on a free loopback port. It stops when the
// test ends.
func NewReceiver(tb testing.TB) *Receiver {
	tb.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("notifytest: listen: %v", err)
	}
	r := &Receiver{tb: tb, addr: l.Addr().String()}
	r.serve(l)
	tb.Cleanup(r.Stop)
	return r
}

// Addr is the receiver's host:port; it stays the same across Stop and Start.
func (r *Receiver) Addr() string { return r.addr }

// GenericURL is a shoutrrr generic webhook URL posting plain text to path.
func (r *Receiver) GenericURL(path string) string {
	return fmt.Sprintf("generic://%s/%s?disabletls=yes", r.addr, path)
}

// MattermostURL is a shoutrrr Mattermost URL; the receiver sees it as a POST
// to /hooks/TOKEN.
func (r *Receiver) MattermostURL(token string) string {
	return fmt.Sprintf("mattermost://%s/%s?disabletls=yes", r.addr, token)
}

// FailNext makes the next n requests fail with status.
func (r *Receiver) FailNext(n, status int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for range n {
		r.fail = append(r.fail, status)
	}
}

// HoldNext makes the next n requests hang without an answer until the
// client gives up or the receiver stops: a chat service that timed out.
func (r *Receiver) HoldNext(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hold += n
}

// Reset forgets recorded requests and pending FailNext and HoldNext orders.
func (r *Receiver) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.requests, r.fail, r.hold = nil, nil, 0
}

// Requests returns every request received, answered or not.
func (r *Receiver) Requests() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Request(nil), r.requests...)
}

// Deliveries returns the requests that were accepted (answered 200).
func (r *Receiver) Deliveries() []Request {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []Request
	for _, q := range r.requests {
		if q.Status == http.StatusOK {
			out = append(out, q)
		}
	}
	return out
}

// Stop closes the listener and every connection: senders now get
// "connection refused". Stopping twice is harmless.
func (r *Receiver) Stop() {
	r.mu.Lock()
	srv, l, release := r.srv, r.listener, r.release
	r.srv, r.listener = nil, nil
	r.mu.Unlock()
	if srv == nil {
		return
	}
	close(release)
	// Close the listener ourselves: srv.Close only knows it once the Serve
	// goroutine has started, and the port must be closed when Stop returns.
	_ = l.Close()
	// srv.Close closes the listener again once Serve has registered it: that
	// second close is expected to fail.
	if err := srv.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		r.tb.Errorf("notifytest: stop: %v", err)
	}
}

// Start listens again on the same address after Stop. It is a no-op when
// the receiver is running.
func (r *Receiver) Start() {
	r.tb.Helper()
	r.mu.Lock()
	running := r.srv != nil
	r.mu.Unlock()
	if running {
		return
	}
	l, err := net.Listen("tcp", r.addr)
	if err != nil {
		r.tb.Fatalf("notifytest: listen again on %s: %v", r.addr, err)
	}
	r.serve(l)
}

func (r *Receiver) serve(l net.Listener) {
	srv := &http.Server{Handler: http.HandlerFunc(r.handle)}
	r.mu.Lock()
	r.srv, r.listener, r.release = srv, l, make(chan struct{})
	r.mu.Unlock()
	go func() {
		err := srv.Serve(l)
		if err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			r.tb.Errorf("notifytest: serve: %v", err)
		}
	}()
}

func (r *Receiver) handle(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	q := Request{Method: req.Method, Path: req.URL.Path, Header: req.Header.Clone(), Body: string(body), Text: messageText(body), At: time.Now()}

	r.mu.Lock()
	hold := r.hold > 0
	status := http.StatusOK
	switch {
	case hold:
		r.hold--
		q.Status = 0
	case len(r.fail) > 0:
		status, r.fail = r.fail[0], r.fail[1:]
		q.Status = status
	default:
		q.Status = status
	}
	r.requests = append(r.requests, q)
	release := r.release
	r.mu.Unlock()

	if hold {
		select {
		case <-req.Context().Done():
		case <-release:
		}
		// Returning normally would send an empty 200; abort the connection
		// instead so the sender sees a failure, as with a dead service.
		panic(http.ErrAbortHandler)
	}
	w.WriteHeader(status)
	if status == http.StatusOK {
		_, _ = io.WriteString(w, "ok")
	} else {
		_, _ = io.WriteString(w, http.StatusText(status))
	}
}

// messageText extracts the chat message from a request body.
func messageText(body []byte) string {
	var payload struct {
		Text    *string `json:"text"`
		Message *string `json:"message"`
	}
	if json.Unmarshal(body, &payload) == nil {
		switch {
		case payload.Text != nil:
			return *payload.Text
		case payload.Message != nil:
			return *payload.Message
		}
	}
	return string(body)
}
