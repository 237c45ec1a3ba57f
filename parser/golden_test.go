package parser

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden .json files from the parser's output (review the diff!)")

// TestGolden parses every testdata/*.eml and compares the notices, one JSON
// object per line, with testdata/NAME.json. Any field difference fails.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no fixtures in testdata/")
	}
	for _, path := range files {
		name := strings.TrimSuffix(filepath.Base(path), ".eml")
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			got := goldenLines(t, raw)
			goldenPath := strings.TrimSuffix(path, ".eml") + ".json"
			if *update {
				if err := os.WriteFile(goldenPath, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(goldenPath)
			if err != nil {
				t.Fatalf("no golden file (run go test ./parser -run TestGolden -update and review it): %v", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("notices differ from %s\n got: %s\nwant: %s", goldenPath, got, want)
			}
		})
	}
}

// goldenLines renders a mail's notices as the CLI does, indented per notice for readable diffs.
func goldenLines(t *testing.T, raw []byte) []byte {
	t.Helper()
	res, err := Parse(raw, Options{})
	notices := res.Notices
	if err != nil {
		n := res.None()
		n.Reason = "error: " + err.Error()
		notices = []Notice{n}
	} else if len(notices) == 0 {
		notices = []Notice{res.None()}
	}
	var buf bytes.Buffer
	for _, n := range notices {
		b, err := json.MarshalIndent(n, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		buf.Write(b)
		buf.WriteByte('\n')
	}
	return buf.Bytes()
}
