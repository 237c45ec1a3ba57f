package pipeline

import (
	"context"
	"log/slog"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/providers/setup"
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
