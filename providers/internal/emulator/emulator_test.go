package emulator

import (
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestServe: gates run in order and may stop a request, faults are taken
// one per request, routes match ServeMux patterns (a percent-encoded slash
// stays in one segment), unrouted requests get the API's 404 or 405, and
// every request is recorded.
func TestServe(t *testing.T) {
	s := New(t, Options{Unrouted: func(w http.ResponseWriter, _ *http.Request, status int) {
		WriteJSON(w, status, map[string]string{"error": "unrouted"})
	}})
	s.Use(func(w http.ResponseWriter, r *http.Request) bool {
		if r.Header.Get("X-Key") != "k" {
			WriteJSON(w, http.StatusUnauthorized, "no key")
			return false
		}
		return true
	}, s.Faults(func(w http.ResponseWriter, status int) { WriteJSON(w, status, "fault") }))
	s.Handle("GET /v1/ip/{block}", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, r.PathValue("block"))
	})
	s.Handle("POST /v1/form", func(w http.ResponseWriter, r *http.Request) {
		f, err := Form(r)
		if err != nil {
			WriteJSON(w, http.StatusBadRequest, err.Error())
			return
		}
		WriteJSON(w, http.StatusOK, f.Get("a"))
	})
	s.FailNext(http.StatusServiceUnavailable)

	tests := []struct {
		method, path, key, ctype, body string
		status                         int
		answer                         string
	}{
		{"GET", "/v1/ip/1.2.3.0%2F24", "", "", "", 401, `"no key"`},
		{"GET", "/v1/ip/1.2.3.0%2F24", "k", "", "", 503, `"fault"`},
		{"GET", "/v1/ip/1.2.3.0%2F24", "k", "", "", 200, `"1.2.3.0/24"`},
		{"GET", "/v1/nothing", "k", "", "", 404, `{"error":"unrouted"}`},
		{"DELETE", "/v1/ip/x", "k", "", "", 405, `{"error":"unrouted"}`},
		{"POST", "/v1/form", "k", "application/x-www-form-urlencoded", "a=b%20c", 200, `"b c"`},
		{"POST", "/v1/form", "k", "application/json", `{"a":"b"}`, 400, `"` + ErrNotForm.Error() + `"`},
	}
	for i, tt := range tests {
		req, _ := http.NewRequest(tt.method, s.URL()+tt.path, strings.NewReader(tt.body))
		if tt.key != "" {
			req.Header.Set("X-Key", tt.key)
		}
		if tt.ctype != "" {
			req.Header.Set("Content-Type", tt.ctype)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tt.status || strings.TrimSpace(string(b)) != tt.answer {
			t.Errorf("request %d (%s %s): %d %s, want %d %s", i, tt.method, tt.path, resp.StatusCode, b, tt.status, tt.answer)
		}
	}
	if got := s.Requests(); len(got) != len(tests) || got[0] != "GET /v1/ip/1.2.3.0%2F24" {
		t.Errorf("Requests() = %q, want all %d, refused ones included", got, len(tests))
	}
}

func TestWindow(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	w := &Window{Limit: 2, Period: time.Hour}
	type take struct {
		at        time.Duration
		ok        bool
		remaining int
		reset     time.Duration
	}
	want := []take{
		{0, true, 1, time.Hour},
		{10 * time.Minute, true, 0, time.Hour},
		{20 * time.Minute, false, 0, time.Hour},
		{time.Hour, true, 0, 70 * time.Minute}, // the first left the window
	}
	var got []take
	for _, tk := range want {
		ok, rem, reset := w.Take(t0.Add(tk.at))
		got = append(got, take{tk.at, ok, rem, reset.Sub(t0)})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("takes = %+v\nwant    %+v", got, want)
	}
	if ok, _, _ := (&Window{Limit: 0, Period: time.Hour}).Take(t0); ok {
		t.Error("a limit of 0 let a request through")
	}
}
