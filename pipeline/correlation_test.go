package pipeline

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/providers/setup"
	"github.com/abusewatch/abusewatch/store"
)

// TestCorrelationWithoutIP: notices that name no IP join the open incident
// of their service or case instead of opening one each, an IP named later
// is learnt by that incident, and two copies of one mail (distinct bytes)
// never give two incidents.
func TestCorrelationWithoutIP(t *testing.T) {
	ctx := context.Background()
	credentials := crlf(readFixture(t, "ovh-rescue-ftp-credentials-en.eml"))
	rescue := crlf(readFixture(t, "ovh-dedicated-rescue-ftp-en.eml"))
	phishing := crlf(readFixture(t, "ovh-abuse-phishing-fr.eml"))
	relayed := func(raw []byte) []byte {
		return append([]byte("Received: from relay2.example.net by mx.example.net; Tue, 15 Jul 2025 10:00:00 +0000\r\n"), raw...)
	}

	t.Run("by service", func(t *testing.T) {
		e := newTrustEnv(t, Options{})
		first := e.ingest(withMessageID(credentials, "cred-1@ovh.net"))
		second := e.ingest(withMessageID(credentials, "cred-2@ovh.net"))
		if len(first.Opened) != 1 || len(second.Opened) != 0 || len(second.Updated) != 1 || second.Updated[0] != first.Opened[0] {
			t.Fatalf("two IP-less notices of one service: %+v then %+v, want one incident", first, second)
		}
		withIP := e.ingest(rescue)
		if len(withIP.Opened) != 0 || len(withIP.Updated) != 1 || withIP.Updated[0] != first.Opened[0] {
			t.Fatalf("the service's notice with an IP went to %v/%v, want incident %d", withIP.Opened, withIP.Updated, first.Opened[0])
		}
		if d := e.incident(first.Opened[0]); d.IP != "192.0.2.70" || d.Notices != 3 {
			t.Errorf("incident ip %q, %d notices; want it to learn 192.0.2.70 and hold 3", d.IP, d.Notices)
		}
	})
	t.Run("service resolved through the provider's API", func(t *testing.T) {
		const service = "ns3012345.ip-192-0-2.eu"
		emu := ovhtest.New(t)
		emu.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.70/32", Type: "dedicated", RoutedTo: service})
		emu.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.99/32", Type: "dedicated", RoutedTo: "ns1.ip-192-0-2.eu"})
		emu.AddDedicated(ovhtest.Dedicated{Name: service, State: "ok", BootType: "rescue", PowerState: "poweron"})
		cfg := config.Default()
		cfg.Providers.OVH = &config.OVH{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey}
		reg, err := setup.FromConfig(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		e := newTrustEnv(t, Options{Providers: reg})
		first := e.ingest(credentials)
		e.drain()
		d := e.incident(first.Opened[0])
		if d.IP != "192.0.2.70" {
			t.Fatalf("incident IP %q after the state task, want 192.0.2.70 from the OVH API", d.IP)
		}
		learnt := false
		for _, entry := range d.Timeline {
			learnt = learnt || entry.Text == "the ovh API routes 192.0.2.70 to "+service
		}
		if !learnt || d.State == nil || !d.State.Rescue {
			t.Errorf("timeline %+v, state %+v: want the learnt IP and the server's rescue state", d.Timeline, d.State)
		}
		later := e.ingest(rescue)
		if len(later.Updated) != 1 || later.Updated[0] != first.Opened[0] {
			t.Errorf("a notice naming the learnt IP went to %v/%v, want incident %d", later.Opened, later.Updated, first.Opened[0])
		}
	})
	t.Run("by case", func(t *testing.T) {
		e := newTrustEnv(t, Options{})
		first := e.ingest(withMessageID(phishing, "abuse-1@ovh.net"))
		second := e.ingest(withMessageID(phishing, "abuse-2@ovh.net"))
		if len(first.Opened) != 1 || len(second.Opened) != 0 || len(second.Updated) != 1 || second.Updated[0] != first.Opened[0] {
			t.Fatalf("two notices of one case: %+v then %+v, want one incident", first, second)
		}
	})
	t.Run("two copies of one mail", func(t *testing.T) {
		e := newTrustEnv(t, Options{})
		first := e.ingest(credentials)
		// The service rule joins open incidents only; the copy must find
		// the incident by its Message-ID even once it is resolved.
		if err := e.st.ResolveIncident(ctx, first.Opened[0], "handled"); err != nil {
			t.Fatal(err)
		}
		again := e.ingest(relayed(credentials))
		if again.Duplicate {
			t.Fatalf("distinct bytes were taken for the same stored mail")
		}
		if len(again.Opened) != 0 || len(again.Updated) != 1 || again.Updated[0] != first.Opened[0] {
			t.Fatalf("the copy went to %v/%v, want incident %d", again.Opened, again.Updated, first.Opened[0])
		}
		incs, err := e.st.Incidents(ctx, "all")
		if err != nil {
			t.Fatal(err)
		}
		if len(incs) != 1 {
			t.Errorf("%d incidents from two copies of one mail, want 1", len(incs))
		}
	})
}

// robotEnv is a pipeline whose Hetzner account is the Robot emulator with
// one dedicated server, number 2345678, main IP 37.27.128.19 (the IP of
// hetzner-lock-one.eml).
func robotEnv(t *testing.T) *trustEnv {
	t.Helper()
	rb := robottest.New(t)
	rb.AddDedicated(robottest.Dedicated{Number: 2345678, Name: "web-7", IP: "37.27.128.19", Product: "EX44", DC: "FSN1-DC14"})
	rb.AddDedicated(robottest.Dedicated{Number: 1111111, Name: "other", IP: "37.27.128.20", Product: "EX44", DC: "FSN1-DC14"})
	cfg := config.Default()
	cfg.Providers.Hetzner = &config.Hetzner{RobotEndpoint: rb.URL(), RobotUser: robottest.User, RobotPassword: robottest.Password}
	reg, err := setup.FromConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	return newTrustEnv(t, Options{Providers: reg})
}

// TestCorrelationByRobotServer: a Hetzner notice that names only a Robot
// server number gains the server's main IP from Robot in the state task;
// when that IP already has an open incident, the IP-less one is merged
// into it; two copies of the mail still give one incident.
func TestCorrelationByRobotServer(t *testing.T) {
	ctx := context.Background()
	byNumber := crlf(readFixture(t, "hetzner-abuse-server-number.eml"))
	lock := crlf(readFixture(t, "hetzner-lock-one.eml"))
	const why = "the hetzner API routes 37.27.128.19 to 2345678"
	hasEntry := func(d *store.IncidentDetail, kind, text string) bool {
		for _, e := range d.Timeline {
			if e.Kind == kind && strings.Contains(e.Text, text) {
				return true
			}
		}
		return false
	}

	t.Run("server number resolved through Robot", func(t *testing.T) {
		e := robotEnv(t)
		first := e.ingest(byNumber)
		if len(first.Opened) != 1 {
			t.Fatalf("IP-less notice: %+v, want one new incident", first)
		}
		if d := e.incident(first.Opened[0]); d.IP != "" || d.Service != "2345678" {
			t.Fatalf("before the state task: ip %q service %q, want no IP and service 2345678", d.IP, d.Service)
		}
		e.drain()
		d := e.incident(first.Opened[0])
		if d.IP != "37.27.128.19" || d.Status != "open" || !hasEntry(d, "correlated", why) {
			t.Fatalf("after the state task: ip %q status %q timeline %+v; want 37.27.128.19 learnt from Robot", d.IP, d.Status, d.Timeline)
		}
		if d.State == nil || d.State.IP != "37.27.128.19" {
			t.Errorf("state %+v, want Robot's state of the learnt IP", d.State)
		}
		copyOf := append([]byte("Received: from relay2.example.net by mx.example.net; Tue, 15 Jul 2025 10:00:00 +0000\r\n"), byNumber...)
		again := e.ingest(copyOf)
		if again.Duplicate || len(again.Opened) != 0 || len(again.Updated) != 1 || again.Updated[0] != first.Opened[0] {
			t.Fatalf("a relayed copy: %+v, want it on incident %d", again, first.Opened[0])
		}
		if incs, err := e.st.Incidents(ctx, "all"); err != nil || len(incs) != 1 {
			t.Errorf("%d incidents (%v) from two copies of one mail, want 1", len(incs), err)
		}
	})

	t.Run("merged into the open incident of the learnt IP", func(t *testing.T) {
		e := robotEnv(t)
		byIP := e.ingest(lock)
		ipless := e.ingest(byNumber)
		if len(byIP.Opened) != 1 || len(ipless.Opened) != 1 || byIP.Opened[0] == ipless.Opened[0] {
			t.Fatalf("ingests %+v and %+v, want two incidents before the state task", byIP, ipless)
		}
		e.drain()
		into, from := e.incident(byIP.Opened[0]), e.incident(ipless.Opened[0])
		if into.Status != "open" || into.IP != "37.27.128.19" || into.Notices != 2 {
			t.Errorf("surviving incident: status %q ip %q %d notices; want open, 37.27.128.19, 2", into.Status, into.IP, into.Notices)
		}
		if !hasEntry(into, "merged", fmt.Sprintf("incident %d merged in (1 notice): %s", from.ID, why)) {
			t.Errorf("surviving incident's timeline %+v does not say what was merged in", into.Timeline)
		}
		if from.Status != "resolved" || from.Notices != 0 || from.IP != "" ||
			!hasEntry(from, "merged", fmt.Sprintf("merged into incident %d, the open incident of 37.27.128.19", into.ID)) {
			t.Errorf("merged incident: status %q %d notices ip %q timeline %+v; want resolved, emptied, saying where it went",
				from.Status, from.Notices, from.IP, from.Timeline)
		}
		// The merged complaint is less severe than the block: it does not lower it.
		if into.Kind != "block" || into.Attack != "netscan" {
			t.Errorf("surviving incident %s/%s, want the block's block/netscan", into.Kind, into.Attack)
		}
		// A later notice of the merged incident's case goes where its notice went.
		later := e.ingest(withMessageID(byNumber, "abuse-server-number-2@hetzner.example"))
		if len(later.Opened) != 0 || len(later.Updated) != 1 || later.Updated[0] != into.ID {
			t.Errorf("a later notice of the case went to %v/%v, want incident %d", later.Opened, later.Updated, into.ID)
		}
	})
}
