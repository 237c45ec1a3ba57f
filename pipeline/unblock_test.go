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

	e, recv := newOVHChatEnv(t, emu)

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

// newOVHChatEnv is a pipeline reading the OVH emulator's state, with one
// chat channel to a receiver and a settable clock.
func newOVHChatEnv(t *testing.T, emu *ovhtest.Server) (*outboxEnv, *notifytest.Receiver) {
	t.Helper()
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
	return &outboxEnv{t: t, clock: clk, st: st, p: New(Options{Store: st, Notifier: n, Providers: reg, Now: clk.Now})}, recv
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

// An incident opened by a complaint and escalated by the provider's state
// announces each step once: the opening says COMPLAINT even when the state
// task raised it before the opening went out, and the escalation says what
// raised it. No message repeats another.
func TestEscalationDoesNotRepeatTheOpening(t *testing.T) {
	const ip = "192.0.2.92" // the IP of the fixture below
	emu := ovhtest.New(t)
	emu.AddIPBlock(ovhtest.IPBlock{Block: ip + "/32", Type: "dedicated", RoutedTo: "ns2.ip-192-0-2.eu"})
	emu.AddDedicated(ovhtest.Dedicated{Name: "ns2.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	emu.SetAntihack(ip, ovhtest.Antihack{State: "blocked", BlockedSince: time.Now().Add(-time.Minute), Time: 600})
	e, recv := newOVHChatEnv(t, emu)
	e.ingest(readFixture(t, "ovh-abuse-malware-en.eml"))
	e.drainFor(30 * time.Minute)

	var heads []string
	for _, d := range recv.Deliveries() {
		head, _, _ := strings.Cut(d.Text, "\n")
		heads = append(heads, head)
		if strings.Contains(head, "ESCALATED") && !strings.Contains(d.Text, "raised from complaint: provider state: blocked") {
			t.Errorf("the escalation does not say what raised it:\n%s", d.Text)
		}
	}
	if len(heads) != 2 || !strings.Contains(heads[0], "COMPLAINT") || !strings.Contains(heads[1], "ESCALATED to BLOCK") {
		t.Fatalf("messages = %q, want the COMPLAINT opening, then ESCALATED to BLOCK", heads)
	}
}
