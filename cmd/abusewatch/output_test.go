package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/abusewatch/abusewatch/config"
)

// hostileCorpus is the mail of pipeline/testdata/hostile: markup and
// mentions, terminal escapes and Unicode controls, a 5,000-character id.
func hostileCorpus(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("..", "..", "pipeline", "testdata", "hostile", "*.eml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("hostile corpus: %v, %d files", err, len(files))
	}
	return files
}

// cli runs the CLI with args and returns stdout and stderr.
func cli(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	return cliIn(t, nil, args...)
}

// cliIn is cli with stdin read from in (none when nil).
func cliIn(t *testing.T, in io.Reader, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	root := newRootCmd()
	if in != nil {
		root.SetIn(in)
	}
	root.SetArgs(args)
	root.SetOut(&stdout)
	root.SetErr(&stderr)
	err := root.ExecuteContext(context.Background())
	return stdout.String(), stderr.String(), err
}

// terminalControl is what a terminal acts on without showing: C0 controls
// but line feed, DEL, C1 controls, bidi and zero-width characters.
var terminalControl = regexp.MustCompile("[\x00-\x09\x0b-\x1f\x7f\u0080-\u009f\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]")

// assertTerminalSafe fails when out holds a control character or a line
// longer than maxLine characters.
func assertTerminalSafe(t *testing.T, what, out string, maxLine int) {
	t.Helper()
	if m := terminalControl.FindString(out); m != "" {
		t.Errorf("%s prints the control character %q:\n%q", what, m, out)
	}
	for _, l := range strings.Split(out, "\n") {
		if n := utf8.RuneCountInString(l); n > maxLine {
			t.Errorf("%s prints a line of %d characters (max %d): %.120q…", what, n, maxLine, l)
		}
	}
}

// storeConfigs writes two configs of one store: one whose secrets are set,
// to ingest with, and one whose secrets are not, as outside the service.
func storeConfigs(t *testing.T) (withSecrets, withoutSecrets string) {
	t.Helper()
	dir := t.TempDir()
	db := filepath.Join(dir, "abusewatch.db")
	withSecrets = writeConfigFile(t, "store:\n  path: "+db+"\n")
	withoutSecrets = filepath.Join(dir, "service.yaml")
	yaml := fmt.Sprintf(`store:
  path: %s
mailboxes:
  - name: abuse
    host: imap.example.net
    username: abuse@example.net
    password_env: ABUSEWATCH_TEST_UNSET_PASSWORD
notify:
  - url_env: ABUSEWATCH_TEST_UNSET_CHAT_URL
providers:
  hetzner:
    robot_user: "#ws+test"
    robot_password_env: ABUSEWATCH_TEST_UNSET_ROBOT
`, db)
	if err := os.WriteFile(withoutSecrets, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return withSecrets, withoutSecrets
}

// TestHostileMailInTheTerminal: the hostile corpus, ingested, listed, shown
// and parsed, prints no control character and no overlong line; the read
// commands run with a config whose secrets are not in the environment.
func TestHostileMailInTheTerminal(t *testing.T) {
	ingestCfg, readCfg := storeConfigs(t)
	files := hostileCorpus(t)
	if _, stderr, err := cli(t, append([]string{"--config", ingestCfg, "--log-level", "error", "ingest"}, files...)...); err != nil {
		t.Fatalf("ingest: %v\n%s", err, stderr)
	}

	list, _, err := cli(t, "--config", readCfg, "incidents", "list", "--status", "all")
	if err != nil {
		t.Fatalf("incidents list without secrets: %v", err)
	}
	assertTerminalSafe(t, "incidents list", list, 200)
	if got := strings.Count(list, "\n") - 1; got != len(files) {
		t.Errorf("incidents list shows %d incidents, want %d:\n%s", got, len(files), list)
	}
	for id := 1; id <= len(files); id++ {
		show, _, err := cli(t, "--config", readCfg, "incidents", "show", fmt.Sprint(id))
		if err != nil {
			t.Fatalf("incidents show %d: %v", id, err)
		}
		assertTerminalSafe(t, fmt.Sprintf("incidents show %d", id), show, 400)
	}
	if _, _, err := cli(t, "--config", readCfg, "whitelist", "list"); err != nil {
		t.Errorf("whitelist list without secrets: %v", err)
	}

	parsed, _, err := cli(t, append([]string{"parse"}, files...)...)
	if err != nil {
		t.Fatal(err)
	}
	assertTerminalSafe(t, "parse", parsed, 400)
	if strings.Contains(parsed, "[2J") {
		t.Errorf("parse shows a case id that is not one (it should be dropped):\n%s", parsed)
	}
	explained, _, err := cli(t, append([]string{"parse", "--explain"}, files...)...)
	if err != nil {
		t.Fatal(err)
	}
	assertTerminalSafe(t, "parse --explain", explained, 400)
	if !strings.Contains(explained, `case dropped`) || !strings.Contains(explained, `\u001b[2J`) {
		t.Errorf("parse --explain should say the case was dropped and show its escape sequence as text:\n%s", explained)
	}

	// The error of a command is printed the same way (main does).
	_, _, err = cli(t, "--config", readCfg, "incidents", "show", "999")
	if err == nil || err.Error() != "incident 999 not found" {
		t.Errorf("incidents show 999 = %v, want one clear message", err)
	}
}

// The read commands need a config file but no secret; every command but
// parse and demo refuses to run without a config file rather than use a
// store under a default path.
func TestNoConfigFileIsAnError(t *testing.T) {
	mail, err := filepath.Abs(hostileCorpus(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir())
	t.Setenv("ABUSEWATCH_CONFIG", "")
	for _, args := range [][]string{
		{"ingest", mail}, {"incidents", "list"}, {"incidents", "show", "1"}, {"incidents", "resolve", "1"},
		{"reparse"}, {"whitelist", "list"}, {"whitelist", "expire"}, {"watch", "--once"}, {"status", "192.0.2.1"},
	} {
		_, _, err := cli(t, args...)
		if err == nil || !strings.Contains(err.Error(), "no config file") {
			t.Errorf("%v without a config file = %v, want a 'no config file' error", args, err)
		}
	}
	if _, err := os.Stat("/var/lib/abusewatch/abusewatch.db"); err == nil {
		t.Log("note: /var/lib/abusewatch/abusewatch.db exists on this machine")
	}
	if out, _, err := cli(t, "parse", mail); err != nil || !strings.Contains(out, "192.0.2.4") {
		t.Errorf("parse without a config file = %v:\n%s", err, out)
	}
}

func TestCLIRefusesWhatItCannotDo(t *testing.T) {
	_, readCfg := storeConfigs(t)
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"incidents", "lst"}, `unknown command "lst"`},
		{[]string{"incidents"}, "a command is required"},
		{[]string{"--log-level", "verbose", "incidents", "list"}, `--log-level: "verbose"`},
		{[]string{"--config", readCfg, "incidents", "list"}, "no store at"},
	} {
		_, _, err := cli(t, tt.args...)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%v = %v, want an error saying %q", tt.args, err, tt.want)
		}
	}
}

