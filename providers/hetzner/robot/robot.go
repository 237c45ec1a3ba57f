// Package robot is a small client of the Hetzner Robot webservice
// (https://robot-ws.your-server.de) for the calls abusewatch makes: IPs,
// servers, rescue state and the server firewall.
//
// It keeps the account usable by people and other tools at the same time:
// it never retries a failed login and makes no call after one until the
// configuration is reloaded (three lock the caller out for ten minutes), it keeps its own hourly budget per endpoint family below
// Hetzner's limits, and it honours RATE_LIMIT_EXCEEDED by waiting.
package robot

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
)

// Error is Robot's error envelope: {"error": {"status", "code", "message", …}}.
type Error struct {
	Status  int      `json:"status"`
	Code    string   `json:"code"`
	Message string   `json:"message"`
	Missing []string `json:"missing"`
	Invalid []string `json:"invalid"`
	// Interval (seconds) and MaxRequests come with RATE_LIMIT_EXCEEDED.
	// Robot documents max_request and sends max_requests: both are read.
	Interval    int `json:"interval"`
	MaxRequests int `json:"-"`
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s: %s", e.Status, e.Code, e.Message)
	if len(e.Missing) > 0 {
		fmt.Fprintf(&b, " (missing: %s)", strings.Join(e.Missing, ", "))
	}
	if len(e.Invalid) > 0 {
		fmt.Fprintf(&b, " (invalid: %s)", strings.Join(e.Invalid, ", "))
	}
	if e.Code == CodeRateLimit {
		fmt.Fprintf(&b, " (%d requests, retry in %ds)", e.MaxRequests, e.Interval)
	}
	return b.String()
}

// Error codes callers act on.
const (
	CodeRateLimit         = "RATE_LIMIT_EXCEEDED"
	CodeFirewallInProcess = "FIREWALL_IN_PROCESS"
	CodeIPNotFound        = "IP_NOT_FOUND"
	CodeServerNotFound    = "SERVER_NOT_FOUND"
	CodeFirewallNotFound  = "FIREWALL_NOT_FOUND"
)

// ErrBudget is returned instead of calling when the client's own hourly
// budget for an endpoint family is spent.
var ErrBudget = errors.New("hourly request budget spent")

// DefaultBudget is the client's hourly budget per endpoint family: 90% of
// Hetzner's limits (/ip 5000, /server 200, /boot 500, POST /reset 50), so
// that polling never takes the last requests from a person at the Robot.
// Families not listed are not budgeted by the client.
var DefaultBudget = map[string]int{"/ip": 4500, "/server": 180, "/boot": 450, "POST /reset": 45}

// Config configures a Client.
type Config struct {
	Endpoint string // default https://robot-ws.your-server.de
	User     string // webservice user, #ws+XXXX
	Password string

	HTTPClient *http.Client
	// Attempts bounds the tries of one call on 5xx, timeouts and rate
	// limits (default 4).
	Attempts int
	// Backoff is the wait before the first retry after a 5xx, doubled each
	// time (default 1s).
	Backoff time.Duration
	// MaxWait is the longest rate-limit interval the client waits out
	// (default 5m); a longer one is returned as the error.
	MaxWait time.Duration
	// Budget replaces DefaultBudget.
	Budget map[string]int
	// Now and Sleep are the clock (defaults: time.Now and a timer that
	// stops with ctx).
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
}

// Client talks to the Robot webservice.
type Client struct {
	cfg    Config
	logger *slog.Logger
	latch  *providers.AuthLatch

	mu    sync.Mutex
	spent map[string][]time.Time // request times within the last hour, per family
}

