package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testutil"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/notify/notifytest"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/ovh"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/store"
)

var (
	wlAdmin = netip.MustParsePrefix("203.0.113.7/32")
	wlOther = netip.MustParsePrefix("198.51.100.99/32")
)

// Server IPs of the emulated accounts.
const (
	wlOVHEnabled  = "51.91.10.20" // firewall enabled, operator rules
	wlOVHDisabled = "51.91.10.21" // firewall disabled, one permit rule
	wlOVHNone     = "51.91.10.22" // no firewall at all
	wlRobot       = "88.99.10.40" // server 323, active firewall with rules
	wlCloud       = "49.12.1.12"  // server 43 behind firewall "base"
)

// wlEmus are the three provider emulators behind one registry, seeded so
// that every server already has firewall state of its operator's.
type wlEmus struct {
	ovh   *ovhtest.Server
	robot *robottest.Server
	cloud *cloudtest.Server
	reg   *providers.Registry
}

func newWLEmus(t *testing.T) *wlEmus {
	t.Helper()
	e := &wlEmus{ovh: ovhtest.New(t), robot: robottest.New(t), cloud: cloudtest.New(t)}
	e.ovh.AddIPBlock(ovhtest.IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns1.ip-51-91-10.eu"})
	e.ovh.SetFirewall(wlOVHEnabled, true,
		ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24", DestinationPort: "22"},
		ovhtest.FirewallRule{Sequence: 10, Action: "deny", Protocol: "ipv4"})
	e.ovh.SetFirewall(wlOVHDisabled, false,
		ovhtest.FirewallRule{Sequence: 0, Action: "permit", Protocol: "tcp", Source: "198.51.100.0/24"})

	e.robot.AddDedicated(robottest.Dedicated{Number: 323, Name: "hv3", IP: wlRobot, Product: "EX44", DC: "HEL1-DC2"})
	e.robot.SetFirewall(323, robottest.Firewall{Status: "active", Input: []robottest.Rule{
		{IPVersion: "ipv4", Name: "ssh-office", SrcIP: "198.51.100.0/24", DstPort: "22", Protocol: "tcp", Action: "accept"},
		{IPVersion: "ipv4", Name: "drop-rest", Action: "discard"},
	}})

	e.cloud.AddServer(cloudtest.Instance{ID: 43, Name: "db-1", IPv4: wlCloud})
	port := "443"
	e.cloud.AddFirewall("base", []schema.FirewallRule{{Direction: "in", SourceIPs: []string{"0.0.0.0/0"}, Protocol: "tcp", Port: &port}}, 43)

	log := slog.New(slog.DiscardHandler)
	op, err := ovh.New(ovh.Config{
		Endpoint: e.ovh.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey,
		Backoff: time.Millisecond, PollInterval: time.Millisecond,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	// Robot applies changes over 20–30s; the emulator's clock moves when the client waits.
	advance := func(_ context.Context, d time.Duration) error { e.robot.Advance(d); return nil }
	hp, err := hetzner.New(hetzner.Config{
		Robot: &robot.Config{Endpoint: e.robot.URL(), User: robottest.User, Password: robottest.Password, Sleep: advance},
		Cloud: &hetzner.CloudConfig{Endpoint: e.cloud.URL(), Token: cloudtest.Token, PollInterval: time.Millisecond},
		Sleep: advance,
	}, log)
	if err != nil {
		t.Fatal(err)
	}
	e.reg = providers.NewRegistry(providers.RegistryConfig{}, log, op, hp)
	return e
}

// firewall is what the emulator holds for ip, comparable with DeepEqual.
func (e *wlEmus) firewall(ip string) any {
	switch ip {
	case wlRobot:
		return e.robot.Firewall(323)
	case wlCloud:
		return e.cloud.Firewalls()
	}
	var fw ovhFirewall
	fw.exists, fw.enabled, fw.rules = e.ovh.Firewall(ip)
	return fw
}

type ovhFirewall struct {
	exists, enabled bool
	rules           []ovhtest.FirewallRule
}

// ours lists the sources of abusewatch's rules on ip, as the provider reads them.
func (e *wlEmus) ours(t *testing.T, ip string) []netip.Prefix {
	t.Helper()
	p, _, err := e.reg.Lookup(context.Background(), netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	rules, err := p.OurRules(context.Background(), netip.MustParseAddr(ip))
	if err != nil {
		t.Fatal(err)
	}
	var out []netip.Prefix
	for _, r := range rules {
		out = append(out, r.Source)
	}
	return out
}

// recorder is a real chat channel, a generic webhook to a local receiver,
// whose template writes the event fields the tests look at, one per line.
type recorder struct {
	notifier *notify.Notifier
	rcv      *notifytest.Receiver
}

func newRecorder(t *testing.T) *recorder {
	t.Helper()
	rcv := notifytest.NewReceiver(t)
	n, err := notify.New([]config.Channel{{
		Name: "recorder", URL: rcv.GenericURL("chat"),
		Template: "{{.Kind}}\n{{.IncidentID}}\n{{.IP}}\n{{.Detail}}",
	}}, notify.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return &recorder{notifier: n, rcv: rcv}
}

// events returns what the channel was sent, in order.
func (r *recorder) events() []notify.Event {
	var out []notify.Event
	for _, d := range r.rcv.Deliveries() {
		f := strings.SplitN(d.Text, "\n", 4)
		for len(f) < 4 {
			f = append(f, "")
		}
		id, _ := strconv.ParseInt(f[1], 10, 64)
		out = append(out, notify.Event{Kind: notify.EventKind(f[0]), IncidentID: id, IP: f[2], Detail: f[3]})
	}
	return out
}

func (r *recorder) kinds() []notify.EventKind {
	var out []notify.EventKind
	for _, ev := range r.events() {
		out = append(out, ev.Kind)
	}
	return out
}

func newWLPipeline(t *testing.T, reg FirewallProvider, chat *recorder) (*Pipeline, *store.Store) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "abusewatch.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	var n *notify.Notifier
	if chat != nil {
		n = chat.notifier
	}
	return New(Options{Store: st, Firewall: reg, Notifier: n, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}), st
}

var wlProviders = []struct {
	name, ip string
}{
	{"ovh enabled firewall", wlOVHEnabled},
	{"ovh disabled firewall: enabled, then disabled again", wlOVHDisabled},
	{"ovh no firewall: created, then deleted", wlOVHNone},
	{"hetzner robot", wlRobot},
	{"hetzner cloud", wlCloud},
}

// TestWhitelistGrantRevoke: a grant is stored and opens exactly our rule,
// the operator's rules stay, its expiry is queued; revoking brings the
// firewall back to what it was and tells the chat both times.
func TestWhitelistGrantRevoke(t *testing.T) {
	for _, tt := range wlProviders {
		t.Run(tt.name, func(t *testing.T) {
			emus := newWLEmus(t)
			chat := newRecorder(t)
			p, st := newWLPipeline(t, emus.reg, chat)
			ctx := context.Background()
			before := emus.firewall(tt.ip)

			got, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(tt.ip), Source: wlAdmin, For: DefaultGrant, By: "alice", Reason: "fix sshd"})
			if err != nil {
				t.Fatal(err)
			}
			g, err := st.GrantByID(ctx, got.Grant.ID)
			if err != nil {
				t.Fatal(err)
			}
			if g.Status != grantActive || g.Source != wlAdmin.String() || g.ServerIP != tt.ip || g.By != "alice" || g.Reason != "fix sshd" ||
				g.RuleRef == "" || !g.ExpiresAt.Equal(g.CreatedAt.Add(DefaultGrant)) {
				t.Fatalf("stored grant = %+v", g)
			}
			var ref providers.Rule
			if err := json.Unmarshal([]byte(g.RuleRef), &ref); err != nil || ref.Source != wlAdmin || !ref.Ours {
				t.Fatalf("rule ref = %s (%v)", g.RuleRef, err)
			}
			if ours := emus.ours(t, tt.ip); !slices.Equal(ours, []netip.Prefix{wlAdmin}) {
				t.Fatalf("our rules during the grant = %v, want just %s", ours, wlAdmin)
			}
			assertOperatorRulesKept(t, emus, tt.ip, before)
			queued, err := st.Tasks(ctx, "queued")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.ContainsFunc(queued, func(q store.Task) bool {
				return q.Kind == taskExpire && q.Key == fmt.Sprintf("expire:grant:%d", g.ID) && q.RunAt.Equal(g.ExpiresAt)
			}) {
				t.Fatalf("no expire task for grant %d at %s in %+v", g.ID, g.ExpiresAt, queued)
			}

			if _, err := p.RevokeGrant(ctx, g.ID, "bob"); err != nil {
				t.Fatal(err)
			}
			if after := emus.firewall(tt.ip); !reflect.DeepEqual(after, before) {
				t.Fatalf("after revoke %+v\nwant %+v", after, before)
			}
			g, _ = st.GrantByID(ctx, g.ID)
			if g.Status != grantRevoked || g.RevokedAt == nil {
				t.Fatalf("after revoke grant = %+v", g)
			}
			if _, err := p.RevokeGrant(ctx, g.ID, "bob"); err == nil || !strings.Contains(err.Error(), "revoked already") {
				t.Fatalf("second revoke: %v", err)
			}
			if err := p.Drain(ctx); err != nil {
				t.Fatal(err)
			}
			if k := chat.kinds(); !slices.Equal(k, []notify.EventKind{notify.WhitelistGranted, notify.WhitelistRevoked}) {
				t.Fatalf("chat events = %v", k)
			}
			if ev := chat.events()[1]; ev.IncidentID != 0 || ev.IP != tt.ip || !strings.Contains(ev.Detail, "revoked by bob") || !strings.Contains(ev.Detail, "fix sshd") {
				t.Fatalf("revoke event = %+v", ev)
			}
		})
	}
}

// assertOperatorRulesKept checks that what the operator had on the firewall
// is still there, in order, while our rule is in.
func assertOperatorRulesKept(t *testing.T, emus *wlEmus, ip string, before any) {
	t.Helper()
	switch ip {
	case wlRobot:
		b, d := before.(robottest.Firewall), emus.robot.Firewall(323)
		if d.Status != b.Status || !reflect.DeepEqual(d.Input[1:], b.Input) {
			t.Fatalf("robot firewall during the grant = %+v, before %+v", d, b)
		}
	case wlCloud:
		if d := emus.cloud.Firewalls()["base"]; !reflect.DeepEqual(d, before.(map[string]schema.Firewall)["base"]) {
			t.Fatalf("the operator's cloud firewall changed: %+v", d)
		}
	default:
		b, d := before.(ovhFirewall), emus.firewall(ip).(ovhFirewall)
		if len(d.rules) != len(b.rules)+1 || !d.enabled {
			t.Fatalf("ovh firewall during the grant = %+v, before %+v", d, b)
		}
		for _, r := range b.rules {
			if !slices.Contains(d.rules, r) {
				t.Fatalf("ovh rule %+v is gone during the grant: %+v", r, d.rules)
			}
		}
	}
}

// waitFor polls cond until it holds, failing after a generous deadline: the
// test waits for a state, it does not time anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 60*time.Second, cond, func() string { return "gave up waiting for " + what })
}

// TestWhitelistExpiryByDaemon: the running workers revoke a 2-second grant
// when it runs out and put the firewall back as it was.
func TestWhitelistExpiryByDaemon(t *testing.T) {
	for _, tt := range wlProviders {
		t.Run(tt.name, func(t *testing.T) {
			emus := newWLEmus(t)
			chat := newRecorder(t)
			p, st := newWLPipeline(t, emus.reg, chat)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); _ = p.runWorkers(ctx, 2) }()
			t.Cleanup(func() { cancel(); <-done })
			before := emus.firewall(tt.ip)

			got, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(tt.ip), Source: wlAdmin, For: 2 * time.Second, By: "alice"})
			if err != nil {
				t.Fatal(err)
			}
			if ours := emus.ours(t, tt.ip); len(ours) != 1 {
				t.Fatalf("our rules during the grant = %v", ours)
			}
			waitFor(t, "the grant to expire", func() bool {
				g, err := st.GrantByID(ctx, got.Grant.ID)
				return err == nil && g.Status == grantExpired
			})
			if after := emus.firewall(tt.ip); !reflect.DeepEqual(after, before) {
				t.Fatalf("after expiry %+v\nwant %+v", after, before)
			}
			waitFor(t, "the expiry message", func() bool { return slices.Contains(chat.kinds(), notify.WhitelistExpired) })
		})
	}
}

