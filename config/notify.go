package config

import (
	"errors"
	"net/url"
)

// Channel is one chat destination, as a shoutrrr URL.
type Channel struct {
	URL string `yaml:"url"`
	// MinSeverity drops events of lower severity (status < complaint < attack < block < rescue).
	MinSeverity string `yaml:"min_severity"`
	// Providers, when set, keeps only events about incidents of these providers.
	Providers []string `yaml:"providers"`
	// Events, when set, keeps only these event kinds.
	Events []string `yaml:"events"`
	// Template is a text/template for the message body.
	Template string `yaml:"template"`
}

func (c Channel) validate() error {
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
