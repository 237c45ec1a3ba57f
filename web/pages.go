package web

import (
	"bytes"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/safetext"
	"github.com/abusewatch/abusewatch/store"
)

type dashboard struct {
	st    Store
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	chart *chartCache
}

// The filter vocabularies: the list's selects offer these only.
var (
	providerNames = []string{"ovh", "hetzner", "generic"}
	kindNames     = []string{"rescue", "block", "attack", "complaint", "status"}
	statusNames   = []string{"open", "resolved"}
)

func funcs() template.FuncMap {
	return template.FuncMap{
		"time": func(t time.Time) string {
			if t.IsZero() {
				return "—"
			}
			return t.UTC().Format("2006-01-02 15:04 UTC")
		},
		"sev": config.SeverityName,
		// text makes a mail's string safe to look at: control characters
		// and bidi overrides visible; html/template escapes the rest.
		"text": safetext.Visible,
		// short is text cut to a list cell's length.
		"short": func(n int, s string) string { return safetext.Shorten(safetext.Visible(s), n) },
		// lines is text for a <pre>: line breaks kept, the rest visible.
		"lines": visibleLines,
		"bytes": func(b []byte) string { return visibleLines(string(b)) },
		"dur":   func(d time.Duration) string { return d.Round(time.Millisecond).String() },
		"join":  func(s []string) string { return strings.Join(s, "; ") },
		"add":   func(a, b int) int { return a + b },
	}
}

// visibleLines is safetext.Visible line by line, so that a multi-line text
// (a job's output, a mail) keeps its lines.
func visibleLines(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.ReplaceAll(safetext.Visible(l), `\t`, "\t")
	}
	return strings.Join(lines, "\n")
}

func parsePages() map[string]*template.Template {
	pages := map[string]*template.Template{}
	for _, name := range []string{"overview", "incidents", "incident", "messages", "grants", "error"} {
		pages[name] = template.Must(template.New("layout.html").Funcs(funcs()).
			ParseFS(templateFS, "templates/layout.html", "templates/partials.html", "templates/"+name+".html"))
	}
	return pages
}

// page is what the layout needs besides a page's own data.
type page struct {
	Title   string
	Nav     string // the menu entry to mark
	Refresh int    // seconds, 0: no auto-refresh
	Data    any
}

// render executes into a buffer first, so that a failing template gives a
// clean 500 rather than half a page.
func (d *dashboard) render(w http.ResponseWriter, r *http.Request, status int, name string, p page) {
	if p.Nav != "" {
		p.Refresh = int(d.opts.Refresh / time.Second)
	}
	var buf bytes.Buffer
	if err := d.pages[name].Execute(&buf, p); err != nil {
		d.log.Error("rendering a page", "page", name, "path", r.URL.Path, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes()) // the client went away: nothing to do
	}
}

// fail shows an error page. Errors from the store are logged, not shown:
// they may name paths of the host.
func (d *dashboard) fail(w http.ResponseWriter, r *http.Request, status int, msg string, err error) {
	if err != nil {
		d.log.Error("dashboard request failed", "path", r.URL.Path, "err", err)
	}
	d.render(w, r, status, "error", page{Title: http.StatusText(status), Data: msg})
}

func atoiOr(s string, def int) int {
	if v, err := strconv.Atoi(s); err == nil && v > 0 {
		return v
	}
	return def
}

func (d *dashboard) overview(w http.ResponseWriter, r *http.Request) {
	now := d.opts.Now().UTC()
	today := now.Truncate(24 * time.Hour)
	since := today.AddDate(0, 0, -(chartDays - 1))
	counts, err := d.chart.past(r.Context(), d.st, since, today, now)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	live, err := d.st.NoticesPerDay(r.Context(), today, time.Time{})
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	counts = append(counts[:len(counts):len(counts)], live...)
	open, err := d.st.OpenBySeverity(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	type sevCount struct {
		Name  string
		Rank  int
		Count int
	}
	var bySev []sevCount
	total := 0
	for rank := len(config.Severities()); rank >= 0; rank-- {
		bySev = append(bySev, sevCount{Name: config.SeverityName(rank), Rank: rank, Count: open[rank]})
		total += open[rank]
	}
	d.render(w, r, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Data: map[string]any{
		"ByProvider": newChart(since, counts, func(c store.DayCount) string { return c.Provider }),
		"ByAttack":   newChart(since, counts, func(c store.DayCount) string { return c.Attack }),
		"Open":       bySev,
		"OpenTotal":  total,
	}})
}

