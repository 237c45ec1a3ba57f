package triage

import (
	"slices"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/config"
)

// TestInterpret reads canned outputs of the scanners the way the tools
// define them.
func TestInterpret(t *testing.T) {
	tests := []struct {
		name         string
		tool         string
		code         int
		out          string
		wantOK       bool
		wantFindings []string
		wantRaise    int
	}{
		{"clamscan clean", config.ToolClamscan, 0,
			"\n----------- SCAN SUMMARY -----------\nInfected files: 0\n", true, nil, 0},
		{"clamscan infected", config.ToolClamscan, 1,
			"/tmp/.x/miner: Unix.Trojan.Mirai-1 FOUND\n/var/www/shell.php: Php.Webshell.X FOUND\n\n----------- SCAN SUMMARY -----------\nInfected files: 2\n",
			true, []string{"infected: /tmp/.x/miner: Unix.Trojan.Mirai-1", "infected: /var/www/shell.php: Php.Webshell.X"}, RaiseCompromised},
		{"clamscan infected, list cut by the cap", config.ToolClamscan, 1, "",
			true, []string{"infected: clamscan found infected files (the list was cut by the output cap)"}, RaiseCompromised},
		{"clamscan error", config.ToolClamscan, 2,
			"LibClamAV Error: cli_loaddbdir(): No supported database files found\n", false, nil, 0},
		{"rkhunter clean", config.ToolRkhunter, 0, "", true, nil, 0},
		{"rkhunter warnings", config.ToolRkhunter, 1,
			"Warning: The command '/usr/bin/lwp-request' has been replaced by a script: /usr/bin/lwp-request: Perl script text\nWarning: Hidden directory found: /dev/.udev\n         continuation line\n",
			true, []string{
				"rkhunter: Warning: The command '/usr/bin/lwp-request' has been replaced by a script: /usr/bin/lwp-request: Perl script text",
				"rkhunter: Warning: Hidden directory found: /dev/.udev",
			}, RaiseSuspicious},
		{"rkhunter error", config.ToolRkhunter, 2, "Invalid option\n", false, nil, 0},
		{"chkrootkit clean", config.ToolChkrootkit, 0, "", true, nil, 0},
		{"chkrootkit infected", config.ToolChkrootkit, 0,
			"Checking `bindshell'... INFECTED (PORTS:  465)\nnot infected\n",
			true, []string{"chkrootkit: Checking `bindshell'... INFECTED (PORTS:  465)"}, RaiseCompromised},
		{"no tool, exit 1", "", 1, "Warning: not ours\nINFECTED\n", false, nil, 0},
		{"no tool, exit 0", "", 0, "x FOUND\n", true, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := interpret(tc.tool, tc.code, []byte(tc.out))
			if v.ok != tc.wantOK || v.raise != tc.wantRaise || !slices.Equal(v.findings, tc.wantFindings) {
				t.Errorf("interpret = ok %v raise %d findings %q\nwant ok %v raise %d findings %q",
					v.ok, v.raise, v.findings, tc.wantOK, tc.wantRaise, tc.wantFindings)
			}
		})
	}
}

func TestContainerIDs(t *testing.T) {
	full := strings.Repeat("0123456789abcdef", 4)
	out := "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n" +
		full + "   nginx   \"nginx\"   2 hours ago   Up 2 hours   80/tcp   web\n" +
		"4f2a9c1e7b3d   redis   \"redis\"   3 days ago   Exited (0)   db\n" +
		"$(touch${IFS}/tmp/pwned)   evil   x\n" +
		"4F2A9C1E7B3D   upper   x\n" +
		"4f2a9c1e7b3   short   x\n" +
		"\n"
	ids, skipped := containerIDs([]byte(out))
	if want := []string{full, "4f2a9c1e7b3d"}; !slices.Equal(ids, want) {
		t.Errorf("ids = %q, want %q", ids, want)
	}
	if len(skipped) != 3 || !strings.HasPrefix(skipped[0], "$(touch") {
		t.Errorf("skipped = %q, want the 3 lines without a valid id", skipped)
	}
}

func TestNotInstalled(t *testing.T) {
	tests := []struct {
		code int
		out  string
		want bool
	}{
		{127, "bash: line 1: clamscan: command not found\n", true},
		{127, "", true},
		{1, "clamscan: Command not found.\n", true}, // csh, tcsh
		{1, "grep: pattern not found\nsecond line: command not found.\n", false},
		{0, "command not found.", false},
		{2, "error\n", false},
	}
	for _, tc := range tests {
		if got := notInstalled(tc.code, []byte(tc.out)); got != tc.want {
			t.Errorf("notInstalled(%d, %q) = %v, want %v", tc.code, tc.out, got, tc.want)
		}
	}
}

// TestKitTakesNothingFromTheIncident: the kit's commands are fixed text.
func TestKitTakesNothingFromTheIncident(t *testing.T) {
	for _, j := range Kit(config.Triage{}) {
		if !strings.HasPrefix(j.Name, config.KitPrefix) || j.Where != WhereSSH || j.Timeout <= 0 {
			t.Errorf("%s: name, where or timeout wrong: %+v", j.Name, j)
		}
		for _, a := range j.Argv {
			if strings.Contains(a, "{") || strings.Contains(a, "ABUSEWATCH_") {
				t.Errorf("%s: argument %q uses an incident value", j.Name, a)
			}
		}
	}
}
