// Package notify renders incident events into short chat messages and sends
// them through shoutrrr URLs, one attempt at a time.
//
// Retrying is not done here: the pipeline keeps one durable task per
// (event, channel) and asks errkind.Retry whether a failed attempt should be
// tried again later; Send classifies its errors for it. Channel URLs hold credentials, so nothing this package
// returns — names, errors, rendered text — contains them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
)

// defaultTimeout bounds one delivery attempt when Options.Timeout is zero.
const defaultTimeout = 10 * time.Second

// Options tune a Notifier.
type Options struct {
	// Timeout bounds one delivery attempt on top of the caller's context.
	Timeout time.Duration
	// OnSend, when set, is told the outcome of every delivery attempt, by
	// channel name (metrics).
	OnSend func(channel string, err error)
	// PublicURL is the dashboard's address (http.public_url): messages
	// about an incident link to its page there. "" means no link.
	PublicURL string
}

// Notifier holds the configured channels. It is immutable after New and
// safe for concurrent use; a nil *Notifier has no channels.
type Notifier struct {
	channels []*Channel
}

// Channel is one configured chat destination, known by an ID that survives
// configuration reloads (config.Channel.ID).
type Channel struct {
	url       string
	id        string
	name      string
	esc       escaper
	minRank   int
	providers map[string]bool
	kinds     map[EventKind]bool
	tmpl      *template.Template

	// Shared by the channels of one Notifier.
	router  *router.ServiceRouter
	secrets *scrubber // of every channel: any of them may leak into any text
	timeout time.Duration
	onSend  func(string, error)
	// publicURL is the dashboard's address without a trailing slash.
	publicURL string
	// transport is shared by the sends whose shoutrrr service lets us reach
	// its HTTP client, so that their requests follow our context.
	transport http.RoundTripper
}

// New checks every channel up front — the shoutrrr URL is parsed and its
// service initialized, filters and templates compiled — so that a bad
// configuration fails at start and not at the first incident. Errors name
// channels by index and redacted URL, never by their token.
func New(channels []config.Channel, opts Options) (*Notifier, error) {
	shared := Channel{timeout: opts.Timeout, onSend: opts.OnSend, secrets: &scrubber{}, publicURL: strings.TrimRight(opts.PublicURL, "/")}
	if shared.timeout <= 0 {
		shared.timeout = defaultTimeout
	}
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		shared.transport = t.Clone()
	} else {
		shared.transport = http.DefaultTransport
	}
	var err error
	if shared.router, err = router.New(nil); err != nil {
		return nil, fmt.Errorf("notify: shoutrrr router: %w", err)
	}
	for _, c := range channels {
		shared.secrets.add(c.URL)
	}
	n := &Notifier{}
	var errs []error
	for i, c := range channels {
		ch, err := shared.compile(c)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify[%d] %s: %w", i, Redact(c.URL), err))
			continue
		}
		n.channels = append(n.channels, ch)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return n, nil
}

