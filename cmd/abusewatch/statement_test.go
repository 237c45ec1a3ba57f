package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStatementCLI: the command prints the draft (after --edit) with the
// statement link, records the prevention asked for, sends nothing without
// --send, and refuses --send without an smtp: section.
func TestStatementCLI(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "abusewatch.yaml")
	yaml := fmt.Sprintf("store:\n  path: %s\nparser:\n  trust_authserv_id: mx.test.invalid\n", filepath.Join(dir, "abusewatch.db"))
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	mail := filepath.Join("..", "..", "pipeline", "testdata", "statement", "hetzner-netscan.eml")
	if _, err := runCLI(t, "--config", cfg, "ingest", mail); err != nil {
		t.Fatal(err)
	}
	// The editor gets the file as its last argument, after its own words.
	t.Setenv("EDITOR", "sed -i s/^Hello,/Greetings,/")
	tests := []struct {
		name    string
		args    []string
		want    []string
		wantErr string
	}{
		{"draft, edited", []string{"--edit", "--prevention", "ssh,audit", "--lang", "en"}, []string{
			"Greetings,", "7C0FFEE:1A", "SSH accepts keys only", "security audit", "to: network-abuse@hetzner.com (smtp)",
			"subject: Re: Abuse Message [AbuseID:7C0FFEE:1A]: NetscanOutLevel: Netscan detected from 37.27.128.19",
			"statement form: https://abuse.hetzner.com/statements/?token=c0ffee42", "not sent",
		}, ""},
		{"french", []string{"--lang", "fr"}, []string{"voici notre réponse", "SSH n'accepte que des clés"}, ""},
		{"unknown language", []string{"--lang", "es"}, nil, `language "es"`},
		{"no complainant", []string{"--to", "complainant"}, nil, "names no complainant"},
		{"send without smtp", []string{"--send"}, nil, "no smtp: section"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := runCLI(t, append([]string{"--config", cfg, "statement", "1"}, tt.args...)...)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("no %q in:\n%s", w, out)
				}
			}
		})
	}
}