// TestWhitelistCrashRecovery: a rule the provider made while the grant was
// never marked active (a crash between the API call and the store write) is
// removed; live grants keep theirs.
func TestWhitelistCrashRecovery(t *testing.T) {
	for _, tt := range wlProviders {
		t.Run(tt.name, func(t *testing.T) {
			for _, crash := range []string{"row pending, killed before marking", "rule without a row"} {
				t.Run(crash, func(t *testing.T) {
					emus := newWLEmus(t)
					p, st := newWLPipeline(t, emus.reg, nil)
					ctx := context.Background()
					ip := netip.MustParseAddr(tt.ip)
					before := emus.firewall(tt.ip)

					// A live grant of another admin, made properly: it must survive.
					live, err := p.Grant(ctx, GrantRequest{ServerIP: ip, Source: wlOther, For: time.Hour, By: "carol"})
					if err != nil {
						t.Fatal(err)
					}
					prov, _, err := emus.reg.Lookup(ctx, ip)
					if err != nil {
						t.Fatal(err)
					}
					var crashed int64
					if crash == "row pending, killed before marking" {
						// Written long enough ago that no CLI can still be waiting on it.
						crashed, err = st.CreateGrant(ctx, store.Grant{Provider: prov.Name(), ServerIP: tt.ip, Source: wlAdmin.String(), Status: grantPending,
							CreatedAt: time.Now().Add(-time.Hour), ExpiresAt: time.Now().Add(time.Hour)})
						if err != nil {
							t.Fatal(err)
						}
					}
					if _, err := prov.Allow(ctx, ip, wlAdmin, "crashed"); err != nil {
						t.Fatal(err)
					}
					if ours := emus.ours(t, tt.ip); len(ours) != 2 {
						t.Fatalf("our rules after the crash = %v, want 2", ours)
					}

					if crash == "rule without a row" {
						// Revoking any grant on the server sweeps it.
						if _, err := p.RevokeGrant(ctx, live.Grant.ID, "carol"); err != nil {
							t.Fatal(err)
						}
						if ours := emus.ours(t, tt.ip); len(ours) != 0 {
							t.Fatalf("our rules after revoke = %v, want none", ours)
						}
					} else {
						res, err := p.ReconcileGrants(ctx)
						if err != nil {
							t.Fatal(err)
						}
						if res != (Reconciled{Failed: 1, Orphans: 1}) {
							t.Fatalf("reconciled = %+v", res)
						}
						if g, _ := st.GrantByID(ctx, crashed); g.Status != grantFailed {
							t.Fatalf("crashed grant = %+v, want failed", g)
						}
						if ours := emus.ours(t, tt.ip); !slices.Equal(ours, []netip.Prefix{wlOther}) {
							t.Fatalf("our rules after reconcile = %v, want only the live grant's", ours)
						}
						if _, err := p.RevokeGrant(ctx, live.Grant.ID, "carol"); err != nil {
							t.Fatal(err)
						}
					}
					if after := emus.firewall(tt.ip); !reflect.DeepEqual(after, before) {
						t.Fatalf("after recovery %+v\nwant %+v", after, before)
					}
				})
			}
		})
	}
}

