package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// TestChatLinksToDashboard: with http.public_url, the chat message of a new
// incident links to its page, and the daemon's listener serves that page.
func TestChatLinksToDashboard(t *testing.T) {
	ctx := context.Background()
	recv := notifytest.NewReceiver(t)
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "aw.db")
	cfg.HTTP.PublicURL = "https://abusewatch.example.net/"
	cfg.Notify = []config.Channel{{URL: recv.GenericURL("/hook")}}
	m := NewMetrics(nil)
	built, err := FromConfig(ctx, cfg, slog.New(slog.DiscardHandler), WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	raw := readFixture(t, "ovh-vps-blocked-en.eml")
	if err := (mailboxSink{P: built.Pipeline}).Deliver(ctx, mailbox.Delivery{Mailbox: "abuse", UIDValidity: 1, UID: 1, Raw: raw, Size: int64(len(raw))}); err != nil {
		t.Fatal(err)
	}
	if err := built.Pipeline.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`https://abusewatch\.example\.net/incidents/(\d+)`)
	var path string
	for _, d := range recv.Deliveries() {
		if m := link.FindStringSubmatch(d.Text); m != nil {
			path = fmt.Sprintf("/incidents/%s", m[1])
		}
	}
	if path == "" {
		t.Fatalf("no chat message links to the dashboard: %+v", recv.Deliveries())
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Security-Policy") == "" {
		t.Errorf("GET %s: %d, CSP %q", path, resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
}
