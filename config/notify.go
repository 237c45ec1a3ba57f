package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"

	"github.com/abusewatch/abusewatch/internal/notice"
)

// Channel is one chat destination, as a shoutrrr URL.
type Channel struct {
	// Name identifies the channel in logs, metrics and queued messages; by
	// default an identifier derived from the URL is used.
	Name string `yaml:"name"`
	// URL holds the service's token: prefer URLEnv or URLFile, which keep
	// it out of the file (DESIGN.md: every secret has _env and _file forms).
	URL     string `yaml:"url"`
	URLEnv  string `yaml:"url_env"`
	URLFile string `yaml:"url_file"`
	// MinSeverity drops events of lower severity (status < complaint < attack < block < rescue).
	MinSeverity string `yaml:"min_severity"`
	// Providers, when set, keeps only events about incidents of these providers.
	Providers []string `yaml:"providers"`
	// Events, when set, keeps only these event kinds.
	Events []string `yaml:"events"`
	// Template is a text/template for the message body.
	Template string `yaml:"template"`
}

// ID identifies the channel across configuration reloads, so that a queued
// message goes to the channel it was meant for even after channels were
// added or removed around it. It is the name when set, else "url-" and a
// hash of the URL (or of the variable or file it is read from), which holds
// a secret and is never shown itself.
func (c Channel) ID() string {
	if c.Name != "" {
		return c.Name
	}
	// A URL read from the environment or a file is known by where it is
	// read from: the ID survives a token rotation, and needs no secret.
	src := c.URL
	switch {
	case c.URLEnv != "":
		src = "env:" + c.URLEnv
	case c.URLFile != "":
		src = "file:" + c.URLFile
	}
	sum := sha256.Sum256([]byte(src))
	return "url-" + hex.EncodeToString(sum[:6])
}

func (c Channel) validate() error {
	if c.Name != "" && !validChannelName(c.Name) {
		return fmt.Errorf("name %q: use at most 64 letters, digits, '.', '_' or '-'", c.Name)
	}
	if c.MinSeverity != "" {
		if _, ok := SeverityRank(c.MinSeverity); !ok {
			return fmt.Errorf("min_severity: %q is not one of %s", c.MinSeverity, severityList())
		}
	}
	if err := inVocabulary(c.Providers, notice.Providers()); err != nil {
		return fmt.Errorf("providers: %w", err)
	}
	if c.URL == "" {
		if c.URLEnv != "" || c.URLFile != "" {
			return nil // read later, with the other secrets (LoadWithoutSecrets)
		}
		return errors.New("url: required (url, url_env or url_file)")
	}
	u, err := url.Parse(c.URL)
	if err != nil || u.Scheme == "" {
		// The error of url.Parse quotes the URL, which holds the token: keep it out.
		return errors.New("url: not a valid shoutrrr URL (scheme://…)")
	}
	return nil
}

func validChannelName(name string) bool {
	if len(name) > 64 {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return false
		}
	}
	return true
}
