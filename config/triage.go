package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/internal/notice"
)

// Triage lists the jobs run on the host of an incident.
type Triage struct {
	// Kit enables the built-in incident kit (process list, connections, logins, scans).
	Kit  bool  `yaml:"kit"`
	Jobs []Job `yaml:"jobs"`
	// MaxOutputBytes caps what one job keeps (the rest is counted and dropped).
	MaxOutputBytes int64 `yaml:"max_output_bytes"`
	// PerHostConcurrency limits the jobs running at once on one host.
	PerHostConcurrency int `yaml:"per_host_concurrency"`
	// KitScanTimeout bounds each slow scan of the kit (clamscan, rkhunter,
	// chkrootkit, lynis), which can take far longer than a job's default.
	KitScanTimeout time.Duration `yaml:"kit_scan_timeout"`
	// Culprit runs the checks that name what sent a notice's traffic, before
	// any other job: "ssh" on the incident's host and its hypervisor, "local"
	// on this machine (abusewatch runs on the host itself), "" not at all.
	Culprit string `yaml:"culprit"`
}

// Job is one triage step.
type Job struct {
	Name string `yaml:"name"`
	When When   `yaml:"when"`
	// Where is local, ssh (the host), ssh-hypervisor, or webhook.
	Where   string        `yaml:"where"`
	Argv    []string      `yaml:"argv"`
	Shell   bool          `yaml:"shell"`
	Timeout time.Duration `yaml:"timeout"`
	// MaxOutputBytes overrides triage.max_output_bytes for this job.
	MaxOutputBytes int64  `yaml:"max_output_bytes"`
	Order          int    `yaml:"order"`
	URL            string `yaml:"url"`
	SecretEnv      string `yaml:"secret_env"`
	SecretFile     string `yaml:"secret_file"`
	Secret         string `yaml:"secret"`
	// Tool names a tool whose output abusewatch understands: clamscan,
	// rkhunter and chkrootkit yield findings and a severity raise; docker-ps
	// also saves the logs of every container the job lists.
	Tool string `yaml:"tool"`
}

// Tools whose output triage interprets (Job.Tool).
const (
	ToolClamscan   = "clamscan"
	ToolRkhunter   = "rkhunter"
	ToolChkrootkit = "chkrootkit"
	ToolDockerPS   = "docker-ps"
)

// KitPrefix starts the names of the built-in kit's jobs; configured jobs may
// not use it, so evidence always tells the two apart.
const KitPrefix = "kit."

var placeholderRE = regexp.MustCompile(`\{[A-Za-z_]+\}`)

// When selects the incidents a job runs for; an empty list matches anything.
type When struct {
	Providers   []string `yaml:"providers"`
	Kinds       []string `yaml:"kinds"`
	Attacks     []string `yaml:"attacks"`
	MinSeverity string   `yaml:"min_severity"`
}

// Host is an inventory entry: a server, VM or container host of ours.
type Host struct {
	Name string   `yaml:"name"`
	IPs  []string `yaml:"ips"`
	// SSH is user@host:port.
	SSH            string `yaml:"ssh"`
	User           string `yaml:"user"`
	KeyFile        string `yaml:"key_file"`
	KnownHostsFile string `yaml:"known_hosts_file"`
	// Hypervisor names the inventory host that carries this VM or container.
	Hypervisor string `yaml:"hypervisor"`
}

// The triage defaults; triage.Runner applies the same to a config.Triage
// built in code.
const (
	DefaultJobTimeout         = 5 * time.Minute
	DefaultMaxOutputBytes     = 16 << 20
	DefaultPerHostConcurrency = 2
	DefaultKitScanTimeout     = time.Hour
)

func (t *Triage) applyDefaults() {
	if t.MaxOutputBytes == 0 {
		t.MaxOutputBytes = DefaultMaxOutputBytes
	}
	if t.PerHostConcurrency == 0 {
		t.PerHostConcurrency = DefaultPerHostConcurrency
	}
	if t.KitScanTimeout == 0 {
		t.KitScanTimeout = DefaultKitScanTimeout
	}
	for i := range t.Jobs {
		if t.Jobs[i].Timeout == 0 {
			t.Jobs[i].Timeout = DefaultJobTimeout
		}
		if t.Jobs[i].Where == "" {
			t.Jobs[i].Where = "ssh"
		}
	}
}

// resolveSecrets reads the webhook jobs' secrets from their _env or _file.
func (t *Triage) resolveSecrets() error {
	var errs []error
	for i := range t.Jobs {
		j := &t.Jobs[i]
		if j.Where != "webhook" {
			continue
		}
		s, err := resolveSecret(j.Secret, j.SecretEnv, j.SecretFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("triage.jobs[%d] (%s): secret: %w", i, j.Name, err))
		}
		j.Secret = s
	}
	return errors.Join(errs...)
}

