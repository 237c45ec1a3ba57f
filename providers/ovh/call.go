package ovh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	goovh "github.com/ovh/go-ovh/ovh"

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

// call runs one API call, retrying 5xx answers and timeouts, and decodes the
// answer into out (when non-nil). It returns the raw answer too, kept in
// State.Raw. The path must be escaped already (see esc).
func (p *Provider) call(ctx context.Context, method, path string, in, out any) (json.RawMessage, error) {
	wait := p.cfg.Backoff
	for attempt := 1; ; attempt++ {
		var raw json.RawMessage
		p.mu.Lock()
		err := p.c.CallAPIWithContext(ctx, method, path, in, &raw, true)
		p.mu.Unlock()
		if err == nil {
			if out != nil && len(raw) > 0 {
				if err := json.Unmarshal(raw, out); err != nil {
					return raw, fmt.Errorf("%s %s: decoding answer: %w", method, path, err)
				}
			}
			return raw, nil
		}
		if ctx.Err() != nil || attempt >= p.cfg.Attempts || !retryable(err) {
			return nil, classify(method, path, err)
		}
		p.logger.WarnContext(ctx, "ovh call failed, retrying", "method", method, "path", path, "attempt", attempt, "err", err)
		if serr := providers.Sleep(ctx, wait); serr != nil {
			return nil, fmt.Errorf("%s %s: %w (after %v)", method, path, serr, err)
		}
		wait *= 2
	}
}

func retryable(err error) bool {
	var apiErr *goovh.APIError
	if errors.As(err, &apiErr) {
		return apiErr.Code >= 500
	}
	var netErr net.Error
	return errors.As(err, &netErr) && netErr.Timeout()
}

// classify turns go-ovh's errors into ours. go-ovh keeps OVH's message,
// not its errorCode, so the auth failures are told apart by message.
func classify(method, path string, err error) error {
	var apiErr *goovh.APIError
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("%s %s: %w", method, path, err)
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
		kind = ErrClockSkew
	default:
		return fmt.Errorf("%s %s: %w", method, path, err)
	}
	return fmt.Errorf("%s %s: %w (HTTP %d %q, query %s)", method, path, kind, apiErr.Code, apiErr.Message, apiErr.QueryID)
}
