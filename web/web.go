// Package web is abusewatch's read-only dashboard: incidents, their evidence
// and suspects, the stored mail and the whitelist grants, rendered on the
// server from the store with html/template and served by the daemon beside
// /metrics and /healthz.
//
// Everything shown may come from a hostile mail. Templates only ever print
// it through html/template's contextual escaping (never as template.HTML),
// control characters are made visible, and the Content-Security-Policy
// allows no inline script, so that a mail cannot run code in the team's
// browser even if an escaping mistake slipped in. Nothing over HTTP changes
// state: every method but GET and HEAD is refused.
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Store is what the dashboard reads; *store.Store implements it.
type Store interface {
	DashboardIncidents(ctx context.Context, f store.IncidentFilter) (store.IncidentPage, error)
	DashboardIncident(ctx context.Context, id int64, page, perPage int) (*store.IncidentView, error)
	DashboardMessages(ctx context.Context, status string, page, perPage int) (store.MessagePage, error)
	MessageByID(ctx context.Context, id int64) (*store.MessageRecord, error)
	OpenRaw(ctx context.Context, id int64) (io.ReadCloser, error)
	Grants(ctx context.Context) ([]store.Grant, error)
	NoticesPerDay(ctx context.Context, from, to time.Time) ([]store.DayCount, error)
	OpenBySeverity(ctx context.Context) (map[int]int, error)
}

// Options tune the dashboard.
type Options struct {
	Logger *slog.Logger
	// Now is the clock of "active" grants and of the chart's 90 days.
	Now func() time.Time
	// PerPage is the length of a page of incidents, notices or mails.
	PerPage int
	// Refresh is how often pages reload themselves (with JavaScript, while
	// visible and nothing is unfolded); 0 means never.
	Refresh time.Duration
}

// ContentSecurityPolicy is sent with every page: scripts and styles from
// the dashboard's own files only (none inline), no frames, no forms
// elsewhere, nothing fetched from anywhere else.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// rawPolicy is the policy of a raw mail shown as text: nothing at all, in a
// sandbox, should a browser ever sniff it as HTML after all.
const rawPolicy = "default-src 'none'; sandbox"

// Handler serves the dashboard's pages under /: /, /incidents,
// /incidents/{id}, /messages, /messages/{id}/raw, /grants and /static/.
func Handler(st Store, opts Options) http.Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.PerPage <= 0 {
		opts.PerPage = 50
	}
	d := &dashboard{st: st, opts: opts, log: opts.Logger, pages: parsePages(), chart: &chartCache{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", d.overview)
	mux.HandleFunc("GET /incidents", d.incidents)
	mux.HandleFunc("GET /incidents/{id}", d.incident)
	mux.HandleFunc("GET /messages", d.messages)
	mux.HandleFunc("GET /messages/{id}/raw", d.raw)
	mux.HandleFunc("GET /grants", d.grants)
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree is fixed at build time
	}
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	return ReadOnly(securityHeaders(mux))
}

// ReadOnly refuses every method but GET and HEAD: the dashboard only reads,
// and so must anything mounted beside it.
func ReadOnly(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "read-only: only GET and HEAD", http.StatusMethodNotAllowed)
			return
		}
		h.ServeHTTP(w, r)
	})
}

func securityHeaders(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hd := w.Header()
		hd.Set("Content-Security-Policy", ContentSecurityPolicy)
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Referrer-Policy", "no-referrer")
		// Pages hold abuse mail and server state: no shared cache keeps them.
		hd.Set("Cache-Control", "no-store")
		h.ServeHTTP(w, r)
	})
}

// RequireToken lets through only requests that carry token, as a bearer
// token or as the password of basic auth (any user name, so that a browser
// can ask for it); others get 401. An empty token lets everything through
// (loopback: config refuses a token-less listen elsewhere).
func RequireToken(token string, h http.Handler) http.Handler {
	if token == "" {
		return h
	}
	// Comparing hashes keeps the comparison's time independent of the
	// token's length as well as its content.
	want := sha256.Sum256([]byte(token))
	ok := func(got string) bool {
		sum := sha256.Sum256([]byte(got))
		return subtle.ConstantTimeCompare(sum[:], want[:]) == 1
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if bearer, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); found && ok(bearer) {
			h.ServeHTTP(w, r)
			return
		}
		if _, pass, found := r.BasicAuth(); found && ok(pass) {
			h.ServeHTTP(w, r)
			return
		}
		w.Header().Set("WWW-Authenticate", `Basic realm="abusewatch", charset="UTF-8"`)
		http.Error(w, "authorization required", http.StatusUnauthorized)
	})
}
