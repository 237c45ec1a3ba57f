package pipeline

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/notify/notifytest"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/providers/setup"
)

// TestUnblockPossibleIsToldOnce: an OVH anti-hack block that may not be
// lifted for 10 minutes is read again when the wait ends, and the team hears
// once that `abusewatch unblock` may be run.
func TestUnblockPossibleIsToldOnce(t *testing.T) {
	const ip = "192.0.2.46" // the IP of the fixture below
	emu := ovhtest.New(t)
	emu.AddIPBlock(ovhtest.IPBlock{Block: ip + "/32", Type: "dedicated", RoutedTo: "ns1.ip-192-0-2.eu"})
	emu.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	since := time.Now().Add(-time.Minute)
	emu.SetAntihack(ip, ovhtest.Antihack{State: "blocked", BlockedSince: since, Time: 600})

	cfg := config.Default()
	cfg.Providers.OVH = &config.OVH{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey}
	reg, err := setup.FromConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	recv := notifytest.NewReceiver(t)
	n, err := notify.New([]config.Channel{{URL: recv.GenericURL("/hook")}}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	st := openStore(t)
	clk := &clock{now: time.Now()}
	p := New(Options{Store: st, Notifier: n, Providers: reg, Now: clk.Now})
	e := &outboxEnv{t: t, clock: clk, st: st, p: p}

	e.ingest(readFixture(t, "ovh-antihack-syn-flood-fr.eml"))
	e.drainFor(time.Minute)
	if got := unblockMessages(recv); got != 0 {
		t.Fatalf("unblock messages while the wait runs = %d, want 0", got)
	}
	emu.SetAntihack(ip, ovhtest.Antihack{State: "blocked", BlockedSince: since, Time: 0}) // OVH's wait is over
	e.drainFor(30 * time.Minute)
	if got := unblockMessages(recv); got != 1 {
		t.Fatalf("unblock messages after the wait = %d, want exactly 1", got)
	}
}

func unblockMessages(recv *notifytest.Receiver) int {
	n := 0
	for _, d := range recv.Deliveries() {
		if strings.Contains(d.Text, "abusewatch unblock 192.0.2.46") {
			n++
		}
	}
	return n
}
