package triage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"golang.org/x/crypto/ssh"
)

// Defaults for values a config.Triage built in code may leave at zero
// (config.Load fills the same ones in).
const (
	defaultTimeout        = config.DefaultJobTimeout
	defaultMaxOutput      = config.DefaultMaxOutputBytes
	defaultPerHost        = config.DefaultPerHostConcurrency
	defaultConnectTimeout = 15 * time.Second
	// closeGrace is how long a killed command may take to let go of its
	// output before Run stops waiting for it.
	closeGrace = 5 * time.Second
)

// Options are the Runner's dependencies.
type Options struct {
	// Logger receives one line per job; nil discards.
	Logger *slog.Logger
	// ConnectTimeout bounds the TCP connect and SSH handshake (default 15s).
	ConnectTimeout time.Duration
	// HTTPClient sends webhooks (default: a plain client). Redirects are
	// never followed, whatever the client says: a signed request must not
	// be replayed to another address.
	HTTPClient *http.Client
}

// Runner runs triage jobs. It is safe for concurrent use; its per-host
// concurrency limit holds across all runs.
type Runner struct {
	cfg            config.Triage
	log            *slog.Logger
	connectTimeout time.Duration
	http           *http.Client
	limits         *hostLimiter
}

// NewRunner returns a Runner for the jobs and limits of cfg.
func NewRunner(cfg config.Triage, opts Options) *Runner {
	r := &Runner{cfg: cfg, log: opts.Logger, connectTimeout: opts.ConnectTimeout}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.connectTimeout <= 0 {
		r.connectTimeout = defaultConnectTimeout
	}
	hc := http.Client{}
	if opts.HTTPClient != nil {
		hc = *opts.HTTPClient
	}
	hc.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	r.http = &hc
	limit := cfg.PerHostConcurrency
	if limit <= 0 {
		limit = defaultPerHost
	}
	r.limits = &hostLimiter{limit: limit, sems: map[string]chan struct{}{}}
	return r
}

// Run runs jobs for t one after the other, in the given order (Plan's), and
// returns one Result per job in that order. A job's failure does not stop
// the others; a Target that fails validateTarget runs nothing at all.
// SSH connections are opened on first use, shared by the run's jobs and
// closed before Run returns.
func (r *Runner) Run(ctx context.Context, t Target, jobs []config.Job) []Result {
	results := make([]Result, len(jobs))
	if err := validateTarget(t); err != nil {
		r.log.Warn("triage: target refused, nothing run", "incident", t.IncidentID, "err", err)
		for i, j := range jobs {
			results[i] = Result{Job: j.Name, Where: j.Where, Status: StatusRefused, Error: err.Error(), ExitCode: -1}
		}
		return results
	}
	rs := &run{r: r, t: t, conns: map[string]*sshConn{}}
	defer rs.close()
	for i, j := range jobs {
		results[i] = rs.job(ctx, j)
		res := &results[i]
		r.log.Info("triage: job done", "incident", t.IncidentID, "job", res.Job, "where", res.Where,
			"host", res.Host, "status", res.Status, "exit", res.ExitCode, "bytes", len(res.Output),
			"dropped", res.Dropped, "duration", res.Duration, "findings", len(res.Findings), "err", res.Error)
	}
	return results
}

// run is the state of one Run: the target and its SSH connections.
type run struct {
	r     *Runner
	t     Target
	conns map[string]*sshConn
}

// sshConn is a connection to one host, or why there is none: a host that
// refused once is not dialled again for every job of the run.
type sshConn struct {
	client *ssh.Client
	err    error
}

func (rs *run) close() {
	for _, c := range rs.conns {
		if c.client != nil {
			_ = c.client.Close()
		}
	}
}

// executor runs one command and streams what it prints to w. It returns
// the exit code, or an error when the command could not run or finish.
type executor func(ctx context.Context, argv []string, shell bool, w io.Writer) (int, error)

// errRefused marks a job that was not run on purpose.
type errRefused struct{ err error }

func (e errRefused) Error() string { return e.err.Error() }
func (e errRefused) Unwrap() error { return e.err }

