package ovh

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/internal/errkind"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/internal/golden"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

var update = flag.Bool("update", false, "rewrite the golden files")

var checkedAt = time.Date(2026, 11, 21, 8, 0, 0, 0, time.UTC)

// newTest returns a provider on emu, its log output, and applies mutate to
// the config first. Waits are 1ms so that tests never sleep for long.
func newTest(t *testing.T, emu *ovhtest.Server, mutate func(*Config)) (*Provider, *bytes.Buffer) {
	t.Helper()
	cfg := Config{
		Endpoint:          emu.URL(),
		ApplicationKey:    ovhtest.AppKey,
		ApplicationSecret: ovhtest.AppSecret,
		ConsumerKey:       ovhtest.ConsumerKey,
		Backoff:           time.Millisecond,
		PollInterval:      time.Millisecond,
		Now:               func() time.Time { return checkedAt },
	}
	if mutate != nil {
		mutate(&cfg)
	}
	logs := &bytes.Buffer{}
	p, err := New(cfg, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	return p, logs
}

// seeded is an account with one server of each kind the tests need.
func seeded(t *testing.T) *ovhtest.Server {
	emu := ovhtest.New(t)
	since := time.Date(2026, 11, 20, 22, 15, 0, 0, time.UTC)
	emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns3001.ip-51-91-10.eu"})
	emu.AddDedicated(ovhtest.Dedicated{Name: "ns3001.ip-51-91-10.eu", State: "ok", BootID: 1, BootType: "harddisk", PowerState: "poweron"})
	emu.SetAntihack("51.91.10.20", ovhtest.Antihack{State: "blocked", BlockedSince: since, Time: 600})

	emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.11.0/24", Type: "dedicated", RoutedTo: "ns3002.ip-51-91-11.eu"})
	emu.AddDedicated(ovhtest.Dedicated{Name: "ns3002.ip-51-91-11.eu", State: "hacked", BootID: 7, BootType: "harddisk", PowerState: "poweron"})
	emu.SetSpam("51.91.11.5", ovhtest.Spam{State: "blockedForSpam", Date: since, Time: 3600})

	emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.12.0/24", Type: "dedicated", RoutedTo: "ns3003.ip-51-91-12.eu"})
	emu.AddDedicated(ovhtest.Dedicated{Name: "ns3003.ip-51-91-12.eu", State: "hackedBlocked", BootID: 2, BootType: "rescue", PowerState: "poweron"})
	emu.SetMitigation("51.91.12.9", ovhtest.Mitigation{Auto: true, State: "ok"})

	emu.AddIPBlock(ovhtest.IPBlock{Block: "57.128.1.10/32", Type: "vps", RoutedTo: "vps-1a2b3c4d.vps.ovh.net"})
	emu.AddVPS(ovhtest.VPS{Name: "vps-1a2b3c4d.vps.ovh.net", State: "running", NetbootMode: "rescue"})
	emu.AddIPBlock(ovhtest.IPBlock{Block: "57.128.1.11/32", Type: "vps", RoutedTo: "vps-5e6f7a8b.vps.ovh.net"})
	emu.AddVPS(ovhtest.VPS{Name: "vps-5e6f7a8b.vps.ovh.net", State: "rescued", NetbootMode: "local"})

	emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.13.0/28", Type: "failover", RoutedTo: "vps-9c0d1e2f.vps.ovh.net"})
	emu.AddVPS(ovhtest.VPS{Name: "vps-9c0d1e2f.vps.ovh.net", State: "running", NetbootMode: "local"})
	emu.SetFirewall("51.91.13.3", true,
		ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"},
		ovhtest.FirewallRule{Sequence: 19, Action: "deny", Protocol: "ipv4"})
	return emu
}

func TestState(t *testing.T) {
	emu := seeded(t)
	p, _ := newTest(t, emu, nil)
	tests := []struct {
		ip                            string
		service, typ, status          string
		blocked, locked, rescue, hack bool
		sources                       []string
		mitigation, firewall          bool
	}{
		{"51.91.10.20", "ns3001.ip-51-91-10.eu", "dedicated", "ok", true, false, false, false, []string{"antihack"}, false, false},
		{"51.91.10.21", "ns3001.ip-51-91-10.eu", "dedicated", "ok", false, false, false, false, nil, false, false},
		{"51.91.11.5", "ns3002.ip-51-91-11.eu", "dedicated", "hacked", true, true, false, true, []string{"antispam"}, false, false},
		{"51.91.12.9", "ns3003.ip-51-91-12.eu", "dedicated", "hackedBlocked", false, true, true, true, nil, true, false},
		{"57.128.1.10", "vps-1a2b3c4d.vps.ovh.net", "vps", "running", false, false, true, false, nil, false, false},
		{"57.128.1.11", "vps-5e6f7a8b.vps.ovh.net", "vps", "rescued", false, false, true, false, nil, false, false},
		{"51.91.13.3", "vps-9c0d1e2f.vps.ovh.net", "failover", "running", false, false, false, false, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			st, err := p.State(context.Background(), netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatal(err)
			}
			if st.Service != tt.service || st.ServiceType != tt.typ || st.ServerStatus != tt.status {
				t.Errorf("service %s/%s/%s, want %s/%s/%s", st.Service, st.ServiceType, st.ServerStatus, tt.service, tt.typ, tt.status)
			}
			if st.Blocked != tt.blocked || st.Locked != tt.locked || st.Rescue != tt.rescue || st.Hacked != tt.hack {
				t.Errorf("blocked=%v locked=%v rescue=%v hacked=%v, want %v %v %v %v", st.Blocked, st.Locked, st.Rescue, st.Hacked, tt.blocked, tt.locked, tt.rescue, tt.hack)
			}
			var sources []string
			for _, b := range st.Blocks {
				sources = append(sources, b.Source)
			}
			if strings.Join(sources, ",") != strings.Join(tt.sources, ",") {
				t.Errorf("block sources %v, want %v", sources, tt.sources)
			}
			if (st.Mitigation != nil) != tt.mitigation || (st.Firewall != nil) != tt.firewall {
				t.Errorf("mitigation %+v firewall %+v, want %v %v", st.Mitigation, st.Firewall, tt.mitigation, tt.firewall)
			}
			if !st.CheckedAt.Equal(checkedAt) {
				t.Errorf("checked_at %v", st.CheckedAt)
			}
		})
	}
}