func TestResolveTwiceAndReparseJSON(t *testing.T) {
	ingestCfg, readCfg := storeConfigs(t)
	if _, _, err := cli(t, "--config", ingestCfg, "--log-level", "error", "ingest", hostileCorpus(t)[0]); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"incident 1 resolved\n", "incident 1 already resolved\n"} {
		out, _, err := cli(t, "--config", readCfg, "incidents", "resolve", "1")
		if err != nil || out != want {
			t.Errorf("resolve = %q, %v; want %q", out, err, want)
		}
	}
	out, _, err := cli(t, "--config", ingestCfg, "--log-level", "error", "reparse", "--json")
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]int
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("reparse --json: %v\n%s", err, out)
	}
	for _, k := range []string{"messages", "changed", "notices", "tasks"} {
		if _, ok := got[k]; !ok {
			t.Errorf("reparse --json lacks %q: %s", k, out)
		}
	}
	if got["messages"] != 1 {
		t.Errorf("reparse --json messages = %d, want 1", got["messages"])
	}
}

// JSON logs give durations as Go duration text, not nanoseconds.
func TestJSONLogDurations(t *testing.T) {
	var buf bytes.Buffer
	a := &app{logLevel: "info", stderr: &buf}
	a.logger().Info("done", "took", 1500*time.Millisecond)
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatal(err)
	}
	if rec["took"] != "1.5s" {
		t.Errorf("took = %v (%T), want \"1.5s\"", rec["took"], rec["took"])
	}
}

// `config example` is the reference for every key: each key of the config
// types appears in it, as a setting or in a comment.
func TestConfigExampleNamesEveryKey(t *testing.T) {
	var missing []string
	seen := map[reflect.Type]bool{}
	var walk func(path string, typ reflect.Type)
	walk = func(path string, typ reflect.Type) {
		for typ.Kind() == reflect.Pointer || typ.Kind() == reflect.Slice {
			typ = typ.Elem()
		}
		if typ.Kind() != reflect.Struct || seen[typ] || typ == reflect.TypeOf(time.Time{}) {
			return
		}
		seen[typ] = true
		for i := range typ.NumField() {
			f := typ.Field(i)
			key, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if key == "" || key == "-" {
				continue
			}
			if !regexp.MustCompile(`(^|[\s#,])` + regexp.QuoteMeta(key) + `:`).MatchString(exampleConfig) {
				missing = append(missing, path+key)
			}
			walk(path+key+".", f.Type)
		}
	}
	walk("", reflect.TypeOf(config.Config{}))
	if len(missing) > 0 {
		t.Errorf("config example lacks %v", missing)
	}
}

// parse reads mbox files as ingest does: one line per message.
func TestParseReadsMbox(t *testing.T) {
	var mbox bytes.Buffer
	for i, f := range []string{"ovh-antispam-en.eml", "hetzner-lock-one.eml"} {
		raw, err := os.ReadFile(filepath.Join("..", "..", "parser", "testdata", f))
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&mbox, "From abuse@example.net Mon Jul 14 22:15:4%d 2025\n%s\n", i, raw)
	}
	path := filepath.Join(t.TempDir(), "abuse.mbox")
	if err := os.WriteFile(path, mbox.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	out, _, err := cli(t, "parse", path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, path+"#1  ovh") || !strings.Contains(out, path+"#2  hetzner") {
		t.Errorf("parse of an mbox:\n%s", out)
	}
}
