package hetzner

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/internal/golden"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var checkedAt = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

type env struct {
	robot *robottest.Server
	cloud *cloudtest.Server
	p     *Provider
	logs  *bytes.Buffer
}

// newEnv seeds a Robot account and a Cloud project and returns a provider
// on both. Robot waits advance the emulator's clock instead of sleeping.
func newEnv(t *testing.T) *env {
	t.Helper()
	rb := robottest.New(t)
	rb.AddDedicated(robottest.Dedicated{Number: 321, Name: "hv1", IP: "88.99.10.20", Product: "AX41-NVMe", DC: "FSN1-DC14"})
	rb.AddIP("88.99.10.21", 321)
	rb.SetLocked("88.99.10.21", true)
	rb.AddDedicated(robottest.Dedicated{Number: 322, Name: "hv2", IP: "88.99.10.30", Product: "EX44", DC: "NBG1-DC3", Status: "in process"})
	rb.SetRescue(322, true, "linux", "64")
	rb.AddDedicated(robottest.Dedicated{Number: 323, Name: "hv3", IP: "88.99.10.40", Product: "EX44", DC: "HEL1-DC2"})
	rb.SetFirewall(323, robottest.Firewall{Status: "active", Input: []robottest.Rule{
		{IPVersion: "ipv4", Name: "ssh-office", SrcIP: "198.51.100.0/24", DstPort: "22", Protocol: "tcp", Action: "accept"},
		{IPVersion: "ipv4", Name: "web", DstPort: "443", Protocol: "tcp", Action: "accept"},
		{IPVersion: "ipv4", Name: "drop-rest", Action: "discard"},
	}, Output: []robottest.Rule{{IPVersion: "ipv4", Name: "allow-out", Action: "accept"}}})

	cl := cloudtest.New(t)
	cl.AddServer(cloudtest.Instance{ID: 41, Name: "web-1", IPv4: "49.12.1.10", IPv4Blocked: true, IPv6Net: "2a01:4f8:c012:1::/64"})
	cl.AddServer(cloudtest.Instance{ID: 42, Name: "web-2", IPv4: "49.12.1.11", Locked: true, RescueEnabled: true, Status: "off"})
	cl.AddServer(cloudtest.Instance{ID: 43, Name: "db-1", IPv4: "49.12.1.12"})
	cl.AddFirewall("base", []schema.FirewallRule{{Direction: "in", SourceIPs: []string{"0.0.0.0/0"}, Protocol: "tcp", Port: ptr("443")}}, 43)
	cl.AddPrimaryIP(cloudtest.PrimaryIP{ID: 7, Name: "spare-v4", IP: "49.12.1.99", Blocked: true})
	cl.AddFloatingIP(cloudtest.FloatingIP{ID: 8, Name: "vip", IP: "78.46.1.5", ServerID: 43, Blocked: true})

	logs := &bytes.Buffer{}
	advance := func(_ context.Context, d time.Duration) error { rb.Advance(d); return nil }
	p, err := New(Config{
		Robot:        &robot.Config{Endpoint: rb.URL(), User: robottest.User, Password: robottest.Password, Sleep: advance},
		Cloud:        &CloudConfig{Endpoint: cl.URL(), Token: cloudtest.Token, PollInterval: time.Millisecond},
		PollInterval: 5 * time.Second,
		Now:          func() time.Time { return checkedAt },
		Sleep:        advance,
	}, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return &env{robot: rb, cloud: cl, p: p, logs: logs}
}

func ptr(s string) *string { return &s }

func TestState(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		ip                      string
		service, typ, status    string
		blocked, locked, rescue bool
		source                  string
		firewall                string // status, "" when none reported
		fwRules                 int
	}{
		{"88.99.10.20", "321", "robot", "ready", false, false, false, "", "disabled", 0},
		{"88.99.10.21", "321", "robot", "ready", true, false, false, "robot_lock", "disabled", 0},
		{"88.99.10.30", "322", "robot", "in process", false, false, true, "", "disabled", 0},
		{"88.99.10.40", "323", "robot", "ready", false, false, false, "", "active", 3},
		{"49.12.1.10", "web-1", "cloud_server", "running", true, false, false, "cloud_ip", "none", 0},
		{"2a01:4f8:c012:1::1", "web-1", "cloud_server", "running", false, false, false, "", "none", 0},
		{"49.12.1.11", "web-2", "cloud_server", "off", false, true, true, "", "none", 0},
		{"49.12.1.12", "db-1", "cloud_server", "running", false, false, false, "", "applied", 1},
		{"49.12.1.99", "spare-v4", "primary_ip", "", true, false, false, "cloud_ip", "", 0},
		{"78.46.1.5", "db-1", "cloud_server", "running", true, false, false, "cloud_ip", "applied", 1},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			st, err := e.p.State(context.Background(), netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatal(err)
			}
			if st.Service != tt.service || st.ServiceType != tt.typ || st.ServerStatus != tt.status {
				t.Errorf("service %q/%q/%q, want %q/%q/%q", st.Service, st.ServiceType, st.ServerStatus, tt.service, tt.typ, tt.status)
			}
			if st.Blocked != tt.blocked || st.Locked != tt.locked || st.Rescue != tt.rescue {
				t.Errorf("blocked=%v locked=%v rescue=%v, want %v %v %v", st.Blocked, st.Locked, st.Rescue, tt.blocked, tt.locked, tt.rescue)
			}
			source := ""
			if len(st.Blocks) > 0 {
				source = st.Blocks[0].Source
			}
			if source != tt.source {
				t.Errorf("block source %q, want %q", source, tt.source)
			}
			switch {
			case tt.firewall == "" && st.Firewall != nil:
				t.Errorf("firewall %+v, want none", st.Firewall)
			case tt.firewall != "" && (st.Firewall == nil || st.Firewall.Status != tt.firewall || len(st.Firewall.Rules) != tt.fwRules):
				t.Errorf("firewall %+v, want status %s with %d rules", st.Firewall, tt.firewall, tt.fwRules)
			}
		})
	}
}

