package robottest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// post sends body to the emulator's firewall with the given content type.
func post(t *testing.T, emu *Server, ctype, body string) (int, map[string]map[string]any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, emu.URL()+"/firewall/321", strings.NewReader(body))
	req.SetBasicAuth(User, Password)
	req.Header.Set("Content-Type", ctype)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out
}

// TestFirewallPostValidation: Robot takes form bodies only, numbered rules
// without gaps, and at most 10 rules per direction.
func TestFirewallPostValidation(t *testing.T) {
	form := func(n int) string {
		v := url.Values{"status": {"active"}}
		for i := range n {
			v.Set(fmt.Sprintf("rules[input][%d][action]", i), "accept")
		}
		return v.Encode()
	}
	tests := []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"JSON refused", "application/json", `{"status":"active"}`, 400, "INVALID_INPUT"},
		{"gap in the numbering", "application/x-www-form-urlencoded", "status=active&rules%5Binput%5D%5B1%5D%5Baction%5D=accept", 400, "INVALID_INPUT"},
		{"unknown field", "application/x-www-form-urlencoded", "status=active&rules%5Binput%5D%5B0%5D%5Bcolour%5D=red", 400, "INVALID_INPUT"},
		{"11 rules", "application/x-www-form-urlencoded", form(11), 409, "FIREWALL_RULE_LIMIT_EXCEEDED"},
		{"10 rules", "application/x-www-form-urlencoded", form(10), 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			emu := New(t)
			emu.AddDedicated(Dedicated{Number: 321, IP: "88.99.10.20"})
			status, body := post(t, emu, tt.ctype, tt.body)
			if status != tt.status {
				t.Fatalf("status = %d (%v), want %d", status, body, tt.status)
			}
			if tt.code != "" && body["error"]["code"] != tt.code {
				t.Fatalf("error = %v, want %s", body["error"], tt.code)
			}
			if tt.status == 200 && len(emu.Firewall(321).Input) != 10 {
				t.Fatalf("firewall = %+v", emu.Firewall(321))
			}
		})
	}
}

// TestLoginLockout: as Robot documents, the address that made three failed
// logins is blocked for ten minutes, for the right password too; another
// address is not, and the block ends after ten minutes.
func TestLoginLockout(t *testing.T) {
	emu := New(t)
	emu.AddDedicated(Dedicated{Number: 321, IP: "88.99.10.20"})
	get := func(pass string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, emu.URL()+"/ip/88.99.10.20", nil)
		req.SetBasicAuth(User, pass)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	steps := []struct {
		name    string
		pass    string
		advance time.Duration
		status  int
		blocked bool
	}{
		{"first failure", "wrong", 0, 401, false},
		{"right password between failures", Password, 0, 200, false},
		{"failure 1 again (a login resets the count)", "wrong", 0, 401, false},
		{"failure 2", "wrong", 0, 401, false},
		{"failure 3 blocks", "wrong", 0, 401, false},
		{"right password blocked", Password, 0, 401, true},
		{"still blocked after 9 minutes", Password, 9 * time.Minute, 401, true},
		{"free after 10 minutes", Password, time.Minute + time.Second, 200, false},
	}
	for _, st := range steps {
		emu.Advance(st.advance)
		status, body := get(st.pass)
		if status != st.status || strings.Contains(body, "blocked for 10 minutes") != st.blocked {
			t.Fatalf("%s: %d %s, want %d (blocked: %v)", st.name, status, body, st.status, st.blocked)
		}
	}
	if n := emu.FailedLogins(); n != 4 {
		t.Errorf("FailedLogins = %d, want 4 (refusals while blocked are not logins)", n)
	}
}
