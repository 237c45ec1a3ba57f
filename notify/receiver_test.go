package notify_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// The outbox's view of a flaky chat service, as the pipeline tests will use
// notifytest: failures, an outage, recovery on the same URL.
func TestReceiverOutageAndRecovery(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	n := newNotifier(t, notify.Options{}, rcv.MattermostURL(token))
	send := func() error { return n.Channels()[0].Send(context.Background(), blockEvent()) }

	rcv.FailNext(2, http.StatusServiceUnavailable)
	for i := range 2 {
		if err := send(); !retryable(err) {
			t.Fatalf("attempt %d against a 503 = %v, want a retryable error", i+1, err)
		}
	}
	if err := send(); err != nil {
		t.Fatalf("attempt 3 after the failures = %v", err)
	}

	rcv.Stop()
	if err := send(); !retryable(err) {
		t.Fatalf("attempt during the outage = %v, want a retryable error", err)
	}
	rcv.Start()
	if err := send(); err != nil {
		t.Fatalf("attempt after restart on the same port = %v", err)
	}

	if got := len(rcv.Requests()); got != 4 {
		t.Errorf("receiver saw %d requests, want 4 (2 failed, 2 accepted)", got)
	}
	if got := len(rcv.Deliveries()); got != 2 {
		t.Errorf("receiver accepted %d deliveries, want 2", got)
	}
	for _, d := range rcv.Deliveries() {
		if d.Path != "/hooks/"+token {
			t.Errorf("delivery to %s, want /hooks/TOKEN", d.Path)
		}
	}
	rcv.Reset()
	if got := len(rcv.Requests()); got != 0 {
		t.Errorf("after Reset the receiver still holds %d requests", got)
	}
}
