package config

import (
	"errors"
	"fmt"
)

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// IsPostgres reports whether the store is PostgreSQL.
func (s Store) IsPostgres() bool { return s.Driver == DriverPostgres }

func (s *Store) resolveSecrets() error {
	dsn, err := resolveSecret(s.DSN, s.DSNEnv, s.DSNFile)
	if err != nil {
		return fmt.Errorf("store: dsn: %w", err)
	}
	s.DSN = dsn
	return nil
}

func (s Store) validate() error {
	switch s.Driver {
	case "", DriverSQLite:
		if s.DSN != "" || s.DSNEnv != "" || s.DSNFile != "" {
			return errors.New("store: dsn, dsn_env and dsn_file are for driver: postgres")
		}
	case DriverPostgres:
		// Without secrets resolved (LoadWithoutSecrets of an older caller)
		// the DSN may be empty; only its source must be named.
		if s.DSN == "" && s.DSNEnv == "" && s.DSNFile == "" {
			return errors.New("store: driver postgres needs dsn_env, dsn_file or dsn")
		}
	default:
		return fmt.Errorf("store: driver %q is not sqlite or postgres", s.Driver)
	}
	return nil
}
