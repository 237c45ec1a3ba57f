package store

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// benchMail is a ~3 KB notice, like an OVH anti-hack mail with its log excerpt.
func benchMail(rng *rand.Rand, n int) []byte {
	ip := fmt.Sprintf("51.91.%d.%d", n/250%250, n%250) // 62,500 IPs: mostly new incidents, some updates
	raw := mail(fmt.Sprint(n), fmt.Sprintf("ovh|attack|syn_flood|%s||3|pass", ip))
	body := make([]byte, 0, 3072)
	for len(body) < 2900 {
		body = fmt.Appendf(body, "2026-11-02 10:%02d:%02d %s:%d -> 203.0.113.%d:80 TCP SYN %d bytes\r\n",
			rng.IntN(60), rng.IntN(60), ip, 1024+rng.IntN(60000), rng.IntN(255), 40+rng.IntN(1400))
	}
	return append(raw, body...)
}

func benchPlan(ch IncidentChange) []NewTask {
	if !ch.Opened && !ch.Escalated && !ch.Reopened {
		return nil
	}
	return []NewTask{
		{Kind: "state", Key: fmt.Sprintf("state:%d", ch.IncidentID), IncidentID: ch.IncidentID},
		{Kind: "notify", Key: fmt.Sprintf("notify:%d:%d", ch.IncidentID, ch.NewSeverity), IncidentID: ch.IncidentID},
	}
}

// BenchmarkIngest stores b.N distinct ~3 KB mails, each in its own transaction, and
// reports mails/s and the database size (after Close) over the raw mail size.
func BenchmarkIngest(b *testing.B) {
	for _, parallel := range []bool{false, true} {
		name := "serial"
		if parallel {
			name = "parallel"
		}
		b.Run(name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 2))
			mails := make([][]byte, b.N)
			var rawBytes int64
			for i := range mails {
				mails[i] = benchMail(rng, i)
				rawBytes += int64(len(mails[i]))
			}
			path := filepath.Join(b.TempDir(), "bench.db")
			ctx := context.Background()
			s, err := Open(ctx, path)
			if err != nil {
				b.Fatal(err)
			}
			parse := fakeParse(1)
			ingestOne := func(i int) {
				msg := Message{Source: Source{Mailbox: "abuse", UIDValidity: 1, UID: uint32(i + 1)}, Raw: mails[i], ReceivedAt: time.Now()}
				if _, err := s.Ingest(ctx, msg, parse(msg.Raw), benchPlan); err != nil {
					b.Error(err)
				}
			}
			b.SetBytes(rawBytes / int64(b.N))
			b.ResetTimer()
			start := time.Now()
			if parallel {
				var next atomic.Int64
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						ingestOne(int(next.Add(1) - 1))
					}
				})
			} else {
				for i := range b.N {
					ingestOne(i)
				}
			}
			elapsed := time.Since(start)
			b.StopTimer()
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			var dbBytes int64
			for _, suffix := range []string{"", "-wal", "-shm"} {
				if fi, err := os.Stat(path + suffix); err == nil {
					dbBytes += fi.Size()
				}
			}
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "mails/s")
			b.ReportMetric(float64(dbBytes)/float64(rawBytes), "db/raw")
		})
	}
}

// BenchmarkIngestLongIncident ingests notices into one incident that already
// holds many trusted notices (an attack reported every hour for months), on
// the tested driver. Every ingest reads the incident's prior trust: the time
// per mail should not grow with the incident's size.
func BenchmarkIngestLongIncident(b *testing.B) {
	const notice = "ovh|attack|syn_flood|192.0.2.1|C1|attack|pass"
	for _, before := range []int{10, 5000} {
		b.Run(fmt.Sprintf("notices=%d", before), func(b *testing.B) {
			s, _ := openTest(b)
			ctx := context.Background()
			parse := fakeParse(1)
			for start := 0; start < before; start += 500 {
				var items []IngestItem
				for i := start; i < min(start+500, before); i++ {
					raw := mail(fmt.Sprintf("fill-%d", i), notice)
					items = append(items, IngestItem{Msg: Message{Source: Source{Path: "fill"}, Raw: raw}, Parsed: parse(raw)})
				}
				if _, err := s.IngestBatch(ctx, items); err != nil {
					b.Fatal(err)
				}
			}
			mails := make([][]byte, b.N)
			for i := range mails {
				mails[i] = mail(fmt.Sprintf("bench-%d", i), notice)
			}
			b.ResetTimer()
			for i := range b.N {
				if _, err := s.Ingest(ctx, Message{Source: Source{Path: "bench"}, Raw: mails[i]}, parse(mails[i]), nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
