package web_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/web"
)

func serve(t testing.TB, f *fixture) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(web.Handler(f.st, web.Options{Now: func() time.Time { return f.now }, Refresh: 0}))
	t.Cleanup(srv.Close)
	return srv
}

func get(t testing.TB, url string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

// unescaped finds markup a hostile string would have added had it not been
// escaped: tags the templates never write, and event handler attributes.
var unescaped = regexp.MustCompile(`(?i)<script>|<script src="http|<img|<svg[ /]on|<style>|<iframe|<b id=|\son\w+=['"]|href=["']?javascript:|\x1b|\x07`)

func TestPages(t *testing.T) {
	f := newFixture(t)
	srv := serve(t, f)
	tests := []struct {
		path string
		want []string // in the page's HTML
	}{
		{"/", []string{"Open incidents", "by provider", "by attack", "<svg", "<rect"}},
		{"/incidents", []string{`href="/incidents/`, "Older »"}},
		{"/incidents?status=open&provider=generic&kind=complaint&severity=complaint", []string{"192.0.2.100"}},
		{"/incidents?q=192.0.2.10", []string{"192.0.2.100", "192.0.2.106"}},
		{fmt.Sprintf("/incidents/%d", f.triaged), []string{"xmrig", "/tmp/.x/xmrig", "<details", "raw mail", "Provider state history", "203.0.113.7", "&lt;script&gt;alert(&#34;h0&#34;)&lt;/script&gt;"}},
		{fmt.Sprintf("/incidents/%d", f.hostile[6]), []string{strings.Repeat("A", 5000)}},
		{fmt.Sprintf("/incidents/%d", f.hostile[5]), []string{`\x1b[2J\x1b]0;pwned\x07`, `\u202e`}},
		{"/messages", []string{"unrecognised", "oversize", "raw mail"}},
		{"/messages?status=oversize", []string{"huge &lt;script&gt;"}},
		{"/grants", []string{"203.0.113.7", "203.0.113.8", "Active", "Past"}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, body := get(t, srv.URL+tt.path)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, body)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); csp != web.ContentSecurityPolicy {
				t.Errorf("CSP %q", csp)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if m := unescaped.FindString(body); m != "" {
				i := strings.Index(body, m)
				t.Errorf("unescaped markup %q in %q", m, body[max(0, i-80):min(len(body), i+80)])
			}
			if strings.Contains(body, "<script") && !strings.Contains(body, `<script src="/static/refresh.js" defer></script>`) {
				t.Errorf("a script other than refresh.js")
			}
		})
	}
}

func TestIncidentFilters(t *testing.T) {
	f := newFixture(t)
	srv := serve(t, f)
	rows := regexp.MustCompile(`<td><a href="/incidents/(\d+)">`)
	tests := []struct {
		query     string
		wantIDs   []int64 // all of them listed
		wantCount int     // -1: any
	}{
		{"q=192.0.2.10", f.hostile, -1},
		{"q=" + strings.Repeat("A", 30), f.hostile[6:], 1},
		{"q=javascript:alert", f.hostile[3:4], 1},
		{"q=192.0.2.60&kind=complaint", []int64{f.many}, 1},
		{"status=resolved", nil, 0},
		{"provider=generic&severity=rescue", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			_, body := get(t, srv.URL+"/incidents?"+tt.query)
			got := map[string]bool{}
			for _, m := range rows.FindAllStringSubmatch(body, -1) {
				got[m[1]] = true
			}
			if tt.wantCount >= 0 && len(got) != tt.wantCount {
				t.Errorf("%d incidents listed, want %d", len(got), tt.wantCount)
			}
			for _, id := range tt.wantIDs {
				if !got[fmt.Sprint(id)] {
					t.Errorf("incident %d not listed", id)
				}
			}
		})
	}
}