func (t *Triage) validate() error {
	var errs []error
	if t.MaxOutputBytes < 0 || t.PerHostConcurrency < 0 || t.KitScanTimeout < 0 {
		errs = append(errs, errors.New("max_output_bytes, per_host_concurrency and kit_scan_timeout must not be negative"))
	}
	switch t.Culprit {
	case "", "ssh", "local":
	default:
		errs = append(errs, fmt.Errorf("culprit: %q is not one of ssh, local (or empty: off)", t.Culprit))
	}
	names := map[string]bool{}
	for i := range t.Jobs {
		j := &t.Jobs[i]
		if j.Name == "" {
			errs = append(errs, fmt.Errorf("jobs[%d]: name: required", i))
		}
		if names[j.Name] {
			errs = append(errs, fmt.Errorf("jobs[%d]: duplicate name %q", i, j.Name))
		}
		names[j.Name] = true
		if strings.HasPrefix(j.Name, KitPrefix) {
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): name: the prefix %q is reserved for the built-in kit", i, j.Name, KitPrefix))
		}
		if j.Timeout < 0 || j.MaxOutputBytes < 0 {
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): timeout and max_output_bytes must not be negative", i, j.Name))
		}
		if j.When.MinSeverity != "" {
			if _, ok := SeverityRank(j.When.MinSeverity); !ok {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): when.min_severity: %q is not one of %s", i, j.Name, j.When.MinSeverity, severityList()))
			}
		}
		for _, v := range []struct {
			key   string
			got   []string
			vocab []string
		}{
			{"when.providers", j.When.Providers, notice.Providers()},
			{"when.kinds", j.When.Kinds, notice.Kinds()},
			{"when.attacks", j.When.Attacks, notice.Attacks()},
		} {
			if err := inVocabulary(v.got, v.vocab); err != nil {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): %s: %w", i, j.Name, v.key, err))
			}
		}
		switch j.Tool {
		case "", ToolClamscan, ToolRkhunter, ToolChkrootkit, ToolDockerPS:
		default:
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): tool: %q is not one of %s, %s, %s, %s", i, j.Name, j.Tool, ToolClamscan, ToolRkhunter, ToolChkrootkit, ToolDockerPS))
		}
		switch j.Where {
		case "local", "ssh", "ssh-hypervisor":
			if len(j.Argv) == 0 {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): argv: required", i, j.Name))
			}
			if err := validateArgv(j.Argv, j.Shell); err != nil {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): argv: %w", i, j.Name, err))
			}
		case "webhook":
			if j.URL == "" {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): url: required for a webhook", i, j.Name))
			}
			if j.Secret == "" && j.SecretEnv == "" && j.SecretFile == "" {
				// Receivers verify the signature to know a run request is ours.
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): secret: required for a webhook (secret, secret_env or secret_file)", i, j.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): where: %q is not one of local, ssh, ssh-hypervisor, webhook", i, j.Name, j.Where))
		}
	}
	return errors.Join(errs...)
}

// inVocabulary refuses the names of got that vocab lacks (case aside, as
// the match is): a typo would make a job run for nothing.
func inVocabulary(got, vocab []string) error {
	var bad []string
	for _, g := range got {
		if !slices.ContainsFunc(vocab, func(v string) bool { return strings.EqualFold(v, g) }) {
			bad = append(bad, strconv.Quote(g))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s not one of %s", strings.Join(bad, ", "), strings.Join(vocab, ", "))
	}
	return nil
}

// validateArgv rejects unknown placeholders, and any placeholder in a shell
// job: there values reach the script only as ABUSEWATCH_* variables, never
// as text the shell would parse.
func validateArgv(argv []string, shell bool) error {
	var errs []error
	for _, a := range argv {
		for _, p := range placeholderRE.FindAllString(a, -1) {
			switch {
			case p != "{ip}" && p != "{incident}" && p != "{host}":
				errs = append(errs, fmt.Errorf("unknown placeholder %s (use {ip}, {incident} or {host})", p))
			case shell:
				errs = append(errs, fmt.Errorf("placeholder %s in a shell job: use \"$ABUSEWATCH_%s\" instead", p, strings.ToUpper(strings.Trim(p, "{}"))))
			}
		}
	}
	return errors.Join(errs...)
}

func (h Host) validate() error {
	var errs []error
	if h.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	for _, ip := range h.IPs {
		if net.ParseIP(ip) == nil {
			errs = append(errs, fmt.Errorf("ips: %q is not an IP address", ip))
		}
	}
	if h.Hypervisor != "" && h.Hypervisor == h.Name {
		errs = append(errs, errors.New("hypervisor: a host cannot carry itself"))
	}
	return errors.Join(errs...)
}
