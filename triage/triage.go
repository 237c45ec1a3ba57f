// Package triage runs the configured jobs against the host that owns an
// incident's IP and keeps what they print as evidence.
//
// Jobs run locally (exec, never through a shell unless a job opts in), over
// SSH on the host or its hypervisor (golang.org/x/crypto/ssh, host keys
// pinned by known_hosts), or as a signed webhook to an external runner.
//
// Everything in a Target comes, in the end, from a mail: untrusted. Run
// validates the whole Target before any job starts and runs nothing when a
// value is not what it claims to be (see validateTarget). Substituted values
// are then passed as single argv elements, single-quoted for the remote
// shell over SSH, or only as environment variables to shell jobs.
package triage

import (
	"cmp"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// Where a job runs (config.Job.Where).
const (
	WhereLocal         = "local"
	WhereSSH           = "ssh"
	WhereSSHHypervisor = "ssh-hypervisor"
	WhereWebhook       = "webhook"
)

// Result statuses.
const (
	StatusOK           = "ok"            // ran and exited 0, or with a code its tool defines as a verdict
	StatusFailed       = "failed"        // ran and failed (non-zero exit, HTTP error status)
	StatusTimeout      = "timeout"       // the job's timeout ended it
	StatusNotInstalled = "not_installed" // the command does not exist there (exit 127)
	StatusError        = "error"         // could not run: no host, connection failure, cancelled
	StatusRefused      = "refused"       // not run on purpose: unsafe target, unknown or changed host key
)

// Severity raises that interpreted tool output requests, on the scale of
// Target.Severity and config.SeverityRank.
const (
	// RaiseSuspicious is asked for on warnings that need a human (rkhunter
	// reports many false positives, so it does not claim a compromise).
	RaiseSuspicious = 4
	// RaiseCompromised is asked for when malware or a rootkit was found.
	RaiseCompromised = 5
)

// Target is what a run is about: an incident and the machine behind its IP.
type Target struct {
	IncidentID int64
	IP         netip.Addr
	Provider   string
	Kind       string
	Attack     string
	// Severity is the incident's current rank (config.SeverityRank).
	Severity int
	// Host owns IP, Hypervisor carries Host; either may be nil (Inventory.Lookup).
	Host, Hypervisor *config.Host
	// Flows are the notice's events, which the culprit checks look for.
	Flows []Flow
	// Since is when account and key changes start to count (zero: a week ago).
	Since time.Time
}

// Result is the evidence of one job.
type Result struct {
	Job string
	// Host is the inventory host the job ran on ("" for local and webhook jobs).
	Host  string
	Where string
	// Status is one of the Status* constants.
	Status string
	// Error says why a job did not run or did not finish ("" when it ran).
	Error string
	// Argv is the command after substitution (nil for a webhook).
	Argv []string
	// ExitCode is the exit status, the HTTP status for a webhook, or -1.
	ExitCode int
	// Output is what the job printed (stdout and stderr interleaved, or the
	// webhook's response body), up to the job's cap.
	Output []byte
	// Dropped counts the bytes printed beyond the cap.
	Dropped   int64
	StartedAt time.Time
	Duration  time.Duration
	// Findings are the verdicts read from a known tool's output.
	Findings []string
	// RaiseSeverity asks to raise the incident to this rank (RaiseSuspicious,
	// RaiseCompromised); it is set only above Target.Severity, 0 = no request.
	RaiseSeverity int
	// Suspects are what the culprit checks implicate, best first.
	Suspects []Suspect
}

// Plan returns the jobs to run for t: the culprit checks and the kit (when
// enabled) and the configured jobs whose When matches, sorted by Order (the
// checks and the kit first among equals). Jobs that need a machine t does not have are left out: ssh jobs
// without a Host, ssh-hypervisor jobs without a Hypervisor.
func Plan(cfg config.Triage, t Target) []config.Job {
	jobs := culpritJobs(cfg.Culprit, t)
	if cfg.Kit {
		jobs = append(jobs, Kit(cfg)...)
	}
	for _, j := range cfg.Jobs {
		if matches(j.When, t) {
			jobs = append(jobs, j)
		}
	}
	jobs = slices.DeleteFunc(jobs, func(j config.Job) bool {
		switch j.Where {
		case WhereSSH:
			return t.Host == nil
		case WhereSSHHypervisor:
			return t.Hypervisor == nil
		}
		return false
	})
	slices.SortStableFunc(jobs, func(a, b config.Job) int { return cmp.Compare(a.Order, b.Order) })
	return jobs
}

// matches reports whether w selects t; an empty list matches anything.
func matches(w config.When, t Target) bool {
	in := func(list []string, v string) bool {
		return len(list) == 0 || slices.ContainsFunc(list, func(s string) bool { return strings.EqualFold(s, v) })
	}
	if !in(w.Providers, t.Provider) || !in(w.Kinds, t.Kind) || !in(w.Attacks, t.Attack) {
		return false
	}
	if w.MinSeverity != "" {
		// An unknown name was rejected by config validation; a job built in
		// code with one runs for nothing rather than for everything.
		min, ok := config.SeverityRank(w.MinSeverity)
		return ok && t.Severity >= min
	}
	return true
}

// errUnsafeTarget marks a Target refused by validateTarget.
var errUnsafeTarget = errors.New("unsafe target")

var (
	// hostnameRE is RFC 1123 labels: what {host} may expand to. No label
	// starts with '-', so a name can never be read as an option either.
	hostnameRE = regexp.MustCompile(`^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$`)
	// tokenRE is the vocabulary of provider, kind and attack names.
	tokenRE = regexp.MustCompile(`^[a-z0-9_-]{0,64}$`)
)

// validHostname reports whether s is a strict DNS host name (letters, digits,
// hyphens and dots, at most 253 characters).
func validHostname(s string) bool {
	return len(s) <= 253 && hostnameRE.MatchString(s)
}

// validateTarget checks every value of t that a job may see. The IP must be
// a plain address (netip accepts an IPv6 zone of any text, e.g.
// "fe80::1%;touch /tmp/x", so zones are refused), the incident a positive
// integer (a negative one would read as an option), host names strict, and
// provider, kind and attack vocabulary tokens.
func validateTarget(t Target) error {
	var errs []error
	switch {
	case !t.IP.IsValid():
		errs = append(errs, errors.New("ip: missing"))
	case t.IP.Zone() != "":
		errs = append(errs, fmt.Errorf("ip: %q carries a zone", t.IP.String()))
	}
	if t.IncidentID <= 0 {
		errs = append(errs, fmt.Errorf("incident: %d is not a positive integer", t.IncidentID))
	}
	for _, h := range []struct {
		field string
		host  *config.Host
	}{{"host", t.Host}, {"hypervisor", t.Hypervisor}} {
		if h.host != nil && !validHostname(h.host.Name) {
			errs = append(errs, fmt.Errorf("%s: %q is not a valid host name", h.field, h.host.Name))
		}
	}
	for _, f := range []struct{ field, v string }{{"provider", t.Provider}, {"kind", t.Kind}, {"attack", t.Attack}} {
		if !tokenRE.MatchString(f.v) {
			errs = append(errs, fmt.Errorf("%s: %q is not a vocabulary token", f.field, f.v))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("%w: %w", errUnsafeTarget, err)
	}
	return nil
}
