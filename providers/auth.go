package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/internal/errkind"
)

// ErrAuthLatched is returned, without a request, by a client whose
// endpoint refused its credentials earlier. Retrying a refused login only
// spends failed logins (Robot blocks the caller's IP for 10 minutes after
// three, for every request, the right password's too); the credentials
// need fixing, and a reload to take them.
var ErrAuthLatched = errors.New("not calling: the credentials were refused earlier; fix them and reload")

// AuthFailure is an endpoint that refused its credentials, for /healthz
// and the one chat message that says so.
type AuthFailure struct {
	Provider string    `json:"provider"` // ovh | hetzner
	API      string    `json:"api"`      // ovh | robot | cloud
	Since    time.Time `json:"since"`
	Error    string    `json:"error"` // the endpoint's answer (it holds no secret)
}

// AuthLatch stops a client calling an endpoint after an authentication
// failure, until Reset (a reload). Its Transport puts it in front of the
// client's HTTP requests, so every call of a client library passes it.
type AuthLatch struct {
	provider, api string
	// refused tells an authentication failure from other answers.
	refused func(status int, body []byte) bool
	now     func() time.Time

	mu      sync.Mutex
	failure *AuthFailure
	hook    func(context.Context, AuthFailure)
}

// NewAuthLatch returns an open latch for one endpoint; refused reads an
// answer's status and body and says whether the credentials were refused.
func NewAuthLatch(provider, api string, refused func(status int, body []byte) bool) *AuthLatch {
	return &AuthLatch{provider: provider, api: api, refused: refused, now: time.Now}
}

// Failure returns the failure the latch holds, or nil while it is open.
func (l *AuthLatch) Failure() *AuthFailure {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failure == nil {
		return nil
	}
	f := *l.failure
	return &f
}

// Reset opens the latch: the next call tries the credentials again.
func (l *AuthLatch) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.failure = nil
}

// OnFailure sets fn to be called once each time the latch closes.
func (l *AuthLatch) OnFailure(fn func(context.Context, AuthFailure)) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.hook = fn
}

// Err returns the permanent error of a closed latch, nil while it is open.
// Clients check it before work the transport would not see (a budget).
func (l *AuthLatch) Err() error {
	f := l.Failure()
	if f == nil {
		return nil
	}
	return errkind.Permanent(fmt.Errorf("%s %s: %w (refused since %s: %s)",
		f.Provider, f.API, ErrAuthLatched, f.Since.UTC().Format(time.RFC3339), f.Error))
}

// trip closes the latch; only the call that closes it runs the hook.
func (l *AuthLatch) trip(ctx context.Context, status int, body []byte) {
	msg := bytes.TrimSpace(body)
	if len(msg) > 200 {
		msg = msg[:200]
	}
	l.mu.Lock()
	if l.failure != nil {
		l.mu.Unlock()
		return
	}
	f := AuthFailure{Provider: l.provider, API: l.api, Since: l.now().UTC(), Error: fmt.Sprintf("HTTP %d %s", status, msg)}
	l.failure = &f
	hook := l.hook
	l.mu.Unlock()
	if hook != nil {
		// The call that tripped the latch may be cancelled a moment later
		// (another API answered first): the report must not be.
		hook(context.WithoutCancel(ctx), f)
	}
}

// Client returns a copy of c (nil: a default client with timeout) whose
// requests pass the latch.
func (l *AuthLatch) Client(c *http.Client, timeout time.Duration) *http.Client {
	out := &http.Client{Timeout: timeout}
	if c != nil {
		cp := *c
		out = &cp
	}
	base := out.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = latchTransport{latch: l, base: base}
	return out
}

type latchTransport struct {
	latch *AuthLatch
	base  http.RoundTripper
}

// maxPeek bounds what is read of an error answer to classify it; error
// bodies are small JSON envelopes.
const maxPeek = 64 << 10

func (t latchTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.latch.Err(); err != nil {
		if req.Body != nil {
			req.Body.Close() // RoundTrip must close it, even unsent
		}
		return nil, err
	}
	resp, err := t.base.RoundTrip(req)
	if err != nil || resp.StatusCode < 400 || resp.StatusCode >= 500 {
		return resp, err
	}
	body, rerr := io.ReadAll(io.LimitReader(resp.Body, maxPeek))
	resp.Body.Close()
	if rerr != nil {
		return nil, rerr
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if t.latch.refused(resp.StatusCode, body) {
		t.latch.trip(req.Context(), resp.StatusCode, body)
	}
	return resp, nil
}

// AuthLatches is implemented by providers whose clients latch on
// authentication failures.
type AuthLatches interface {
	AuthLatches() []*AuthLatch
}
