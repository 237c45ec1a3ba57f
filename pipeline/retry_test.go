package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/providers/hetzner"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robot"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/ovh"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/providers/setup"
	"github.com/abusewatch/abusewatch/store"
)

// providerCase is one provider API behind an emulator that knows the IP
// of a fixture.
type providerCase struct {
	name, fixture string
	// unavailable is how the provider's error says 503.
	unavailable string
	// start returns the provider registry (with wrong credentials when
	// refused) and the emulator's fault queue.
	start func(t *testing.T, refused bool) (StateReader, func(statuses ...int))
}

var providerCases = []providerCase{
	{"ovh", "ovh-antihack-syn-flood-fr.eml", "503", func(t *testing.T, refused bool) (StateReader, func(...int)) {
		emu := ovhtest.New(t)
		emu.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.46/32", Type: "dedicated", RoutedTo: "ns1.ip-192-0-2.eu"})
		emu.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
		ck := ovhtest.ConsumerKey
		if refused {
			ck = "not-the-consumer-key"
		}
		// One try per call: the client's own 5xx retries are not what is tested.
		p, err := ovh.New(ovh.Config{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret,
			ConsumerKey: ck, Attempts: 1}, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return providers.NewRegistry(providers.RegistryConfig{}, slog.New(slog.DiscardHandler), p), emu.FailNext
	}},
	{"hetzner robot", "hetzner-lock-one.eml", "503", func(t *testing.T, refused bool) (StateReader, func(...int)) {
		emu := robottest.New(t)
		emu.AddDedicated(robottest.Dedicated{Number: 2101, Name: "hel-web-1", IP: "37.27.128.19", Product: "AX42", DC: "HEL1-DC7"})
		password := robottest.Password
		if refused {
			password = "not-the-password"
		}
		p, err := hetzner.New(hetzner.Config{Robot: &robot.Config{Endpoint: emu.URL(), User: robottest.User, Password: password, Attempts: 1}},
			slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return providers.NewRegistry(providers.RegistryConfig{}, slog.New(slog.DiscardHandler), p), emu.FailNext
	}},
	{"hetzner cloud", "hetzner-netscan-2025-base64.eml", "service unavailable", func(t *testing.T, refused bool) (StateReader, func(...int)) {
		emu := cloudtest.New(t)
		emu.AddServer(cloudtest.Instance{ID: 501, Name: "scanner-vm", Status: "running", IPv4: "95.216.40.77"})
		token := cloudtest.Token
		if refused {
			token = "not-the-token"
		}
		cfg := config.Default()
		cfg.Providers.Hetzner = &config.Hetzner{CloudEndpoint: emu.URL(), CloudToken: token}
		reg, err := setup.FromConfig(cfg, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		return reg, emu.FailNext
	}},
}

// stateTask runs the state task of the incident the fixture opens, once,
// and returns it as the queue has it after.
func stateTask(t *testing.T, reg StateReader, clk *clock, fixture string) (*Pipeline, *store.Store, func() store.Task) {
	t.Helper()
	st := openStore(t)
	p := New(Options{Store: st, Providers: reg, Now: clk.Now})
	if _, err := p.Ingest(context.Background(), store.Message{Source: store.Source{Path: fixture}, Raw: readFixture(t, fixture)}); err != nil {
		t.Fatal(err)
	}
	// The store dates a task due at once by the wall clock.
	clk.Advance(time.Second)
	task := func() store.Task {
		t.Helper()
		var all []store.Task
		for _, status := range []string{"queued", "done", "failed"} {
			tasks, err := st.Tasks(context.Background(), status)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, tasks...)
		}
		for _, tk := range all {
			if tk.Kind == taskState {
				return tk
			}
		}
		t.Fatalf("no state task among %d", len(all))
		return store.Task{}
	}
	return p, st, task
}

// TestProviderErrorsFollowOneRetryRule: for each provider, refused
// credentials fail the state task at its first attempt (a retry would only
// spend failed logins), and a 503 leaves it queued with a backoff, then it
// succeeds.
func TestProviderErrorsFollowOneRetryRule(t *testing.T) {
	for _, pc := range providerCases {
		t.Run(pc.name+"/refused credentials fail at once", func(t *testing.T) {
			reg, _ := pc.start(t, true)
			clk := &clock{now: time.Now()}
			p, _, task := stateTask(t, reg, clk, pc.fixture)
			if err := p.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := task()
			if got.Status != "failed" || got.Attempts != 1 {
				t.Errorf("state task: status %s after %d attempts (%s), want failed after 1", got.Status, got.Attempts, got.LastError)
			}
		})
		t.Run(pc.name+"/503 is retried with backoff", func(t *testing.T) {
			reg, failNext := pc.start(t, false)
			clk := &clock{now: time.Now()}
			p, st, task := stateTask(t, reg, clk, pc.fixture)
			failNext(503)
			if err := p.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := task()
			if got.Status != "queued" || got.Attempts != 1 || !got.RunAt.After(clk.Now()) || !strings.Contains(got.LastError, pc.unavailable) {
				t.Fatalf("after a 503: status %s, %d attempts, run at %s (now %s), last error %q; want queued for later after 1",
					got.Status, got.Attempts, got.RunAt, clk.Now(), got.LastError)
			}
			clk.Advance(got.RunAt.Sub(clk.Now()) + time.Second)
			if err := p.Drain(context.Background()); err != nil {
				t.Fatal(err)
			}
			if got := task(); got.Status != "done" || got.Attempts != 2 {
				t.Errorf("after the backoff: status %s after %d attempts (%s), want done after 2", got.Status, got.Attempts, got.LastError)
			}
			inc, err := st.Incident(context.Background(), got.IncidentID)
			if err != nil {
				t.Fatal(err)
			}
			if inc.State == nil {
				t.Error("the provider's state was not kept")
			}
		})
	}
}
