package pipeline

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// An unrecognised provider mail is kept as a notice, filed as unrecognised,
// and makes exactly one chat message: not another for a second ingest of
// the same mail, nor for a reparse, nor an incident page besides.
func TestUnrecognisedMailToldOnce(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	raw := readFixture(t, "hetzner-unrecognised-abuse-sender.eml")

	first := e.ingest(raw)
	if first.Status != statusUnrecognised || first.Notices != 1 {
		t.Fatalf("first ingest: status %q with %d notices, want unrecognised with 1", first.Status, first.Notices)
	}
	if again := e.ingest(raw); !again.Duplicate {
		t.Fatalf("second ingest not a duplicate: %+v", again)
	}
	e.drainFor(time.Hour)
	if _, err := e.p.Reparse(context.Background()); err != nil {
		t.Fatal(err)
	}
	e.drainFor(3 * time.Hour)

	deliveries := recv.Deliveries()
	if len(deliveries) != 1 {
		for _, d := range deliveries {
			t.Log(d.Text)
		}
		t.Fatalf("deliveries = %d, want exactly 1", len(deliveries))
	}
	for _, want := range []string{"UNRECOGNISED MAIL", "unrecognised mail from hetzner.com: Rueckfrage zu Ihrem Server 198.51.100.23"} {
		if !strings.Contains(deliveries[0].Text, want) {
			t.Errorf("message lacks %q:\n%s", want, deliveries[0].Text)
		}
	}
}

// A recognised notice still opens its incident with the usual message.
func TestRecognisedMailNotMarkedUnrecognised(t *testing.T) {
	recv := notifytest.NewReceiver(t)
	e := newOutboxEnv(t, recv.GenericURL("/hook"))
	res := e.ingest(readFixture(t, "hetzner-netscan-2024-qp.eml"))
	if res.Status != "ok" {
		t.Fatalf("status %q, want ok", res.Status)
	}
	e.drainFor(time.Hour)
	for _, d := range recv.Deliveries() {
		if strings.Contains(d.Text, "UNRECOGNISED") {
			t.Errorf("a recognised mail was told as unrecognised:\n%s", d.Text)
		}
	}
	if len(recv.Deliveries()) == 0 {
		t.Fatal("no message for a new incident")
	}
}