func (d *dashboard) incidents(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := store.IncidentFilter{
		Status:   pick(q.Get("status"), statusNames),
		Provider: pick(q.Get("provider"), providerNames),
		Kind:     pick(q.Get("kind"), kindNames),
		Search:   strings.TrimSpace(q.Get("q")),
		Limit:    d.opts.PerPage,
	}
	if rank, ok := config.SeverityRank(q.Get("severity")); ok {
		f.Severity = rank
	}
	if b, err := strconv.ParseInt(q.Get("before"), 10, 64); err == nil && b > 0 {
		f.Before = b
	}
	res, err := d.st.DashboardIncidents(r.Context(), f)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	var next, first string
	if res.Next != 0 {
		v := filterValues(f)
		v.Set("before", strconv.FormatInt(res.Next, 10))
		next = "/incidents?" + v.Encode()
	}
	if f.Before != 0 {
		first = "/incidents?" + filterValues(f).Encode()
	}
	d.render(w, r, http.StatusOK, "incidents", page{Title: "Incidents", Nav: "incidents", Data: map[string]any{
		"Filter":     f,
		"Severity":   config.SeverityName(f.Severity),
		"Incidents":  res.Incidents,
		"Next":       next,
		"First":      first,
		"Providers":  providerNames,
		"Kinds":      kindNames,
		"Statuses":   statusNames,
		"Severities": config.Severities(),
	}})
}

// pick returns v when it is one of allowed, else "" (no filter): a filter
// value is echoed into the page, so only known ones are.
func pick(v string, allowed []string) string {
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	return ""
}

func filterValues(f store.IncidentFilter) url.Values {
	v := url.Values{}
	for k, s := range map[string]string{"status": f.Status, "provider": f.Provider, "kind": f.Kind, "q": f.Search} {
		if s != "" {
			v.Set(k, s)
		}
	}
	if f.Severity > 0 {
		v.Set("severity", config.SeverityName(f.Severity))
	}
	return v
}

func (d *dashboard) incident(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		d.fail(w, r, http.StatusNotFound, "no such incident", nil)
		return
	}
	pageNo := atoiOr(r.URL.Query().Get("page"), 1)
	v, err := d.st.DashboardIncident(r.Context(), id, pageNo, d.opts.PerPage)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "no such incident", nil)
		return
	}
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	// Evidence is shown under the run that made it; evidence of runs
	// recorded before runs had rows goes last, on its own.
	type runView struct {
		store.TriageRunRecord
		Evidence []store.Evidence
	}
	var runs []runView
	index := map[string]int{}
	for _, run := range v.Runs {
		index[run.Run] = len(runs)
		runs = append(runs, runView{TriageRunRecord: run})
	}
	var loose []store.Evidence
	for _, e := range v.Evidence {
		if i, ok := index[e.Run]; ok && e.Run != "" {
			runs[i].Evidence = append(runs[i].Evidence, e)
		} else {
			loose = append(loose, e)
		}
	}
	// Newest run first: its suspects are what the team acts on.
	// Containment and release runs (operator actions recorded as runs
	// whose jobs are named contain:… and release:…) get their own section.
	var triageRuns, containRuns []runView
	for i := len(runs) - 1; i >= 0; i-- {
		if isContainment(runs[i].Evidence) {
			containRuns = append(containRuns, runs[i])
		} else {
			triageRuns = append(triageRuns, runs[i])
		}
	}
	var prev, next string
	if pageNo > 1 {
		prev = fmt.Sprintf("/incidents/%d?page=%d#notices", id, pageNo-1)
	}
	if pageNo < v.NoticePages {
		next = fmt.Sprintf("/incidents/%d?page=%d#notices", id, pageNo+1)
	}
	d.render(w, r, http.StatusOK, "incident", page{Title: fmt.Sprintf("Incident %d", id), Nav: "incidents", Data: map[string]any{
		"I":        v,
		"Runs":     triageRuns,
		"Contains": containRuns,
		"Loose":    loose,
		"Page":     pageNo,
		"Prev":     prev,
		"Next":     next,
		"Now":      d.opts.Now(),
	}})
}

