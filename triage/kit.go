package triage

import (
	"fmt"
	"iter"
	"regexp"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// Kit orders: the volatile captures run before any configured job of the
// default order 0, the slow scans after them.
const (
	kitVolatileOrder = -100
	kitScanOrder     = 1000
	kitQuickTimeout  = 2 * time.Minute
	kitDockerTimeout = 10 * time.Minute
)

// accountsScript shows when the account files last changed (newest first)
// and the accounts an intruder would add: human UIDs (>= 1000, newest
// usually highest) and any second UID 0.
const accountsScript = `ls -ld --time-style=full-iso -t /etc/passwd /etc/shadow /etc/group /etc/gshadow /etc/sudoers /etc/sudoers.d /etc/sudoers.d/* 2>&1
echo
echo '# accounts with UID >= 1000 or a second UID 0 (passwd order)'
awk -F: '($3 >= 1000 && $3 != 65534) || ($3 == 0 && $1 != "root")' /etc/passwd`

// topCPUScript lists the 30 busiest processes. The pipe would hide a
// missing ps behind head's status, so that case exits 127 on its own.
const topCPUScript = `command -v ps >/dev/null 2>&1 || exit 127
ps -eo pid,ppid,user,%cpu,%mem,etime,args --sort=-%cpu | head -n 31`

// clamscanScript scans where intruders drop files. A missing directory would
// make clamscan exit 2 (error) and hide a clean or infected verdict, so only
// existing ones are passed; exec keeps clamscan's exit status (127 if absent).
const clamscanScript = `set --
for d in /tmp /var/tmp /dev/shm /root /home /etc /var/www /srv /opt /usr/local /var/spool/cron; do
	[ -e "$d" ] && set -- "$@" "$d"
done
exec clamscan -ri "$@"`

// Kit returns the built-in incident kit, in order of volatility: what
// changes or vanishes first is captured first, container logs are saved
// before anyone stops a container, and the slow scans come last. All its
// jobs run on the host over SSH and none takes a value from the incident.
func Kit(cfg config.Triage) []config.Job {
	scan := cfg.KitScanTimeout
	if scan <= 0 {
		scan = config.DefaultKitScanTimeout
	}
	quick := func(order int, name string, shell bool, argv ...string) config.Job {
		return config.Job{Name: config.KitPrefix + name, Where: WhereSSH, Argv: argv, Shell: shell, Timeout: kitQuickTimeout, Order: kitVolatileOrder + order}
	}
	slow := func(order int, name, tool string, shell bool, argv ...string) config.Job {
		return config.Job{Name: config.KitPrefix + name, Where: WhereSSH, Argv: argv, Shell: shell, Timeout: scan, Order: kitScanOrder + order, Tool: tool}
	}
	docker := quick(60, "docker", false, "docker", "ps", "-a", "--no-trunc")
	docker.Tool = config.ToolDockerPS
	docker.Timeout = kitDockerTimeout
	return []config.Job{
		quick(0, "processes", false, "ps", "auxww"),
		quick(10, "top-cpu", true, topCPUScript),
		quick(20, "connections", false, "ss", "-tupan"),
		quick(30, "who", false, "who"),
		quick(40, "last", false, "last", "-Fw"),
		quick(50, "accounts", true, accountsScript),
		docker,
		slow(0, "clamscan", config.ToolClamscan, true, clamscanScript),
		slow(10, "rkhunter", config.ToolRkhunter, false, "rkhunter", "--check", "--sk", "--rwo"),
		slow(20, "chkrootkit", config.ToolChkrootkit, false, "chkrootkit", "-q"),
		slow(30, "lynis", "", false, "lynis", "audit", "system", "--quick", "--no-colors"),
	}
}

// verdict is what a known tool's output says.
type verdict struct {
	// ok is set when the exit code is one the tool uses for a result, not a
	// failure (clamscan 1 = infected files found).
	ok       bool
	findings []string
	raise    int
}

// interpret reads the output of tool (config.Tool*) that exited with code.
// It looks only at what was kept under the output cap.
func interpret(tool string, code int, out []byte) verdict {
	switch tool {
	case config.ToolClamscan:
		return interpretClamscan(code, out)
	case config.ToolRkhunter:
		return interpretRkhunter(code, out)
	case config.ToolChkrootkit:
		return interpretChkrootkit(code, out)
	}
	return verdict{ok: code == 0}
}

// interpretClamscan: exit 0 clean, 1 infected files found ("PATH: SIG FOUND"
// lines with -i), 2 an error.
func interpretClamscan(code int, out []byte) verdict {
	if code != 1 {
		return verdict{ok: code == 0}
	}
	v := verdict{ok: true, raise: RaiseCompromised}
	for line := range lines(out) {
		if s, found := strings.CutSuffix(line, " FOUND"); found {
			v.findings = append(v.findings, "infected: "+s)
		}
	}
	if len(v.findings) == 0 {
		v.findings = []string{"infected: clamscan found infected files (the list was cut by the output cap)"}
	}
	return v
}

// interpretRkhunter: with --rwo only warnings are printed, each starting
// "Warning:" (continuation lines are indented); exit 1 means warnings.
func interpretRkhunter(code int, out []byte) verdict {
	if code != 0 && code != 1 {
		return verdict{}
	}
	v := verdict{ok: true}
	for line := range lines(out) {
		if strings.HasPrefix(line, "Warning:") {
			v.findings = append(v.findings, "rkhunter: "+line)
		}
	}
	if len(v.findings) > 0 {
		v.raise = RaiseSuspicious
	}
	return v
}

// interpretChkrootkit: a positive check prints "INFECTED" (upper case; the
// negative "not infected" is lower case and absent with -q).
func interpretChkrootkit(code int, out []byte) verdict {
	v := verdict{ok: code == 0}
	for line := range lines(out) {
		if strings.Contains(line, "INFECTED") {
			v.findings = append(v.findings, "chkrootkit: "+line)
		}
	}
	if len(v.findings) > 0 {
		v.raise = RaiseCompromised
	}
	return v
}

// containerIDRE is a full or short docker container id. Only such ids are
// passed on to docker logs: the listing comes from the host, which may be
// the compromised machine.
var containerIDRE = regexp.MustCompile(`^[0-9a-f]{12,64}$`)

// containerIDs reads the ids in the first column of `docker ps -a` output
// and the lines it skipped because their first field is not an id.
func containerIDs(out []byte) (ids, skipped []string) {
	first := true
	for line := range lines(out) {
		if first {
			first = false
			if strings.HasPrefix(line, "CONTAINER ID") {
				continue
			}
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if containerIDRE.MatchString(f[0]) {
			ids = append(ids, f[0])
		} else {
			skipped = append(skipped, line)
		}
	}
	return ids, skipped
}

// lines iterates over the lines of out without their line ends.
func lines(out []byte) iter.Seq[string] {
	return func(yield func(string) bool) {
		for l := range strings.Lines(string(out)) {
			if !yield(strings.TrimRight(l, "\r\n")) {
				return
			}
		}
	}
}

// notInstalled reports whether a command failed because it does not exist:
// exit 127 from a POSIX shell, or csh's lone "Command not found." line.
func notInstalled(code int, out []byte) bool {
	if code == 127 {
		return true
	}
	s := strings.TrimSpace(string(out))
	return code > 0 && !strings.Contains(s, "\n") && strings.HasSuffix(strings.ToLower(s), "command not found.")
}

// dockerLogsHeader separates the logs of each container in the evidence.
func dockerLogsHeader(id string) string {
	return fmt.Sprintf("\n==> docker logs --timestamps %s <==\n", id)
}
