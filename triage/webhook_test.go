package triage

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// receiver is an external runner (Rundeck, AWX, CI) that accepts a request
// only with a valid signature over the timestamp and the exact body, as
// the package documents it, computed here independently of sign().
type receiver struct {
	t      *testing.T
	secret string
	hits   atomic.Int32
	got    webhookPayload
	reply  func(w http.ResponseWriter)
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.hits.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		rc.t.Errorf("receiver: %v", err)
		return
	}
	ts := r.Header.Get(headerTimestamp)
	mac := hmac.New(sha256.New, []byte(rc.secret))
	mac.Write([]byte(ts + "." + string(body)))
	want := "sha256=" + hex.EncodeToString(mac.Sum(nil))
	if !hmac.Equal([]byte(r.Header.Get(headerSignature)), []byte(want)) {
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil || time.Since(time.Unix(sec, 0)).Abs() > 5*time.Minute {
		http.Error(w, "stale or missing timestamp", http.StatusUnauthorized)
		return
	}
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "want a JSON POST", http.StatusBadRequest)
		return
	}
	if err := json.Unmarshal(body, &rc.got); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	rc.reply(w)
}

func TestWebhook(t *testing.T) {
	const secret = "0123456789abcdef"
	elsewhere := &receiver{t: t, secret: secret, reply: func(w http.ResponseWriter) {}}
	other := httptest.NewServer(elsewhere)
	defer other.Close()

	vm := testTarget()
	vm.Host.SSH = "root@web1.example.net:22"
	vm.Hypervisor = &config.Host{Name: "hv1"}
	tests := []struct {
		name       string
		secret     string // the job's
		max        int64
		reply      func(w http.ResponseWriter)
		wantStatus string
		wantExit   int
		wantOutput string
		wantDrop   int64
		wantHits   int32
	}{
		{
			name: "accepted", secret: secret,
			reply:      func(w http.ResponseWriter) { io.WriteString(w, "job 17 queued") },
			wantStatus: StatusOK, wantExit: 200, wantOutput: "job 17 queued", wantHits: 1,
		},
		{
			name: "wrong secret is rejected by the receiver", secret: "not-the-secret",
			reply:      func(w http.ResponseWriter) { t.Error("receiver accepted a bad signature") },
			wantStatus: StatusFailed, wantExit: 401, wantOutput: "bad signature\n", wantHits: 1,
		},
		{
			name: "receiver error", secret: secret,
			reply:      func(w http.ResponseWriter) { http.Error(w, "AWX down", http.StatusBadGateway) },
			wantStatus: StatusFailed, wantExit: 502, wantOutput: "AWX down\n", wantHits: 1,
		},
		{
			name: "redirect is not followed", secret: secret,
			reply: func(w http.ResponseWriter) {
				w.Header().Set("Location", other.URL)
				w.WriteHeader(http.StatusTemporaryRedirect)
			},
			wantStatus: StatusFailed, wantExit: 307, wantHits: 1,
		},
		{
			name: "response over the cap", secret: secret, max: 10,
			reply:      func(w http.ResponseWriter) { io.WriteString(w, strings.Repeat("x", 1000)) },
			wantStatus: StatusOK, wantExit: 200, wantOutput: strings.Repeat("x", 10), wantDrop: 990, wantHits: 1,
		},
		{
			name: "no secret, no request", secret: "",
			reply:      func(w http.ResponseWriter) {},
			wantStatus: StatusRefused, wantExit: -1, wantHits: 0,
		},
	}
	r := NewRunner(config.Triage{}, Options{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rc := &receiver{t: t, secret: secret, reply: tc.reply}
			srv := httptest.NewServer(rc)
			defer srv.Close()
			job := config.Job{Name: "awx", Where: WhereWebhook, URL: srv.URL + "/hook?token=t0k3n", Secret: tc.secret, MaxOutputBytes: tc.max}
			got := r.Run(context.Background(), vm, []config.Job{job})[0]
			if got.Status != tc.wantStatus || got.ExitCode != tc.wantExit || string(got.Output) != tc.wantOutput || got.Dropped != tc.wantDrop {
				t.Fatalf("status %s exit %d output %q dropped %d (error %q); want %s %d %q %d",
					got.Status, got.ExitCode, got.Output, got.Dropped, got.Error, tc.wantStatus, tc.wantExit, tc.wantOutput, tc.wantDrop)
			}
			if n := rc.hits.Load(); n != tc.wantHits {
				t.Fatalf("receiver hit %d times, want %d", n, tc.wantHits)
			}
			if tc.wantStatus == StatusOK {
				want := webhookPayload{Job: "awx", Incident: 42, IP: "192.0.2.7", Provider: "ovh", Kind: "block",
					Attack: "ntp_amplification", Severity: 4, Host: "web1", Hypervisor: "hv1", SSH: "root@web1.example.net:22"}
				if rc.got != want {
					t.Errorf("payload %+v\nwant    %+v", rc.got, want)
				}
			}
		})
	}
	if n := elsewhere.hits.Load(); n != 0 {
		t.Errorf("the redirect target received %d requests", n)
	}
}

// TestWebhookErrorHidesURL: the URL may carry a token; a transport error
// must not put it in the evidence.
func TestWebhookErrorHidesURL(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL + "/hook?token=t0k3n"
	srv.Close() // nothing listens any more
	job := config.Job{Name: "awx", Where: WhereWebhook, URL: url, Secret: "s"}
	got := NewRunner(config.Triage{}, Options{}).Run(context.Background(), testTarget(), []config.Job{job})[0]
	if got.Status != StatusError || got.Error == "" || strings.Contains(got.Error, "t0k3n") {
		t.Fatalf("status %s, error %q; want an error without the token", got.Status, got.Error)
	}
}
