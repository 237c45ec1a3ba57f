package notify_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
)

func TestMatches(t *testing.T) {
	chans := []config.Channel{
		{URL: "generic://127.0.0.1:1/all?disabletls=yes"},
		{URL: "generic://127.0.0.1:1/blocks?disabletls=yes", MinSeverity: "block"},
		{URL: "generic://127.0.0.1:1/hetzner?disabletls=yes", Providers: []string{"Hetzner"}},
		{URL: "generic://127.0.0.1:1/deadlines?disabletls=yes", Events: []string{"deadline_approaching", "deadline_passed"}},
		{URL: "generic://127.0.0.1:1/combined?disabletls=yes", MinSeverity: "attack", Providers: []string{"ovh"}, Events: []string{"incident_opened"}},
	}
	n, err := notify.New(chans, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const all, blocks, hetzner, deadlines, combined = 0, 1, 2, 3, 4
	tests := []struct {
		name string
		ev   notify.Event
		want map[int]bool // channels that get it; the others must not
	}{
		{"ovh block opened", notify.Event{Kind: notify.IncidentOpened, Severity: "block", Provider: "ovh"},
			map[int]bool{all: true, blocks: true, combined: true}},
		{"ovh rescue is above block", notify.Event{Kind: notify.IncidentOpened, Severity: "rescue", Provider: "ovh"},
			map[int]bool{all: true, blocks: true, combined: true}},
		{"ovh complaint is below attack", notify.Event{Kind: notify.IncidentOpened, Severity: "complaint", Provider: "ovh"},
			map[int]bool{all: true}},
		{"hetzner attack, provider matched case-insensitively", notify.Event{Kind: notify.IncidentOpened, Severity: "attack", Provider: "hetzner"},
			map[int]bool{all: true, hetzner: true}},
		{"deadline on a status notice", notify.Event{Kind: notify.DeadlinePassed, Severity: "status", Provider: "hetzner"},
			map[int]bool{all: true, hetzner: true, deadlines: true}},
		{"operational event has no severity to filter", notify.Event{Kind: notify.MailboxFailing},
			map[int]bool{all: true, blocks: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for i, ch := range n.Channels() {
				if got := ch.Matches(tt.ev); got != tt.want[i] {
					t.Errorf("Matches(%s) = %v, want %v", ch.Name(), got, tt.want[i])
				}
			}
		})
	}
}

func TestRedact(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"mattermost://chat.example.net/" + token + "/abuse", "mattermost://chat.example.net/***/abuse"},
		{"mattermost://bot@chat.example.net:8065/" + token + "?disabletls=yes", "mattermost://bot@chat.example.net:8065/***?disabletls=yes"},
		{"generic://hooks.example.net/api/" + token + "?template=json&@Authorization=Bearer+" + token + "&$env=prod",
			"generic://hooks.example.net/***?$env=***&@Authorization=***&template=json"},
		{"generic+https://hooks.example.net/" + token, "generic+https://hooks.example.net/***"},
		{"slack://hook:" + token + "@channel", "slack://***@***"},
		{"slack://" + token + "/B000/XXXX", "slack://***/***"},
		{"discord://" + token + "@123456789", "discord://***@***"},
		{"teams://group@tenant/altId/groupOwner?host=org.webhook.office.com", "teams://***@***/***?host=***"},
		{"telegram://" + token + "@telegram?chats=@abuse", "telegram://***@***?chats=***"},
		{"pushover://shoutrrr:" + token + "@userkey/?devices=phone", "pushover://***@***?devices=***"},
		{"smtp://user:" + token + "@mail.example.net:587/?from=a@example.net&to=b@example.net", "smtp://user:***@mail.example.net:587?from=***&to=***"},
		{"gotify://push.example.net/" + token, "gotify://push.example.net/***"},
		{"ntfy://user:" + token + "@ntfy.example.net/topic", "ntfy://user:***@ntfy.example.net/***"},
		{"://" + token, "***"},
		{"mattermost://host/%zz" + token, "***"},
		{"", "***"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := notify.Redact(tt.url)
			if got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.url, got, tt.want)
			}
			assertNoSecret(t, "Redact", got)
		})
	}
}

func TestNameIsRedacted(t *testing.T) {
	n := newNotifier(t, notify.Options{}, "mattermost://chat.example.net/"+token+"/abuse", "generic://hooks.example.net/in/"+token)
	want := []string{"mattermost://chat.example.net/***/abuse", "generic://hooks.example.net/***"}
	for i, ch := range n.Channels() {
		if got := ch.Name(); got != want[i] {
			t.Errorf("Name(%d) = %q, want %q", i, got, want[i])
		}
	}
}

