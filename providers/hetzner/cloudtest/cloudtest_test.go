package cloudtest

import (
	"net/http"
	"testing"
)

// TestAuthAndRateLimit: a bearer token is required, every answer carries
// RateLimit-* headers, and past the limit the API answers 429.
func TestAuthAndRateLimit(t *testing.T) {
	s := New(t)
	s.SetLimit(2)
	get := func(token string) *http.Response {
		req, _ := http.NewRequest(http.MethodGet, s.URL()+"/servers", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	tests := []struct {
		token     string
		status    int
		remaining string
	}{
		{"", 401, ""},
		{"wrong", 401, ""},
		{Token, 200, "1"},
		{Token, 200, "0"},
		{Token, 429, "0"},
	}
	for i, tt := range tests {
		resp := get(tt.token)
		if resp.StatusCode != tt.status || resp.Header.Get("RateLimit-Remaining") != tt.remaining {
			t.Fatalf("request %d: %d remaining %q, want %d %q", i, resp.StatusCode, resp.Header.Get("RateLimit-Remaining"), tt.status, tt.remaining)
		}
		if tt.status != 401 && (resp.Header.Get("RateLimit-Limit") != "2" || resp.Header.Get("RateLimit-Reset") == "") {
			t.Fatalf("request %d: RateLimit headers %v", i, resp.Header)
		}
	}
}
