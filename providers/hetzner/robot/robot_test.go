package robot

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
)

// newTest returns a client of emu whose waits advance the emulator's clock
// instead of sleeping, and the waits it asked for.
func newTest(t *testing.T, emu *robottest.Server, mutate func(*Config)) (*Client, *[]time.Duration, *bytes.Buffer) {
	t.Helper()
	var waits []time.Duration
	cfg := Config{
		Endpoint: emu.URL(), User: robottest.User, Password: robottest.Password,
		Sleep: func(_ context.Context, d time.Duration) error {
			waits = append(waits, d)
			emu.Advance(d)
			return nil
		},
	}
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &bytes.Buffer{}
	c, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return c, &waits, logs
}

func seeded(t *testing.T) *robottest.Server {
	emu := robottest.New(t)
	emu.AddDedicated(robottest.Dedicated{Number: 321, Name: "hv1", IP: "88.99.10.20", Product: "AX41-NVMe", DC: "FSN1-DC14"})
	return emu
}

// TestRateLimit: the client waits the interval Robot names, then succeeds,
// whichever of max_request / max_requests the answer carries.
func TestRateLimit(t *testing.T) {
	for _, key := range []string{"max_request", "max_requests"} {
		t.Run(key, func(t *testing.T) {
			emu := seeded(t)
			emu.SetLimit("/ip", 2, time.Minute)
			emu.SetMaxRequestKey(key)
			c, waits, logs := newTest(t, emu, nil)
			ctx := context.Background()
			for i := range 3 {
				if _, _, err := c.GetIP(ctx, "88.99.10.20"); err != nil {
					t.Fatalf("call %d: %v", i, err)
				}
			}
			if !reflect.DeepEqual(*waits, []time.Duration{time.Minute}) {
				t.Errorf("waits = %v, want the 60s interval once", *waits)
			}
			if n := len(emu.Requests()); n != 4 {
				t.Errorf("requests = %d, want 4 (3 calls + 1 refused)", n)
			}
			if !strings.Contains(logs.String(), "2 requests, retry in 60s") {
				t.Errorf("log does not show the limit read from %s:\n%s", key, logs)
			}
		})
	}
}

func TestRateLimitTooLong(t *testing.T) {
	emu := seeded(t)
	emu.SetLimit("/ip", 1, time.Hour)
	c, waits, _ := newTest(t, emu, func(c *Config) { c.MaxWait = time.Minute })
	ctx := context.Background()
	if _, _, err := c.GetIP(ctx, "88.99.10.20"); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.GetIP(ctx, "88.99.10.20")
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Code != CodeRateLimit || rerr.Interval != 3600 || rerr.MaxRequests != 1 {
		t.Fatalf("err = %v, want RATE_LIMIT_EXCEEDED with interval 3600", err)
	}
	if len(*waits) != 0 {
		t.Errorf("waited %v for an interval longer than MaxWait", *waits)
	}
}

// TestNoRetryAfter401: one failed login reaches Robot exactly once, and the
// password never shows in the error or the log.
func TestNoRetryAfter401(t *testing.T) {
	emu := seeded(t)
	const wrong = "not-the-password-1234"
	c, waits, logs := newTest(t, emu, func(c *Config) { c.Password = wrong })
	_, _, err := c.GetIP(context.Background(), "88.99.10.20")
	var rerr *Error
	if !errors.As(err, &rerr) || rerr.Status != http.StatusUnauthorized {
		t.Fatalf("err = %v, want 401", err)
	}
	if n := len(emu.Requests()); n != 1 || len(*waits) != 0 {
		t.Fatalf("requests = %d, waits = %v; want exactly one request and no retry", n, *waits)
	}
	for _, s := range []string{wrong, robottest.Password} {
		if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
			t.Errorf("password leaked: %q / %q", err, logs)
		}
	}
}

// TestLoginLatch: after a refused login the client stops calling Robot
// (Robot blocks the caller's IP for every password after three), says why,
// spends no budget on the calls it does not make, and tries again once the
// latch is reset by a reload.
func TestLoginLatch(t *testing.T) {
	emu := seeded(t)
	c, waits, _ := newTest(t, emu, func(c *Config) { c.Password = "wrong" })
	ctx := context.Background()
	var tripped []providers.AuthFailure
	c.AuthLatch().OnFailure(func(_ context.Context, f providers.AuthFailure) { tripped = append(tripped, f) })
	for i := range 5 {
		_, _, err := c.GetIP(ctx, "88.99.10.20")
		if retry, _ := errkind.Retry(err); err == nil || retry {
			t.Fatalf("call %d: err = %v, want a permanent failure", i, err)
		}
		if i > 0 && !errors.Is(err, providers.ErrAuthLatched) {
			t.Fatalf("call %d: err = %v, want ErrAuthLatched", i, err)
		}
	}
	if n := emu.FailedLogins(); n != 1 || len(emu.Requests()) != 1 || len(*waits) != 0 {
		t.Fatalf("failed logins = %d, requests = %d, waits = %v; want exactly one login tried", n, len(emu.Requests()), *waits)
	}
	if len(tripped) != 1 || tripped[0].API != "robot" || !strings.Contains(tripped[0].Error, "401") {
		t.Fatalf("failures reported = %+v, want one, of robot's 401", tripped)
	}
	if f := c.AuthLatch().Failure(); f == nil || f.Provider != "hetzner" {
		t.Fatalf("latch failure = %+v", f)
	}
	if n := len(c.spent["/ip"]); n != 1 {
		t.Fatalf("budget spent on /ip = %d, want 1: the latched calls were not made", n)
	}
	c.AuthLatch().Reset()
	if _, _, err := c.GetIP(ctx, "88.99.10.20"); err == nil || errors.Is(err, providers.ErrAuthLatched) {
		t.Fatalf("after Reset: err = %v, want Robot's own 401", err)
	}
	if n := emu.FailedLogins(); n != 2 {
		t.Fatalf("failed logins after Reset = %d, want 2", n)
	}
}

