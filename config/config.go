// Package config loads and validates the abusewatch YAML file.
//
// Decoding is strict (an unknown key is an error, reported with its line),
// defaults are filled in after decoding, and secrets are read from the
// environment or from files at load time so that the rest of the program
// never sees where a secret came from and never has to print it.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/abusewatch/abusewatch/internal/notice"
)

// Config is the whole configuration file.
type Config struct {
	Store     Store     `yaml:"store"`
	Mailboxes []Mailbox `yaml:"mailboxes"`
	Providers Providers `yaml:"providers"`
	Notify    []Channel `yaml:"notify"`
	Triage    Triage    `yaml:"triage"`
	Inventory []Host    `yaml:"inventory"`
	HTTP      HTTP      `yaml:"http"`
	Parser    Parser    `yaml:"parser"`
	Workers   Workers   `yaml:"workers"`
	// SMTP is the submission server of `statement --send`; nil without one.
	SMTP *SMTP `yaml:"smtp"`

	// Path is the file the configuration was read from ("" when built in code).
	Path string `yaml:"-"`
}

// Store locates the database: a SQLite file (the default), or PostgreSQL
// (store.go).
type Store struct {
	Path string `yaml:"path"`
	// Driver is sqlite or postgres. On postgres, Path's directory still
	// keeps the mail too large for the database.
	Driver  string `yaml:"driver"`
	DSN     string `yaml:"dsn"`
	DSNEnv  string `yaml:"dsn_env"`
	DSNFile string `yaml:"dsn_file"`
}

// HTTP is the listener of /metrics, /healthz and the dashboard.
type HTTP struct {
	Listen string `yaml:"listen"`
	// PublicURL is where the team reaches the dashboard (behind a proxy,
	// say); chat messages link to incident pages under it when set.
	PublicURL string `yaml:"public_url"`
	// The token that every request must carry (bearer, or the password of
	// basic auth) when set; required for a listen address off loopback.
	AuthTokenEnv  string `yaml:"auth_token_env"`
	AuthTokenFile string `yaml:"auth_token_file"`
	AuthToken     string `yaml:"-"`
}

func (h HTTP) validate() error {
	var errs []error
	// A listen that does not parse is reported by validListen.
	if host, _, err := net.SplitHostPort(h.Listen); err == nil && !isLoopback(host) && h.AuthTokenEnv == "" && h.AuthTokenFile == "" && h.AuthToken == "" {
		// The dashboard shows abuse mail and server state: off loopback
		// nobody may read it without the token.
		errs = append(errs, fmt.Errorf("listen %q is not a loopback address: set auth_token_env or auth_token_file", h.Listen))
	}
	if h.AuthTokenEnv != "" && h.AuthTokenFile != "" {
		errs = append(errs, errors.New("auth token: set only one of auth_token_env and auth_token_file"))
	}
	if h.PublicURL != "" {
		u, err := url.Parse(h.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			errs = append(errs, fmt.Errorf("public_url %q: want an http(s) URL without credentials, query or fragment", h.PublicURL))
		}
	}
	return errors.Join(errs...)
}

// The defaults, each written once: the packages that take the value in code
// (mailbox.Options, pipeline.Options, triage.Runner) use these same names.
const (
	// DefaultMaxMessageBytes is the parse limit: a larger mail is kept whole,
	// in a file beside the database, but not parsed (status oversize). It is
	// the parser's own default, from the package the two share.
	DefaultMaxMessageBytes = notice.DefaultMaxBytes
	// DefaultKeepMessageBytes is the keep limit: a larger mail is recorded
	// (UID, size, reason) but not kept, left unflagged, and chat is told.
	DefaultKeepMessageBytes = 100 << 20
	// DefaultLease is how long a worker holds a task before another may take it.
	DefaultLease = 5 * time.Minute
	// DefaultWorkers is the number of task workers.
	DefaultWorkers = 4
	// DefaultStorePath and DefaultListen are where the store and /metrics are.
	DefaultStorePath = "/var/lib/abusewatch/abusewatch.db"
	DefaultListen    = "127.0.0.1:9464"
)

// Parser tunes how mail is read and trusted.
type Parser struct {
	// MaxMessageBytes is the parse limit: larger mail is kept whole but not parsed.
	MaxMessageBytes int64 `yaml:"max_message_bytes"`
	// KeepMessageBytes is the keep limit: larger mail is recorded, not kept.
	KeepMessageBytes int64 `yaml:"keep_message_bytes"`
	// TrustedReporters are the domains whose DKIM-signed ARF / X-ARF reports
	// may trigger host actions (subdomains count too).
	TrustedReporters []string `yaml:"trusted_reporters"`
	// TrustAuthservID names the Authentication-Results authserv-id of our own
	// MTA whose DKIM verdicts are trusted in place of verifying ourselves.
	TrustAuthservID string `yaml:"trust_authserv_id"`
}

// Workers tunes the task queue.
type Workers struct {
	Count int           `yaml:"count"`
	Lease time.Duration `yaml:"lease"`
}

