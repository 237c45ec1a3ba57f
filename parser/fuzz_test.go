package parser

import (
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"
)

var (
	validKinds   = map[Kind]bool{KindAttack: true, KindBlock: true, KindRescue: true, KindComplaint: true, KindStatus: true}
	validAttacks = map[Attack]bool{
		AttackUDPFlood: true, AttackSYNFlood: true, AttackTCPFlood: true, AttackICMPFlood: true,
		AttackNTPAmp: true, AttackDNSAmp: true, AttackMemcachedAmp: true, AttackSSDPAmp: true,
		AttackNetscan: true, AttackPortscan: true, AttackBruteforce: true, AttackSpam: true,
		AttackSpamvertised: true, AttackBlacklist: true, AttackPhishing: true, AttackMalware: true,
		AttackCopyright: true, AttackOpenService: true, AttackUnknown: true,
	}
	validProviders = map[string]bool{ProviderOVH: true, ProviderHetzner: true, ProviderGeneric: true}
)

// FuzzParse feeds arbitrary bytes to Parse. Seeds are every fixture mail plus
// the corpus in testdata/fuzz/FuzzParse, which `go test` replays.
func FuzzParse(f *testing.F) {
	addFixtureSeeds(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		res, err := Parse(raw, Options{MaxBytes: 1 << 20})
		if err != nil {
			if len(res.Notices) != 0 || res.Reason == "" {
				t.Fatalf("error %v with %d notices and reason %q", err, len(res.Notices), res.Reason)
			}
			return
		}
		if len(res.Notices) == 0 && res.Reason == "" {
			t.Fatal("no notices and no reason")
		}
		for _, n := range res.Notices {
			checkNotice(t, n)
		}
	})
}

// checkNotice asserts the contract of DESIGN.md "The notice" on any notice.
func checkNotice(t *testing.T, n Notice) {
	t.Helper()
	if !validKinds[n.Kind] {
		t.Fatalf("kind %q outside the vocabulary", n.Kind)
	}
	if !validAttacks[n.Attack] {
		t.Fatalf("attack %q outside the vocabulary", n.Attack)
	}
	if !validProviders[n.Provider] {
		t.Fatalf("provider %q outside the vocabulary", n.Provider)
	}
	if n.IP != "" {
		if _, err := netip.ParseAddr(n.IP); err != nil {
			t.Fatalf("ip %q is not an address", n.IP)
		}
	}
	for _, ts := range []string{n.Deadline, n.Date} {
		if ts == "" {
			continue
		}
		if _, err := time.Parse(time.RFC3339, ts); err != nil {
			t.Fatalf("time %q is not RFC 3339", ts)
		}
	}
	if n.Events == nil {
		t.Fatal("events is null, want []")
	}
	if _, err := json.Marshal(n); err != nil {
		t.Fatalf("notice does not marshal: %v", err)
	}
}

// addFixtureSeeds seeds a fuzz target with every fixture mail.
func addFixtureSeeds(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.eml")
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
}
