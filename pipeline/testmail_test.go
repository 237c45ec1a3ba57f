package pipeline

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// fixtureMails returns the parser's fixture mails: real notice formats.
func fixtureMails(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob("../parser/testdata/*.eml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no parser fixtures: %v", err)
	}
	var mails [][]byte
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		mails = append(mails, raw)
	}
	return mails
}

// uniqueMail makes fixture i distinct (its own Message-ID) so that a corpus of
// n mails built from a few fixtures holds n different messages.
func uniqueMail(fixture []byte, i int) []byte {
	id := fmt.Appendf(nil, "Message-ID: <corpus-%d@abusewatch.test>\r\n", i)
	var out bytes.Buffer
	out.Write(id)
	for _, line := range bytes.SplitAfter(fixture, []byte("\n")) {
		if bytes.HasPrefix(bytes.ToLower(line), []byte("message-id:")) {
			continue
		}
		out.Write(line)
	}
	return out.Bytes()
}

// writeMaildir writes n distinct mails into a fresh Maildir and returns its path.
func writeMaildir(t testing.TB, n int) (dir string, rawBytes int64) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "Maildir")
	for _, sub := range []string{"cur", "new", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	fixtures := fixtureMails(t)
	for i := range n {
		raw := uniqueMail(fixtures[i%len(fixtures)], i)
		rawBytes += int64(len(raw))
		name := filepath.Join(dir, "new", fmt.Sprintf("%010d.abusewatch.test", i))
		if err := os.WriteFile(name, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir, rawBytes
}