// Default paths searched when no --config is given, after $ABUSEWATCH_CONFIG.
var searchPath = []string{"./abusewatch.yaml", "/etc/abusewatch/abusewatch.yaml"}

// Find returns the config file to use: explicit, then $ABUSEWATCH_CONFIG, then
// the first existing file of the search path. It returns "" when none exists.
func Find(explicit string) string {
	if explicit != "" {
		return explicit
	}
	if env := os.Getenv("ABUSEWATCH_CONFIG"); env != "" {
		return env
	}
	for _, p := range searchPath {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// Load reads, decodes, defaults, resolves secrets in and validates the file at path.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg.Path = path
	return cfg, nil
}

// LoadWithoutSecrets is Load for the commands that only read the store
// (incidents, whitelist list): the file is decoded and validated, but no
// secret is read, so that they run outside the service's environment. The
// secret fields of the result are empty unless written in clear.
func LoadWithoutSecrets(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	cfg, err := decode(data)
	if err == nil {
		// The store's DSN is the one secret these commands need.
		err = cfg.Store.resolveSecrets()
	}
	if err == nil {
		err = cfg.Validate()
	}
	if err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	cfg.Path = path
	return cfg, nil
}

// Parse decodes a configuration from YAML bytes, strictly, and validates it.
// Every problem is reported at once: the missing secrets and the bad values.
func Parse(data []byte) (*Config, error) {
	cfg, err := ParseAll(data)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// ParseAll is Parse for `config check`, which goes on to check what needs
// I/O: it returns the configuration as far as it was read together with
// every problem found. The configuration is nil only when the YAML itself
// cannot be decoded; a secret that could not be read is left empty.
func ParseAll(data []byte) (*Config, error) {
	cfg, err := decode(data)
	if err != nil {
		return nil, err
	}
	return cfg, errors.Join(cfg.resolveSecrets(), cfg.Validate())
}

// decode reads YAML strictly and fills in the defaults.
func decode(data []byte) (*Config, error) {
	var cfg Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	cfg.applyDefaults()
	return &cfg, nil
}

// Default returns a configuration with every default applied and nothing configured.
func Default() *Config {
	var cfg Config
	cfg.applyDefaults()
	return &cfg
}

func (c *Config) applyDefaults() {
	if c.Store.Path == "" {
		c.Store.Path = DefaultStorePath
	}
	if c.HTTP.Listen == "" {
		c.HTTP.Listen = DefaultListen
	}
	if c.Parser.MaxMessageBytes == 0 {
		c.Parser.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.Parser.KeepMessageBytes == 0 {
		c.Parser.KeepMessageBytes = max(DefaultKeepMessageBytes, c.Parser.MaxMessageBytes)
	}
	if c.Workers.Count == 0 {
		c.Workers.Count = DefaultWorkers
	}
	if c.Workers.Lease == 0 {
		c.Workers.Lease = DefaultLease
	}
	for i := range c.Mailboxes {
		c.Mailboxes[i].applyDefaults()
	}
	c.Providers.applyDefaults()
	c.Triage.applyDefaults()
	if c.SMTP != nil {
		c.SMTP.applyDefaults()
	}
}

// resolveSecrets reads every secret, and reports every one that could not
// be read rather than the first.
func (c *Config) resolveSecrets() error {
	var errs []error
	if err := c.Store.resolveSecrets(); err != nil {
		errs = append(errs, err)
	}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		s, err := resolveSecret(m.Password, m.PasswordEnv, m.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("mailboxes[%d] (%s): password: %w", i, m.Name, err))
		}
		m.Password = s
	}
	for i := range c.Notify {
		ch := &c.Notify[i]
		s, err := resolveSecret(ch.URL, ch.URLEnv, ch.URLFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("notify[%d]: url: %w", i, err))
		}
		ch.URL = s
	}
	if c.HTTP.AuthTokenEnv != "" || c.HTTP.AuthTokenFile != "" {
		s, err := resolveSecret("", c.HTTP.AuthTokenEnv, c.HTTP.AuthTokenFile)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("http: auth token: %w", err))
		case s == "":
			errs = append(errs, errors.New("http: auth token: the file is empty"))
		}
		c.HTTP.AuthToken = s
	}
	if c.SMTP != nil {
		s, err := resolveSecret(c.SMTP.Password, c.SMTP.PasswordEnv, c.SMTP.PasswordFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("smtp: password: %w", err))
		}
		c.SMTP.Password = s
	}
	return errors.Join(append(errs, c.Triage.resolveSecrets(), c.Providers.resolveSecrets())...)
}