func (rs *run) job(ctx context.Context, j config.Job) Result {
	res := Result{Job: j.Name, Where: j.Where, ExitCode: -1}
	fail := func(err error) Result {
		res.Status = StatusError
		if errors.As(err, new(errRefused)) || errors.As(err, new(*hostKeyError)) {
			res.Status = StatusRefused
		}
		res.Error = err.Error()
		return res
	}
	if err := ctx.Err(); err != nil {
		return fail(fmt.Errorf("not started: %w", err))
	}

	var machine *config.Host
	switch j.Where {
	case WhereSSH:
		machine = rs.t.Host
	case WhereSSHHypervisor:
		machine = rs.t.Hypervisor
	case WhereLocal, WhereWebhook:
	default:
		return fail(fmt.Errorf("where: %q is not one of local, ssh, ssh-hypervisor, webhook", j.Where))
	}
	switch {
	case machine != nil:
		res.Host = machine.Name
	case j.Where == WhereSSH:
		return fail(fmt.Errorf("ssh: no inventory host owns %s", rs.t.IP))
	case j.Where == WhereSSHHypervisor:
		return fail(fmt.Errorf("ssh-hypervisor: the inventory names no hypervisor for %s", rs.t.IP))
	}

	var argv []string
	if j.Where != WhereWebhook {
		var err error
		if argv, err = substitute(j, rs.t); err != nil {
			return fail(errRefused{err})
		}
		res.Argv = argv
	}

	release, err := rs.r.limits.acquire(ctx, rs.limitKey(machine))
	if err != nil {
		return fail(fmt.Errorf("waiting for a free slot on the host: %w", err))
	}
	defer release()

	ex := rs.local
	if machine != nil {
		// Connecting is bounded by ConnectTimeout, not by this job's
		// timeout: the connection serves the whole run.
		c, err := rs.ssh(ctx, machine)
		if err != nil {
			return fail(err)
		}
		ex = sshExecutor(c, rs.env())
	}

	timeout := j.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	jctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := newCapWriter(rs.maxOutput(j))
	res.StartedAt = time.Now()
	if j.Tool == toolCulprit {
		plan := planCulprit(rs.t)
		plan.hypervisor = j.Where == WhereSSHHypervisor
		findings, suspects, err := runChecks(jctx, ex, out, plan, res.Host)
		res.Duration = time.Since(res.StartedAt)
		res.Output, res.Dropped = out.result()
		if err != nil {
			return fail(fmt.Errorf("culprit checks: %w", err))
		}
		res.Status, res.ExitCode, res.Findings, res.Suspects = StatusOK, 0, findings, suspects
		return res
	}
	code, err := rs.execute(jctx, j, ex, argv, out)
	res.Duration = time.Since(res.StartedAt)
	res.Output, res.Dropped = out.result()
	res.ExitCode = code

	switch {
	case err != nil && ctx.Err() == nil && errors.Is(jctx.Err(), context.DeadlineExceeded):
		res.Status = StatusTimeout
		res.Error = fmt.Sprintf("timed out after %s: %v", timeout, err)
	case err != nil:
		return fail(err)
	case j.Where == WhereWebhook:
		res.Status = StatusFailed
		if code >= 200 && code < 300 {
			res.Status = StatusOK
		}
	case notInstalled(code, res.Output):
		res.Status = StatusNotInstalled
	default:
		v := interpret(j.Tool, code, res.Output)
		res.Status = StatusFailed
		if v.ok {
			res.Status = StatusOK
		}
		res.Findings = v.findings
		// A raise to where the incident already is would be no request.
		if v.raise > rs.t.Severity {
			res.RaiseSeverity = v.raise
		}
	}
	return res
}

// execute runs the job with ex, or as a webhook.
func (rs *run) execute(ctx context.Context, j config.Job, ex executor, argv []string, out *capWriter) (int, error) {
	if j.Where == WhereWebhook {
		return rs.webhook(ctx, j, out)
	}
	code, err := ex(ctx, argv, j.Shell, out)
	if err != nil || code != 0 || j.Tool != config.ToolDockerPS {
		return code, err
	}
	return code, rs.dockerLogs(ctx, ex, out)
}

