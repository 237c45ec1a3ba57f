package pipeline

import (
	"context"
	"log/slog"
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/notify"
	"github.com/abusewatch/abusewatch/parser"
	"github.com/abusewatch/abusewatch/statement"
	"github.com/abusewatch/abusewatch/store"
)

// Options wire a Pipeline. Only Store is required; a nil Notifier, Providers
// or Triage turns the tasks that need it off.
type Options struct {
	Store  *store.Store
	Parser parser.Options
	// TrustedReporters are the domains whose DKIM-signed ARF / X-ARF
	// reports may trigger host actions.
	TrustedReporters []string
	// KeepMessageBytes is the keep limit: larger mail is recorded, not kept
	// (default and floor: the parse limit, Parser.MaxBytes).
	KeepMessageBytes int64
	Logger           *slog.Logger
	Notifier         *notify.Notifier
	Providers        StateReader
	Triage           *Triage
	// Contain lets an operator contain a culprit (Pipeline.Contain); nil
	// turns containment off. No task ever uses it.
	Contain *Contain
	// Firewall opens and closes whitelist grants; nil turns them off.
	Firewall FirewallProvider
	// Mailer sends statements by mail, Tickets answers OVH support
	// tickets; nil turns that way of sending off.
	Mailer  *statement.Mailer
	Tickets TicketReplier
	// BurstWindow folds the notices of one incident into one message (default 2m).
	BurstWindow time.Duration
	// DeadlineWarning is how long before a provider deadline to warn (default 1h).
	DeadlineWarning time.Duration
	// Lease is how long a worker holds a task before another may take it over.
	Lease time.Duration
	// MaxAttempts fails a task for good after this many tries (default 20).
	MaxAttempts int
	// Now is the clock (tests).
	Now func() time.Time
}

// Pipeline ingests mail and runs the task workers.
type Pipeline struct {
	store *store.Store
	parse func(raw []byte) outcome
	// reporters are Options.TrustedReporters.
	reporters []string
	// maxBytes and keepBytes are the parse and keep limits (large.go).
	maxBytes, keepBytes int64
	planner             planner
	log                 *slog.Logger
	now                 func() time.Time
	lease               time.Duration
	attempts            int
	handlers            map[string]func(context.Context, *store.Task) error
	wakeCh              chan struct{}

	// notifier is replaced when the configuration is reloaded; read it
	// once per use with chat().
	notifier  atomic.Pointer[notify.Notifier]
	providers StateReader
	triage    *Triage
	contain   *Contain
	firewall  FirewallProvider
	mailer    *statement.Mailer
	tickets   TicketReplier
}

// setNotifier replaces the chat channels (nil: none). Messages already
// queued go to their channel if it is still configured, by its ID.
func (p *Pipeline) setNotifier(n *notify.Notifier) { p.notifier.Store(n) }

// chat returns the current chat channels; nil (no channels) when none are
// configured.
func (p *Pipeline) chat() *notify.Notifier { return p.notifier.Load() }

// New builds a Pipeline from its parts.
func New(opts Options) *Pipeline {
	p := &Pipeline{
		store:     opts.Store,
		parse:     parseOutcome(opts.Parser, opts.TrustedReporters),
		reporters: opts.TrustedReporters,
		maxBytes:  int64(opts.Parser.MaxBytes),
		keepBytes: opts.KeepMessageBytes,
		log:       opts.Logger,
		now:       opts.Now,
		lease:     opts.Lease,
		attempts:  opts.MaxAttempts,
		wakeCh:    make(chan struct{}, 1),
		providers: opts.Providers,
		triage:    opts.Triage,
		contain:   opts.Contain,
		firewall:  opts.Firewall,
		mailer:    opts.Mailer,
		tickets:   opts.Tickets,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.now == nil {
		p.now = time.Now
	}
	if p.lease == 0 {
		p.lease = config.DefaultLease
	}
	if p.attempts == 0 {
		p.attempts = 20
	}
	p.planner = planner{
		burstWindow:     orDefault(opts.BurstWindow, 2*time.Minute),
		deadlineWarning: orDefault(opts.DeadlineWarning, time.Hour),
		triage:          opts.Triage != nil,
		now:             p.now,
	}
	if opts.Triage != nil && opts.Triage.Inventory != nil {
		inv := opts.Triage.Inventory
		p.planner.inventory = func(ip netip.Addr) bool { _, _, ok := inv.Lookup(ip); return ok }
	}
	p.setNotifier(opts.Notifier)
	p.planner.channels = p.channelsFor
	// Chat channels may come and go with a reload: notify tasks always have
	// a handler, which fails those whose channel is gone.
	p.handlers = map[string]func(context.Context, *store.Task) error{taskNotify: p.handleNotify}
	if p.providers != nil {
		p.handlers[taskState] = p.handleState
	}
	if p.triage != nil {
		p.handlers[taskTriage] = p.handleTriage
	}
	if p.firewall != nil {
		p.handlers[taskExpire] = p.handleExpire
	}
	return p
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// wake tells idle workers that new tasks may be due.
func (p *Pipeline) wake() {
	select {
	case p.wakeCh <- struct{}{}:
	default:
	}
}
