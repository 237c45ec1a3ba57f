package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// parse --explain on an mbox: each mail is read, says which format and
// rules read it, and a mail that holds nothing says why.
func TestParseExplainMbox(t *testing.T) {
	read := func(name string) string {
		raw, err := os.ReadFile(filepath.Join("..", "..", "parser", "testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		return string(raw)
	}
	mbox := "From a@b Mon Nov 24 10:00:00 2025\n" + read("ovh-pl-antispam.eml") +
		"\nFrom a@b Mon Nov 24 10:00:01 2025\n" + read("ovh-invoice-fr.eml") +
		"\nFrom a@b Mon Nov 24 10:00:02 2025\n" + read("hetzner-unrecognised-abuse-sender.eml")
	path, out := parseExplain(t, "in.mbox", mbox)
	for _, want := range []string{
		"== " + path + "#1: format ovh", "languages: pl", "anti-spam",
		"== " + path + "#2: format ovh", "NONE: ovh: invoice",
		"== " + path + "#3: format hetzner", "UNRECOGNISED: hetzner:",
		"FILE", path + "#1",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	out, err := runCLI(t, "parse", "--json", path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d JSON lines, want 3:\n%s", len(lines), out)
	}
	var n struct{ Provider, Kind, Attack, IP string }
	if err := json.Unmarshal([]byte(lines[1]), &n); err != nil || n.Provider != "ovh" || n.Kind != "none" {
		t.Errorf("invoice line %s: %+v %v", lines[1], n, err)
	}
}

// Terminal output shows control characters from mail instead of obeying them.
func TestParseTableEscapesControlCharacters(t *testing.T) {
	_, out := parseExplain(t, "evil\x1b[2J.eml", "From: abuse@hetzner.com\nSubject: x\n\nnothing\n")
	if strings.ContainsRune(out, 0x1b) {
		t.Errorf("raw escape in output: %q", out)
	}
	if !strings.Contains(out, `evil\x1b[2J.eml`) {
		t.Errorf("escape not shown: %q", out)
	}
}

// parseExplain writes content to a file called name and runs parse
// --explain on it without a configuration file.
func parseExplain(t *testing.T, name, content string) (path, out string) {
	t.Helper()
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("ABUSEWATCH_CONFIG", "")
	out, err := runCLI(t, "parse", "--explain", path)
	if err != nil {
		t.Fatal(err)
	}
	return path, out
}
