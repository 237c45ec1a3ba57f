package config

import (
	"errors"
	"fmt"
	"net/mail"
	"time"
)

// SMTP is the submission server `statement --send` mails through.
type SMTP struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// TLS is starttls (submission, port 587) or tls (implicit TLS, port 465).
	// There is no plain mode: a statement goes to a provider with the
	// account's credentials.
	TLS          string `yaml:"tls"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordEnv  string `yaml:"password_env"`
	PasswordFile string `yaml:"password_file"`
	// From is the envelope sender and From address of statements.
	From string `yaml:"from"`
	// CAFile replaces the system roots with this PEM bundle (a private CA,
	// the tests' CA).
	CAFile  string        `yaml:"ca_file"`
	Timeout time.Duration `yaml:"timeout"`
}

// Configured reports whether an smtp: section was given.
func (s *SMTP) Configured() bool { return s != nil && s.Host != "" }

func (s *SMTP) applyDefaults() {
	if s.TLS == "" {
		s.TLS = "starttls"
	}
	if s.Port == 0 {
		if s.TLS == "tls" {
			s.Port = 465
		} else {
			s.Port = 587
		}
	}
	if s.Timeout == 0 {
		s.Timeout = 30 * time.Second
	}
}

func (s *SMTP) validate() error {
	var errs []error
	if s.Host == "" {
		errs = append(errs, errors.New("host: required"))
	}
	switch s.TLS {
	case "starttls", "tls":
	default:
		errs = append(errs, fmt.Errorf("tls: %q is not one of starttls, tls", s.TLS))
	}
	if s.Port < 1 || s.Port > 65535 {
		errs = append(errs, fmt.Errorf("port: %d out of range", s.Port))
	}
	if s.From == "" {
		errs = append(errs, errors.New("from: required"))
	} else if a, err := mail.ParseAddress(s.From); err != nil || a.Name != "" {
		errs = append(errs, fmt.Errorf("from: %q is not a bare mail address", s.From))
	}
	hasPassword := s.Password != "" || s.PasswordEnv != "" || s.PasswordFile != ""
	if hasPassword && s.Username == "" {
		errs = append(errs, errors.New("username: required with a password"))
	}
	if s.Username != "" && !hasPassword {
		errs = append(errs, errors.New("password: set password, password_env or password_file"))
	}
	if s.Timeout < time.Second {
		errs = append(errs, fmt.Errorf("timeout: %s is shorter than 1s", s.Timeout))
	}
	return errors.Join(errs...)
}
