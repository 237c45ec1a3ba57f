package pipeline

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"net"
	"path/filepath"
	"sync"
	"testing"

	"github.com/emersion/go-msgauth/dkim"

	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/store"
)

// dnsZone publishes DKIM keys by selector for ovh.net; it can be emptied
// (the sender rotated its keys) or made to fail (a DNS outage).
type dnsZone struct {
	mu      sync.Mutex
	keys    map[string]ed25519.PublicKey
	failing bool
}

func (z *dnsZone) publish(selector string, key ed25519.PublicKey) {
	z.mu.Lock()
	defer z.mu.Unlock()
	z.keys = map[string]ed25519.PublicKey{selector + "._domainkey.ovh.net": key}
}

func (z *dnsZone) setFailing(f bool) { z.mu.Lock(); z.failing = f; z.mu.Unlock() }

func (z *dnsZone) lookupTXT(name string) ([]string, error) {
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.failing {
		return nil, &net.DNSError{Err: "server misbehaving", Name: name, IsTemporary: true}
	}
	if key, ok := z.keys[name]; ok {
		return []string{"v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(key)}, nil
	}
	return nil, &net.DNSError{Err: "no such host", Name: name, IsNotFound: true}
}

func signOVH(t *testing.T, raw []byte, selector string, key ed25519.PrivateKey) []byte {
	t.Helper()
	raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
	var signed bytes.Buffer
	if err := dkim.Sign(&signed, bytes.NewReader(raw), &dkim.SignOptions{
		Domain: "ovh.net", Selector: selector, Signer: key,
		HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
	}); err != nil {
		t.Fatal(err)
	}
	return signed.Bytes()
}

// openStore opens a store in a temporary directory, closed when the test ends.
func openStore(t *testing.T) *store.Store {
	t.Helper()
	st, err := store.Open(t.Context(), filepath.Join(t.TempDir(), "aw.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// TestReparseKeepsTheDKIMVerdictOnRecord: a provider rotating its DKIM keys
// must not turn its old, genuine mail into forgeries when it is parsed
// again; mail that could not be verified at the time is verified again.
func TestReparseKeepsTheDKIMVerdictOnRecord(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	zone := &dnsZone{}
	p := New(Options{Store: st, Parser: parser.Options{LookupTXT: zone.lookupTXT}})
	verdict := func(msg int64) string {
		t.Helper()
		var got string
		for _, inc := range []int64{1, 2} {
			d, err := st.Incident(ctx, inc)
			if err != nil {
				t.Fatal(err)
			}
			for _, n := range d.NoticeRecords {
				if n.MessageID == msg {
					got = n.Authentic
				}
			}
		}
		return got
	}

	oldPub, oldKey := newKey(t)
	zone.publish("2025", oldPub)
	genuine := p.mustIngest(t, signOVH(t, readFixture(t, "ovh-antihack-ntp-amplification-en.eml"), "2025", oldKey))

	newPub, newKey := newKey(t)
	zone.setFailing(true)
	unverified := p.mustIngest(t, signOVH(t, readFixture(t, "ovh-antihack-syn-flood-fr.eml"), "2026", newKey))
	if got, want := []string{verdict(genuine), verdict(unverified)}, []string{"pass", "none"}; got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("verdicts at ingest = %v, want %v", got, want)
	}

	// The 2025 key is withdrawn, the 2026 one published, DNS works again.
	zone.setFailing(false)
	zone.publish("2026", newPub)
	if _, err := p.Reparse(ctx); err != nil {
		t.Fatal(err)
	}
	if got := verdict(genuine); got != "pass" {
		t.Errorf("verdict of the mail signed with the withdrawn key = %q after reparse, want pass as recorded", got)
	}
	if got := verdict(unverified); got != "pass" {
		t.Errorf("verdict of the mail not verifiable at the time = %q after reparse, want pass now that its key resolves", got)
	}
}

func (p *Pipeline) mustIngest(t *testing.T, raw []byte) int64 {
	t.Helper()
	res, err := p.Ingest(context.Background(), store.Message{Source: store.Source{Path: t.Name()}, Raw: raw, Size: int64(len(raw))})
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != "ok" {
		t.Fatalf("ingest: status %s", res.Status)
	}
	return res.MessageID
}
