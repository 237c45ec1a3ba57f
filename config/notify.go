package config

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
)

// Channel is one chat destination, as a shoutrrr URL.
type Channel struct {
	// Name identifies the channel in logs, metrics and queued messages; by
	// default an identifier derived from the URL is used.
	Name string `yaml:"name"`
	URL  string `yaml:"url"`
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
// hash of the URL, which holds a secret and is never shown itself.
func (c Channel) ID() string {
	if c.Name != "" {
		return c.Name
	}
	sum := sha256.Sum256([]byte(c.URL))
	return "url-" + hex.EncodeToString(sum[:6])
}

func (c Channel) validate() error {
	if c.Name != "" && !validChannelName(c.Name) {
		return fmt.Errorf("name %q: use at most 64 letters, digits, '.', '_' or '-'", c.Name)
	}
	if c.URL == "" {
		return errors.New("url: required")
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
