package config

import (
	"errors"
	"fmt"
	"net"
	"time"
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
}

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

func (t *Triage) applyDefaults() {
	if t.MaxOutputBytes == 0 {
		t.MaxOutputBytes = 16 << 20
	}
	if t.PerHostConcurrency == 0 {
		t.PerHostConcurrency = 2
	}
	for i := range t.Jobs {
		if t.Jobs[i].Timeout == 0 {
			t.Jobs[i].Timeout = 5 * time.Minute
		}
		if t.Jobs[i].Where == "" {
			t.Jobs[i].Where = "ssh"
		}
	}
}

func (t *Triage) validate() error {
	var errs []error
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
		switch j.Where {
		case "local", "ssh", "ssh-hypervisor":
			if len(j.Argv) == 0 {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): argv: required", i, j.Name))
			}
		case "webhook":
			if j.URL == "" {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): url: required for a webhook", i, j.Name))
			}
			s, err := resolveSecret(j.Secret, j.SecretEnv, j.SecretFile)
			if err != nil {
				errs = append(errs, fmt.Errorf("jobs[%d] (%s): secret: %w", i, j.Name, err))
			}
			j.Secret = s
		default:
			errs = append(errs, fmt.Errorf("jobs[%d] (%s): where: %q is not one of local, ssh, ssh-hypervisor, webhook", i, j.Name, j.Where))
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
	return errors.Join(errs...)
}
