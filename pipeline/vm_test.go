package pipeline

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/providers/setup"
	"github.com/abusewatch/abusewatch/store"
)

// TestTriageNamesTheOVHVirtualMachine: the hypervisor OVH blocked runs no
// NTP; the failover IP of the notice is on a virtual MAC that OVH's API
// gives to a VM, and that VM is the run's first suspect.
func TestTriageNamesTheOVHVirtualMachine(t *testing.T) {
	const hv, ip = "ns3012345.ip-192-0-2.eu", "198.51.100.10"
	emu := ovhtest.New(t)
	emu.AddDedicated(ovhtest.Dedicated{Name: hv, State: "ok", BootType: "harddisk", PowerState: "poweron"})
	emu.AddIPBlock(ovhtest.IPBlock{Block: "198.51.100.8/29", Type: "failover", RoutedTo: hv})
	emu.AddVirtualMAC(hv, ovhtest.VirtualMAC{MAC: "02:00:00:aa:bb:01", Type: "ovh", VMs: map[string]string{"198.51.100.9": "web-vm"}})
	emu.AddVirtualMAC(hv, ovhtest.VirtualMAC{MAC: "02:00:00:aa:bb:02", Type: "ovh", VMs: map[string]string{ip: "ntp-vm"}})
	cfg := config.Default()
	cfg.Providers.OVH = &config.OVH{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey}
	reg, err := setup.FromConfig(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	e := newTrustEnv(t, Options{Providers: reg}, ip)
	raw := []byte("Message-ID: <vm@ovh.net>\r\n\r\nntp\r\n")
	res, err := e.st.Ingest(context.Background(), store.Message{Source: store.Source{Path: "vm.eml"}, Raw: raw, Size: int64(len(raw))},
		store.Parsed{Status: "ok", Authentic: "pass", Notices: []store.Notice{{Provider: "ovh", Kind: "block", Attack: "ntp_amplification", IP: ip,
			Severity: 4, Events: []byte(`[{"src":"` + ip + `:123","dst":"203.0.113.77:43010","proto":"udp"}]`), Authentic: "pass", MessageID: "vm@ovh.net", Date: time.Now()}}},
		func(store.IncidentChange) []store.NewTask { return nil })
	if err != nil || len(res.Opened) != 1 {
		t.Fatalf("ingest: %+v %v", res, err)
	}
	v, err := e.p.RunTriageNow(context.Background(), res.Opened[0], nil, "tester")
	if err != nil {
		t.Fatal(err)
	}
	if len(v.Suspects) == 0 {
		t.Fatalf("no suspect; jobs %+v", v.Jobs)
	}
	s := v.Suspects[0]
	if s.Kind != "vm" || s.Name != "ntp-vm" || s.VM != "ntp-vm" || s.Host != hv {
		t.Errorf("first suspect %+v, want VM ntp-vm on %s", s, hv)
	}
	if want := "ovh: " + ip + " is on virtual MAC 02:00:00:aa:bb:02 (ovh) of " + hv; len(s.Why) == 0 || !strings.HasPrefix(s.Why[0], want) {
		t.Errorf("why %q, want it to start %q", s.Why, want)
	}
}
