package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/abusewatch/abusewatch/mailbox"
	"github.com/abusewatch/abusewatch/providers"
	"github.com/abusewatch/abusewatch/store"
)

// scrapeTimeout bounds the store queries of one scrape, so that a locked
// database cannot pile up stuck scrapes.
const scrapeTimeout = 5 * time.Second

// healthReporter is what /metrics and /healthz read from a mailbox watcher.
type healthReporter interface {
	Health() mailbox.Health
}

// Metrics is the Prometheus instrumentation of one process, on a registry of
// its own (never the global default one). Most values are read from the
// store and the mailbox watchers when scraped, which keeps hooks out of the
// ingest path; only the outcomes of provider calls and chat deliveries,
// which leave no countable trace in the store, are counted as they happen.
type Metrics struct {
	registry       *prometheus.Registry
	providerCalls  *prometheus.CounterVec
	providerErrors *prometheus.CounterVec
	deliveries     *prometheus.CounterVec

	mu        sync.Mutex
	store     *store.Store
	providers *providers.Registry // nil without providers
	mailboxes map[string]healthReporter
	dashboard Dashboard
	now       func() time.Time
	log       *slog.Logger
}

// NewMetrics returns Metrics with every collector registered. The store and
// the mailboxes are attached later (FromConfig with WithMetrics, and
// setMailboxes); until then their metrics are absent.
func NewMetrics(log *slog.Logger) *Metrics {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		providerCalls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abusewatch_provider_calls_total",
			Help: "Provider state reads made by the state task, by provider (\"none\" when no provider could be asked).",
		}, []string{"provider"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abusewatch_provider_errors_total",
			Help: "Provider state reads that failed, by provider.",
		}, []string{"provider"}),
		deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "abusewatch_notifications_total",
			Help: "Chat message deliveries, by channel (URL with secrets masked) and result (ok, failed).",
		}, []string{"channel", "result"}),
		mailboxes: map[string]healthReporter{},
		now:       time.Now,
		log:       log,
	}
	m.registry.MustRegister(
		m.providerCalls, m.providerErrors, m.deliveries,
		storeCollector{m}, mailboxCollector{m},
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return m
}

// Registry is the registry /metrics serves.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// setMailboxes replaces the watched mailboxes, by name.
func (m *Metrics) setMailboxes(watchers map[string]healthReporter) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.mailboxes = watchers
}

func (m *Metrics) attachStore(st *store.Store) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.store = st
}

// attachRegistry lets /healthz report the provider APIs that refused
// their credentials; reg may be nil (no providers).
func (m *Metrics) attachRegistry(reg *providers.Registry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.providers = reg
}

func (m *Metrics) authFailures() []providers.AuthFailure {
	m.mu.Lock()
	reg := m.providers
	m.mu.Unlock()
	if reg == nil {
		return nil
	}
	return reg.AuthFailures()
}

// held tells which mailboxes this process watches now: those whose
// reporter is not a lockReporter always, the others while they hold.
func (m *Metrics) held() map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	held := make(map[string]bool, len(m.mailboxes))
	for name, w := range m.mailboxes {
		l, ok := w.(lockReporter)
		held[name] = !ok || l.Held()
	}
	return held
}

func (m *Metrics) snapshot() (*store.Store, map[string]mailbox.Health) {
	m.mu.Lock()
	defer m.mu.Unlock()
	health := make(map[string]mailbox.Health, len(m.mailboxes))
	for name, w := range m.mailboxes {
		health[name] = w.Health()
	}
	return m.store, health
}

var (
	descMails = prometheus.NewDesc("abusewatch_mails_fetched_total",
		"Mails fetched from each mailbox and committed to the store.", []string{"mailbox"}, nil)
	descNotices = prometheus.NewDesc("abusewatch_notices",
		"Notices in the store, by provider and kind.", []string{"provider", "kind"}, nil)
	descOpen = prometheus.NewDesc("abusewatch_incidents_open",
		"Open incidents.", nil, nil)
	descQueue = prometheus.NewDesc("abusewatch_tasks_queued",
		"Tasks waiting in the queue, due now or later.", nil, nil)
	descOldest = prometheus.NewDesc("abusewatch_tasks_oldest_due_seconds",
		"How long the oldest due task has been waiting (0 when none is due).", nil, nil)
	descFailed = prometheus.NewDesc("abusewatch_tasks_failed",
		"Tasks that failed for good.", nil, nil)
	descMessages = prometheus.NewDesc("abusewatch_messages",
		"Mails in the store, by status (ok, none, error, oversize, unrecognised).", []string{"status"}, nil)
	descStoreUp = prometheus.NewDesc("abusewatch_store_up",
		"1 when the last scrape could read the store.", nil, nil)
	descConnected = prometheus.NewDesc("abusewatch_mailbox_connected",
		"1 while the mailbox session is logged in with its folder selected.", []string{"mailbox"}, nil)
	descLastSync = prometheus.NewDesc("abusewatch_mailbox_last_sync_timestamp_seconds",
		"When the mailbox was last fully ingested (0: never).", []string{"mailbox"}, nil)
	descFailures = prometheus.NewDesc("abusewatch_mailbox_consecutive_failures",
		"Consecutive failed connection attempts or sessions of the mailbox.", []string{"mailbox"}, nil)
)