// Channels are found by their ID, which a reload keeps; an ID no channel
// has (a channel removed since a message was queued) finds nothing.
func TestChannelByID(t *testing.T) {
	n, err := notify.New([]config.Channel{{Name: "team", URL: "generic://h/" + token}, {URL: "generic://h/other"}}, notify.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range n.Channels() {
		if got := n.Channel(c.ID()); got != c {
			t.Errorf("Channel(%q) = %v, want the channel itself", c.ID(), got)
		}
	}
	if n.Channels()[0].ID() != "team" {
		t.Errorf("named channel ID = %q, want its name", n.Channels()[0].ID())
	}
	if c := n.Channel("gone"); c != nil {
		t.Errorf("Channel(gone) = %v, want nil", c)
	}
	var none *notify.Notifier
	if none.Channel("team") != nil || len(none.Channels()) != 0 {
		t.Error("a nil Notifier should have no channels")
	}
}

func TestNewRejects(t *testing.T) {
	tests := []struct {
		name    string
		ch      config.Channel
		wantErr string
	}{
		{"no url", config.Channel{}, "required"},
		{"unparseable url", config.Channel{URL: "mattermost://host/%zz" + token}, "not a valid URL"},
		{"no scheme", config.Channel{URL: token}, "not a valid URL"},
		{"unknown service", config.Channel{URL: "chatx://" + token + "@host/" + token}, "unknown service"},
		{"mattermost without token", config.Channel{URL: "mattermost://chat.example.net"}, "not include enough arguments"},
		{"mattermost unknown option quoting its value", config.Channel{URL: "mattermost://chat.example.net/x?token=" + token}, `setting query parameter "token"`},
		{"generic bad option", config.Channel{URL: "generic://h/" + token + "?disabletls=maybe"}, "accepted values"},
		{"slack bad token", config.Channel{URL: "slack://" + token}, "invalid slack token"},
		{"bad min severity", config.Channel{URL: "generic://h/" + token, MinSeverity: "urgent"}, "min_severity"},
		{"unknown event kind", config.Channel{URL: "generic://h/" + token, Events: []string{"incident_opened", "incident_closed"}}, "incident_closed"},
		{"bad template", config.Channel{URL: "generic://h/" + token, Template: "{{.Provider"}, "template"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok := config.Channel{URL: "generic://127.0.0.1:1/x?disabletls=yes"}
			_, err := notify.New([]config.Channel{ok, tt.ch}, notify.Options{})
			if err == nil {
				t.Fatal("New accepted the channel")
			}
			if !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "notify[1]") {
				t.Errorf("error %q should name channel 1 and say %q", err, tt.wantErr)
			}
			assertNoSecret(t, "New error", err.Error())
		})
	}
}

func TestNewWithoutChannels(t *testing.T) {
	n, err := notify.New(nil, notify.Options{})
	if err != nil || len(n.Channels()) != 0 {
		t.Fatalf("New(nil) = %v channels, %v; want 0, nil", len(n.Channels()), err)
	}
}

// Classify on errors that did not come from Send: the shapes shoutrrr
// services produce, and plain Go errors.
func TestClassify(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{errors.New("failed to send notification to generic webhook: server returned unexpected response status code: 503 Service Unavailable"), true},
		{errors.New("failed to send notification to generic webhook: server returned unexpected response status code: 404 Not Found"), false},
		{errors.New("slack: 429 Too Many Requests"), true},
		{errors.New("unexpected status code: 500"), true},                            // googlechat
		{errors.New("unexpected status code: 403"), false},                           // googlechat
		{errors.New("failed: server returned status 400"), false},                    // signal
		{errors.New(`failed: "phone", response status "502 Bad Gateway"`), true},     // pushover
		{errors.New("notification failed: 401 {\"error\":\"unauthorized\"}"), false}, // rocketchat
		{errors.New("pagerduty: HTTP 408"), true},
		{errors.New(`Post "http://127.0.0.1:404/x": dial tcp 127.0.0.1:404: connect: connection refused`), true},
		{fmt.Errorf("send: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{fmt.Errorf("send: %w", context.DeadlineExceeded), true},
		{context.Canceled, true},
		{errors.New("something nobody anticipated"), true},
	}
	for _, tt := range tests {
		name := "nil"
		if tt.err != nil {
			name = tt.err.Error()
		}
		t.Run(name, func(t *testing.T) {
			if got := retryable(notify.Classify(tt.err)); got != tt.want {
				t.Errorf("Retry = %v, want %v", got, tt.want)
			}
		})
	}
}