// compile builds a channel from its configuration, sharing the router,
// secrets and transport of shared.
func (shared *Channel) compile(c config.Channel) (*Channel, error) {
	ch := *shared
	ch.url, ch.id, ch.name = c.URL, c.ID(), c.Name
	if ch.name == "" {
		ch.name = Redact(c.URL)
	}
	if c.URL == "" {
		return nil, errors.New("url: required")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme == "" {
		// url.Parse quotes the URL in its error: say nothing more.
		return nil, errors.New("url: not a valid URL (scheme://…)")
	}
	if err := ch.checkService(c.URL); err != nil {
		return nil, fmt.Errorf("url: %s", ch.secrets.scrubError(err.Error()))
	}
	ch.esc = escaperFor(u)
	if c.MinSeverity != "" {
		var ok bool
		if ch.minRank, ok = config.SeverityRank(c.MinSeverity); !ok {
			return nil, fmt.Errorf("min_severity %q: want one of %s", c.MinSeverity, strings.Join(config.Severities(), ", "))
		}
	}
	if len(c.Providers) > 0 {
		ch.providers = make(map[string]bool, len(c.Providers))
		for _, p := range c.Providers {
			ch.providers[strings.ToLower(p)] = true
		}
	}
	if len(c.Events) > 0 {
		ch.kinds = make(map[EventKind]bool, len(c.Events))
		for _, e := range c.Events {
			k := EventKind(e)
			if !validKind(k) {
				return nil, fmt.Errorf("events: unknown event kind %q", e)
			}
			ch.kinds[k] = true
		}
	}
	if c.Template != "" {
		t, err := template.New("message").Funcs(templateFuncs()).Parse(c.Template)
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		ch.tmpl = t
		// A template that parses may still fail on every event (a field
		// that does not exist): execute it once now, on an event with every
		// field set, so that it fails at start and not at each message.
		if _, err := ch.render(sampleEvent()); err != nil {
			return nil, err
		}
	}
	return &ch, nil
}

// checkService initializes the URL's shoutrrr service. The router reports a
// failed initialization without its cause ("slack: failed to initialize
// service"), so the service is initialized once more on its own to tell the
// operator what is wrong with the URL.
func (c *Channel) checkService(rawURL string) error {
	_, err := c.router.Locate(rawURL)
	if err == nil || !errors.Is(err, router.ErrInitializeFailed) {
		return err
	}
	u, perr := url.Parse(rawURL)
	if perr != nil || strings.Contains(u.Scheme, "+") {
		return err
	}
	svc, serr := c.router.NewService(u.Scheme)
	if serr != nil {
		return err
	}
	if ierr := svc.Initialize(u, nil); ierr != nil {
		return fmt.Errorf("%s: %w", u.Scheme, ierr)
	}
	return err
}

// Channels returns the configured channels, in configuration order.
func (n *Notifier) Channels() []*Channel {
	if n == nil {
		return nil
	}
	return slices.Clone(n.channels)
}

// Channel returns the channel with that ID, nil when none has it (it was
// removed from the configuration since a message was queued for it).
func (n *Notifier) Channel(id string) *Channel {
	if n == nil {
		return nil
	}
	for _, c := range n.channels {
		if c.id == id {
			return c
		}
	}
	return nil
}

// ID is the channel's identifier, stable across configuration reloads
// (config.Channel.ID).
func (c *Channel) ID() string { return c.id }

// Name is the channel's name, or its redacted URL when it has none, for
// logs, metrics and the CLI.
func (c *Channel) Name() string { return c.name }

// Matches applies the channel's filters. Events without a severity
// (mailbox_failing, whitelist_*) are operational news: min_severity does
// not drop them, an `events` filter does.
func (c *Channel) Matches(ev Event) bool {
	if c.kinds != nil && !c.kinds[ev.Kind] {
		return false
	}
	if c.providers != nil && !c.providers[strings.ToLower(ev.Provider)] {
		return false
	}
	if rank, _ := config.SeverityRank(ev.Severity); c.minRank > 0 && ev.Severity != "" && rank < c.minRank {
		return false
	}
	return true
}

// Render returns the message text for the channel: its template, or the
// default text. Every string of the event is escaped for the channel's chat
// service first (it may come from mail), the result is cut to the service's
// length limit, and the secrets of every channel URL are masked in it, since
// event text (a mailbox error, a triage finding) can quote anything.
func (c *Channel) Render(ev Event) (string, error) {
	text, err := c.render(ev)
	if err != nil {
		return "", fmt.Errorf("notify %s: %w", c.name, err)
	}
	return text, nil
}

func (c *Channel) render(ev Event) (string, error) {
	// Secrets first: escaping could split a token into a form scrub misses.
	ev = c.esc.event(c.secrets.event(ev))
	link := c.incidentLink(ev.IncidentID)
	text := defaultText(ev, link)
	if c.tmpl != nil {
		var b strings.Builder
		if err := c.tmpl.Execute(&b, templateData{Event: ev, Default: text, Link: link}); err != nil {
			return "", fmt.Errorf("template: %s", c.secrets.scrub(err.Error()))
		}
		text = strings.TrimSpace(b.String())
		if text == "" {
			return "", errors.New("template rendered an empty message")
		}
	}
	return c.esc.shorten(c.secrets.scrub(unmask(text))), nil
}

// incidentLink is the dashboard page of an incident, "" without a public
// URL or an incident. It is built from the configuration and an id only:
// nothing of a mail is in it.
func (c *Channel) incidentLink(id int64) string {
	if c.publicURL == "" || id <= 0 {
		return ""
	}
	return fmt.Sprintf("%s/incidents/%d", c.publicURL, id)
}

// httpClientService is implemented by shoutrrr services that expose their
// HTTP client (mattermost). Their requests are bound to our context; the
// others (generic uses http.DefaultClient) cannot be cancelled and are
// abandoned when the context ends, finishing in the background.
type httpClientService interface {
	GetHTTPClient() *http.Client
}

// Send makes one delivery attempt of ev to the channel. The error, if any,
// is a *SendError: scrubbed of secrets and classified for errkind.Retry.
// Send does not check Matches: the pipeline filters when it enqueues.
func (c *Channel) Send(ctx context.Context, ev Event) error {
	err := c.send(ctx, ev)
	if c.onSend != nil {
		c.onSend(c.name, err)
	}
	return err
}

func (c *Channel) send(ctx context.Context, ev Event) error {
	text, err := c.render(ev)
	if err != nil {
		// The same event renders the same way next time: permanent.
		return errkind.Permanent(&SendError{Channel: c.name, msg: err.Error()})
	}

	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		// Do not start a request that cannot be waited for: a service
		// without a reachable HTTP client would still deliver it.
		return c.sendError(err)
	}

	// A fresh service per attempt: shoutrrr services keep per-send state in
	// their config (mattermost applies params to it) and are not safe to share
	// between concurrent sends.
	svc, err := c.router.Locate(c.url)
	if err != nil {
		return c.sendError(err)
	}
	if hc, ok := svc.(httpClientService); ok {
		if client := hc.GetHTTPClient(); client != nil {
			client.Transport = contextTransport{ctx: ctx, base: c.transport}
		}
	}

	done := make(chan error, 1) // buffered: an abandoned send must not block
	go func() { done <- svc.Send(text, &types.Params{}) }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = fmt.Errorf("no answer from %s: %w", svc.GetID(), ctx.Err())
	}
	if err != nil {
		return c.sendError(err)
	}
	return nil
}

func (c *Channel) sendError(err error) error {
	text := c.secrets.scrubError(err.Error())
	se := &SendError{Channel: c.name, StatusCode: statusOf(err, text), msg: text}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		se.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		se.cause = context.Canceled
	}
	return Classify(se)
}

// sampleEvent has every field of an Event set, for executing a template
// once when the channel is built.
func sampleEvent() Event {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return Event{
		Kind: IncidentOpened, IncidentID: 1, Severity: "block", Provider: "ovh", Attack: "bruteforce",
		IP: "192.0.2.1", Service: "ns1.example.net", Case: "CASE-1", Deadline: at.Add(24 * time.Hour),
		Blocked: true, Locked: true, Rescue: true, Hacked: true, Count: 2, Unverified: true,
		Findings: []string{"finding 1", "finding 2", "finding 3", "finding 4", "finding 5"}, Detail: "detail", At: at,
	}
}

// contextTransport runs requests under the attempt's context instead of the
// fixed background timeout shoutrrr gives them.
type contextTransport struct {
	ctx  context.Context
	base http.RoundTripper
}

func (t contextTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.base.RoundTrip(req.WithContext(t.ctx))
}
