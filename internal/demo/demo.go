// Package demo runs the whole pipeline in-process on embedded servers — an
// IMAP server holding sample notices, emulators of the OVH and Hetzner APIs,
// a chat receiver that prints — for `abusewatch demo`.
package demo

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
	"github.com/emersion/go-msgauth/dkim"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/pipeline"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
	"github.com/abusewatch/abusewatch/store"
	"github.com/abusewatch/abusewatch/triage"
)

// demoMails are copies of parser/testdata fixtures, in the order they
// arrive: the first demoPreloaded wait in the mailbox, the rest come in
// while the demo runs.
//
//go:embed demodata/*.eml
var demoMails embed.FS

const (
	demoPreloaded = 3
	demoUser      = "abuse@demo.example"
	demoPassword  = "demo-password"
	// demoSelector is the DKIM selector the demo signs with and publishes.
	demoSelector = "demo"
	// demoReflectorPort is the UDP port of the SSDP notice (00-…), which the
	// demo's stand-in culprit listens on: above 1024, so that no root is needed.
	demoReflectorPort = 1900
)

// Options tune a demo run.
type Options struct {
	// Duration is how long new notices keep arriving.
	Duration time.Duration
	// Keep runs on after Duration until ctx is done, and keeps the store
	// with a config file for it.
	Keep bool
	// Listen is the address of /metrics and /healthz.
	Listen string
	// PrintIncidents prints the incidents at the end, as `incidents list` does.
	PrintIncidents func(io.Writer, []store.Incident) error
}

// syncWriter serializes the demo's own output: chat messages arrive on the
// receiver's goroutines while the main one prints.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// Run runs the demo, printing to stdout, until o.Duration has passed (or,
// with o.Keep, ctx is done), then prints the incidents.
func Run(ctx context.Context, stdout io.Writer, log *slog.Logger, o Options) error {
	if o.Duration <= 0 {
		return fmt.Errorf("--duration: %s is not positive", o.Duration)
	}
	out := &syncWriter{w: stdout}
	demoLog := log.With("component", "demo")

	mails, lookupTXT, err := signedDemoMails()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "abusewatch-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary directory: %w", err)
	}
	keptConfig := ""
	if o.Keep {
		if keptConfig, err = writeDemoConfig(dir); err != nil {
			return err
		}
	} else {
		defer os.RemoveAll(dir)
	}

	emu := startDemoEmulators()
	defer emu.close()

	imapSrv, err := startDemoIMAP(ctx, log.With("component", "demo-imap"))
	if err != nil {
		return err
	}
	defer imapSrv.close()
	for _, m := range mails[:demoPreloaded] {
		if err := imapSrv.deliver(m.raw); err != nil {
			return err
		}
	}

	// The stand-in culprit: an open SSDP reflector on this machine, which
	// the culprit checks of the SSDP notice's triage must name.
	reflector, reflectorErr := net.ListenPacket("udp", fmt.Sprintf(":%d", demoReflectorPort))
	if reflectorErr == nil {
		defer reflector.Close()
	}

	chat, err := startChatReceiver(ctx, out)
	if err != nil {
		return err
	}
	defer chat.close()

	cfg, err := demoConfig(dir, imapSrv.port(), emu, chat.url(), o.Listen)
	if err != nil {
		return err
	}
	d, err := pipeline.NewDaemon(ctx, cfg, log, pipeline.WithLookupTXT(lookupTXT))
	if err != nil {
		return err
	}
	defer d.Close()
	ln, err := d.Listen(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "abusewatch demo: %d notices in the mailbox, %d more arriving over %s\n", demoPreloaded, len(mails)-demoPreloaded, o.Duration)
	fmt.Fprintf(out, "  IMAP    127.0.0.1:%d (user %s)\n", imapSrv.port(), demoUser)
	fmt.Fprintf(out, "  dashboard http://%s/  metrics http://%s/metrics  health http://%s/healthz\n", ln.Addr(), ln.Addr(), ln.Addr())
	fmt.Fprintf(out, "  chat    messages are printed below, prefixed with \"chat |\"\n")
	if reflectorErr == nil {
		fmt.Fprintf(out, "  culprit this process (pid %d) listens on UDP %d like an open SSDP reflector; the SSDP notice's triage names it\n", os.Getpid(), demoReflectorPort)
	} else {
		fmt.Fprintf(out, "  culprit could not listen on UDP %d (%v): the SSDP notice's triage names whatever holds it, if anything\n", demoReflectorPort, reflectorErr)
	}
	if keptConfig != "" {
		fmt.Fprintf(out, "  config  %s: run the commands of the chat messages as abusewatch --config %s incidents show N\n", keptConfig, keptConfig)
	}
	fmt.Fprintln(out)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(runCtx, ln) }()

	feedDemoMails(ctx, demoLog, imapSrv, mails[demoPreloaded:], o.Duration)
	if o.Keep && ctx.Err() == nil {
		fmt.Fprintf(out, "\nabusewatch demo: still running (--keep); dashboard at http://%s/, metrics at http://%s/metrics. Press Ctrl-C to stop.\n", ln.Addr(), ln.Addr())
		<-ctx.Done()
	}
	stop()
	if err := <-ran; err != nil {
		return err
	}

	// Whatever was still in flight when the run stopped is finished here, by
	// the same drain `watch --once` does. Ctrl-C may have cancelled ctx, so
	// the drain gets a bounded context of its own.
	final, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := d.Drain(final); err != nil {
		return fmt.Errorf("demo: final drain: %w", err)
	}
	return printDemoSummary(final, out, d, keptConfig, o.PrintIncidents)
}

