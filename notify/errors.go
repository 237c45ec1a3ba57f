package notify

import (
	"context"
	"errors"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"

	"github.com/nicholas-fedor/shoutrrr/pkg/util/jsonclient"

	"github.com/abusewatch/abusewatch/internal/errkind"
)

// SendError is a failed delivery attempt. Its text is scrubbed of the
// channel URL and its secrets, so it is safe to log and to store in the task
// queue. It keeps no reference to shoutrrr's original error, whose text
// quotes the request URL.
type SendError struct {
	// Channel is the redacted channel URL (Notifier.Name).
	Channel string
	// StatusCode is the HTTP status the chat service answered, 0 when the
	// request got no answer or shoutrrr did not say.
	StatusCode int

	msg   string
	cause error // only safe sentinels: context.Canceled, context.DeadlineExceeded
}

func (e *SendError) Error() string { return "notify " + e.Channel + ": " + e.msg }

// Unwrap lets errors.Is(err, context.DeadlineExceeded) see a timeout.
func (e *SendError) Unwrap() error { return e.cause }

// Classify marks a failed send as errkind.Temporary or errkind.Permanent,
// following Alertmanager's notifiers: server errors (5xx), 408 and 429,
// timeouts, cancellation and network failures may succeed later; other 4xx
// answers mean the request itself is wrong (bad token, deleted channel) and
// are permanent. An error that fits none of these is temporary: the outbox
// bounds attempts, and dropping an abuse alert on a guess costs more than a
// few retries. Send classifies its errors with it already.
func Classify(err error) error {
	if err == nil {
		return nil
	}
	text := err.Error()
	var se *SendError
	if errors.As(err, &se) {
		text = se.msg
	}
	if _, retry := classify(err, text); !retry {
		return errkind.Permanent(err)
	}
	return errkind.Temporary(err, 0)
}

// classify returns the HTTP status found in err (0 if none) and whether the
// failure is worth retrying. text is err's message, already scrubbed, which
// is parsed when shoutrrr flattened the error into a string: most services
// format the status as "…: 500 Internal Server Error" with %s, losing any
// typed error.
func classify(err error, text string) (status int, retryable bool) {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		return 0, true
	}
	if status = statusOf(err, text); status != 0 {
		return status, retryableStatus(status)
	}
	return 0, true // network failures and anything unrecognized
}

func retryableStatus(code int) bool {
	return code >= 500 || code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}

var (
	// "500 Internal Server Error": http.Response.Status, the most common form.
	statusLinePattern = regexp.MustCompile(`\b([1-5][0-9]{2}) ([A-Z][A-Za-z' -]*)`)
	// "HTTP 500", "status 500", "status code: 500", `response status "500`.
	statusWordPattern = regexp.MustCompile(`(?i)\b(?:HTTP|status(?: code)?|response status)\s*[:=]?\s*"?([1-5][0-9]{2})\b`)
	// "…: 500" at the end (googlechat) or "…: 500 {body}" (rocketchat, opsgenie).
	// The space after the colon keeps "127.0.0.1:500" ports out.
	statusTailPattern = regexp.MustCompile(`: ([1-5][0-9]{2})(?:$| [-{"\[])`)
)

// statusOf digs an HTTP status out of a shoutrrr error.
func statusOf(err error, text string) int {
	var je jsonclient.Error
	if errors.As(err, &je) && je.StatusCode != 0 {
		return je.StatusCode
	}
	if isNetworkError(err) {
		// A transport failure has no status; digits in its text are addresses.
		return 0
	}
	for _, m := range statusLinePattern.FindAllStringSubmatch(text, -1) {
		code, _ := strconv.Atoi(m[1])
		if st := http.StatusText(code); st != "" && strings.HasPrefix(m[2], st) {
			return code
		}
	}
	for _, p := range []*regexp.Regexp{statusWordPattern, statusTailPattern} {
		if m := p.FindStringSubmatch(text); m != nil {
			code, _ := strconv.Atoi(m[1])
			return code
		}
	}
	return 0
}

// isNetworkError recognizes transport failures, typed when shoutrrr wrapped
// with %w (mattermost) and by their text when it flattened them (generic).
func isNetworkError(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		return true
	}
	text := strings.ToLower(err.Error())
	for _, s := range []string{
		"connection refused", "connection reset", "broken pipe", "i/o timeout",
		"no such host", "network is unreachable", "server misbehaving", ": eof",
		"dial tcp", "tls handshake",
	} {
		if strings.Contains(text, s) {
			return true
		}
	}
	return false
}
