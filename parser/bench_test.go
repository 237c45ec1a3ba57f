package parser

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/emersion/go-message"
)

func loadFixtures(b *testing.B) (mails [][]byte, total int64) {
	b.Helper()
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil || len(files) == 0 {
		b.Fatalf("no fixtures: %v", err)
	}
	for _, path := range files {
		raw, err := os.ReadFile(path)
		if err != nil {
			b.Fatal(err)
		}
		mails = append(mails, raw)
		total += int64(len(raw))
	}
	return mails, total
}

// BenchmarkParse parses the whole fixture mix once per iteration.
func BenchmarkParse(b *testing.B) {
	mails, total := loadFixtures(b)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range mails {
			if _, err := Parse(raw, Options{}); err != nil && len(raw) == 0 {
				b.Fatal(err)
			}
		}
	}
	reportPerMail(b, len(mails))
}

// BenchmarkMIMEWalk is the baseline for BenchmarkParse: it only reads the
// same mails with go-message, every part read and decoded (transfer encoding
// and charset), nothing matched.
func BenchmarkMIMEWalk(b *testing.B) {
	mails, total := loadFixtures(b)
	b.SetBytes(total)
	b.ReportAllocs()
	for b.Loop() {
		for _, raw := range mails {
			e, err := message.Read(bytes.NewReader(raw))
			if err != nil && !message.IsUnknownCharset(err) && !message.IsUnknownEncoding(err) {
				continue
			}
			_ = e.Walk(func(_ []int, ent *message.Entity, _ error) error {
				if ent.MultipartReader() == nil {
					_, _ = io.Copy(io.Discard, ent.Body)
				}
				return nil
			})
		}
	}
	reportPerMail(b, len(mails))
}

func reportPerMail(b *testing.B, perIter int) {
	mails := float64(b.N * perIter)
	b.ReportMetric(mails/b.Elapsed().Seconds(), "mails/s")
}