func TestResolveNotOurs(t *testing.T) {
	e := newEnv(t)
	_, err := e.p.Resolve(context.Background(), netip.MustParseAddr("192.0.2.1"))
	if !errors.Is(err, providers.ErrNotOurs) {
		t.Fatalf("err = %v, want ErrNotOurs", err)
	}
}

func TestGolden(t *testing.T) {
	e := newEnv(t)
	tests := []struct{ ip, file string }{
		{"88.99.10.21", "hetzner_robot_locked.json"},
		{"49.12.1.99", "hetzner_cloud_blocked_primary_ip.json"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st, err := e.p.State(context.Background(), netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, filepath.Join("testdata", tt.file), st, *update)
		})
	}
}

func TestUnblock(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		ip   string
		want error
	}{
		{"88.99.10.21", providers.ErrUnsupported},
		{"49.12.1.10", providers.ErrUnsupported},
		{"88.99.10.20", providers.ErrNotBlocked},
	}
	for _, tt := range tests {
		if err := e.p.Unblock(context.Background(), netip.MustParseAddr(tt.ip)); !errors.Is(err, tt.want) {
			t.Errorf("Unblock(%s) = %v, want %v", tt.ip, err, tt.want)
		}
	}
}

// TestSecretsNotLeaked: a refused Robot password and Cloud token appear in
// neither the error nor the log.
func TestSecretsNotLeaked(t *testing.T) {
	const password, token = "robot-secret-5678", "cloud-token-secret-9012"
	tests := []struct {
		name string
		cfg  func(rb *robottest.Server, cl *cloudtest.Server) Config
	}{
		{"robot", func(rb *robottest.Server, _ *cloudtest.Server) Config {
			return Config{Robot: &robot.Config{Endpoint: rb.URL(), User: robottest.User, Password: password}}
		}},
		{"cloud", func(_ *robottest.Server, cl *cloudtest.Server) Config {
			return Config{Cloud: &CloudConfig{Endpoint: cl.URL(), Token: token}}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			logs := &bytes.Buffer{}
			p, err := New(tt.cfg(robottest.New(t), cloudtest.New(t)), slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.State(context.Background(), netip.MustParseAddr("88.99.10.20"))
			if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "unauthorized") {
				t.Fatalf("err = %v, want an authentication failure", err)
			}
			for _, s := range []string{password, token} {
				if strings.Contains(err.Error(), s) || strings.Contains(logs.String(), s) {
					t.Errorf("secret %q leaked: %q %q", s, err, logs)
				}
			}
		})
	}
}