// writeDemoConfig writes a config file naming the demo's store, which the
// read commands need and nothing else: `abusewatch --config FILE incidents
// list` then looks at what the demo did, while it runs and after.
func writeDemoConfig(dir string) (string, error) {
	path := filepath.Join(dir, "abusewatch.yaml")
	yaml := "# Written by abusewatch demo --keep: the demo's store.\nstore:\n  path: " +
		strconv.Quote(filepath.Join(dir, "abusewatch.db")) + "\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		return "", fmt.Errorf("demo: config: %w", err)
	}
	return path, nil
}

// feedDemoMails delivers mails one by one, spread evenly over duration, and
// returns when duration is over or ctx is done.
func feedDemoMails(ctx context.Context, log *slog.Logger, srv *demoIMAP, mails []demoMail, duration time.Duration) {
	end := time.NewTimer(duration)
	defer end.Stop()
	// A floor keeps a tiny --duration from making a non-positive ticker.
	step := max(duration/time.Duration(len(mails)+1), time.Millisecond)
	tick := time.NewTicker(step)
	defer tick.Stop()
	next := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-end.C:
			return
		case <-tick.C:
			if next == len(mails) {
				continue
			}
			m := mails[next]
			next++
			log.Info("new notice arrives in the demo mailbox", "file", m.name)
			if err := srv.deliver(m.raw); err != nil {
				log.Error("delivering a demo notice", "file", m.name, "err", err)
			}
		}
	}
}

func printDemoSummary(ctx context.Context, w io.Writer, d *pipeline.Daemon, keptConfig string, printIncidents func(io.Writer, []store.Incident) error) error {
	incidents, err := d.Store().Incidents(ctx, "all")
	if err != nil {
		return err
	}
	fmt.Fprintln(w, "\nIncidents:")
	if err := printIncidents(w, incidents); err != nil {
		return err
	}
	details := make([]*store.IncidentDetail, 0, len(incidents))
	for _, inc := range incidents {
		detail, err := d.Store().Incident(ctx, inc.ID)
		if err != nil {
			return err
		}
		details = append(details, detail)
	}
	// What triage blames comes before how it got there.
	fmt.Fprintln(w, "\nSuspects (first of each run; abusewatch triage show N lists them all):")
	for _, detail := range details {
		for _, r := range detail.Runs {
			if len(r.Suspects) > 0 {
				fmt.Fprintf(w, "  incident %d %s: %s\n", detail.ID, detail.IP, pipeline.Printable(pipeline.SuspectLine(r.Suspects[0]), 400))
			}
		}
	}
	fmt.Fprintln(w, "\nTriage evidence:")
	for _, detail := range details {
		for _, e := range detail.Evidence {
			text := strings.TrimSpace(string(e.Output))
			if e.Job == triage.CulpritJob {
				// Every socket and process of the machine: too long here.
				text = fmt.Sprintf("%d bytes of evidence (abusewatch triage show %d); %s", len(e.Output), detail.ID, strings.Join(e.Findings, "; "))
			}
			fmt.Fprintf(w, "  incident %d %s: %s (exit %d): %s\n", detail.ID, e.Job, e.Status, e.ExitCode, pipeline.Printable(text, 2000))
		}
	}
	if keptConfig != "" {
		fmt.Fprintf(w, "\nThe demo's store is kept: abusewatch --config %s incidents list\n", keptConfig)
	} else {
		fmt.Fprintln(w, "\nThe demo's store was temporary (--keep keeps it).")
	}
	fmt.Fprintln(w, "Point abusewatch at your own mailbox with a config file: abusewatch config example")
	return nil
}

