package notify_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// token is the secret of every test channel URL: no error, name or message
// may contain it.
const token = "s3cr3tT0kenXYZ"

func blockEvent() notify.Event {
	return notify.Event{
		Kind: notify.IncidentOpened, IncidentID: 42, Severity: "block",
		Provider: "ovh", Attack: "ntp_amplification", IP: "51.91.10.20",
		Service: "ns3001234.ip-51-91-10.eu", Case: "CS1234567",
		Deadline: time.Date(2026, 11, 22, 10, 0, 0, 0, time.UTC),
		Blocked:  true,
	}
}

func newNotifier(t *testing.T, opts notify.Options, urls ...string) *notify.Notifier {
	t.Helper()
	var chans []config.Channel
	for _, u := range urls {
		chans = append(chans, config.Channel{URL: u})
	}
	n, err := notify.New(chans, opts)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n
}

// assertNoSecret fails when s holds the token.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	if strings.Contains(s, token) {
		t.Errorf("%s leaks the token: %s", what, s)
	}
}

// The URL forms verified against shoutrrr v0.13.2 over plain HTTP, and what
// the chat service sees.
func TestSendDeliversRenderedText(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	addr := rcv.Addr()
	tests := []struct {
		name     string
		url      string
		wantPath string
		wantJSON map[string]string // Mattermost payload fields besides text
	}{
		{"generic webhook", "generic://" + addr + "/hook/" + token + "?disabletls=yes", "/hook/" + token, nil},
		{"generic shortcut", "generic+http://" + addr + "/hook/" + token, "/hook/" + token, nil},
		{"mattermost", "mattermost://" + addr + "/" + token + "?disabletls=yes", "/hooks/" + token, nil},
		{"mattermost channel", "mattermost://bot@" + addr + "/" + token + "/abuse?disabletls=yes", "/hooks/" + token,
			map[string]string{"channel": "abuse", "username": "bot"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rcv.Deliveries())
			n := newNotifier(t, notify.Options{}, tt.url)
			ev := blockEvent()
			want, err := n.Channels()[0].Render(ev)
			if err != nil {
				t.Fatal(err)
			}
			if err := n.Channels()[0].Send(context.Background(), ev); err != nil {
				t.Fatalf("Send: %v", err)
			}
			got := rcv.Deliveries()[before:]
			if len(got) != 1 {
				t.Fatalf("receiver got %d deliveries, want 1", len(got))
			}
			d := got[0]
			if d.Method != http.MethodPost || d.Path != tt.wantPath {
				t.Errorf("request %s %s, want POST %s", d.Method, d.Path, tt.wantPath)
			}
			if d.Text != want {
				t.Errorf("received text %q, want the rendered %q", d.Text, want)
			}
			if !strings.HasPrefix(d.Text, "🔴 BLOCK ovh ntp_amplification 51.91.10.20") {
				t.Errorf("received text does not start with the headline: %q", d.Text)
			}
			if tt.wantJSON != nil {
				var payload map[string]string
				if err := json.Unmarshal([]byte(d.Body), &payload); err != nil {
					t.Fatalf("mattermost body is not JSON: %v", err)
				}
				for k, v := range tt.wantJSON {
					if payload[k] != v {
						t.Errorf("payload %s = %q, want %q", k, payload[k], v)
					}
				}
			}
		})
	}
}

func TestSendClassifiesFailures(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	services := map[string]string{
		"generic":    "generic://" + rcv.Addr() + "/hook/" + token + "?disabletls=yes",
		"mattermost": rcv.MattermostURL(token),
	}
	tests := []struct {
		status    int
		retryable bool
	}{
		{http.StatusInternalServerError, true},
		{http.StatusBadGateway, true},
		{http.StatusServiceUnavailable, true},
		{http.StatusTooManyRequests, true},
		{http.StatusRequestTimeout, true},
		{http.StatusBadRequest, false},
		{http.StatusUnauthorized, false},
		{http.StatusForbidden, false},
		{http.StatusNotFound, false},
	}
	for svc, u := range services {
		n := newNotifier(t, notify.Options{}, u)
		for _, tt := range tests {
			t.Run(fmt.Sprintf("%s/%d", svc, tt.status), func(t *testing.T) {
				rcv.FailNext(1, tt.status)
				err := n.Channels()[0].Send(context.Background(), blockEvent())
				if err == nil {
					t.Fatal("Send succeeded against a failing receiver")
				}
				var se *notify.SendError
				if !errors.As(err, &se) {
					t.Fatalf("error %T is not a *SendError", err)
				}
				if se.StatusCode != tt.status {
					t.Errorf("StatusCode = %d, want %d (error: %v)", se.StatusCode, tt.status, err)
				}
				if got := retryable(err); got != tt.retryable {
					t.Errorf("IsRetryable = %v, want %v (error: %v)", got, tt.retryable, err)
				}
				assertNoSecret(t, "send error", err.Error())
			})
		}
	}
}

