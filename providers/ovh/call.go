package ovh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	goovh "github.com/ovh/go-ovh/ovh"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
)

// Errors a call can wrap, so that callers and operators know what to fix.
var (
	ErrInvalidSignature  = errors.New("invalid signature: the application secret does not belong to the application key")
	ErrInvalidCredential = errors.New("the consumer key is invalid or expired: create and validate a new one")
	ErrNotGranted        = errors.New("call not granted to the consumer key: add this method and path to its access rules")
	ErrClockSkew         = errors.New("request timestamp out of the accepted window")
	ErrNotFound          = errors.New("not found")
)

// maxInlineWait is the longest Retry-After a call waits out itself; a
// longer one goes back to the caller with the error, which carries it.
const maxInlineWait = time.Minute

// call runs one API call, trying again what errkind calls temporary (5xx,
// 429, the network) after a backoff or the wait OVH asked for, and decodes
// the answer into out (when non-nil). It returns the raw answer too, kept
// in State.Raw. The path must be escaped already (see esc).
func (p *Provider) call(ctx context.Context, method, path string, in, out any) (json.RawMessage, error) {
	backoff := p.cfg.Backoff
	for attempt := 1; ; attempt++ {
		var raw json.RawMessage
		var asked retryAfter
		p.mu.Lock()
		err := p.c.CallAPIWithContext(context.WithValue(ctx, retryAfterKey{}, &asked), method, path, in, &raw, true)
		p.mu.Unlock()
		if err == nil {
			if out != nil && len(raw) > 0 {
				if err := json.Unmarshal(raw, out); err != nil {
					return raw, fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
				}
			}
			return raw, nil
		}
		err = classify(method, path, err, asked.wait)
		retry, wait := errkind.Retry(err)
		if !retry || wait > maxInlineWait || ctx.Err() != nil || attempt >= p.cfg.Attempts {
			return nil, err
		}
		wait = max(wait, backoff)
		p.logger.WarnContext(ctx, "ovh call failed, retrying", "method", method, "path", path, "attempt", attempt, "wait", wait, "err", err)
		if serr := providers.Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%s %s: %w (after %v)", method, path, serr, err)
		}
		backoff *= 2
	}
}

// classify turns go-ovh's errors into ours, classified for errkind where
// they arise: bad credentials, a call not granted, a missing object and
// other refusals are permanent; 5xx and 429 are temporary, not before the
// Retry-After OVH sent (wait). go-ovh keeps OVH's message, not its
// errorCode, so the auth failures are told apart by message. Errors of the
// network stay unclassified, that is temporary, and the auth latch's stay
// permanent.
func classify(method, path string, err error, wait time.Duration) error {
	var apiErr *goovh.APIError
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	if apiErr.Code >= 500 || apiErr.Code == http.StatusTooManyRequests {
		return errkind.Temporary(fmt.Errorf("%s %s: %w", method, path, err), wait)
	}
	var kind error
	msg := strings.ToLower(apiErr.Message)
	switch {
	case apiErr.Code == http.StatusNotFound:
		kind = ErrNotFound
	case strings.Contains(msg, "invalid signature"):
		kind = ErrInvalidSignature
	case strings.Contains(msg, "has not been granted"):
		kind = ErrNotGranted
	case strings.Contains(msg, "credential"):
		kind = ErrInvalidCredential
	case strings.Contains(msg, "query out of time"):
		// go-ovh reads OVH's clock once per client: the skew lasts until
		// the host's clock is fixed and the configuration changes.
		kind = ErrClockSkew
	default:
		return errkind.Permanent(fmt.Errorf("%s %s: %w", method, path, err))
	}
	return errkind.Permanent(fmt.Errorf("%s %s: %w (HTTP %d %q, query %s)", method, path, kind, apiErr.Code, apiErr.Message, apiErr.QueryID))
}

// retryAfter is where retryAfterTransport leaves the Retry-After of a
// call's answer: go-ovh's APIError does not keep the headers.
type retryAfter struct{ wait time.Duration }

type retryAfterKey struct{}

type retryAfterTransport struct {
	base http.RoundTripper
	now  func() time.Time
}

func (t retryAfterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if slot, ok := req.Context().Value(retryAfterKey{}).(*retryAfter); ok && resp != nil {
		slot.wait = providers.RetryAfter(resp.Header, t.now())
	}
	return resp, err
}
