// Package notify renders incident events into short chat messages and sends
// them through shoutrrr URLs, one attempt at a time.
//
// Retrying is not done here: the pipeline keeps one durable task per
// (event, channel) and asks IsRetryable whether a failed attempt should be
// tried again later. Channel URLs hold credentials, so nothing this package
// returns — names, errors, rendered text — contains them.
package notify

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"text/template"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"
)

// DefaultTimeout bounds one delivery attempt when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// Options tune a Notifier.
type Options struct {
	// Timeout bounds one delivery attempt on top of the caller's context.
	Timeout time.Duration
}

// Sender is what the pipeline needs from a Notifier, so that its tests can
// use a fake where a real chat service does not matter.
type Sender interface {
	Channels() int
	ID(channel int) string
	Name(channel int) string
	Matches(channel int, ev Event) bool
	Render(channel int, ev Event) (string, error)
	Send(ctx context.Context, channel int, ev Event) error
}

var _ Sender = (*Notifier)(nil)

// Notifier sends events to the configured channels. It is immutable after
// New and safe for concurrent use.
type Notifier struct {
	channels []channel
	router   *router.ServiceRouter
	secrets  scrubber // of every channel: any of them may leak into any text
	timeout  time.Duration
	// transport is shared by the sends whose shoutrrr service lets us reach
	// its HTTP client, so that their requests follow our context.
	transport http.RoundTripper
}

type channel struct {
	url       string
	id        string
	name      string
	minRank   int
	providers map[string]bool
	kinds     map[EventKind]bool
	tmpl      *template.Template
}