type demoMail struct {
	name string
	raw  []byte
}

// signedDemoMails returns the embedded mails DKIM-signed for their sender's
// domain with a key made for this run, and the TXT lookup that publishes that
// key. Notices that pass DKIM are the only ones that trigger triage, so
// unsigned samples would leave the triage step out of the demo.
func signedDemoMails() ([]demoMail, func(string) ([]string, error), error) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("demo: DKIM key: %w", err)
	}
	names, err := fs.Glob(demoMails, "demodata/*.eml")
	if err != nil {
		return nil, nil, err
	}
	domains := map[string]bool{}
	var out []demoMail
	for _, name := range names {
		raw, err := demoMails.ReadFile(name)
		if err != nil {
			return nil, nil, err
		}
		// Mail travels with CRLF line ends; the fixtures are stored with LF.
		raw = bytes.ReplaceAll(bytes.ReplaceAll(raw, []byte("\r\n"), []byte("\n")), []byte("\n"), []byte("\r\n"))
		domain, err := senderDomain(raw)
		if err != nil {
			return nil, nil, fmt.Errorf("demo: %s: %w", name, err)
		}
		var signed bytes.Buffer
		if err := dkim.Sign(&signed, bytes.NewReader(raw), &dkim.SignOptions{
			Domain: domain, Selector: demoSelector, Signer: priv,
			HeaderKeys: []string{"From", "To", "Subject", "Date", "Message-ID"},
		}); err != nil {
			return nil, nil, fmt.Errorf("demo: signing %s: %w", name, err)
		}
		domains[demoSelector+"._domainkey."+domain] = true
		out = append(out, demoMail{name: filepath.Base(name), raw: signed.Bytes()})
	}
	record := "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(pub)
	lookup := func(name string) ([]string, error) {
		if domains[strings.ToLower(strings.TrimSuffix(name, "."))] {
			return []string{record}, nil
		}
		return nil, &net.DNSError{Err: "no such record in the demo", Name: name, IsNotFound: true}
	}
	return out, lookup, nil
}

func senderDomain(raw []byte) (string, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return "", err
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		return "", fmt.Errorf("the From header: %w", err)
	}
	_, domain, ok := strings.Cut(from.Address, "@")
	if !ok {
		return "", fmt.Errorf("the From address %q has no domain", from.Address)
	}
	return strings.ToLower(domain), nil
}

// demoEmulators are the provider APIs, seeded with what the providers did to
// the servers of the demo notices: an anti-hack block, a VPS and a dedicated
// server in rescue mode, an anti-spam block, a Robot lock and a blocked
// Cloud IP.
type demoEmulators struct {
	ovh   *ovhtest.Server
	robot *robottest.Server
	cloud *cloudtest.Server
}

func startDemoEmulators() *demoEmulators {
	since := time.Now().Add(-10 * time.Minute)
	o := ovhtest.New(nil)
	o.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.46/32", Type: "dedicated", RoutedTo: "ns3012346.ip-192-0-2.eu"})
	o.AddDedicated(ovhtest.Dedicated{Name: "ns3012346.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	o.SetAntihack("192.0.2.46", ovhtest.Antihack{State: "blocked", BlockedSince: since, Time: 600})
	o.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.63/32", Type: "vps", RoutedTo: "vps-9c8d7e6f.vps.ovh.net"})
	o.AddVPS(ovhtest.VPS{Name: "vps-9c8d7e6f.vps.ovh.net", State: "rescued", NetbootMode: "rescue"})
	o.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.70/32", Type: "dedicated", RoutedTo: "ns3012345.ip-192-0-2.eu"})
	o.AddDedicated(ovhtest.Dedicated{Name: "ns3012345.ip-192-0-2.eu", State: "hackedBlocked", BootType: "rescue", PowerState: "poweron"})
	o.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.80/32", Type: "dedicated", RoutedTo: "ns3012380.ip-192-0-2.eu"})
	o.AddDedicated(ovhtest.Dedicated{Name: "ns3012380.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	o.SetSpam("192.0.2.80", ovhtest.Spam{State: "blockedForSpam", Date: since, Time: 3600})

	r := robottest.New(nil)
	r.AddDedicated(robottest.Dedicated{Number: 2101, Name: "hel-web-1", IP: "37.27.128.19", Product: "AX42", DC: "HEL1-DC7"})
	r.SetLocked("37.27.128.19", true)

	o.AddIPBlock(ovhtest.IPBlock{Block: "192.0.2.90/32", Type: "dedicated", RoutedTo: "ns3012390.ip-192-0-2.eu"})
	o.AddDedicated(ovhtest.Dedicated{Name: "ns3012390.ip-192-0-2.eu", State: "ok", BootType: "harddisk", PowerState: "poweron"})
	o.SetAntihack("192.0.2.90", ovhtest.Antihack{State: "blocked", BlockedSince: since, Time: 600})

	c := cloudtest.New(nil)
	c.AddServer(cloudtest.Instance{ID: 501, Name: "scanner-vm", Status: "running", IPv4: "95.216.40.77", IPv4Blocked: true})
	return &demoEmulators{ovh: o, robot: r, cloud: c}
}

func (e *demoEmulators) close() {
	e.ovh.Close()
	e.robot.Close()
	e.cloud.Close()
}

// demoIMAP is an in-memory IMAP server with one account, on loopback.
type demoIMAP struct {
	srv  *imapserver.Server
	ln   net.Listener
	user *imapmemserver.User
}

func startDemoIMAP(ctx context.Context, log *slog.Logger) (*demoIMAP, error) {
	mem := imapmemserver.New()
	user := imapmemserver.NewUser(demoUser, demoPassword)
	mem.AddUser(user)
	if err := user.Create("INBOX", nil); err != nil {
		return nil, fmt.Errorf("demo: IMAP folder: %w", err)
	}
	srv := imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps: imap.CapSet{imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapMove: {}},
		// Plaintext login is safe here: the server listens on loopback only.
		InsecureAuth: true,
		Logger:       slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	})
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: IMAP listener: %w", err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("demo IMAP server stopped", "err", err)
		}
	}()
	return &demoIMAP{srv: srv, ln: ln, user: user}, nil
}