func TestStateDetails(t *testing.T) {
	emu := seeded(t)
	p, _ := newTest(t, emu, nil)
	ctx := context.Background()

	st, err := p.State(ctx, netip.MustParseAddr("51.91.10.20"))
	if err != nil {
		t.Fatal(err)
	}
	b := st.Blocks[0]
	if b.State != "blocked" || b.UnblockIn != 600 || b.Since == nil || !b.Since.Equal(time.Date(2026, 11, 20, 22, 15, 0, 0, time.UTC)) {
		t.Errorf("antihack block = %+v", b)
	}
	if _, ok := st.Raw["/ip/51.91.10.0%2F24/antihack/51.91.10.20"]; !ok {
		t.Errorf("raw answers kept under %v, want the escaped antihack path", keys(st.Raw))
	}

	st, err = p.State(ctx, netip.MustParseAddr("51.91.12.9"))
	if err != nil {
		t.Fatal(err)
	}
	if m := st.Mitigation; !m.Active || !m.Auto || m.State != "ok" {
		t.Errorf("mitigation = %+v", m)
	}

	st, err = p.State(ctx, netip.MustParseAddr("51.91.13.3"))
	if err != nil {
		t.Fatal(err)
	}
	fw := st.Firewall
	if !fw.Enabled || len(fw.Rules) != 2 || fw.Rules[0].Action != providers.ActionAllow || fw.Rules[0].Source.String() != "198.51.100.0/24" ||
		fw.Rules[1].Action != providers.ActionDeny || fw.Rules[1].Ref != "19" {
		t.Errorf("firewall = %+v", fw)
	}
}

func keys(m map[string]json.RawMessage) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestResolveNotOurs(t *testing.T) {
	p, _ := newTest(t, seeded(t), nil)
	_, err := p.Resolve(context.Background(), netip.MustParseAddr("192.0.2.1"))
	if !errors.Is(err, providers.ErrNotOurs) {
		t.Fatalf("err = %v, want ErrNotOurs", err)
	}
}

