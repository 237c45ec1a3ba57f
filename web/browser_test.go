package web_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/abusewatch/abusewatch/internal/safetext"
	"github.com/abusewatch/abusewatch/web"
)

// chromium finds Debian's browser; under CI=true its absence fails the run.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed (scripts/test-deps.sh installs it)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser starts a headless Chromium of its own (own profile, no network
// but the test server's) and records every console error, uncaught
// exception, log error (CSP violations are reported there) and dialog.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	problems []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromium(t)),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx}
	// The first call starts the browser; the Log domain reports CSP
	// violations and failed loads.
	if _, err := chromedp.Call(ctx, log.Enable, cdp.Empty{}); err != nil {
		t.Fatalf("starting chromium: %v", err)
	}
	console := chromedp.Console(ctx)
	dialogs := chromedp.Events(ctx, page.JavascriptDialogOpening)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning || m.IsException() {
				b.report("console %s (%s): %s %s", m.Type, m.Source, m.Text, m.URL)
			}
		}
	}()
	go func() {
		for e, err := range dialogs {
			if err != nil {
				return
			}
			b.report("dialog %s: %q", e.Type, e.Message)
			// Dismissed from another goroutine than the one reading
			// events, or the page would hang on it.
			go func() {
				_, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
			}()
		}
	}()
	return b
}

func (b *browser) report(format string, args ...any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, fmt.Sprintf(format, args...))
}

func (b *browser) take() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	p := b.problems
	b.problems = nil
	return p
}

// domChecks is evaluated in every page: what a hostile mail could have
// added, had anything not been escaped.
const domChecks = `(() => {
	const bad = [];
	for (const s of document.querySelectorAll("script")) {
		if (!s.src.endsWith("/static/refresh.js") || s.textContent !== "") bad.push("script " + s.outerHTML.slice(0, 80));
	}
	for (const e of document.querySelectorAll("#injected-b, #injected-img, img, iframe, object, embed, style, link:not([rel=stylesheet]):not([rel=icon]), form:not(.filters), base")) {
		bad.push("element " + e.outerHTML.slice(0, 80));
	}
	for (const e of document.querySelectorAll("*")) {
		for (const a of e.getAttributeNames()) {
			if (a.startsWith("on") || (a === "style")) bad.push("attribute " + a + " on " + e.tagName);
		}
	}
	for (const a of document.querySelectorAll("a[href]")) {
		if (a.protocol !== "http:" && a.protocol !== "https:") bad.push("link " + a.getAttribute("href").slice(0, 80));
		else if (a.host !== location.host) bad.push("external link " + a.href.slice(0, 80));
	}
	if (getComputedStyle(document.body).display === "none") bad.push("body hidden by injected CSS");
	return bad;
})()`

