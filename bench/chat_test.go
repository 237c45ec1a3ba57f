package bench

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/internal/testserver"
	"github.com/abusewatch/abusewatch/notify/notifytest"
)

// chatMails are X-ARF reports, each about an IP of its own so that each
// opens an incident and its opening message goes out at once (notices of
// one incident are folded into a digest per burst window instead).
func chatMails(b *testing.B, n int) (mails [][]byte, ips []string) {
	b.Helper()
	raw, err := os.ReadFile("../parser/testdata/xarf-login-attack.eml")
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		ip := fmt.Sprintf("198.51.100.%d", i+1)
		m := bytes.ReplaceAll(raw, []byte("192.0.2.44"), []byte(ip))
		m = bytes.Replace(m, []byte("<xarf-login@honeypot.example>"), fmt.Appendf(nil, "<chat-bench-%d@honeypot.example>", i), 1)
		mails, ips = append(mails, m), append(ips, ip)
	}
	return mails, ips
}

// BenchmarkChatLatency: the daemon idles on a real Dovecot with a chat
// channel to a local webhook receiver; each of 200 mails is APPENDed and
// timed until the receiver has its opening message. A second connection in
// IDLE measures the server's own APPEND → EXISTS delay in the same run; the
// figure that counts is the delay above it.
func BenchmarkChatLatency(b *testing.B) {
	bin := binary(b)
	const n = 200
	for b.Loop() {
		d := testserver.StartDovecot(b)
		rcv := notifytest.NewReceiver(b)
		dir := b.TempDir()
		cfg := writeConfig(b, d, dir, "flag", "")
		f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintf(f, "notify:\n  - name: bench\n    url: %s\n", rcv.GenericURL("chat"))
		f.Close()

		logs := startWatch(b, bin, cfg)
		exists := watchExists(b, d, n)

		appender := d.Dial(b)
		mails, ips := chatMails(b, n+1)
		// A first mail waits for the daemon to be up and idling.
		appendOne(b, appender, mails[n])
		if _, err := waitChat(rcv, ips[n], time.Now().Add(30*time.Second)); err != nil {
			b.Fatalf("warm-up mail: %v; daemon log:\n%s", err, tail(logs.String()))
		}
		drain(exists)
		var chat, server []time.Duration
		for i, raw := range mails[:n] {
			start := time.Now()
			appendOne(b, appender, raw)
			select {
			case got := <-exists:
				server = append(server, got.Sub(start))
			case <-time.After(30 * time.Second):
				b.Fatal("no EXISTS within 30s")
			}
			at, err := waitChat(rcv, ips[i], start.Add(30*time.Second))
			if err != nil {
				b.Fatalf("mail %d: %v; daemon log:\n%s", i, err, tail(logs.String()))
			}
			chat = append(chat, at.Sub(start))
		}
		reportLatency(b, chat, server, logs)
	}
}

// waitChat polls the receiver until a delivered message names ip and
// returns when it arrived.
func waitChat(rcv *notifytest.Receiver, ip string, deadline time.Time) (time.Time, error) {
	for {
		for _, d := range rcv.Deliveries() {
			if strings.Contains(d.Text, " "+ip+"\n") {
				return d.At, nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("no chat message about %s (%d received)", ip, len(rcv.Deliveries()))
		}
		time.Sleep(time.Millisecond)
	}
}