// storeCollector reads the counts from the store at scrape time.
type storeCollector struct{ m *Metrics }

func (c storeCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descMails, descMessages, descNotices, descOpen, descQueue, descOldest, descFailed, descStoreUp} {
		ch <- d
	}
}

func (c storeCollector) Collect(ch chan<- prometheus.Metric) {
	st, _ := c.m.snapshot()
	if st == nil {
		return
	}
	// Collect has no context of its own; the timeout stands in for one.
	ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
	defer cancel()
	err := c.collect(ctx, st, ch)
	up := 1.0
	if err != nil {
		c.m.log.Warn("metrics: reading the store", "err", err)
		up = 0
	}
	ch <- prometheus.MustNewConstMetric(descStoreUp, prometheus.GaugeValue, up)
}

func (c storeCollector) collect(ctx context.Context, st *store.Store, ch chan<- prometheus.Metric) error {
	stats, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(stats.OpenIncidents))
	ch <- prometheus.MustNewConstMetric(descFailed, prometheus.GaugeValue, float64(stats.FailedTasks))
	depth, oldest, err := st.QueueStats(ctx, c.m.now())
	if err != nil {
		return err
	}
	ch <- prometheus.MustNewConstMetric(descQueue, prometheus.GaugeValue, float64(depth))
	ch <- prometheus.MustNewConstMetric(descOldest, prometheus.GaugeValue, oldest.Seconds())
	mails, err := st.MailboxCounts(ctx)
	if err != nil {
		return err
	}
	for name, n := range mails {
		ch <- prometheus.MustNewConstMetric(descMails, prometheus.CounterValue, float64(n), name)
	}
	byStatus, err := st.MessageCounts(ctx)
	if err != nil {
		return err
	}
	for status, n := range byStatus {
		ch <- prometheus.MustNewConstMetric(descMessages, prometheus.GaugeValue, float64(n), status)
	}
	notices, err := st.NoticeCounts(ctx)
	if err != nil {
		return err
	}
	for _, n := range notices {
		ch <- prometheus.MustNewConstMetric(descNotices, prometheus.GaugeValue, float64(n.Count), n.Provider, n.Kind)
	}
	return nil
}

// mailboxCollector reads each watcher's Health at scrape time.
type mailboxCollector struct{ m *Metrics }

func (c mailboxCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- descConnected
	ch <- descLastSync
	ch <- descFailures
}

func (c mailboxCollector) Collect(ch chan<- prometheus.Metric) {
	_, health := c.m.snapshot()
	for name, h := range health {
		connected := 0.0
		if h.Connected {
			connected = 1
		}
		lastSync := 0.0
		if !h.LastSync.IsZero() {
			lastSync = float64(h.LastSync.UnixNano()) / 1e9
		}
		ch <- prometheus.MustNewConstMetric(descConnected, prometheus.GaugeValue, connected, name)
		ch <- prometheus.MustNewConstMetric(descLastSync, prometheus.GaugeValue, lastSync, name)
		ch <- prometheus.MustNewConstMetric(descFailures, prometheus.GaugeValue, float64(h.Failures), name)
	}
}

// delivered counts the outcome of one chat delivery (notify.Options.OnSend).
func (m *Metrics) delivered(channel string, err error) {
	result := "ok"
	if err != nil {
		result = "failed"
	}
	m.deliveries.WithLabelValues(channel, result).Inc()
}

// countingProviders counts the state reads of the state task. The providers
// have no hook of their own; this is the one place all reads go through.
type countingProviders struct {
	reg *providers.Registry
	m   *Metrics
}

func (c countingProviders) State(ctx context.Context, ip netip.Addr) (*providers.State, error) {
	// Lookup is cached by the registry, so asking it first costs State nothing.
	p, _, err := c.reg.Lookup(ctx, ip)
	if errors.Is(err, providers.ErrNotOurs) {
		return nil, err // no provider call was made that could have failed
	}
	name := "none"
	if err == nil {
		name = p.Name()
	}
	c.m.providerCalls.WithLabelValues(name).Inc()
	if err != nil {
		c.m.providerErrors.WithLabelValues(name).Inc()
		return nil, err
	}
	st, err := c.reg.State(ctx, ip)
	if err != nil {
		c.m.providerErrors.WithLabelValues(name).Inc()
	}
	return st, err
}

// ServiceIPs counts the call like State does.
func (c countingProviders) ServiceIPs(ctx context.Context, provider, service string) ([]netip.Addr, error) {
	c.m.providerCalls.WithLabelValues(provider).Inc()
	ips, err := c.reg.ServiceIPs(ctx, provider, service)
	if err != nil && !errors.Is(err, providers.ErrNotOurs) {
		c.m.providerErrors.WithLabelValues(provider).Inc()
	}
	return ips, err
}