// ClearSecrets names the keys whose secret is written in the file itself
// rather than read from the environment or a file: in a file others can
// read, `config check` warns about them.
func (c *Config) ClearSecrets() []string {
	var keys []string
	for i, m := range c.Mailboxes {
		if m.Password != "" && m.PasswordEnv == "" && m.PasswordFile == "" {
			keys = append(keys, fmt.Sprintf("mailboxes[%d] (%s): password", i, m.Name))
		}
	}
	// A chat URL carries the service's token.
	for i, ch := range c.Notify {
		if ch.URL != "" && ch.URLEnv == "" && ch.URLFile == "" {
			keys = append(keys, fmt.Sprintf("notify[%d]: url", i))
		}
	}
	for i, j := range c.Triage.Jobs {
		if j.Secret != "" && j.SecretEnv == "" && j.SecretFile == "" {
			keys = append(keys, fmt.Sprintf("triage.jobs[%d] (%s): secret", i, j.Name))
		}
	}
	if o := c.Providers.OVH; o != nil {
		if o.ApplicationSecret != "" && o.ApplicationSecretEnv == "" && o.ApplicationSecretFile == "" {
			keys = append(keys, "providers.ovh.application_secret")
		}
		if o.ConsumerKey != "" && o.ConsumerKeyEnv == "" && o.ConsumerKeyFile == "" {
			keys = append(keys, "providers.ovh.consumer_key")
		}
	}
	if h := c.Providers.Hetzner; h != nil {
		if h.RobotPassword != "" && h.RobotPasswordEnv == "" && h.RobotPasswordFile == "" {
			keys = append(keys, "providers.hetzner.robot_password")
		}
		if h.CloudToken != "" && h.CloudTokenEnv == "" && h.CloudTokenFile == "" {
			keys = append(keys, "providers.hetzner.cloud_token")
		}
	}
	if c.SMTP != nil && c.SMTP.Password != "" && c.SMTP.PasswordEnv == "" && c.SMTP.PasswordFile == "" {
		keys = append(keys, "smtp.password")
	}
	return keys
}

// Validate checks the values that decoding cannot.
func (c *Config) Validate() error {
	var errs []error
	if err := c.Store.validate(); err != nil {
		errs = append(errs, err)
	}
	seen := map[string]bool{}
	for i := range c.Mailboxes {
		m := &c.Mailboxes[i]
		if seen[m.Name] {
			errs = append(errs, fmt.Errorf("mailboxes[%d]: duplicate name %q", i, m.Name))
		}
		seen[m.Name] = true
		if err := m.validate(); err != nil {
			errs = append(errs, fmt.Errorf("mailboxes[%d] (%s): %w", i, m.Name, err))
		}
	}
	if c.Parser.KeepMessageBytes < c.Parser.MaxMessageBytes {
		errs = append(errs, fmt.Errorf("parser: keep_message_bytes (%d) is below max_message_bytes (%d)", c.Parser.KeepMessageBytes, c.Parser.MaxMessageBytes))
	}
	channelIDs := map[string]int{}
	for i, ch := range c.Notify {
		if err := ch.validate(); err != nil {
			errs = append(errs, fmt.Errorf("notify[%d]: %w", i, err))
		}
		if j, dup := channelIDs[ch.ID()]; dup {
			// Queued messages name their channel by this identifier.
			errs = append(errs, fmt.Errorf("notify[%d]: same name or url as notify[%d]: give each a distinct name", i, j))
		}
		channelIDs[ch.ID()] = i
	}
	if err := c.Triage.validate(); err != nil {
		errs = append(errs, fmt.Errorf("triage: %w", err))
	}
	for i, h := range c.Inventory {
		if err := h.validate(); err != nil {
			errs = append(errs, fmt.Errorf("inventory[%d] (%s): %w", i, h.Name, err))
		}
	}
	if err := c.HTTP.validate(); err != nil {
		errs = append(errs, fmt.Errorf("http: %w", err))
	}
	if c.SMTP != nil {
		if err := c.SMTP.validate(); err != nil {
			errs = append(errs, fmt.Errorf("smtp: %w", err))
		}
	}
	if c.Workers.Count < 1 {
		errs = append(errs, errors.New("workers.count: must be at least 1"))
	}
	if c.Workers.Lease < 0 {
		errs = append(errs, fmt.Errorf("workers.lease: %s is negative", c.Workers.Lease))
	}
	if err := validListen(c.HTTP.Listen); err != nil {
		errs = append(errs, fmt.Errorf("http.listen: %w", err))
	}
	if c.Parser.MaxMessageBytes < 0 {
		errs = append(errs, fmt.Errorf("parser: max_message_bytes (%d) is negative", c.Parser.MaxMessageBytes))
	}
	return errors.Join(errs...)
}

// resolveSecret returns the secret from exactly one of its three sources.
// A value read from a file loses its trailing newline, as editors add one.
func resolveSecret(plain, env, file string) (string, error) {
	n := 0
	for _, s := range []string{plain, env, file} {
		if s != "" {
			n++
		}
	}
	if n > 1 {
		return "", errors.New("set only one of the value, _env and _file")
	}
	switch {
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(filepath.Clean(file))
		if err != nil {
			return "", fmt.Errorf("reading secret file: %w", err)
		}
		return strings.TrimRight(string(b), "\r\n"), nil
	}
	return plain, nil
}

// validListen checks that addr is host:port with a numeric port, as
// net.Listen("tcp", addr) needs; the host may be empty (every address), an
// IP or a name.
func validListen(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 0 to 65535", addr, port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("%q: %q is not a host", addr, host)
	}
	return nil
}