func TestRetry5xx(t *testing.T) {
	tests := []struct {
		name      string
		fail      []int
		wantErr   bool
		wantWaits []time.Duration
		retry     bool // errkind's verdict on the error returned
	}{
		{"maintenance and 5xx, then success", []int{503, 500, 502}, false, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, false},
		{"attempts exhausted", []int{503, 503, 503, 503}, true, []time.Duration{time.Second, 2 * time.Second, 4 * time.Second}, true},
		{"4xx not retried", []int{400}, true, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := seeded(t)
			emu.FailNext(tt.fail...)
			c, waits, _ := newTest(t, emu, nil)
			_, _, err := c.GetServer(context.Background(), 321)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(*waits, tt.wantWaits) {
				t.Errorf("waits = %v, want %v", *waits, tt.wantWaits)
			}
			if retry, _ := errkind.Retry(err); tt.wantErr && retry != tt.retry {
				t.Errorf("Retry(%v) = %v, want %v", err, retry, tt.retry)
			}
		})
	}
}

// TestBudget: past its own budget the client refuses without calling, and
// calls again once the oldest request is an hour old.
func TestBudget(t *testing.T) {
	emu := seeded(t)
	now := time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)
	c, _, _ := newTest(t, emu, func(c *Config) {
		c.Budget = map[string]int{"/server": 2}
		c.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	for range 2 {
		if _, _, err := c.GetServer(ctx, 321); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := c.GetServer(ctx, 321)
	if !errors.Is(err, ErrBudget) || !strings.Contains(err.Error(), "/server") {
		t.Fatalf("err = %v, want ErrBudget for /server", err)
	}
	if n := len(emu.Requests()); n != 2 {
		t.Fatalf("requests = %d, want 2: a refused call must not reach Robot", n)
	}
	if _, _, err := c.GetIP(ctx, "88.99.10.20"); err != nil {
		t.Fatalf("another family is not limited: %v", err)
	}
	now = now.Add(time.Hour)
	if _, _, err := c.GetServer(ctx, 321); err != nil {
		t.Fatalf("an hour later: %v", err)
	}
}

func TestFamily(t *testing.T) {
	tests := []struct{ method, path, want string }{
		{"GET", "/ip/1.2.3.4", "/ip"},
		{"GET", "/server/321", "/server"},
		{"GET", "/boot/321/rescue", "/boot"},
		{"POST", "/reset/321", "POST /reset"},
		{"GET", "/reset/321", "/reset"},
		{"POST", "/firewall/321", "/firewall"},
	}
	for _, tt := range tests {
		if got := Family(tt.method, tt.path); got != tt.want {
			t.Errorf("Family(%s %s) = %q, want %q", tt.method, tt.path, got, tt.want)
		}
	}
}

func TestChoices(t *testing.T) {
	tests := []struct {
		in   string
		want Choices
	}{
		{`["linux","vkvm"]`, Choices{"linux", "vkvm"}},
		{`"linux"`, Choices{"linux"}},
		{`[64,32]`, Choices{"64", "32"}},
		{`64`, Choices{"64"}},
		{`null`, Choices{}},
	}
	for _, tt := range tests {
		var got Choices
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Fatalf("%s: %v", tt.in, err)
		}
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s → %q, want %q", tt.in, got, tt.want)
		}
	}
	var bad Choices
	if err := json.Unmarshal([]byte(`{"x":1}`), &bad); err == nil {
		t.Error("an object was accepted as a choice")
	}
}

func TestDecodeError(t *testing.T) {
	tests := []struct {
		status int
		body   string
		want   Error
	}{
		{403, `{"error":{"status":403,"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded","max_request":200,"interval":3600}}`,
			Error{Status: 403, Code: CodeRateLimit, Message: "Rate limit exceeded", Interval: 3600, MaxRequests: 200}},
		{403, `{"error":{"status":403,"code":"RATE_LIMIT_EXCEEDED","message":"Rate limit exceeded","max_requests":50,"interval":60}}`,
			Error{Status: 403, Code: CodeRateLimit, Message: "Rate limit exceeded", Interval: 60, MaxRequests: 50}},
		{400, `{"error":{"status":400,"code":"INVALID_INPUT","message":"Invalid input parameters","missing":["status"],"invalid":["rules"]}}`,
			Error{Status: 400, Code: "INVALID_INPUT", Message: "Invalid input parameters", Missing: []string{"status"}, Invalid: []string{"rules"}}},
		{502, `<html>Bad Gateway</html>`, Error{Status: 502, Code: "BAD_GATEWAY", Message: "<html>Bad Gateway</html>"}},
	}
	for _, tt := range tests {
		if got := decodeError(tt.status, []byte(tt.body)); !reflect.DeepEqual(*got, tt.want) {
			t.Errorf("decodeError(%s) = %+v, want %+v", tt.body, *got, tt.want)
		}
	}
}
