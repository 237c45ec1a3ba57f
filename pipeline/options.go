package pipeline

// Option adjusts what FromConfig wires, for the daemon and the demo.
type Option func(*setupOptions)

type setupOptions struct {
	lookupTXT func(name string) ([]string, error)
	metrics   *Metrics
}

// WithLookupTXT replaces the DNS lookup of DKIM keys. The demo publishes the
// key it signs its sample mails with this way.
func WithLookupTXT(fn func(name string) ([]string, error)) Option {
	return func(o *setupOptions) { o.lookupTXT = fn }
}

// WithMetrics makes the pipeline report to m: m reads the store at scrape
// time, and counts provider calls and chat deliveries.
func WithMetrics(m *Metrics) Option {
	return func(o *setupOptions) { o.metrics = m }
}