// New checks every channel up front — the shoutrrr URL is parsed and its
// service initialized, filters and templates compiled — so that a bad
// configuration fails at start and not at the first incident. Errors name
// channels by index and redacted URL, never by their token.
func New(channels []config.Channel, opts Options) (*Notifier, error) {
	n := &Notifier{timeout: opts.Timeout}
	if n.timeout <= 0 {
		n.timeout = DefaultTimeout
	}
	if t, ok := http.DefaultTransport.(*http.Transport); ok {
		n.transport = t.Clone()
	} else {
		n.transport = http.DefaultTransport
	}
	var err error
	if n.router, err = router.New(nil); err != nil {
		return nil, fmt.Errorf("notify: shoutrrr router: %w", err)
	}
	for _, c := range channels {
		n.secrets.add(c.URL)
	}
	var errs []error
	for i, c := range channels {
		ch, err := n.compile(c)
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

func (n *Notifier) compile(c config.Channel) (channel, error) {
	ch := channel{url: c.URL, id: c.ID(), name: c.Name}
	if ch.name == "" {
		ch.name = Redact(c.URL)
	}
	if c.URL == "" {
		return ch, errors.New("url: required")
	}
	if u, err := url.Parse(c.URL); err != nil || u.Scheme == "" {
		// url.Parse quotes the URL in its error: say nothing more.
		return ch, errors.New("url: not a valid URL (scheme://…)")
	}
	if err := n.checkService(c.URL); err != nil {
		return ch, fmt.Errorf("url: %s", n.secrets.scrubError(err.Error()))
	}
	if c.MinSeverity != "" {
		if ch.minRank = severityRank(c.MinSeverity); ch.minRank == 0 {
			return ch, fmt.Errorf("min_severity %q: want status, complaint, attack, block or rescue", c.MinSeverity)
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
				return ch, fmt.Errorf("events: unknown event kind %q", e)
			}
			ch.kinds[k] = true
		}
	}
	if c.Template != "" {
		t, err := template.New("message").Funcs(templateFuncs()).Parse(c.Template)
		if err != nil {
			return ch, fmt.Errorf("template: %w", err)
		}
		ch.tmpl = t
	}
	return ch, nil
}

// checkService initializes the URL's shoutrrr service. The router reports a
// failed initialization without its cause ("slack: failed to initialize
// service"), so the service is initialized once more on its own to tell the
// operator what is wrong with the URL.
func (n *Notifier) checkService(rawURL string) error {
	_, err := n.router.Locate(rawURL)
	if err == nil || !errors.Is(err, router.ErrInitializeFailed) {
		return err
	}
	u, perr := url.Parse(rawURL)
	if perr != nil || strings.Contains(u.Scheme, "+") {
		return err
	}
	svc, serr := n.router.NewService(u.Scheme)
	if serr != nil {
		return err
	}
	if ierr := svc.Initialize(u, nil); ierr != nil {
		return fmt.Errorf("%s: %w", u.Scheme, ierr)
	}
	return err
}

// Channels returns the number of channels; channel indexes run from 0.
func (n *Notifier) Channels() int { return len(n.channels) }

// ID returns the channel's identifier, stable across configuration reloads
// (config.Channel.ID); "" for an index out of range.
func (n *Notifier) ID(ch int) string {
	if ch < 0 || ch >= len(n.channels) {
		return ""
	}
	return n.channels[ch].id
}

// Name returns the channel's name, or its redacted URL when it has none, for
// logs, metrics and the CLI.
func (n *Notifier) Name(ch int) string {
	if ch < 0 || ch >= len(n.channels) {
		return fmt.Sprintf("channel %d (not configured)", ch)
	}
	return n.channels[ch].name
}

// Matches applies the channel's filters. Events without a severity
// (mailbox_failing, whitelist_*) are operational news: min_severity does
// not drop them, an `events` filter does.
func (n *Notifier) Matches(ch int, ev Event) bool {
	if ch < 0 || ch >= len(n.channels) {
		return false
	}
	c := n.channels[ch]
	if c.kinds != nil && !c.kinds[ev.Kind] {
		return false
	}
	if c.providers != nil && !c.providers[strings.ToLower(ev.Provider)] {
		return false
	}
	if c.minRank > 0 && ev.Severity != "" && severityRank(ev.Severity) < c.minRank {
		return false
	}
	return true
}

// Render returns the message text for the channel: its template, or the
// default text. Secrets of every channel URL are masked in the result, since
// event text (a mailbox error, a triage finding) can quote anything.
func (n *Notifier) Render(ch int, ev Event) (string, error) {
	if ch < 0 || ch >= len(n.channels) {
		return "", fmt.Errorf("notify: channel %d not configured", ch)
	}
	text, err := n.render(n.channels[ch], ev)
	if err != nil {
		return "", fmt.Errorf("notify %s: %w", n.channels[ch].name, err)
	}
	return text, nil
}

func (n *Notifier) render(c channel, ev Event) (string, error) {
	text := defaultText(ev)
	if c.tmpl != nil {
		var b strings.Builder
		if err := c.tmpl.Execute(&b, templateData{Event: ev, Default: text}); err != nil {
			return "", fmt.Errorf("template: %s", n.secrets.scrub(err.Error()))
		}
		text = strings.TrimSpace(b.String())
		if text == "" {
			return "", errors.New("template rendered an empty message")
		}
	}
	return n.secrets.scrub(text), nil
}

// httpClientService is implemented by shoutrrr services that expose their
// HTTP client (mattermost). Their requests are bound to our context; the
// others (generic uses http.DefaultClient) cannot be cancelled and are
// abandoned when the context ends, finishing in the background.
type httpClientService interface {
	GetHTTPClient() *http.Client
}

// Send makes one delivery attempt of ev to the channel. The error, if any,
// is a *SendError: scrubbed of secrets and classified for IsRetryable.
// Send does not check Matches: the pipeline filters when it enqueues.
func (n *Notifier) Send(ctx context.Context, ch int, ev Event) error {
	if ch < 0 || ch >= len(n.channels) {
		return &SendError{Channel: n.Name(ch), msg: "not configured"}
	}
	c := n.channels[ch]
	text, err := n.render(c, ev)
	if err != nil {
		// The same event renders the same way next time: permanent.
		return &SendError{Channel: c.name, msg: err.Error()}
	}

	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	if err := ctx.Err(); err != nil {
		// Do not start a request that cannot be waited for: a service
		// without a reachable HTTP client would still deliver it.
		return n.sendError(c, err)
	}

	// A fresh service per attempt: shoutrrr services keep per-send state in
	// their config (mattermost applies params to it) and are not safe to share
	// between concurrent sends.
	svc, err := n.router.Locate(c.url)
	if err != nil {
		return n.sendError(c, err)
	}
	if hc, ok := svc.(httpClientService); ok {
		if client := hc.GetHTTPClient(); client != nil {
			client.Transport = contextTransport{ctx: ctx, base: n.transport}
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
		return n.sendError(c, err)
	}
	return nil
}

func (n *Notifier) sendError(c channel, err error) error {
	text := n.secrets.scrubError(err.Error())
	status, retry := classify(err, text)
	se := &SendError{Channel: c.name, StatusCode: status, Retryable: retry, msg: text}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		se.cause = context.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		se.cause = context.Canceled
	}
	return se
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