func TestGolden(t *testing.T) {
	emu := seeded(t)
	p, _ := newTest(t, emu, nil)
	tests := []struct{ ip, file string }{
		{"57.128.1.10", "ovh_vps_rescue.json"},
		{"51.91.11.5", "ovh_dedicated_hacked.json"},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			st, err := p.State(context.Background(), netip.MustParseAddr(tt.ip))
			if err != nil {
				t.Fatal(err)
			}
			golden.JSON(t, filepath.Join("testdata", tt.file), st, *update)
		})
	}
}

// TestAuthErrors shows that each auth failure is named, with the refused
// method and path, and that no secret reaches an error or a log line.
func TestAuthErrors(t *testing.T) {
	const (
		limitedCK = "limited-consumer-key"
		expiredCK = "expired-consumer-key"
	)
	tests := []struct {
		name    string
		mutate  func(*Config)
		want    error
		path    string
		latched bool // the credentials were refused: no further call is made
	}{
		{"invalid signature", func(c *Config) { c.ApplicationSecret = "wrong-secret-value" }, ErrInvalidSignature, "GET /ip?ip=51.91.10.20", true},
		{"unknown application key", func(c *Config) { c.ApplicationKey = "no-such-app-key" }, nil, "GET /ip?ip=51.91.10.20", true},
		{"expired consumer key", func(c *Config) { c.ConsumerKey = expiredCK }, ErrInvalidCredential, "GET /ip?ip=51.91.10.20", true},
		{"missing right", func(c *Config) { c.ConsumerKey = limitedCK }, ErrNotGranted, "GET /dedicated/server/ns3001.ip-51-91-10.eu", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := seeded(t)
			emu.AddConsumerKey(limitedCK, ovhtest.AccessRule{Method: "GET", Path: "/ip"}, ovhtest.AccessRule{Method: "GET", Path: "/ip/*"})
			emu.AddConsumerKey(expiredCK, ovhtest.AccessRule{Method: "GET", Path: "/*"})
			emu.ExpireConsumerKey(expiredCK)
			p, logs := newTest(t, emu, tt.mutate)
			_, err := p.State(context.Background(), netip.MustParseAddr("51.91.10.20"))
			if err == nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if retry, _ := errkind.Retry(err); retry {
				t.Errorf("err = %v is retried; no retry cures an auth failure", err)
			}
			before := len(emu.Requests())
			_, again := p.State(context.Background(), netip.MustParseAddr("51.91.10.20"))
			if made := len(emu.Requests()) - before; tt.latched != errors.Is(again, providers.ErrAuthLatched) || tt.latched && made != 0 {
				t.Errorf("second call: %d requests, err = %v; want latched %v", made, again, tt.latched)
			}
			if !strings.Contains(err.Error(), tt.path) {
				t.Errorf("err = %q, want it to name %q", err, tt.path)
			}
			for _, secret := range []string{p.c.AppSecret, p.c.ConsumerKey} {
				if strings.Contains(err.Error(), secret) || strings.Contains(logs.String(), secret) {
					t.Errorf("secret %q leaked: err=%q logs=%q", secret, err, logs)
				}
			}
		})
	}
}