func (d *dashboard) messages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	status := pick(q.Get("status"), store.MessageStatuses)
	pageNo := atoiOr(q.Get("page"), 1)
	res, err := d.st.DashboardMessages(r.Context(), status, pageNo, d.opts.PerPage)
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	link := func(p int) string {
		v := url.Values{}
		if status != "" {
			v.Set("status", status)
		}
		v.Set("page", strconv.Itoa(p))
		return "/messages?" + v.Encode()
	}
	var prev, next string
	if pageNo > 1 {
		prev = link(pageNo - 1)
	}
	if res.More {
		next = link(pageNo + 1)
	}
	d.render(w, r, http.StatusOK, "messages", page{Title: "Messages", Nav: "messages", Data: map[string]any{
		"Messages":  res.Messages,
		"Attention": res.Attention,
		"Status":    status,
		"Statuses":  store.MessageStatuses,
		"Page":      pageNo,
		"Prev":      prev,
		"Next":      next,
	}})
}

// raw shows a stored mail exactly as it came, as plain text (never as
// HTML, whatever it claims to be), in a sandbox with no rights at all.
func (d *dashboard) raw(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		d.fail(w, r, http.StatusNotFound, "no such message", nil)
		return
	}
	m, err := d.st.MessageByID(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "no such message", nil)
		return
	}
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	rc, err := d.st.OpenRaw(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		d.fail(w, r, http.StatusNotFound, "this mail was recorded but not kept: "+safetext.Visible(m.Reason), nil)
		return
	}
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the stored mail", err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Content-Security-Policy", rawPolicy)
	h.Set("Content-Disposition", "inline")
	if m.Size > 0 {
		h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	}
	if r.Method == http.MethodHead {
		return
	}
	if _, err := io.Copy(w, rc); err != nil {
		d.log.Warn("sending a raw mail", "message", id, "err", err)
	}
}

func (d *dashboard) grants(w http.ResponseWriter, r *http.Request) {
	all, err := d.st.Grants(r.Context())
	if err != nil {
		d.fail(w, r, http.StatusInternalServerError, "cannot read the store", err)
		return
	}
	now := d.opts.Now()
	var active, past []store.Grant
	for i := len(all) - 1; i >= 0; i-- { // newest first
		g := all[i]
		if grantActive(g, now) {
			active = append(active, g)
		} else {
			past = append(past, g)
		}
	}
	d.render(w, r, http.StatusOK, "grants", page{Title: "Grants", Nav: "grants", Data: map[string]any{
		"Active": active,
		"Past":   past,
	}})
}

// isContainment reports whether a run's evidence is that of `abusewatch
// contain` or `release` (pipeline names their jobs contain:… and release:…).
func isContainment(ev []store.Evidence) bool {
	for _, e := range ev {
		if strings.HasPrefix(e.Job, "contain:") || strings.HasPrefix(e.Job, "release:") {
			return true
		}
	}
	return false
}

// grantActive is a grant still in force: neither revoked nor run out, even
// if the expiry task has not marked it yet.
func grantActive(g store.Grant, now time.Time) bool {
	return g.Status == "active" && g.RevokedAt == nil && now.Before(g.ExpiresAt)
}
