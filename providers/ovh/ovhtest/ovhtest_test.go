package ovhtest

import (
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"
)

// call sends a request signed as OVH clients do, with the given timestamp.
func call(t *testing.T, s *Server, method, path string, ts int64, secret string) (int, map[string]string, http.Header) {
	t.Helper()
	url := s.URL() + path
	req, _ := http.NewRequest(method, url, nil)
	if ts != 0 {
		tss := strconv.FormatInt(ts, 10)
		sum := sha1.Sum([]byte(secret + "+" + ConsumerKey + "+" + method + "+" + url + "++" + tss))
		req.Header.Set("X-Ovh-Application", AppKey)
		req.Header.Set("X-Ovh-Consumer", ConsumerKey)
		req.Header.Set("X-Ovh-Timestamp", tss)
		req.Header.Set("X-Ovh-Signature", "$1$"+hex.EncodeToString(sum[:]))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out map[string]string
	_ = json.Unmarshal(body, &out)
	return resp.StatusCode, out, resp.Header
}

// TestAuth: /auth/time needs no signature; everything else needs a valid
// one within the clock window, and errors come as OVH writes them.
func TestAuth(t *testing.T) {
	s := New(t)
	s.AddIPBlock(IPBlock{Block: "51.91.10.0/24", Type: "dedicated", RoutedTo: "ns1"})
	now := time.Now().Unix()
	tests := []struct {
		name, path  string
		ts          int64
		secret      string
		status      int
		class, code string
	}{
		{"time unauthenticated", "/auth/time", 0, "", 200, "", ""},
		{"signed", "/ip/51.91.10.0%2F24", now, AppSecret, 200, "", ""},
		{"unsigned", "/ip/51.91.10.0%2F24", 0, "", 403, "Client::Forbidden", "INVALID_KEY"},
		{"bad signature", "/ip/51.91.10.0%2F24", now, "other", 400, "Client::BadRequest", "INVALID_SIGNATURE"},
		{"timestamp too old", "/ip/51.91.10.0%2F24", now - 120, AppSecret, 401, "Client::Unauthorized", "QUERY_TIME_OUT"},
		{"unknown block", "/ip/51.91.99.0%2F24", now, AppSecret, 404, "Client::NotFound", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, hdr := call(t, s, "GET", tt.path, tt.ts, tt.secret)
			if status != tt.status || body["class"] != tt.class || body["errorCode"] != tt.code {
				t.Fatalf("got %d %v, want %d %s %s", status, body, tt.status, tt.class, tt.code)
			}
			if hdr.Get("X-Ovh-QueryID") == "" {
				t.Error("no X-Ovh-QueryID header")
			}
		})
	}
}

func TestGlobMatch(t *testing.T) {
	tests := []struct {
		pattern, path string
		want          bool
	}{
		{"/ip/*", "/ip/51.91.10.0/24/antihack/51.91.10.20", true},
		{"/ip", "/ip", true},
		{"/ip", "/ip/51.91.10.0/24", false},
		{"/ip/*/firewall/*", "/ip/51.91.10.0/24/firewall/51.91.10.20/rule", true},
		{"/ip/*/firewall/*", "/ip/51.91.10.0/24/spam/51.91.10.20", false},
		{"/dedicated/*", "/vps/x", false},
	}
	for _, tt := range tests {
		if got := globMatch(tt.pattern, tt.path); got != tt.want {
			t.Errorf("globMatch(%q, %q) = %v", tt.pattern, tt.path, got)
		}
	}
}