// TestClockSkew: the emulator's clock is 10 minutes behind, far outside the
// 30s window; go-ovh reads /auth/time once and signs with the offset.
func TestClockSkew(t *testing.T) {
	emu := seeded(t)
	emu.SetClockOffset(-10 * time.Minute)
	p, _ := newTest(t, emu, nil)
	ctx := context.Background()
	for range 2 {
		if _, err := p.State(ctx, netip.MustParseAddr("51.91.10.20")); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for _, r := range emu.Requests() {
		if r == "GET /1.0/auth/time" {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("/auth/time asked %d times, want once", n)
	}
}

// TestRetries: 5xx and 429 are tried again and, past the attempts, returned
// as temporary with the Retry-After OVH sent; a Retry-After too long to
// wait inline goes back to the caller at once; a 4xx is permanent.
func TestRetries(t *testing.T) {
	tests := []struct {
		name       string
		fail       []int
		retryAfter int
		attempts   int
		wantErr    bool
		wantReqs   int // when wantErr
		retry      bool
		wait       time.Duration
	}{
		{"burst of 5xx then success", []int{500, 502, 503}, 0, 4, false, 0, false, 0},
		{"attempts exhausted", []int{500, 500}, 0, 2, true, 2, true, 0},
		{"503 with Retry-After", []int{503}, 7, 1, true, 1, true, 7 * time.Second},
		{"429 with a long Retry-After", []int{429, 429}, 120, 4, true, 1, true, 2 * time.Minute},
		{"4xx not retried", []int{400}, 0, 4, true, 1, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := seeded(t)
			p, _ := newTest(t, emu, func(c *Config) { c.Attempts = tt.attempts })
			warm := 0
			if tt.retryAfter > 0 {
				// go-ovh reads OVH's clock through a request of its own, whose
				// headers no caller sees: the faults go to the calls after it.
				if _, err := p.Resolve(context.Background(), netip.MustParseAddr("51.91.10.20")); err != nil {
					t.Fatal(err)
				}
				warm = len(emu.Requests())
			}
			emu.FailNext(tt.fail...)
			emu.SetRetryAfter(tt.retryAfter)
			_, err := p.Resolve(context.Background(), netip.MustParseAddr("51.91.10.20"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if retry, wait := errkind.Retry(err); tt.wantErr && (retry != tt.retry || wait != tt.wait) {
				t.Errorf("Retry(%v) = %v, %v; want %v, %v", err, retry, wait, tt.retry, tt.wait)
			}
			reqs := emu.Requests()[warm:]
			wantReqs := len(tt.fail) + 3 // then /auth/time, /ip?ip=, /ip/{block}
			if tt.wantErr {
				wantReqs = tt.wantReqs
			}
			if len(reqs) != wantReqs {
				t.Fatalf("requests = %d %v, want %d", len(reqs), reqs, wantReqs)
			}
		})
	}
}

func TestUnblock(t *testing.T) {
	tests := []struct {
		name      string
		seed      func(*ovhtest.Server)
		want      error
		wantText  string
		wantPosts int
		blocked   bool // after
	}{
		{"anti-hack too early", func(s *ovhtest.Server) {
			s.SetAntihack("51.91.10.20", ovhtest.Antihack{State: "blocked", Time: 120})
		}, providers.ErrTooEarly, "still blocked for 120 seconds", 0, true},
		{"anti-hack lifted", func(s *ovhtest.Server) {
			s.SetAntihack("51.91.10.20", ovhtest.Antihack{State: "blocked"})
		}, nil, "", 1, false},
		{"anti-spam too early", func(s *ovhtest.Server) {
			s.SetSpam("51.91.10.20", ovhtest.Spam{State: "blockedForSpam", Time: 3599})
		}, providers.ErrTooEarly, "still blocked for 3599 seconds", 0, true},
		{"anti-spam lifted, unblocking", func(s *ovhtest.Server) {
			s.SetSpam("51.91.10.20", ovhtest.Spam{State: "blockedForSpam"})
		}, nil, "", 1, true},
		{"not blocked", func(*ovhtest.Server) {}, providers.ErrNotBlocked, "", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := ovhtest.New(t)
			emu.AddIPBlock(ovhtest.IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns1.ip-51-91-10.eu"})
			emu.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-51-91-10.eu", State: "ok", BootType: "harddisk"})
			tt.seed(emu)
			p, _ := newTest(t, emu, nil)
			ip := netip.MustParseAddr("51.91.10.20")
			err := p.Unblock(context.Background(), ip)
			if tt.want == nil && err != nil || tt.want != nil && !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil && !strings.Contains(err.Error(), tt.wantText) {
				t.Errorf("err = %q, want %q in it", err, tt.wantText)
			}
			posts := 0
			for _, r := range emu.Requests() {
				if strings.HasPrefix(r, "POST ") {
					posts++
				}
			}
			if posts != tt.wantPosts {
				t.Errorf("POSTs = %d, want %d", posts, tt.wantPosts)
			}
			st, err := p.State(context.Background(), ip)
			if err != nil {
				t.Fatal(err)
			}
			if st.Blocked != tt.blocked {
				t.Errorf("blocked after = %v, want %v (%+v)", st.Blocked, tt.blocked, st.Blocks)
			}
		})
	}
}
