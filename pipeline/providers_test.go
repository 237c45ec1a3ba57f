package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/notify/notifytest"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
)

// hetznerConfig is a configuration with Robot and Cloud at the emulators
// (robot may be any endpoint) and one chat channel.
func hetznerConfig(t *testing.T, robotURL, password string, cl *cloudtest.Server, recv *notifytest.Receiver) *config.Config {
	t.Helper()
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(t.TempDir(), "aw.db")
	cfg.Providers.Hetzner = &config.Hetzner{RobotEndpoint: robotURL, RobotUser: robottest.User, RobotPassword: password,
		CloudEndpoint: cl.URL(), CloudToken: cloudtest.Token}
	cfg.Notify = []config.Channel{{URL: recv.GenericURL("/hook")}}
	return cfg
}

// TestWrongRobotPassword is issue 15's lockout: three state reads with a
// wrong Robot password used Robot's three failed logins, after which Robot
// refused even the right password for ten minutes, Cloud servers included.
// Now the first refusal is the only failed login: later reads fail at once
// without a call, /healthz and one chat message say why, Cloud servers are
// read throughout, and a reload with the fixed password reads Robot at once.
func TestWrongRobotPassword(t *testing.T) {
	ctx := context.Background()
	rb := robottest.New(t)
	rb.AddDedicated(robottest.Dedicated{Number: 321, Name: "hv1", IP: "88.99.10.20", Product: "AX41-NVMe", DC: "FSN1-DC14"})
	rb.AddIP("88.99.10.21", 321)
	rb.AddIP("88.99.10.22", 321)
	cl := cloudtest.New(t)
	cl.AddServer(cloudtest.Instance{ID: 42, Name: "web1", IPv4: "203.0.113.10"})
	recv := notifytest.NewReceiver(t)
	const wrong = "not-the-robot-password"
	cfg := hetznerConfig(t, rb.URL(), wrong, cl, recv)
	m := NewMetrics(nil)
	built, err := FromConfig(ctx, cfg, slog.New(slog.DiscardHandler), WithMetrics(m))
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()

	for i, ip := range []string{"88.99.10.20", "88.99.10.21", "88.99.10.22"} {
		_, err := built.Registry.State(ctx, netip.MustParseAddr(ip))
		if retry, _ := errkind.Retry(err); err == nil || retry {
			t.Fatalf("state of %s: err = %v, want a failure no retry can cure", ip, err)
		}
		if i > 0 && !errors.Is(err, providers.ErrAuthLatched) {
			t.Fatalf("state of %s: err = %v, want no call made (ErrAuthLatched)", ip, err)
		}
		st, err := built.Registry.State(ctx, netip.MustParseAddr("203.0.113.10"))
		if err != nil || st.ServiceType != "cloud_server" {
			t.Fatalf("cloud state while Robot refuses: %+v, %v", st, err)
		}
	}
	if n := rb.FailedLogins(); n != 1 {
		t.Fatalf("failed logins at Robot = %d, want exactly 1", n)
	}

	var health healthJSON
	_, body := scrape(t, m.Handler(), "/healthz")
	if err := json.Unmarshal([]byte(body), &health); err != nil {
		t.Fatal(err)
	}
	if health.Status != "failing" || len(health.ProvidersRefused) != 1 || health.ProvidersRefused[0].API != "robot" {
		t.Fatalf("/healthz = %s, want failing with robot refused", body)
	}
	if err := built.Pipeline.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	var told []string
	for _, d := range recv.Deliveries() {
		if strings.Contains(d.Text, "PROVIDER LOGIN REFUSED") {
			told = append(told, d.Text)
		}
		if strings.Contains(d.Text, wrong) {
			t.Errorf("the password reached chat: %q", d.Text)
		}
	}
	if len(told) != 1 || !strings.Contains(told[0], "robot") || !strings.Contains(told[0], "reload") {
		t.Fatalf("chat messages about the refusal = %q, want one naming robot and the reload", told)
	}

	fixed := hetznerConfig(t, rb.URL(), robottest.Password, cl, recv)
	fixed.Store = cfg.Store
	if applied, err := built.reloadProviders(cfg, fixed, slog.New(slog.DiscardHandler)); err != nil || !applied {
		t.Fatalf("reload: applied %v, %v", applied, err)
	}
	st, err := built.Registry.State(ctx, netip.MustParseAddr("88.99.10.20"))
	if err != nil || st.Service != "321" {
		t.Fatalf("Robot state right after the reload: %+v, %v", st, err)
	}
	if n := rb.FailedLogins(); n != 1 {
		t.Errorf("failed logins after the reload = %d, want still 1", n)
	}
	_, body = scrape(t, m.Handler(), "/healthz")
	if err := json.Unmarshal([]byte(body), &health); err != nil || health.Status != "ok" || len(health.ProvidersRefused) != 0 {
		t.Errorf("/healthz after the reload = %s", body)
	}
}

// TestCloudDoesNotWaitOnRobot: with Robot not answering at all, a Cloud
// server's state is read at once, and the Robot call is cancelled.
func TestCloudDoesNotWaitOnRobot(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() { // accept and say nothing: a Robot behind a dead path
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	cl := cloudtest.New(t)
	cl.AddServer(cloudtest.Instance{ID: 42, Name: "web1", IPv4: "203.0.113.10"})
	cfg := hetznerConfig(t, "http://"+ln.Addr().String(), robottest.Password, cl, notifytest.NewReceiver(t))
	cfg.Notify = nil
	built, err := FromConfig(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer built.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := built.Registry.State(ctx, netip.MustParseAddr("203.0.113.10"))
	if err != nil || st.ServiceType != "cloud_server" {
		t.Fatalf("cloud state with Robot silent: %+v, %v", st, err)
	}
	// Robot's own server, in contrast, waits for Robot: the deadline ends it.
	short, cancelShort := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancelShort()
	if _, err := built.Registry.State(short, netip.MustParseAddr("88.99.10.20")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("robot state with Robot silent: err = %v, want the deadline", err)
	}
}