func (s *demoIMAP) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *demoIMAP) deliver(raw []byte) error {
	if _, err := s.user.Append("INBOX", bytes.NewReader(raw), &imap.AppendOptions{Time: time.Now()}); err != nil {
		return fmt.Errorf("demo: IMAP append: %w", err)
	}
	return nil
}

func (s *demoIMAP) close() { _ = s.srv.Close() }

// chatReceiver stands in for a chat service: it takes what shoutrrr's
// generic webhook posts and prints it.
type chatReceiver struct {
	srv *http.Server
	ln  net.Listener
}

func startChatReceiver(ctx context.Context, out io.Writer) (*chatReceiver, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: chat listener: %w", err)
	}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			var b strings.Builder
			for line := range strings.SplitSeq(strings.TrimSpace(string(body)), "\n") {
				b.WriteString("chat | " + line + "\n")
			}
			b.WriteString("chat |\n")
			_, _ = io.WriteString(out, b.String())
		}),
	}
	go func() { _ = srv.Serve(ln) }()
	return &chatReceiver{srv: srv, ln: ln}, nil
}

func (c *chatReceiver) url() string {
	return fmt.Sprintf("generic://%s/chat?disabletls=yes", c.ln.Addr())
}

func (c *chatReceiver) close() { _ = c.srv.Close() }

// demoConfig is the configuration an operator would write for this setup.
func demoConfig(dir string, imapPort int, emu *demoEmulators, chatURL, listen string) (*config.Config, error) {
	cfg := config.Default()
	cfg.Store.Path = filepath.Join(dir, "abusewatch.db")
	cfg.HTTP.Listen = listen
	cfg.Workers.Count = 2
	cfg.Mailboxes = []config.Mailbox{{
		Name: "demo", Host: "127.0.0.1", Port: imapPort, TLS: "none",
		Username: demoUser, Password: demoPassword,
		Folder: "INBOX", After: "flag", Poll: 5 * time.Second,
	}}
	cfg.Providers.OVH = &config.OVH{
		Endpoint: emu.ovh.URL(), ApplicationKey: ovhtest.AppKey,
		ApplicationSecret: ovhtest.AppSecret, ConsumerKey: ovhtest.ConsumerKey,
	}
	cfg.Providers.Hetzner = &config.Hetzner{
		RobotEndpoint: emu.robot.URL(), RobotUser: robottest.User, RobotPassword: robottest.Password,
		CloudEndpoint: emu.cloud.URL(), CloudToken: cloudtest.Token,
	}
	cfg.Notify = []config.Channel{{URL: chatURL}}
	cfg.Triage.Culprit = "local"
	cfg.Triage.Jobs = []config.Job{{
		Name: "demo-echo", Where: "local", Argv: []string{"echo", "triage for", "{ip}"}, Timeout: 10 * time.Second,
	}}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("demo: configuration: %w", err)
	}
	return cfg, nil
}