// TestErrorClasses: each API's errors are classified where they arise, so
// that the pipeline's one predicate decides: refused credentials are
// permanent and stop that client's calls; a 503 is temporary, not before
// the Retry-After sent; a rate limit lasts until its reset.
func TestErrorClasses(t *testing.T) {
	tests := []struct {
		name    string
		api     string // robot | cloud: the only API configured
		ip      string
		setup   func(rb *robottest.Server, cl *cloudtest.Server, c *Config)
		retry   bool
		wait    time.Duration // exact, or at least this with atLeast
		atLeast bool
		latched bool
	}{
		{"robot wrong password", "robot", "88.99.10.20", func(_ *robottest.Server, _ *cloudtest.Server, c *Config) { c.Robot.Password = "wrong" }, false, 0, false, true},
		{"robot 503 past the attempts", "robot", "88.99.10.20", func(rb *robottest.Server, _ *cloudtest.Server, _ *Config) {
			rb.FailNext(503, 503, 503, 503)
		}, true, 0, false, false},
		{"robot 503 with a Retry-After too long to wait", "robot", "88.99.10.20", func(rb *robottest.Server, _ *cloudtest.Server, _ *Config) {
			rb.FailNext(503)
			rb.SetRetryAfter(600)
		}, true, 10 * time.Minute, false, false},
		{"cloud wrong token", "cloud", "49.12.1.10", func(_ *robottest.Server, _ *cloudtest.Server, c *Config) { c.Cloud.Token = "wrong" }, false, 0, false, true},
		{"cloud 503 with Retry-After", "cloud", "49.12.1.10", func(_ *robottest.Server, cl *cloudtest.Server, _ *Config) {
			cl.FailNext(503)
			cl.SetRetryAfter(9)
		}, true, 9 * time.Second, false, false},
		{"cloud rate limit", "cloud", "49.12.1.10", func(_ *robottest.Server, cl *cloudtest.Server, _ *Config) { cl.SetLimit(0) }, true, 59 * time.Minute, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rb, cl := robottest.New(t), cloudtest.New(t)
			rb.AddDedicated(robottest.Dedicated{Number: 321, Name: "hv1", IP: "88.99.10.20"})
			cl.AddServer(cloudtest.Instance{ID: 41, Name: "web-1", IPv4: "49.12.1.10"})
			var cfg Config
			if tt.api == "robot" {
				cfg.Robot = &robot.Config{Endpoint: rb.URL(), User: robottest.User, Password: robottest.Password,
					Sleep: func(_ context.Context, d time.Duration) error { rb.Advance(d); return nil }}
			} else {
				cfg.Cloud = &CloudConfig{Endpoint: cl.URL(), Token: cloudtest.Token}
			}
			tt.setup(rb, cl, &cfg)
			p, err := New(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			_, err = p.State(context.Background(), netip.MustParseAddr(tt.ip))
			retry, wait := errkind.Retry(err)
			if err == nil || retry != tt.retry || (tt.atLeast && wait < tt.wait) || (!tt.atLeast && wait != tt.wait) {
				t.Fatalf("Retry(%v) = %v, %v; want %v, %v", err, retry, wait, tt.retry, tt.wait)
			}
			requests := func() int { return len(rb.Requests()) + len(cl.Requests()) }
			before := requests()
			_, err = p.State(context.Background(), netip.MustParseAddr(tt.ip))
			if latched := errors.Is(err, providers.ErrAuthLatched); latched != tt.latched || latched && requests() != before {
				t.Fatalf("second call: err = %v, %d requests; want latched %v and no request", err, requests()-before, tt.latched)
			}
		})
	}
}

// TestServiceIPs: a Robot server number gives the server's main IP first,
// then its additional ones; anything else is not ours.
func TestServiceIPs(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		service string
		want    []string
		notOurs bool
	}{
		{service: "321", want: []string{"88.99.10.20", "88.99.10.21"}},
		{service: "323", want: []string{"88.99.10.40"}},
		{service: "999", notOurs: true},
		{service: "ns1.example.net", notOurs: true},
		{service: "0", notOurs: true},
	}
	for _, tc := range tests {
		t.Run(tc.service, func(t *testing.T) {
			ips, err := e.p.ServiceIPs(context.Background(), tc.service)
			if tc.notOurs {
				if !errors.Is(err, providers.ErrNotOurs) {
					t.Fatalf("ServiceIPs(%q) = %v, %v; want ErrNotOurs", tc.service, ips, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range ips {
				got = append(got, a.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ServiceIPs(%q) = %v, want %v", tc.service, got, tc.want)
			}
		})
	}
}
