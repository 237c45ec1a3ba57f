package config

import (
	"errors"
	"fmt"
	"net"
	"strings"
	"time"
)

// Mailbox is one IMAP folder to watch.
type Mailbox struct {
	Name         string `yaml:"name"`
	Host         string `yaml:"host"`
	Port         int    `yaml:"port"`
	TLS          string `yaml:"tls"` // tls | starttls | none
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// TokenFile holds an OAuth2 bearer token for XOAUTH2, re-read at each login.
	TokenFile string        `yaml:"token_file"`
	Folder    string        `yaml:"folder"`
	After     string        `yaml:"after"` // flag | move:FOLDER | none
	Poll      time.Duration `yaml:"poll"`
	// AlertAfter is how long the mailbox may fail before the team is told in chat.
	AlertAfter time.Duration `yaml:"alert_after"`
	// InsecureSkipVerify disables TLS certificate checks (test servers only).
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// MoveTarget returns the folder of an `after: move:FOLDER` setting.
func (m *Mailbox) MoveTarget() (string, bool) {
	return strings.CutPrefix(m.After, "move:")
}

func (m *Mailbox) applyDefaults() {
	if m.TLS == "" {
		m.TLS = "tls"
	}
	if m.Port == 0 {
		if m.TLS == "tls" {
			m.Port = 993
		} else {
			m.Port = 143
		}
	}
	if m.Folder == "" {
		m.Folder = "INBOX"
	}
	if m.After == "" {
		m.After = "flag"
	}
	if m.Poll == 0 {
		m.Poll = 60 * time.Second
	}
	if m.AlertAfter == 0 {
		m.AlertAfter = 15 * time.Minute
	}
}

func (m *Mailbox) validate() error {
	var errs []error
	if m.Name == "" {
		errs = append(errs, errors.New("name: required"))
	}
	if m.Host == "" {
		errs = append(errs, errors.New("host: required"))
	}
	if m.Username == "" {
		errs = append(errs, errors.New("username: required"))
	}
	if m.Password == "" && m.PasswordEnv == "" && m.PasswordFile == "" && m.TokenFile == "" {
		errs = append(errs, errors.New("password: set password, password_env, password_file or token_file"))
	}
	switch m.TLS {
	case "tls", "starttls":
	case "none":
		if !isLoopback(m.Host) {
			errs = append(errs, fmt.Errorf("tls: none is allowed only to a loopback address, not %q", m.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("tls: %q is not one of tls, starttls, none", m.TLS))
	}
	switch folder, isMove := m.MoveTarget(); {
	case isMove && folder == "":
		errs = append(errs, errors.New("after: move: needs a folder (move:FOLDER)"))
	case isMove, m.After == "flag", m.After == "none":
	default:
		errs = append(errs, fmt.Errorf("after: %q is not one of flag, move:FOLDER, none", m.After))
	}
	if m.Poll < time.Second {
		errs = append(errs, fmt.Errorf("poll: %s is shorter than 1s", m.Poll))
	}
	if m.AlertAfter < 0 {
		errs = append(errs, fmt.Errorf("alert_after: %s is negative", m.AlertAfter))
	}
	if m.Port < 1 || m.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d out of range", m.Port))
	}
	return errors.Join(errs...)
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
