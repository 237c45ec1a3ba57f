package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStoreDriver(t *testing.T) {
	t.Setenv("ABUSEWATCH_TEST_DSN", "postgres://aw@db.example.net/aw")
	file := filepath.Join(t.TempDir(), "dsn")
	if err := os.WriteFile(file, []byte("postgres://aw@file.example.net/aw\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, yaml       string
		wantPG           bool
		wantDSN, wantErr string
	}{
		{name: "default sqlite", yaml: "store:\n  path: /tmp/x.db\n"},
		{name: "explicit sqlite", yaml: "store:\n  driver: sqlite\n"},
		{name: "postgres from env", yaml: "store:\n  driver: postgres\n  dsn_env: ABUSEWATCH_TEST_DSN\n",
			wantPG: true, wantDSN: "postgres://aw@db.example.net/aw"},
		{name: "postgres from file", yaml: "store:\n  driver: postgres\n  dsn_file: " + file + "\n",
			wantPG: true, wantDSN: "postgres://aw@file.example.net/aw"},
		{name: "postgres without dsn", yaml: "store:\n  driver: postgres\n", wantErr: "needs dsn_env, dsn_file or dsn"},
		{name: "dsn on sqlite", yaml: "store:\n  dsn_env: ABUSEWATCH_TEST_DSN\n", wantErr: "are for driver: postgres"},
		{name: "two dsn sources", yaml: "store:\n  driver: postgres\n  dsn: x\n  dsn_env: ABUSEWATCH_TEST_DSN\n", wantErr: "set only one"},
		{name: "unset env", yaml: "store:\n  driver: postgres\n  dsn_env: ABUSEWATCH_TEST_UNSET_DSN\n", wantErr: "ABUSEWATCH_TEST_UNSET_DSN is not set"},
		{name: "unknown driver", yaml: "store:\n  driver: mysql\n", wantErr: `driver "mysql" is not sqlite or postgres`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tt.yaml))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Store.IsPostgres() != tt.wantPG || cfg.Store.DSN != tt.wantDSN {
				t.Errorf("store %+v, want postgres %v with dsn %q", cfg.Store, tt.wantPG, tt.wantDSN)
			}
			// The read-only commands reach the store too, so they resolve its DSN.
			path := filepath.Join(t.TempDir(), "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			ro, err := LoadWithoutSecrets(path)
			if err != nil {
				t.Fatalf("LoadWithoutSecrets: %v", err)
			}
			if ro.Store.DSN != tt.wantDSN {
				t.Errorf("LoadWithoutSecrets: dsn %q, want %q", ro.Store.DSN, tt.wantDSN)
			}
		})
	}
}
