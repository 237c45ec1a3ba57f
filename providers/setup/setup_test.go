package setup

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/abusewatch/abusewatch/config"
	"github.com/abusewatch/abusewatch/providers/hetzner/cloudtest"
	"github.com/abusewatch/abusewatch/providers/hetzner/robottest"
	"github.com/abusewatch/abusewatch/providers/ovh/ovhtest"
)

// TestFromConfig: a config file naming the three emulators routes each IP
// to the API that holds it, secrets read from the environment and a file.
func TestFromConfig(t *testing.T) {
	o := ovhtest.New(t)
	o.AddIPBlock(ovhtest.IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns1.ip-51-91-10.eu"})
	o.AddDedicated(ovhtest.Dedicated{Name: "ns1.ip-51-91-10.eu", State: "hacked", BootType: "harddisk"})
	rb := robottest.New(t)
	rb.AddDedicated(robottest.Dedicated{Number: 321, IP: "88.99.10.20"})
	rb.SetLocked("88.99.10.20", true)
	cl := cloudtest.New(t)
	cl.AddServer(cloudtest.Instance{ID: 41, Name: "web-1", IPv4: "49.12.1.10", RescueEnabled: true})

	dir := t.TempDir()
	secretFile := filepath.Join(dir, "ck")
	if err := os.WriteFile(secretFile, []byte(ovhtest.ConsumerKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_ROBOT_PASSWORD", robottest.Password)
	yaml := `
providers:
  ovh:
    endpoint: ` + o.URL() + `
    application_key: ` + ovhtest.AppKey + `
    application_secret: ` + ovhtest.AppSecret + `
    consumer_key_file: ` + secretFile + `
  hetzner:
    robot_endpoint: ` + rb.URL() + `
    robot_user: "` + robottest.User + `"
    robot_password_env: TEST_ROBOT_PASSWORD
    cloud_endpoint: ` + cl.URL() + `
    cloud_token: ` + cloudtest.Token + `
`
	cfg, err := config.Parse([]byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	reg, err := FromConfig(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip, provider            string
		blocked, locked, rescue bool
	}{
		{"51.91.10.20", "ovh", false, true, false},
		{"88.99.10.20", "hetzner", true, false, false},
		{"49.12.1.10", "hetzner", false, false, true},
	}
	for _, tt := range tests {
		st, err := reg.State(context.Background(), netip.MustParseAddr(tt.ip))
		if err != nil {
			t.Fatalf("%s: %v", tt.ip, err)
		}
		if st.Provider != tt.provider || st.Blocked != tt.blocked || st.Locked != tt.locked || st.Rescue != tt.rescue {
			t.Errorf("%s: %+v", tt.ip, st)
		}
	}
}

func TestFromConfigNothingConfigured(t *testing.T) {
	_, err := FromConfig(config.Default(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), "no provider configured") {
		t.Fatalf("err = %v", err)
	}
}
