package triage

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/abusewatch/abusewatch/config"
)

// Webhook headers. The signature is "sha256=" and the hex HMAC-SHA256, keyed
// by the job's secret, of the timestamp header's value, a ".", and the exact
// body. Signing the timestamp lets a receiver refuse replays of an old
// request (reject timestamps more than a few minutes from its clock).
const (
	headerSignature = "X-Abusewatch-Signature"
	headerTimestamp = "X-Abusewatch-Timestamp"
)

// webhookPayload is the JSON body of a webhook job.
type webhookPayload struct {
	Job        string `json:"job"`
	Incident   int64  `json:"incident"`
	IP         string `json:"ip"`
	Provider   string `json:"provider"`
	Kind       string `json:"kind"`
	Attack     string `json:"attack"`
	Severity   int    `json:"severity"`
	Host       string `json:"host,omitempty"`
	Hypervisor string `json:"hypervisor,omitempty"`
	// SSH is the host's inventory SSH address, for runners that log in.
	SSH string `json:"ssh,omitempty"`
}

// sign returns the signature header value for body sent at timestamp.
func sign(secret []byte, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(timestamp))
	m.Write([]byte("."))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// webhook POSTs the signed payload to j.URL and keeps the response body
// (capped) as evidence. It returns the HTTP status as the exit code.
func (rs *run) webhook(ctx context.Context, j config.Job, out io.Writer) (int, error) {
	if j.URL == "" {
		return -1, errRefused{errors.New("webhook: url: missing")}
	}
	if j.Secret == "" {
		return -1, errRefused{errors.New("webhook: secret: missing, an unsigned request is never sent")}
	}
	p := webhookPayload{
		Job: j.Name, Incident: rs.t.IncidentID, IP: rs.t.IP.String(),
		Provider: rs.t.Provider, Kind: rs.t.Kind, Attack: rs.t.Attack, Severity: rs.t.Severity,
	}
	if rs.t.Host != nil {
		p.Host, p.SSH = rs.t.Host.Name, rs.t.Host.SSH
	}
	if rs.t.Hypervisor != nil {
		p.Hypervisor = rs.t.Hypervisor.Name
	}
	body, err := json.Marshal(p)
	if err != nil {
		return -1, fmt.Errorf("webhook: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, j.URL, bytes.NewReader(body))
	if err != nil {
		// The URL may hold a token: say what is wrong without printing it.
		return -1, errors.New("webhook: url: not a valid URL")
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "abusewatch-triage")
	req.Header.Set(headerTimestamp, ts)
	req.Header.Set(headerSignature, sign([]byte(j.Secret), ts, body))
	resp, err := rs.r.http.Do(req)
	if err != nil {
		return -1, fmt.Errorf("webhook %s: %w", j.Name, redactURL(err))
	}
	defer resp.Body.Close()
	// The body streams through the cap; what is beyond it is counted.
	if _, err := io.Copy(out, resp.Body); err != nil {
		return resp.StatusCode, fmt.Errorf("webhook %s: reading the response: %w", j.Name, redactURL(err))
	}
	return resp.StatusCode, nil
}

// redactURL drops the URL from a client error: it may carry a token.
func redactURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s: %w", ue.Op, ue.Err)
	}
	return err
}