func TestBrowser(t *testing.T) {
	b := newBrowser(t)
	f := newFixture(t)
	// Refresh on, so that the one script the pages have is loaded (under
	// the CSP) and checked; an hour, so that no page reloads under the test.
	srv := httptest.NewServer(web.Handler(f.st, web.Options{Now: func() time.Time { return f.now }, Refresh: time.Hour}))
	defer srv.Close()
	shots := t.TempDir()

	type check struct {
		js   string // evaluated to a boolean, must be true
		what string
	}
	texts := func(ss ...string) []check {
		var cs []check
		for _, s := range ss {
			// What a person reads: control characters made visible.
			cs = append(cs, check{fmt.Sprintf("document.body.innerText.includes(%q)", safetext.Visible(s)), "shows " + safetext.Shorten(s, 40)})
		}
		return cs
	}
	pages := []struct {
		name, path string
		checks     []check
	}{
		{"overview", "/", []check{
			{`document.querySelectorAll("svg.chart").length === 2`, "two charts"},
			{`document.querySelectorAll("svg.chart rect").length > 10`, "bars in the chart"},
			{`document.querySelector("#open table") !== null`, "open incidents by severity"},
		}},
		{"incidents", "/incidents", []check{
			{`document.querySelectorAll("#incidents tbody tr").length === 50`, "a page of 50 incidents"},
			{`document.querySelector("a[rel=next]") !== null`, "a link to older incidents"},
		}},
		{"incidents-search", "/incidents?q=192.0.2.10&status=open", []check{
			{`document.querySelectorAll("#incidents tbody tr").length >= 7`, "the hostile incidents found"},
			{`document.querySelector("input[name=q]").value === "192.0.2.10"`, "the search kept"},
		}},
		{"incident-triaged", fmt.Sprintf("/incidents/%d", f.triaged), append(texts(hostile[0], hostile[1], "xmrig", "/tmp/.x/xmrig"),
			check{`!!(document.querySelector("table.suspects").compareDocumentPosition(document.querySelector("details.evidence")) & Node.DOCUMENT_POSITION_FOLLOWING)`, "suspects before the jobs' output"},
			check{`!document.querySelector("details.evidence").open`, "job output collapsed"},
			check{`document.querySelector("details.evidence pre").textContent.includes("xmrig --donate-level 0")`, "job output in the page"},
			check{`document.querySelectorAll("#states tbody tr").length === 2`, "state history"},
			check{`document.querySelector("#statements details.statement pre").textContent.includes("we stopped xmrig")`, "the statement sent"},
			check{`document.querySelector("#containment").innerText.includes("contain:verdict") && !document.querySelector("#triage").innerText.includes("contain:")`, "the containment in its own section"},
			check{`document.querySelector("#grants").innerText.includes("203.0.113.7")`, "the IP's grants"},
			check{`document.querySelector("#notices a[href$='/raw']") !== null`, "link to the raw mail"},
		)},
		{"incident-many", fmt.Sprintf("/incidents/%d?page=2", f.many), []check{
			{`document.querySelectorAll("#notices tbody tr").length === 50`, "a page of notices"},
			{`document.querySelector("#notices a[rel=prev]") !== null && document.querySelector("#notices a[rel=next]") !== null`, "links to the other pages"},
		}},
		{"messages", "/messages", []check{
			{`document.querySelector("#messages tbody tr td:nth-child(2)").textContent === "unrecognised"`, "unrecognised first"},
			{`[...document.querySelectorAll("#messages tbody tr td:nth-child(2)")].some(td => td.textContent === "oversize")`, "oversize next"},
		}},
		{"messages-oversize", "/messages?status=oversize", texts(`huge <script>alert("big")</script>`)},
		{"grants", "/grants", []check{
			{`document.querySelector("#active").innerText.includes("203.0.113.7")`, "the active grant"},
			{`document.querySelector("#past").innerText.includes("203.0.113.8")`, "the past grant"},
		}},
	}
	for i, h := range hostile {
		pages = append(pages, struct {
			name, path string
			checks     []check
		}{fmt.Sprintf("incident-hostile-%d", i), fmt.Sprintf("/incidents/%d", f.hostile[i]), append(texts(h),
			check{fmt.Sprintf("document.querySelector('#case').textContent === %q", safetext.Visible(h)), "the case as text"})})
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+p.path), chromedp.WaitReady(chromedp.CSS("main"))); err != nil {
				t.Fatalf("loading %s: %v", p.path, err)
			}
			bad, err := chromedp.Run(ctx, chromedp.Evaluate[[]string](domChecks))
			if err != nil {
				t.Fatal(err)
			}
			shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(80))
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range p.checks {
				ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](c.js))
				if err != nil {
					t.Errorf("%s: %v", c.what, err)
					continue
				}
				if !ok {
					t.Errorf("page does not hold: %s (%v)", c.what, ok)
				}
			}
			for _, x := range bad {
				t.Errorf("injected: %s", x)
			}
			for _, x := range b.take() {
				t.Errorf("browser: %s", x)
			}
			name := filepath.Join(shots, p.name+".png")
			if err := os.WriteFile(name, shot, 0o600); err != nil || len(shot) < 1000 {
				t.Errorf("screenshot %s: %d bytes, %v", name, len(shot), err)
			}
		})
	}

	t.Run("raw-mail", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
		defer cancel()
		if err := chromedp.Do(ctx, chromedp.Navigate(fmt.Sprintf("%s/messages/%d/raw", srv.URL, f.oversize)), chromedp.WaitReady(chromedp.CSS("body"))); err != nil {
			t.Fatal(err)
		}
		ctype, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.contentType`))
		if err != nil {
			t.Fatal(err)
		}
		text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText.slice(0, 200)`))
		if err != nil {
			t.Fatal(err)
		}
		scripts, err := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("script").length`))
		if err != nil {
			t.Fatal(err)
		}
		if ctype != "text/plain" || scripts != 0 || !strings.Contains(text, `Subject: huge <script>alert("big")</script>`) {
			t.Errorf("raw mail shown as %s with %d scripts: %q", ctype, scripts, text)
		}
		for _, x := range b.take() {
			t.Errorf("browser: %s", x)
		}
	})
	// Messages of the last page may come after its checks.
	if err := chromedp.Do(b.ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatal(err)
	}
	for _, x := range b.take() {
		t.Errorf("browser, late: %s", x)
	}
	t.Logf("screenshots in %s", shots)
}