// New returns a client. It makes no request.
func New(cfg Config, logger *slog.Logger) (*Client, error) {
	if cfg.Endpoint == "" {
		cfg.Endpoint = "https://robot-ws.your-server.de"
	}
	cfg.Endpoint = strings.TrimRight(cfg.Endpoint, "/")
	if cfg.User == "" || cfg.Password == "" {
		return nil, errors.New("robot: webservice user and password are required")
	}
	// Robot answers every failed login with 401 and blocks the caller's IP
	// after three: the first 401 is the last login tried.
	latch := providers.NewAuthLatch("hetzner", "robot", func(status int, _ []byte) bool { return status == http.StatusUnauthorized })
	cfg.HTTPClient = latch.Client(cfg.HTTPClient, 60*time.Second)
	if cfg.Attempts <= 0 {
		cfg.Attempts = 4
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxWait <= 0 {
		cfg.MaxWait = 5 * time.Minute
	}
	if cfg.Budget == nil {
		cfg.Budget = DefaultBudget
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = providers.Sleep
	}
	return &Client{cfg: cfg, logger: logger, latch: latch, spent: map[string][]time.Time{}}, nil
}

// AuthLatch is the latch that stops the client after a refused login.
func (c *Client) AuthLatch() *providers.AuthLatch { return c.latch }

// Family is the endpoint family a request counts against.
func Family(method, path string) string {
	seg, _, _ := strings.Cut(strings.TrimPrefix(path, "/"), "/")
	if seg == "reset" && method == http.MethodPost {
		return "POST /reset"
	}
	return "/" + seg
}

// spend records a request against its family's budget, or refuses it.
func (c *Client) spend(family string) error {
	limit, ok := c.cfg.Budget[family]
	if !ok {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.cfg.Now()
	times := c.spent[family]
	for len(times) > 0 && now.Sub(times[0]) >= time.Hour {
		times = times[1:]
	}
	if len(times) >= limit {
		c.spent[family] = times
		wait := times[0].Add(time.Hour).Sub(now)
		return errkind.Temporary(fmt.Errorf("%w for %s: %d requests in the last hour, next one allowed in %s",
			ErrBudget, family, len(times), wait.Round(time.Second)), wait)
	}
	c.spent[family] = append(times, now)
	return nil
}

// Do sends one request and returns the answer's body. form, when non-nil,
// is sent as application/x-www-form-urlencoded, the only body Robot takes.
func (c *Client) Do(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
	backoffs := 0
	for attempt := 1; ; attempt++ {
		if err := c.latch.Err(); err != nil { // before spending the budget on a call that is not made
			return nil, fmt.Errorf("robot: %s %s: %w", method, path, err)
		}
		if err := c.spend(Family(method, path)); err != nil {
			return nil, fmt.Errorf("robot: %s %s: %w", method, path, err)
		}
		body, err := c.once(ctx, method, path, form)
		if err == nil {
			return body, nil
		}
		retry, wait := errkind.Retry(err)
		if !retry || wait > c.cfg.MaxWait || attempt >= c.cfg.Attempts || ctx.Err() != nil {
			return nil, fmt.Errorf("robot: %s %s: %w", method, path, err)
		}
		if wait == 0 { // 5xx and the network: exponential backoff
			wait = c.cfg.Backoff << backoffs
			backoffs++
		}
		c.logger.WarnContext(ctx, "robot call failed, retrying", "method", method, "path", path, "attempt", attempt, "wait", wait, "err", err)
		if err := c.cfg.Sleep(ctx, wait); err != nil {
			return nil, fmt.Errorf("robot: %s %s: %w", method, path, err)
		}
	}
}

// classify says what a Robot error means for another try: a rate limit
// lifts after its interval, maintenance and 5xx after a while (Retry-After
// when Robot says); a refused login is never worth one (three block the
// caller's IP for ten minutes), nor a refusal, a missing object or invalid
// input.
func classify(e *Error, h http.Header, now time.Time) error {
	switch {
	case e.Code == CodeRateLimit:
		return errkind.Temporary(e, time.Duration(max(e.Interval, 1))*time.Second)
	case e.Status >= 500 || e.Code == CodeFirewallInProcess:
		return errkind.Temporary(e, providers.RetryAfter(h, now))
	default:
		return errkind.Permanent(e)
	}
}

func (c *Client) once(ctx context.Context, method, path string, form url.Values) ([]byte, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, c.cfg.Endpoint+path, body)
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth(c.cfg.User, c.cfg.Password)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "abusewatch")
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, err // the network's (temporary) or the auth latch's (permanent)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return data, nil
	}
	return nil, classify(decodeError(resp.StatusCode, data), resp.Header, c.cfg.Now())
}

// decodeError reads the error envelope; a body that is not one (a proxy's
// 502 page) still gives an Error with the HTTP status.
func decodeError(status int, data []byte) *Error {
	var env struct {
		Error struct {
			Error
			MaxRequest  int `json:"max_request"`
			MaxRequests int `json:"max_requests"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &env) != nil || env.Error.Code == "" {
		msg := strings.TrimSpace(string(data))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		// Robot answers a failed login with a bare 401, no envelope.
		code := strings.ToUpper(strings.ReplaceAll(http.StatusText(status), " ", "_"))
		return &Error{Status: status, Code: code, Message: msg}
	}
	e := env.Error.Error
	e.MaxRequests = max(env.Error.MaxRequest, env.Error.MaxRequests)
	if e.Status == 0 {
		e.Status = status
	}
	return &e
}

// get fetches path and decodes the one-key envelope {key: {…}} into out.
func (c *Client) get(ctx context.Context, path, key string, out any) (json.RawMessage, error) {
	body, err := c.Do(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	return body, unwrap(path, body, key, out)
}

func unwrap(path string, body []byte, key string, out any) error {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(body, &env); err != nil {
		return fmt.Errorf("robot: %s: decoding answer: %w", path, err)
	}
	inner, ok := env[key]
	if !ok {
		return fmt.Errorf("robot: %s: answer has no %q envelope", path, key)
	}
	if err := json.Unmarshal(inner, out); err != nil {
		return fmt.Errorf("robot: %s: decoding %s: %w", path, key, err)
	}
	return nil
}

// IsCode reports whether err is a Robot error with the given code.
func IsCode(err error, code string) bool {
	var rerr *Error
	return errors.As(err, &rerr) && rerr.Code == code
}