// TestWhitelistReconcileOverdue: grants that ran out while no daemon ran are
// revoked by the reconciliation that start-up and `whitelist expire` run.
func TestWhitelistReconcileOverdue(t *testing.T) {
	emus := newWLEmus(t)
	chat := newRecorder(t)
	p, st := newWLPipeline(t, emus.reg, chat)
	ctx := context.Background()
	before := emus.firewall(wlRobot)
	got, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(wlRobot), Source: wlAdmin, For: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	// An hour passes with no daemon.
	later := New(Options{Store: st, Firewall: emus.reg, Notifier: chat.notifier, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	res, err := later.ReconcileGrants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res != (Reconciled{Expired: 1}) {
		t.Fatalf("reconciled = %+v", res)
	}
	if g, _ := st.GrantByID(ctx, got.Grant.ID); g.Status != grantExpired || g.RevokedAt == nil {
		t.Fatalf("grant = %+v", g)
	}
	if after := emus.firewall(wlRobot); !reflect.DeepEqual(after, before) {
		t.Fatalf("after reconcile %+v\nwant %+v", after, before)
	}
	// The expire task, run later, finds nothing left to do.
	if err := later.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	if k := chat.kinds(); !slices.Equal(k, []notify.EventKind{notify.WhitelistGranted, notify.WhitelistExpired}) {
		t.Fatalf("chat events = %v", k)
	}
}

// TestWhitelistRobotLimit: Robot holds at most 10 input rules; the grant
// fails with the provider's reason, is marked failed, and nothing changes.
func TestWhitelistRobotLimit(t *testing.T) {
	emus := newWLEmus(t)
	var rules []robottest.Rule
	for i := range 10 {
		rules = append(rules, robottest.Rule{IPVersion: "ipv4", Name: fmt.Sprintf("r%d", i), SrcIP: fmt.Sprintf("198.51.100.%d/32", i), Action: "accept"})
	}
	emus.robot.SetFirewall(323, robottest.Firewall{Status: "active", Input: rules})
	before := emus.firewall(wlRobot)
	p, st := newWLPipeline(t, emus.reg, nil)
	ctx := context.Background()

	_, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(wlRobot), Source: wlAdmin, For: time.Hour})
	if err == nil || !strings.Contains(err.Error(), "holds 10 input rules") || !strings.Contains(err.Error(), "grant 1 failed") {
		t.Fatalf("err = %v, want the 10-rule limit", err)
	}
	grants, err := st.Grants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(grants) != 1 || grants[0].Status != grantFailed {
		t.Fatalf("grants = %+v, want one failed", grants)
	}
	if after := emus.firewall(wlRobot); !reflect.DeepEqual(after, before) {
		t.Fatalf("a refused grant changed the firewall: %+v", after)
	}
}

