package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"time"

	"github.com/abusewatch/abusewatch/web"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/abusewatch/abusewatch/providers"
)

// mailboxHealthJSON is one mailbox in the /healthz answer.
type mailboxHealthJSON struct {
	Name         string     `json:"name"`
	Connected    bool       `json:"connected"`
	LastSync     *time.Time `json:"last_sync"`
	FailingSince *time.Time `json:"failing_since"`
	Failures     int        `json:"failures"`
	LastError    string     `json:"last_error,omitempty"`
	// Standby is true while another process holds the mailbox.
	Standby bool `json:"standby,omitempty"`
}

// healthJSON is the /healthz answer: "ok" with 200, or "failing" with 503
// while any mailbox is failing, the store cannot be read or a provider API
// refused its credentials.
type healthJSON struct {
	Status    string              `json:"status"`
	Store     string              `json:"store"`
	Mailboxes []mailboxHealthJSON `json:"mailboxes"`
	// ProvidersRefused are the provider APIs that refused their
	// credentials and are not called until a reload.
	ProvidersRefused []providers.AuthFailure `json:"providers_refused"`
	// Holds are the mailboxes this process watches: of several processes
	// on one store, each mailbox is held by one (the others stand by).
	Holds []string `json:"holds"`
}

// lockReporter is what a mailbox's healthReporter also tells when the
// mailbox is watched only while its lock is held.
type lockReporter interface {
	Held() bool
}

// Dashboard is the read-only dashboard (package web) and the token every
// request to the listener then needs ("" on loopback: none).
type Dashboard struct {
	Handler http.Handler
	Token   string
}

// setDashboard mounts d under / beside /metrics and /healthz; Handler
// serves it from then on.
func (m *Metrics) setDashboard(d Dashboard) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.dashboard = d
}

// Handler serves /metrics, /healthz and the dashboard, read-only, behind
// the dashboard's token when it has one.
func (m *Metrics) Handler() http.Handler {
	m.mu.Lock()
	d := m.dashboard
	m.mu.Unlock()
	mux := http.NewServeMux()
	if d.Handler != nil {
		mux.Handle("/", d.Handler)
	}
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(m.log.Handler(), slog.LevelWarn),
		Registry: m.registry, // counts its own scrape errors
	}))
	mux.HandleFunc("GET /healthz", m.serveHealth)
	return web.RequireToken(d.Token, web.ReadOnly(mux))
}

func (m *Metrics) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := m.health(r.Context())
	w.Header().Set("Content-Type", "application/json")
	if h.Status != "ok" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(h) // the client went away: nothing to do
}

func (m *Metrics) health(ctx context.Context) healthJSON {
	st, mailboxes := m.snapshot()
	out := healthJSON{Status: "ok", Store: "ok", Mailboxes: []mailboxHealthJSON{}, Holds: []string{}}
	held := m.held()
	if st != nil {
		ctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
		defer cancel()
		if _, err := st.Stats(ctx); err != nil {
			m.log.Warn("healthz: reading the store", "err", err)
			out.Status, out.Store = "failing", "unreadable"
		}
	}
	for name, h := range mailboxes {
		mh := mailboxHealthJSON{Name: name, Connected: h.Connected, Failures: h.Failures, LastError: h.LastError, Standby: !held[name]}
		if held[name] {
			out.Holds = append(out.Holds, name)
		}
		if !h.LastSync.IsZero() {
			mh.LastSync = &h.LastSync
		}
		if !h.FailingSince.IsZero() {
			mh.FailingSince = &h.FailingSince
			out.Status = "failing"
		}
		out.Mailboxes = append(out.Mailboxes, mh)
	}
	sort.Slice(out.Mailboxes, func(i, j int) bool { return out.Mailboxes[i].Name < out.Mailboxes[j].Name })
	sort.Strings(out.Holds)
	out.ProvidersRefused = append([]providers.AuthFailure{}, m.authFailures()...)
	if len(out.ProvidersRefused) > 0 {
		out.Status = "failing"
	}
	return out
}

// Serve serves Handler on ln until ctx is done, then shuts down gracefully.
// The caller listens, so that a port in use fails before anything starts.
func (m *Metrics) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           m.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	m.log.Info("serving /metrics and /healthz", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("http listener: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("http listener: shutdown: %w", err)
	}
	if err := <-done; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("http listener: %w", err)
	}
	return nil
}