func TestSendUnreachableIsRetryable(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	urls := []string{
		"generic://" + rcv.Addr() + "/hook/" + token + "?disabletls=yes",
		rcv.MattermostURL(token),
	}
	n := newNotifier(t, notify.Options{}, urls...)
	rcv.Stop() // the port is now closed: connection refused
	for _, ch := range n.Channels() {
		t.Run(ch.Name(), func(t *testing.T) {
			err := ch.Send(context.Background(), blockEvent())
			if err == nil {
				t.Fatal("Send succeeded with the receiver stopped")
			}
			if !retryable(err) {
				t.Errorf("connection refused is not retryable: %v", err)
			}
			if !strings.Contains(err.Error(), "connection refused") {
				t.Errorf("error does not say what happened: %v", err)
			}
			if strings.Contains(err.Error(), "***hook") || strings.Contains(err.Error(), "web***") {
				t.Errorf("masking shredded the message text: %v", err)
			}
			assertNoSecret(t, "send error", err.Error())
		})
	}
}

func TestSendRespectsContext(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	urls := []string{
		"generic://" + rcv.Addr() + "/hook/" + token + "?disabletls=yes",
		rcv.MattermostURL(token),
	}
	tests := []struct {
		name    string
		ctx     func() (context.Context, context.CancelFunc)
		opts    notify.Options
		wantErr error
	}{
		{"caller deadline", func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 200*time.Millisecond)
		}, notify.Options{}, context.DeadlineExceeded},
		{"options timeout", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, notify.Options{Timeout: 200 * time.Millisecond}, context.DeadlineExceeded},
		{"cancelled", func() (context.Context, context.CancelFunc) {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx, cancel
		}, notify.Options{}, context.Canceled},
	}
	for _, tt := range tests {
		n := newNotifier(t, tt.opts, urls...)
		for _, ch := range n.Channels() {
			t.Run(tt.name+"/"+ch.Name(), func(t *testing.T) {
				rcv.HoldNext(1)
				ctx, cancel := tt.ctx()
				defer cancel()
				err := ch.Send(ctx, blockEvent())
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Send = %v, want %v", err, tt.wantErr)
				}
				if !retryable(err) {
					t.Errorf("%v is not retryable", err)
				}
				assertNoSecret(t, "send error", err.Error())
			})
		}
		// A cancelled send never reaches the receiver: its hold order must
		// not leak into the next case.
		rcv.Reset()
	}
}

// One Notifier serves all workers of the pipeline at once.
func TestSendConcurrent(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	n := newNotifier(t, notify.Options{}, rcv.MattermostURL(token), rcv.GenericURL("hook"))
	const perChannel = 8
	var wg sync.WaitGroup
	errs := make(chan error, perChannel*len(n.Channels()))
	for _, ch := range n.Channels() {
		for i := range perChannel {
			wg.Go(func() {
				ev := blockEvent()
				ev.IncidentID = int64(i + 1)
				errs <- ch.Send(context.Background(), ev)
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	if got := len(rcv.Deliveries()); got != perChannel*len(n.Channels()) {
		t.Errorf("receiver got %d deliveries, want %d", got, perChannel*len(n.Channels()))
	}
}

// A template that cannot render this event will not render it next time
// either: the error is permanent and nothing is sent.
func TestSendTemplateErrorIsPermanent(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	n, err := notify.New([]config.Channel{{URL: rcv.MattermostURL(token), Template: "{{index .Findings 2}}"}}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Channels()[0].Send(context.Background(), blockEvent())
	if err == nil || retryable(err) {
		t.Fatalf("Send = %v, want a permanent error", err)
	}
	if !strings.Contains(err.Error(), "template") {
		t.Errorf("error %q does not blame the template", err)
	}
	assertNoSecret(t, "send error", err.Error())
	if got := len(rcv.Requests()); got != 0 {
		t.Errorf("receiver got %d requests, want none", got)
	}
}

// retryable is errkind's verdict on a send error.
func retryable(err error) bool {
	retry, _ := errkind.Retry(err)
	return retry
}