// TestWhitelistSharedSource: two grants of the same source share the
// provider's rule (Allow is idempotent); it stays until the last one ends.
func TestWhitelistSharedSource(t *testing.T) {
	emus := newWLEmus(t)
	p, _ := newWLPipeline(t, emus.reg, nil)
	ctx := context.Background()
	before := emus.firewall(wlOVHNone)
	var ids []int64
	for range 2 {
		g, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(wlOVHNone), Source: wlAdmin, For: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, g.Grant.ID)
	}
	if _, err := p.RevokeGrant(ctx, ids[0], ""); err != nil {
		t.Fatal(err)
	}
	if ours := emus.ours(t, wlOVHNone); len(ours) != 1 {
		t.Fatalf("after the first revoke our rules = %v, want the shared one", ours)
	}
	if _, err := p.RevokeGrant(ctx, ids[1], ""); err != nil {
		t.Fatal(err)
	}
	if after := emus.firewall(wlOVHNone); !reflect.DeepEqual(after, before) {
		t.Fatalf("after the last revoke %+v\nwant %+v (the firewall the first grant created, deleted)", after, before)
	}
}

func TestWhitelistGrantLimits(t *testing.T) {
	emus := newWLEmus(t)
	p, st := newWLPipeline(t, emus.reg, nil)
	tests := []struct {
		name    string
		req     GrantRequest
		wantErr string
	}{
		{"longer than 24h", GrantRequest{Source: wlAdmin, For: 25 * time.Hour}, "pass --force"},
		{"zero", GrantRequest{Source: wlAdmin}, "must be positive"},
		{"the whole internet", GrantRequest{Source: netip.MustParsePrefix("0.0.0.0/0"), For: time.Hour}, "too wide"},
		{"private", GrantRequest{Source: netip.MustParsePrefix("10.0.0.5/32"), For: time.Hour}, "private"},
		{"other family", GrantRequest{Source: netip.MustParsePrefix("2001:db8::7/128"), For: time.Hour}, "same IP family"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.req.ServerIP = netip.MustParseAddr(wlRobot)
			if _, err := p.Grant(context.Background(), tt.req); err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if grants, err := st.Grants(context.Background()); err != nil || len(grants) != 0 {
		t.Fatalf("refused requests stored grants: %+v, %v", grants, err)
	}
}

func TestWhitelistParseSource(t *testing.T) {
	tests := []struct {
		in, want, wantErr string
	}{
		{"203.0.113.7", "203.0.113.7/32", ""},
		{"2001:db8::1", "2001:db8::1/128", ""},
		{"::ffff:203.0.113.7", "203.0.113.7/32", ""},
		{"198.51.100.0/24", "198.51.100.0/24", ""},
		{"198.51.100.9/24", "198.51.100.0/24", ""},
		{"2001:db8:1::/48", "2001:db8:1::/48", ""},
		{"0.0.0.0/0", "", "too wide"},
		{"::/0", "", "too wide"},
		{"198.51.100.0/23", "", "too wide"},
		{"2001:db8::/47", "", "too wide"},
		{"0.0.0.0", "", "unspecified"},
		{"10.1.2.3", "", "private"},
		{"172.16.0.0/24", "", "private"},
		{"192.168.1.0/24", "", "private"},
		{"fd00::1", "", "private"},
		{"100.64.0.1", "", "private"},
		{"127.0.0.1", "", "loopback"},
		{"::1", "", "loopback"},
		{"169.254.10.1", "", "link-local"},
		{"fe80::1", "", "link-local"},
		{"239.1.2.3", "", "multicast"},
		{"admin.example.net", "", "not an IP address"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSource(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseSource(%q) = %v, %v; want error %q", tt.in, got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got.String() != tt.want {
				t.Fatalf("ParseSource(%q) = %v, %v; want %s", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestWhitelistDaemonLock: the CLI sees a daemon while one holds the lock,
// and none once it let go (or never started).
func TestWhitelistDaemonLock(t *testing.T) {
	path := DaemonLockPath(filepath.Join(t.TempDir(), "abusewatch.db"))
	if up, err := DaemonRunning(path); err != nil || up {
		t.Fatalf("before any daemon: running = %v, %v", up, err)
	}
	release, err := HoldDaemonLock(path)
	if err != nil {
		t.Fatal(err)
	}
	if up, err := DaemonRunning(path); err != nil || !up {
		t.Fatalf("while held: running = %v, %v", up, err)
	}
	second, err := HoldDaemonLock(path) // a second daemon on the same store is fine
	if err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(release(), second()); err != nil {
		t.Fatal(err)
	}
	if up, err := DaemonRunning(path); err != nil || up {
		t.Fatalf("after release: running = %v, %v", up, err)
	}
}

// TestWhitelistStartGrants: the daemon's start-up holds the lock the CLI
// looks for and revokes what ran out while no daemon ran.
func TestWhitelistStartGrants(t *testing.T) {
	emus := newWLEmus(t)
	p, st := newWLPipeline(t, emus.reg, nil)
	ctx := context.Background()
	before := emus.firewall(wlCloud)
	got, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(wlCloud), Source: wlAdmin, For: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	lock := DaemonLockPath(filepath.Join(t.TempDir(), "abusewatch.db"))
	later := New(Options{Store: st, Firewall: emus.reg, Now: func() time.Time { return time.Now().Add(2 * time.Hour) }})
	release, err := later.startGrants(ctx, lock)
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if up, err := DaemonRunning(lock); err != nil || !up {
		t.Fatalf("daemon running = %v, %v", up, err)
	}
	if g, _ := st.GrantByID(ctx, got.Grant.ID); g.Status != grantExpired {
		t.Fatalf("grant after start-up = %+v", g)
	}
	if after := emus.firewall(wlCloud); !reflect.DeepEqual(after, before) {
		t.Fatalf("after start-up %+v\nwant %+v", after, before)
	}
}

// hookedRegistry runs a hook right after the provider's Allow answered, to
// act in the window between the API call and the store write.
type hookedRegistry struct {
	*providers.Registry
	afterAllow func()
}

type hookedProvider struct {
	providers.Provider
	afterAllow func()
}

func (h hookedRegistry) Lookup(ctx context.Context, ip netip.Addr) (providers.Provider, providers.Service, error) {
	p, svc, err := h.Registry.Lookup(ctx, ip)
	if err != nil {
		return nil, svc, err
	}
	return hookedProvider{p, h.afterAllow}, svc, nil
}

func (h hookedProvider) Allow(ctx context.Context, ip netip.Addr, source netip.Prefix, comment string) (providers.Rule, error) {
	r, err := h.Provider.Allow(ctx, ip, source, comment)
	h.afterAllow()
	return r, err
}

// TestWhitelistRevokedWhileApplying: an operator revokes a grant while the
// provider is still applying it; the grant does not come back to life and
// the rule goes.
func TestWhitelistRevokedWhileApplying(t *testing.T) {
	for _, tt := range wlProviders {
		t.Run(tt.name, func(t *testing.T) {
			emus := newWLEmus(t)
			ctx := context.Background()
			var p *Pipeline
			var revokeErr error
			hooked := hookedRegistry{emus.reg, func() { _, revokeErr = p.RevokeGrant(ctx, 1, "bob") }}
			p, st := newWLPipeline(t, hooked, nil)
			before := emus.firewall(tt.ip)

			_, err := p.Grant(ctx, GrantRequest{ServerIP: netip.MustParseAddr(tt.ip), Source: wlAdmin, For: time.Hour})
			if revokeErr != nil {
				t.Fatal(revokeErr)
			}
			if err == nil || !strings.Contains(err.Error(), "grant 1 was revoked while the provider applied it") {
				t.Fatalf("err = %v", err)
			}
			if g, _ := st.GrantByID(ctx, 1); g.Status != grantRevoked {
				t.Fatalf("grant = %+v, want revoked", g)
			}
			if after := emus.firewall(tt.ip); !reflect.DeepEqual(after, before) {
				t.Fatalf("after %+v\nwant %+v", after, before)
			}
		})
	}
}