// dockerLogs saves the logs of every container that the docker ps output
// so far lists. Lines whose first field is not a container id are noted in
// the evidence and never reach a command line.
func (rs *run) dockerLogs(ctx context.Context, ex executor, out *capWriter) error {
	listing, _ := out.result()
	ids, skipped := containerIDs(listing)
	for _, line := range skipped {
		fmt.Fprintf(out, "\n==> abusewatch: skipped a docker ps line without a container id: %q <==\n", line)
	}
	for _, id := range ids {
		_, _ = io.WriteString(out, dockerLogsHeader(id))
		// A container whose logs cannot be read (exit != 0) is visible in
		// the evidence; only a failure to run at all ends the job.
		if _, err := ex(ctx, []string{"docker", "logs", "--timestamps", id}, false, out); err != nil {
			return fmt.Errorf("docker logs %s: %w", id, err)
		}
	}
	return nil
}

func (rs *run) local(ctx context.Context, argv []string, shell bool, w io.Writer) (int, error) {
	return runLocal(ctx, argv, shell, rs.env(), w)
}

// ssh returns the run's connection to h, dialling it on first use.
func (rs *run) ssh(ctx context.Context, h *config.Host) (*ssh.Client, error) {
	c, ok := rs.conns[h.Name]
	if !ok {
		client, err := rs.r.dial(ctx, h)
		c = &sshConn{client: client, err: err}
		rs.conns[h.Name] = c
	}
	return c.client, c.err
}

// limitKey names what the per-host limit counts: the machine a job runs on,
// else the incident's host (a local or webhook job acts on it from afar),
// else its IP.
func (rs *run) limitKey(machine *config.Host) string {
	switch {
	case machine != nil:
		return machine.Name
	case rs.t.Host != nil:
		return rs.t.Host.Name
	}
	return rs.t.IP.String()
}

func (rs *run) maxOutput(j config.Job) int64 {
	switch {
	case j.MaxOutputBytes > 0:
		return j.MaxOutputBytes
	case rs.r.cfg.MaxOutputBytes > 0:
		return rs.r.cfg.MaxOutputBytes
	}
	return defaultMaxOutput
}

// env is how a job sees the target besides placeholders, and the only way a
// shell job does. The values were checked by validateTarget.
func (rs *run) env() []string {
	host := ""
	if rs.t.Host != nil {
		host = rs.t.Host.Name
	}
	return []string{
		"ABUSEWATCH_IP=" + rs.t.IP.String(),
		"ABUSEWATCH_INCIDENT=" + strconv.FormatInt(rs.t.IncidentID, 10),
		"ABUSEWATCH_HOST=" + host,
	}
}

// substitute expands {ip}, {incident} and {host} in each argument of a
// non-shell job, each value staying inside its one argument. A shell job
// with a placeholder is refused: its values travel only in the environment.
// t must have passed validateTarget.
func substitute(j config.Job, t Target) ([]string, error) {
	if len(j.Argv) == 0 {
		return nil, errors.New("argv: empty")
	}
	const placeholders = "{ip} {incident} {host}"
	argv := make([]string, len(j.Argv))
	for i, a := range j.Argv {
		if strings.ContainsRune(a, 0) {
			return nil, fmt.Errorf("argv[%d]: contains a NUL byte", i)
		}
		for _, p := range strings.Fields(placeholders) {
			if !strings.Contains(a, p) {
				continue
			}
			if j.Shell {
				return nil, fmt.Errorf("argv[%d]: placeholder %s in a shell job (use $ABUSEWATCH_%s)", i, p, strings.ToUpper(strings.Trim(p, "{}")))
			}
			if p == "{host}" && t.Host == nil {
				return nil, fmt.Errorf("argv[%d]: {host}: %s is not in the inventory", i, t.IP)
			}
		}
		argv[i] = a
	}
	if j.Shell {
		return argv, nil
	}
	host := ""
	if t.Host != nil {
		host = t.Host.Name
	}
	rep := strings.NewReplacer("{ip}", t.IP.String(), "{incident}", strconv.FormatInt(t.IncidentID, 10), "{host}", host)
	for i := range argv {
		argv[i] = rep.Replace(argv[i])
	}
	return argv, nil
}

// hostLimiter bounds the jobs running at once per host.
type hostLimiter struct {
	limit int
	mu    sync.Mutex
	sems  map[string]chan struct{}
}

// acquire waits for a slot on host; release gives it back.
func (l *hostLimiter) acquire(ctx context.Context, host string) (release func(), err error) {
	l.mu.Lock()
	sem, ok := l.sems[host]
	if !ok {
		sem = make(chan struct{}, l.limit)
		l.sems[host] = sem
	}
	l.mu.Unlock()
	select {
	case sem <- struct{}{}:
		return func() { <-sem }, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
