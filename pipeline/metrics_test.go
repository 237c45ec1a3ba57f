package pipeline

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

type fakeHealth mailbox.Health

func (f fakeHealth) Health() mailbox.Health { return mailbox.Health(f) }

// scrape GETs path from h and returns the status and body.
func scrape(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(body)
}

// metricValue returns the value of one series (name{labels} as exposed,
// labels sorted by name) from a text exposition.
func metricValue(t *testing.T, body, series string) float64 {
	t.Helper()
	for line := range strings.SplitSeq(body, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", series, err)
			}
			return f
		}
	}
	t.Fatalf("series %s not exposed; got:\n%s", series, body)
	return 0
}

func TestMetricsAfterIngest(t *testing.T) {
	ctx := context.Background()
	emu := ovhtest.New(t)
	emu.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.46/32", Type: "dedicated", RoutedTo: "ns1.ip-192-0-2.eu"})
	emu.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	emu.SetAntihack("192.0.2.46", ovhtest.Antihack{State: "blocked", BlockedSince: time.Now(), Time: 600})
	chat := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/broken" {
			http.Error(w, "no such hook", http.StatusNotFound)
		}
	}))
	defer chat.Close()
	host := strings.TrimPrefix(chat.URL, "http://")

	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "aw.db")
	cfg.Providers.OVH = &config.OVH{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey}
	cfg.Notify = []config.Channel{
		{URL: "generic://" + host + "/ok?disabletls=yes"},
		{URL: "generic://" + host + "/broken?disabletls=yes"},
	}
	m := NewMetrics(nil)
	built, err := FromConfig(ctx, cfg, slog.New(slog.DiscardHandler), WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	raw := readFixture(t, "ovh-antihack-syn-flood-fr.eml")
	if err := (mailboxSink{P: built.Pipeline}).Deliver(ctx, mailbox.Delivery{
		Mailbox: "abuse", UIDValidity: 1, UID: 1, Raw: raw, Size: int64(len(raw)),
	}); err != nil {
		t.Fatal(err)
	}
	invoice := readFixture(t, "ovh-invoice-fr.eml")
	if err := (mailboxSink{P: built.Pipeline}).Deliver(ctx, mailbox.Delivery{
		Mailbox: "abuse", UIDValidity: 1, UID: 2, Raw: invoice, Size: int64(len(invoice)),
	}); err != nil {
		t.Fatal(err)
	}
	m.setMailboxes(map[string]healthReporter{"abuse": fakeHealth{Connected: true, LastSync: time.Unix(1700000000, 0)}})

	status, body := scrape(t, m.Handler(), "/metrics")
	if status != http.StatusOK {
		t.Fatalf("/metrics: status %d", status)
	}
	for series, want := range map[string]float64{
		`abusewatch_mails_fetched_total{mailbox="abuse"}`:                 2,
		`abusewatch_messages{status="ok"}`:                                1,
		`abusewatch_messages{status="none"}`:                              1,
		`abusewatch_messages{status="oversize"}`:                          0,
		`abusewatch_notices{kind="block",provider="ovh"}`:                 1,
		`abusewatch_incidents_open`:                                       1,
		`abusewatch_mailbox_connected{mailbox="abuse"}`:                   1,
		`abusewatch_mailbox_last_sync_timestamp_seconds{mailbox="abuse"}`: 1.7e9,
		`abusewatch_store_up`:                                             1,
	} {
		if got := metricValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if q := metricValue(t, body, "abusewatch_tasks_queued"); q < 2 {
		t.Errorf("abusewatch_tasks_queued = %v before the drain, want the state and chat tasks", q)
	}

	if err := built.Pipeline.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	_, body = scrape(t, m.Handler(), "/metrics")
	channel := "generic://" + host + "/***?disabletls=yes"
	for series, want := range map[string]float64{
		`abusewatch_provider_calls_total{provider="ovh"}`:                           1,
		`abusewatch_notifications_total{channel="` + channel + `",result="ok"}`:     1,
		`abusewatch_notifications_total{channel="` + channel + `",result="failed"}`: 1,
	} {
		if got := metricValue(t, body, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	if strings.Contains(body, `abusewatch_provider_errors_total{provider="ovh"}`) {
		t.Errorf("a provider error was counted; the emulator answered every call")
	}
}

func TestMetricsHealthz(t *testing.T) {
	failingSince := time.Now().Add(-time.Minute)
	tests := []struct {
		name       string
		mailboxes  map[string]healthReporter
		wantStatus int
		wantBody   string
	}{
		{"all connected", map[string]healthReporter{
			"a": fakeHealth{Connected: true, LastSync: time.Now()},
			"b": fakeHealth{Connected: true},
		}, http.StatusOK, "ok"},
		{"one failing", map[string]healthReporter{
			"a": fakeHealth{Connected: true},
			"b": fakeHealth{FailingSince: failingSince, Failures: 3, LastError: "dial tcp: connection refused"},
		}, http.StatusServiceUnavailable, "failing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMetrics(nil)
			m.setMailboxes(tt.mailboxes)
			status, body := scrape(t, m.Handler(), "/healthz")
			if status != tt.wantStatus {
				t.Errorf("status %d, want %d", status, tt.wantStatus)
			}
			var h healthJSON
			if err := json.Unmarshal([]byte(body), &h); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if h.Status != tt.wantBody || len(h.Mailboxes) != 2 || h.Mailboxes[0].Name != "a" || !h.Mailboxes[0].Connected {
				t.Errorf("got %+v", h)
			}
			if b := h.Mailboxes[1]; tt.wantStatus != http.StatusOK && (b.FailingSince == nil || b.Failures != 3 || b.Connected) {
				t.Errorf("failing mailbox reported as %+v", b)
			}
		})
	}
}
