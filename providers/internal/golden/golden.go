// Package golden compares a value's indented JSON with a file, for the
// normalized-state tests of the provider packages.
package golden

import (
	"bytes"
	"encoding/json"
	"os"
	"testing"
)

// JSON fails t unless v, as indented JSON, equals the file at path byte for
// byte. With update it rewrites the file first.
func JSON(t testing.TB, path string, v any, update bool) {
	t.Helper()
	got, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (run the test with -update to accept):\n%s", path, got)
	}
}
