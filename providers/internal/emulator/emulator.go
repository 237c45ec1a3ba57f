// Package emulator is the core the provider API emulators (ovhtest,
// robottest, cloudtest) share, so that each of them holds only what its API
// does: an httptest server that serves one request at a time under one lock,
// records every request, passes it through the API's gates (authentication,
// rate limits, injected faults) and routes it with http.ServeMux patterns;
// a clock tests can move; sliding-window limits; and the JSON and form
// helpers the handlers answer and read with.
package emulator

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"
)

// maxBody bounds what a request body may hold: every body the emulated
// calls take is a few hundred bytes.
const maxBody = 1 << 20

// Gate runs before routing, with the lock held. It answers and returns
// false to stop the request (a failed login, a rate limit, a fault), or
// returns true to let it through.
type Gate func(w http.ResponseWriter, r *http.Request) bool

// Options are what differs between the APIs in the core's own work.
type Options struct {
	// Record formats a request for Requests (default "METHOD /path?query").
	Record func(r *http.Request) string
	// Unrouted answers a request no pattern matches, in the API's error
	// shape; status is 405 when the path matches for another method, else
	// 404 (default http.Error).
	Unrouted func(w http.ResponseWriter, r *http.Request, status int)
}

// Server is the core of one emulator.
type Server struct {
	srv  *httptest.Server
	mux  *http.ServeMux
	opts Options

	mu         sync.Mutex
	gates      []Gate
	requests   []string
	faults     []int
	retryAfter int // seconds; sent with each fault when > 0
	offset     time.Duration
}

// New starts a server routing nothing yet; the emulator adds its gates
// (Use) and routes (Handle) before handing out URL. With t non-nil it is
// closed when the test ends.
func New(t testing.TB, opts Options) *Server {
	if opts.Record == nil {
		opts.Record = func(r *http.Request) string { return r.Method + " " + r.URL.RequestURI() }
	}
	if opts.Unrouted == nil {
		opts.Unrouted = func(w http.ResponseWriter, _ *http.Request, status int) {
			http.Error(w, http.StatusText(status), status)
		}
	}
	s := &Server{mux: http.NewServeMux(), opts: opts}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	if t != nil {
		t.Cleanup(s.Close)
	}
	return s
}

// URL is the server's base URL (no trailing slash).
func (s *Server) URL() string { return s.srv.URL }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Lock takes the lock every request is served under; an emulator's own
// methods (seeding, inspecting) hold it too.
func (s *Server) Lock() { s.mu.Lock() }

// Unlock releases the lock.
func (s *Server) Unlock() { s.mu.Unlock() }

// Use appends gates, run in order before routing.
func (s *Server) Use(gates ...Gate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gates = append(s.gates, gates...)
}

// Handle routes an http.ServeMux pattern ("GET /v1/servers/{id}") to h,
// which runs with the lock held.
func (s *Server) Handle(pattern string, h http.HandlerFunc) { s.mux.HandleFunc(pattern, h) }

// Requests returns every request received, formatted by Options.Record,
// those a gate refused included.
func (s *Server) Requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.requests...)
}

// FailNext queues HTTP statuses that the next requests reaching the Faults
// gate fail with, in order.
func (s *Server) FailNext(statuses ...int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, statuses...)
}

// SetRetryAfter makes the faults FailNext queues carry Retry-After:
// seconds (0: none).
func (s *Server) SetRetryAfter(seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.retryAfter = seconds
}

// Faults is the gate that fails a request with the next queued status,
// written by write in the API's error shape. Where an emulator puts it
// among its gates is where the real API's failures happen (before or after
// authentication).
func (s *Server) Faults(write func(w http.ResponseWriter, status int)) Gate {
	return func(w http.ResponseWriter, _ *http.Request) bool {
		if len(s.faults) == 0 {
			return true
		}
		status := s.faults[0]
		s.faults = s.faults[1:]
		if s.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(s.retryAfter))
		}
		write(w, status)
		return false
	}
}