func TestIncidentPaging(t *testing.T) {
	f := newFixture(t)
	srv := serve(t, f)
	notices := regexp.MustCompile(`<a href="/messages/\d+/raw">raw mail</a>`)
	tests := []struct {
		page     int
		want     int
		prev     bool
		nextPage bool
	}{{1, 50, false, true}, {2, 50, true, true}, {3, 30, true, false}}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.page), func(t *testing.T) {
			_, body := get(t, fmt.Sprintf("%s/incidents/%d?page=%d", srv.URL, f.many, tt.page))
			if n := len(notices.FindAllString(body, -1)); n != tt.want {
				t.Errorf("%d notices, want %d", n, tt.want)
			}
			if got := strings.Contains(body, "Earlier notices"); got != tt.prev {
				t.Errorf("link to earlier notices: %v", got)
			}
			if got := strings.Contains(body, fmt.Sprintf("?page=%d#notices", tt.page+1)); got != tt.nextPage {
				t.Errorf("link to later notices: %v", got)
			}
		})
	}
	// The list pages too: one page per PerPage incidents, newest first.
	_, body := get(t, srv.URL+"/incidents")
	next := regexp.MustCompile(`href="(/incidents\?before=\d+)"`).FindStringSubmatch(body)
	if next == nil {
		t.Fatal("no link to older incidents")
	}
	_, older := get(t, srv.URL+strings.ReplaceAll(next[1], "&amp;", "&"))
	if !strings.Contains(older, "« Newest") {
		t.Error("older page has no link back")
	}
}

func TestRawMail(t *testing.T) {
	f := newFixture(t)
	srv := serve(t, f)
	resp, body := get(t, fmt.Sprintf("%s/messages/%d/raw", srv.URL, f.oversize))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for h, want := range map[string]string{
		"Content-Type":            "text/plain; charset=utf-8",
		"Content-Security-Policy": "default-src 'none'; sandbox",
		"X-Content-Type-Options":  "nosniff",
	} {
		if got := resp.Header.Get(h); got != want {
			t.Errorf("%s = %q, want %q", h, got, want)
		}
	}
	// Exactly the stored bytes (the oversize mail is in a file, raw_path).
	if !strings.HasPrefix(body, "From: reports@honeypot.example\r\nSubject: huge <script>") || len(body) < 256<<10 {
		t.Errorf("raw mail: %d bytes, starts %q", len(body), body[:min(len(body), 80)])
	}
	for _, path := range []string{"/messages/999999/raw", "/messages/x/raw", "/incidents/999999", "/incidents/-1", "/nope"} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != http.StatusNotFound {
			t.Errorf("%s: status %d, want 404", path, resp.StatusCode)
		}
	}
}

