package pipeline

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/providers/setup"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// keyring publishes one DKIM key per domain (selector s1), as DNS would.
type keyring struct {
	mu   sync.Mutex
	keys map[string]ed25519.PrivateKey
}

func (k *keyring) sign(t *testing.T, raw []byte, domain string) []byte {
	t.Helper()
	k.mu.Lock()
	key, ok := k.keys[domain]
	if !ok {
		_, key = newKey(t)
		if k.keys == nil {
			k.keys = map[string]ed25519.PrivateKey{}
		}
		k.keys[domain] = key
	}
	k.mu.Unlock()
	var out bytes.Buffer
	if err := dkim.Sign(&out, bytes.NewReader(raw), &dkim.SignOptions{
		Domain: domain, Selector: "s1", Signer: key,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func (k *keyring) lookupTXT(name string) ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	domain, ok := strings.CutPrefix(name, "s1._domainkey.")
	if key, found := k.keys[domain]; ok && found {
		pub := key.Public().(ed25519.PublicKey)
		return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

// report reads one of this package's report templates with its source IP.
func report(t *testing.T, name, sourceIP string) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.ReplaceAll(raw, []byte("SOURCE_IP"), []byte(sourceIP))
}

// crlf makes a fixture's line ends what DKIM signs.
func crlf(raw []byte) []byte {
	return bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
}

// withMessageID gives a fixture another Message-ID: a second, distinct mail.
func withMessageID(fixture []byte, id string) []byte {
	var out bytes.Buffer
	out.WriteString("Message-ID: <" + id + ">\r\n")
	for _, line := range bytes.SplitAfter(fixture, []byte("\n")) {
		if !bytes.HasPrefix(bytes.ToLower(line), []byte("message-id:")) {
			out.Write(line)
		}
	}
	return out.Bytes()
}

// trustEnv is a pipeline with real DKIM keys, a real local triage job and an
// inventory of one host.
type trustEnv struct {
	t    *testing.T
	st   *store.Store
	p    *Pipeline
	keys *keyring
}

func newTrustEnv(t *testing.T, opts Options, inventoryIPs ...string) *trustEnv {
	t.Helper()
	e := &trustEnv{t: t, st: openStore(t), keys: &keyring{}}
	jobs := config.Triage{Jobs: []config.Job{{Name: "echo-ip", Where: triage.WhereLocal, Argv: []string{"echo", "checked", "{ip}"}, Timeout: 10 * time.Second}}}
	opts.Store = e.st
	opts.Parser = parser.Options{LookupTXT: e.keys.lookupTXT}
	opts.Triage = &Triage{Config: jobs, Inventory: inventory(t, inventoryIPs...), Runner: triage.NewRunner(jobs, triage.Options{})}
	e.p = New(opts)
	return e
}

func (e *trustEnv) ingest(raw []byte) store.IngestResult {
	e.t.Helper()
	res, err := e.p.Ingest(context.Background(), store.Message{Source: store.Source{Path: e.t.Name()}, Raw: raw, Size: int64(len(raw))})
	if err != nil {
		e.t.Fatal(err)
	}
	return res
}

func (e *trustEnv) drain() {
	e.t.Helper()
	if err := e.p.Drain(context.Background()); err != nil {
		e.t.Fatal(err)
	}
}

func (e *trustEnv) incident(id int64) *store.IncidentDetail {
	e.t.Helper()
	d, err := e.st.Incident(context.Background(), id)
	if err != nil {
		e.t.Fatal(err)
	}
	return d
}

// TestForgedThenGenuineTriagesOnce: a forged notice that opens the incident
// must not keep the genuine, DKIM-verified one that follows from running
// triage; triage runs once, for the genuine one, and a forged notice added
// to the verified incident stays marked unverified.
func TestForgedThenGenuineTriagesOnce(t *testing.T) {
	e := newTrustEnv(t, Options{}, "192.0.2.45")
	fixture := crlf(readFixture(t, "ovh-antihack-ntp-amplification-en.eml"))

	forged := e.ingest(withMessageID(fixture, "forged-1@ovh.net"))
	if len(forged.Opened) != 1 {
		t.Fatalf("the forged notice opened %v, want one incident", forged.Opened)
	}
	id := forged.Opened[0]
	genuine := e.ingest(e.keys.sign(t, withMessageID(fixture, "genuine@ovh.net"), "ovh.net"))
	if len(genuine.Updated) != 1 || genuine.Updated[0] != id {
		t.Fatalf("the genuine notice went to %v/%v, want incident %d", genuine.Opened, genuine.Updated, id)
	}
	e.drain()
	late := e.ingest(withMessageID(fixture, "forged-2@ovh.net"))
	e.drain()

	d := e.incident(id)
	if len(d.Runs) != 1 {
		t.Fatalf("triage runs %d, want exactly one", len(d.Runs))
	}
	var genuineNotice int64
	for _, n := range d.NoticeRecords {
		if n.MessageID == genuine.MessageID {
			genuineNotice = n.ID
		}
	}
	if want := "notice " + strconv.FormatInt(genuineNotice, 10) + ": DKIM pass (dkim:ovh)"; !strings.Contains(d.Runs[0].Trigger, want) {
		t.Errorf("run trigger %q, want it to name the genuine notice: %q", d.Runs[0].Trigger, want)
	}
	if d.Unverified {
		t.Errorf("incident with a DKIM-verified notice is shown unverified")
	}
	for _, entry := range d.Timeline {
		if entry.Kind != "notice" {
			continue
		}
		var msg int64
		for _, n := range d.NoticeRecords {
			if n.ID == entry.NoticeID {
				msg = n.MessageID
			}
		}
		unverified := strings.Contains(entry.Text, "(unverified)")
		if want := msg != genuine.MessageID; unverified != want {
			t.Errorf("timeline %q of message %d: unverified mark %v, want %v (forged %d, %d)", entry.Text, msg, unverified, want, forged.MessageID, late.MessageID)
		}
	}
}

// TestStrangerSignedReportsNeverTrigger: anyone can DKIM-sign their own
// mail. An ARF or X-ARF report from a domain the operator does not list is
// stored and shown, and never runs anything; a listed reporter's report does,
// but never against an address that is not a global unicast one.
func TestStrangerSignedReportsNeverTrigger(t *testing.T) {
	for _, tt := range []struct {
		name, template, ip string
		reporters          []string
		wantTriage         bool
	}{
		{"stranger's ARF", "arf-template.eml", "192.0.2.45", nil, false},
		{"stranger's X-ARF", "xarf-template.eml", "192.0.2.45", []string{"reports.example.org"}, false},
		{"listed reporter's ARF", "arf-template.eml", "192.0.2.45", []string{"attacker.example"}, true},
		{"listed reporter's X-ARF", "xarf-template.eml", "192.0.2.45", []string{"attacker.example"}, true},
		{"listed reporter, link-local with a shell zone", "arf-template.eml", "fe80::1%$(reboot)", []string{"attacker.example"}, false},
		{"listed reporter, loopback", "arf-template.eml", "127.0.0.1", []string{"attacker.example"}, false},
		{"listed reporter, private", "xarf-template.eml", "10.1.2.3", []string{"attacker.example"}, false},
		{"listed reporter, multicast", "arf-template.eml", "ff02::1", []string{"attacker.example"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			// The inventory holds the hostile addresses too: only the address
			// check may stop them.
			e := newTrustEnv(t, Options{TrustedReporters: tt.reporters}, "192.0.2.45", "127.0.0.1", "10.1.2.3", "fe80::1", "ff02::1")
			res := e.ingest(e.keys.sign(t, report(t, tt.template, tt.ip), "attacker.example"))
			e.drain()
			if res.Status != "ok" || res.Notices == 0 {
				t.Fatalf("report not stored as a notice: %+v", res)
			}
			incs, err := e.st.Incidents(context.Background(), "all")
			if err != nil {
				t.Fatal(err)
			}
			runs := 0
			for _, inc := range incs {
				d := e.incident(inc.ID)
				runs += len(d.Runs) + len(d.Evidence)
				for _, n := range d.NoticeRecords {
					if n.Authentic != "pass" {
						t.Errorf("notice authentic %q, want pass: the signature is genuine", n.Authentic)
					}
					if (n.Trust != "") != (len(tt.reporters) > 0 && tt.reporters[0] == "attacker.example") {
						t.Errorf("notice trust %q with reporters %v", n.Trust, tt.reporters)
					}
				}
			}
			if got := runs > 0; got != tt.wantTriage {
				t.Errorf("triage ran = %v, want %v", got, tt.wantTriage)
			}
		})
	}
}

// TestProviderAPIConfirmsUnsignedBlock: an unsigned OVH block mail runs
// nothing by itself; when the OVH API shows the block, the state task plans
// the triage and the timeline and the run say that the API's word was the
// trust. Without the block in the API, nothing runs.
func TestProviderAPIConfirmsUnsignedBlock(t *testing.T) {
	const ip = "192.0.2.46" // the IP of the fixture below
	for _, blocked := range []bool{true, false} {
		t.Run(map[bool]string{true: "blocked", false: "not blocked"}[blocked], func(t *testing.T) {
			emu := ovhtest.New(t)
			emu.AddIPBlock(ovhtest.IPBlock{Block: ip + "/32", Type: "dedicated", RoutedTo: "ns1.ip-192-0-2.eu"})
			emu.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
			if blocked {
				emu.SetAntihack(ip, ovhtest.Antihack{State: "blocked", BlockedSince: time.Now().Add(-time.Minute), Time: 600})
			}
			cfg := config.Default()
			cfg.Providers.OVH = &config.OVH{Endpoint: emu.URL(), ApplicationKey: ovhtest.AppKey, ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey}
			reg, err := setup.FromConfig(cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			e := newTrustEnv(t, Options{Providers: reg}, ip)
			res := e.ingest(readFixture(t, "ovh-antihack-syn-flood-fr.eml"))
			queued, err := e.st.Tasks(context.Background(), "queued")
			if err != nil {
				t.Fatal(err)
			}
			for _, task := range queued {
				if task.Kind == taskTriage {
					t.Fatalf("triage planned at ingest for an unsigned mail: %s", task.Key)
				}
			}
			e.drain()
			d := e.incident(res.Opened[0])
			if !blocked {
				if len(d.Runs) != 0 {
					t.Fatalf("triage ran %d times without the API confirming the block", len(d.Runs))
				}
				return
			}
			if len(d.Runs) != 1 {
				t.Fatalf("triage runs %d, want one once the API confirms the block", len(d.Runs))
			}
			want := "block notice " + strconv.FormatInt(d.NoticeRecords[0].ID, 10) + " confirmed by the ovh API: " + ip + " is blocked"
			if !strings.Contains(d.Runs[0].Trigger, want) {
				t.Errorf("run trigger %q, want %q", d.Runs[0].Trigger, want)
			}
			var planned, ran bool
			for _, entry := range d.Timeline {
				planned = planned || entry.Text == "triage planned: "+want
				ran = ran || (entry.Kind == "triage" && strings.Contains(entry.Text, "triggered by "+want))
			}
			if !planned || !ran {
				t.Errorf("timeline does not say which trust made triage run (planned %v, ran %v): %+v", planned, ran, d.Timeline)
			}
			if len(d.Evidence) != 1 || !strings.Contains(string(d.Evidence[0].Output), "checked "+ip) {
				t.Errorf("evidence %+v, want the job's output", d.Evidence)
			}
		})
	}
}
