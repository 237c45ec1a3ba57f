package pipeline

import (
	"context"
	"testing"
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