// Controls are what every emulator offers its tests besides its API's own
// seeding: faults to inject, the request log, closing. Each emulator's
// Server embeds them.
type Controls struct{ core *Server }

// Controls returns the Controls of s.
func (s *Server) Controls() Controls { return Controls{s} }

// FailNext makes the next requests that reach the emulator's fault gate
// fail with these HTTP statuses, in order, in the API's error shape.
func (c Controls) FailNext(statuses ...int) { c.core.FailNext(statuses...) }

// SetRetryAfter makes the failures FailNext injects carry Retry-After:
// seconds (0: none).
func (c Controls) SetRetryAfter(seconds int) { c.core.SetRetryAfter(seconds) }

// Requests returns every request received, those refused included.
func (c Controls) Requests() []string { return c.core.Requests() }

// Close stops the emulator.
func (c Controls) Close() { c.core.Close() }

// Now is the emulator's clock: the local clock moved by Advance and
// SetClockOffset. Call it with the lock held (handlers and gates do).
func (s *Server) Now() time.Time { return time.Now().Add(s.offset) }

// Advance moves the clock forward, so tests wait out limits and locks
// without sleeping.
func (s *Server) Advance(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset += d
}

// SetClockOffset sets the clock to the local clock plus d.
func (s *Server) SetClockOffset(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.offset = d
}

type bodyKey struct{}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil || len(body) > maxBody {
		http.Error(w, "request body unreadable or too large", http.StatusRequestEntityTooLarge)
		return
	}
	r = r.WithContext(context.WithValue(r.Context(), bodyKey{}, body))
	r.Body = io.NopCloser(bytes.NewReader(body))

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, s.opts.Record(r))
	for _, g := range s.gates {
		if !g(w, r) {
			return
		}
	}
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.opts.Unrouted(w, r, unroutedStatus(s.mux, r))
		return
	}
	s.mux.ServeHTTP(w, r)
}

// unroutedStatus is what the mux itself would answer (404, or 405 when the
// path has routes for other methods), so the API's shape can carry it.
func unroutedStatus(mux *http.ServeMux, r *http.Request) int {
	h, _ := mux.Handler(r)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code == http.StatusMethodNotAllowed {
		return http.StatusMethodNotAllowed
	}
	return http.StatusNotFound
}

// Body is the request's body, read once by the core (the OVH signature
// covers it; handlers decode it).
func Body(r *http.Request) []byte {
	b, _ := r.Context().Value(bodyKey{}).([]byte)
	return b
}

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // the client went away: nothing to do
}

// DecodeJSON decodes the request's body into v.
func DecodeJSON(r *http.Request, v any) error {
	if err := json.Unmarshal(Body(r), v); err != nil {
		return fmt.Errorf("decoding the body: %w", err)
	}
	return nil
}

// ErrNotForm is Form's error for a body that is not form-encoded.
var ErrNotForm = errors.New("the body must be application/x-www-form-urlencoded")

// Form decodes an application/x-www-form-urlencoded body, refusing any
// other content type.
func Form(r *http.Request) (url.Values, error) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		return nil, ErrNotForm
	}
	return url.ParseQuery(string(Body(r)))
}

// Window counts requests over a sliding period, as the APIs' hourly limits
// do.
type Window struct {
	Limit  int
	Period time.Duration
	calls  []time.Time
}

// Take counts a request at now if the window has room. It returns whether
// it had, the requests left after this one, and when the oldest counted
// request leaves the window (the earliest a refused request may succeed).
func (l *Window) Take(now time.Time) (ok bool, remaining int, reset time.Time) {
	for len(l.calls) > 0 && now.Sub(l.calls[0]) >= l.Period {
		l.calls = l.calls[1:]
	}
	if len(l.calls) >= l.Limit {
		if len(l.calls) == 0 { // a limit of 0 refuses everything
			return false, 0, now.Add(l.Period)
		}
		return false, 0, l.calls[0].Add(l.Period)
	}
	l.calls = append(l.calls, now)
	return true, l.Limit - len(l.calls), l.calls[0].Add(l.Period)
}
