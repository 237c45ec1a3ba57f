package triage

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/internal/testserver"
)

// eicar is the EICAR anti-virus test file, assembled at run time so that
// this source file is not itself reported by a scanner.
const eicar = `X5O!P%@AP[4\PZX54(P^)7CC)7}$` + `EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*`

// TestClamscanReal runs the real clamscan (Debian package clamav) with a
// throwaway database holding one MD5 signature of the EICAR file, so no
// freshclam download is needed, and checks that its exit code becomes a
// finding and a severity raise, or a clean ok.
func TestClamscanReal(t *testing.T) {
	clamscan := testserver.RequireBinary(t, "clamscan")
	db := t.TempDir()
	sum := md5.Sum([]byte(eicar))
	sig := fmt.Sprintf("%s:%d:Abusewatch.Test.EICAR\n", hex.EncodeToString(sum[:]), len(eicar))
	if err := os.WriteFile(filepath.Join(db, "test.hdb"), []byte(sig), 0o644); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name         string
		files        map[string]string
		wantFinding  string
		wantRaise    int
		wantExitCode int
	}{
		{"infected", map[string]string{"eicar.com": eicar, "readme.txt": "hello\n"}, "infected: ", RaiseCompromised, 1},
		{"clean", map[string]string{"readme.txt": "hello\n"}, "", 0, 0},
	}
	r := NewRunner(config.Triage{}, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			for name, body := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			job := config.Job{Name: "clamscan", Where: WhereLocal, Tool: config.ToolClamscan,
				Argv: []string{clamscan, "-d", db, "-ri", dir}}
			tg := testTarget()
			tg.Severity = 3 // attack: the infection must raise it
			got := r.Run(context.Background(), tg, []config.Job{job})[0]
			if got.Status != StatusOK || got.ExitCode != tc.wantExitCode || got.RaiseSeverity != tc.wantRaise {
				t.Fatalf("status %s exit %d raise %d (error %q)\n%s; want ok, exit %d, raise %d",
					got.Status, got.ExitCode, got.RaiseSeverity, got.Error, got.Output, tc.wantExitCode, tc.wantRaise)
			}
			if tc.wantFinding == "" {
				if len(got.Findings) != 0 {
					t.Fatalf("findings on a clean directory: %q", got.Findings)
				}
				return
			}
			want := tc.wantFinding + filepath.Join(dir, "eicar.com") + ": Abusewatch.Test.EICAR"
			if len(got.Findings) != 1 || !strings.HasPrefix(got.Findings[0], want) {
				t.Fatalf("findings %q, want one starting with %q", got.Findings, want)
			}
		})
	}
}
