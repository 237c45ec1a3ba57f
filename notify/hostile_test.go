package notify

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// hostile is what a mail may put in the strings of an event (the corpus of
// pipeline/testdata/hostile holds the same in mails): shell, mentions of
// every service, links of every syntax, markup, terminal escapes, Unicode
// controls, and an id of 5,000 characters.
var hostile = []string{
	"$(touch /tmp/pwned) `id`",
	"<!channel> <!here> <!everyone> <!subteam^S123>",
	"@here @channel @all @everyone @room ping @alice",
	"<@U0123ABC> <#C0123> <users/all>",
	"[x](http://evil.example) ![img](https://evil.example/a.png) <http://evil.example|click>",
	"http://evil.example/path https://evil.example www.evil.example ftp://evil.example",
	"<script>alert(1)</script> <b>bold</b> &amp;",
	"*bold* _it_ ~strike~ ||spoiler|| **strong** __under__",
	"# heading",
	"> quote",
	"\x1b[2J\x1b]0;pwned\x07\x1b[31mred\x1b[0m",
	"line\rover\nforged line\ttab\x00nul\x7fdel\u009bcsi",
	"\u202eexe.gnp\u200b\u2066\ufeff",
	strings.Repeat("A", 5000),
}

// chatServices are URLs of every chat service shoutrrr has, and of the
// non-chat ones, as a channel would be configured.
var chatServices = []string{
	"slack://hook:T00000000-B00000000-XXXXXXXXXXXXXXXXXXXXXXXX@webhook",
	"mattermost://abusewatch@chat.example.net/token/abuse",
	"discord://token@123456789012345678",
	"teams://group@tenant/altId/groupOwner/extraId?host=example.webhook.office.com",
	"matrix://user:password@matrix.example.net/?rooms=!room:example.net",
	"telegram://110201543:token@telegram?chats=@abuse",
	"telegram://110201543:token@telegram?chats=@abuse&parsemode=markdownv2",
	"telegram://110201543:token@telegram?chats=@abuse&parsemode=html",
	"rocketchat://rocket.example.net/tokenA/tokenB/abuse",
	"zulip://bot%40zulip.example.net:apikey@zulip.example.net/?stream=abuse",
	"googlechat://chat.googleapis.com/v1/spaces/FOO/messages?key=bar&token=baz",
	"pushover://shoutrrr:token@userkey",
	"generic://hooks.example.net/abuse",
}

// hostileEvents puts each hostile string in every free-text field of an
// event, one event per string and kind of message.
func hostileEvents() []Event {
	var evs []Event
	for _, h := range hostile {
		for _, kind := range []EventKind{IncidentOpened, IncidentUpdated, MailboxFailing} {
			evs = append(evs, Event{
				Kind: kind, IncidentID: 5, Severity: "attack", Provider: "generic", Attack: "bruteforce",
				IP: "192.0.2.44", Service: h, Case: h, Detail: h, Findings: []string{h, "ok " + h},
			})
		}
	}
	return evs
}

// Patterns of what must not survive in a message.
var (
	controlChar   = regexp.MustCompile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")
	clickableURL  = regexp.MustCompile(`(?i)(https?|ftp)://|www\.`)
	mention       = regexp.MustCompile(`@[A-Za-z]`)
	htmlTag       = regexp.MustCompile(`(^|[^\\])<[A-Za-z/!#@]`)
	markdownMark  = regexp.MustCompile(`(^|[^\\])(\*|~|\||_[A-Za-z]+_|\[|\]|` + "`" + `)`)
	slackMarkup   = regexp.MustCompile("[^\u200b][*~`]|[*~`][^\u200b]")
	markdownBlock = regexp.MustCompile(`(?m)^(#|>|-{3})`)
)

func renderer(t *testing.T, rawURL string) *Channel {
	t.Helper()
	u, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	// The escaper and limits of the service, without the shoutrrr check
	// (Matrix logs in to its server to initialize).
	return &Channel{name: rawURL, esc: escaperFor(u), secrets: &scrubber{}}
}

// TestHostileMailIsInertInEveryChatService: no mention, link, markup or
// control character from mail survives in the message of any chat service,
// and no message passes the service's length limit.
func TestHostileMailIsInertInEveryChatService(t *testing.T) {
	for _, svc := range chatServices {
		c := renderer(t, svc)
		for _, ev := range hostileEvents() {
			text, err := c.Render(ev)
			if err != nil {
				t.Fatal(err)
			}
			checkInert(t, svc, c.esc, ev, text)
		}
	}
}

// checkInert fails when text holds what the service would act on. Markup
// is checked where the service renders it: Markdown (Mattermost, Discord,
// Teams, Rocket.Chat, Zulip, Telegram's Markdown), Slack's mrkdwn, HTML.
func checkInert(t *testing.T, svc string, esc escaper, ev Event, text string) {
	t.Helper()
	fail := func(what string, re *regexp.Regexp, s string) {
		t.Helper()
		t.Errorf("%s, %s event: %s %q survives in\n%s", svc, ev.Kind, what, re.FindString(s), text)
	}
	plain := text
	if esc.mrkdwn {
		plain = strings.ReplaceAll(text, "\u200b", "") // ours, around Slack markers
	}
	if controlChar.MatchString(plain) {
		fail("a control character", controlChar, plain)
	}
	if clickableURL.MatchString(text) {
		fail("a clickable URL", clickableURL, text)
	}
	if esc.mentions && mention.MatchString(text) {
		fail("a mention", mention, text)
	}
	if (esc.entities || esc.markdown) && htmlTag.MatchString(text) {
		fail("an HTML tag, a <…> link or a <!…> mention", htmlTag, text)
	}
	if esc.markdown {
		for _, re := range []*regexp.Regexp{markdownMark, markdownBlock} {
			if re.MatchString(text) {
				fail("Markdown", re, text)
			}
		}
	}
	if esc.mrkdwn && slackMarkup.MatchString(text) {
		fail("Slack markup", slackMarkup, text)
	}
	if n := utf8.RuneCountInString(text); n > esc.limit {
		t.Errorf("%s: a message of %d characters, over the limit of %d", svc, n, esc.limit)
	}
	for _, line := range strings.Split(text, "\n") {
		if n := utf8.RuneCountInString(line); n > 6*detailCap {
			t.Errorf("%s: a line of %d characters: a field is not capped", svc, n)
		}
	}
}

// The same through the real path: a Mattermost channel sends the message
// to a receiver standing in for the server, which gets it inert too.
func TestHostileMailIsInertWhenSent(t *testing.T) {
	rcv := notifytest.NewReceiver(t)
	n, err := New([]config.Channel{{URL: rcv.MattermostURL("tokentokentoken")}}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := n.Channels()[0]
	for _, ev := range hostileEvents() {
		if err := c.Send(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	got := rcv.Deliveries()
	if len(got) != len(hostileEvents()) {
		t.Fatalf("deliveries = %d, want %d", len(got), len(hostileEvents()))
	}
	for i, d := range got {
		checkInert(t, "mattermost (sent)", c.esc, hostileEvents()[i], d.Text)
	}
}