func TestReadOnly(t *testing.T) {
	f := newFixture(t)
	srv := serve(t, f)
	for _, method := range []string{http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch} {
		for _, path := range []string{"/", "/incidents", fmt.Sprintf("/incidents/%d", f.triaged), "/messages", "/grants", "/static/style.css"} {
			req, err := http.NewRequest(method, srv.URL+path, strings.NewReader("status=resolved"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
				t.Errorf("%s %s: status %d, Allow %q", method, path, resp.StatusCode, resp.Header.Get("Allow"))
			}
		}
	}
	// Nothing changed.
	resp, body := get(t, fmt.Sprintf("%s/incidents/%d", srv.URL, f.triaged))
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<span class="badge">open</span>`) {
		t.Errorf("incident changed: %d", resp.StatusCode)
	}
	head, err := http.Head(srv.URL + "/incidents")
	if err != nil {
		t.Fatal(err)
	}
	head.Body.Close()
	if head.StatusCode != http.StatusOK {
		t.Errorf("HEAD: %d", head.StatusCode)
	}
}

func TestRequireToken(t *testing.T) {
	h := web.RequireToken("s3cret", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "in") }))
	tests := []struct {
		name, auth string
		want       int
	}{
		{"none", "", http.StatusUnauthorized},
		{"wrong bearer", "Bearer s3cre", http.StatusUnauthorized},
		{"bearer", "Bearer s3cret", http.StatusOK},
		{"basic", "Basic " + basic("anyone", "s3cret"), http.StatusOK},
		{"wrong basic", "Basic " + basic("s3cret", "nope"), http.StatusUnauthorized},
		{"token as scheme-less header", "s3cret", http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/incidents", nil)
			if tt.auth != "" {
				req.Header.Set("Authorization", tt.auth)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.want {
				t.Errorf("status %d, want %d", rec.Code, tt.want)
			}
			if rec.Code == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("WWW-Authenticate %q", rec.Header().Get("WWW-Authenticate"))
			}
			if strings.Contains(rec.Body.String(), "s3cret") {
				t.Error("the token is in the answer")
			}
		})
	}
}

func basic(user, pass string) string {
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.SetBasicAuth(user, pass)
	return strings.TrimPrefix(req.Header.Get("Authorization"), "Basic ")
}

// TestDaemonAuth is the daemon's listener as configured: off loopback it
// refuses to start without a token, and with one it lets no request in
// without it, the dashboard, /metrics and /healthz alike.
func TestDaemonAuth(t *testing.T) {
	dir := t.TempDir()
	yaml := "store:\n  path: " + filepath.Join(dir, "aw.db") + "\nhttp:\n  listen: 0.0.0.0:9464\n"
	if _, err := config.Parse([]byte(yaml)); err == nil || !strings.Contains(err.Error(), "not a loopback address: set auth_token_env") {
		t.Fatalf("token-less listen off loopback: %v", err)
	}
	t.Setenv("ABUSEWATCH_TEST_DASHBOARD_TOKEN", "tok-"+strings.Repeat("z", 20))
	// Secrets of other sections must not show either.
	t.Setenv("ABUSEWATCH_TEST_CHAT_URL", "generic://hooks.example.net/chat-secret-4711")
	cfg, err := config.Parse([]byte(yaml + "  auth_token_env: ABUSEWATCH_TEST_DASHBOARD_TOKEN\nnotify:\n  - url_env: ABUSEWATCH_TEST_CHAT_URL\n"))
	if err != nil {
		t.Fatal(err)
	}
	metrics := pipeline.NewMetrics(slog.New(slog.DiscardHandler))
	built, err := pipeline.FromConfig(context.Background(), cfg, slog.New(slog.DiscardHandler), pipeline.WithMetrics(metrics))
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	srv := httptest.NewServer(metrics.Handler())
	defer srv.Close()
	for _, path := range []string{"/", "/incidents", "/messages", "/grants", "/metrics", "/healthz"} {
		if resp, _ := get(t, srv.URL+path); resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", path, resp.StatusCode)
		}
		resp, body := get(t, srv.URL+path, "Authorization", "Bearer "+os.Getenv("ABUSEWATCH_TEST_DASHBOARD_TOKEN"))
		if resp.StatusCode != http.StatusOK {
			t.Errorf("%s with the token: %d", path, resp.StatusCode)
		}
		for _, secret := range []string{os.Getenv("ABUSEWATCH_TEST_DASHBOARD_TOKEN"), "chat-secret-4711"} {
			if strings.Contains(body, secret) {
				t.Errorf("%s shows a secret", path)
			}
		}
	}
}

// TestOverviewChart: the chart counts every notice of the last 90 days;
// today's at once, the past days' from a cache at most an hour old.
func TestOverviewChart(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var mu sync.Mutex
	now := f.now
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	srv := httptest.NewServer(web.Handler(f.st, web.Options{Now: clock}))
	defer srv.Close()
	total := regexp.MustCompile(`by provider <small>\((\d+)\)</small>`)
	chartTotal := func() int {
		t.Helper()
		_, body := get(t, srv.URL+"/")
		m := total.FindStringSubmatch(body)
		if m == nil {
			t.Fatal("no chart total")
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	st, err := f.st.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := chartTotal(); got != st.Notices {
		t.Errorf("chart counts %d notices, the store has %d", got, st.Notices)
	}
	add := func(at time.Time, ip string) {
		t.Helper()
		raw := fmt.Appendf(nil, "Subject: late %s\r\n\r\n", ip)
		if _, err := f.st.Ingest(ctx, store.Message{Source: store.Source{Path: ip + ".eml"}, Raw: raw, ReceivedAt: at},
			store.Parsed{Status: "ok", Notices: []store.Notice{{Provider: "ovh", Kind: "block", Attack: "syn_flood", IP: ip, Severity: 4, Events: []byte(`[]`)}}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	add(now, "198.51.100.1") // today: counted at once
	if got := chartTotal(); got != st.Notices+1 {
		t.Errorf("after a notice today: %d, want %d", got, st.Notices+1)
	}
	add(now.AddDate(0, 0, -3), "198.51.100.2") // a past day: cached
	if got := chartTotal(); got != st.Notices+1 {
		t.Errorf("a past day changed within the hour: %d, want %d", got, st.Notices+1)
	}
	mu.Lock()
	now = now.Add(61 * time.Minute)
	mu.Unlock()
	if got := chartTotal(); got != st.Notices+2 {
		t.Errorf("after an hour: %d, want %d", got, st.Notices+2)
	}
}
