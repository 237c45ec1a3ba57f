package errkind

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	base := errors.New("boom")
	for _, tc := range []struct {
		name  string
		err   error
		retry bool
		wait  time.Duration
	}{
		{"nil", nil, false, 0},
		{"unclassified", base, true, 0},
		{"permanent", Permanent(base), false, 0},
		{"permanent wrapped", fmt.Errorf("state of ns1: %w", Permanent(base)), false, 0},
		{"temporary with wait", Temporary(base, 3*time.Second), true, 3 * time.Second},
		{"outer wins", Permanent(fmt.Errorf("x: %w", Temporary(base, time.Second))), false, 0},
		{"cancelled", fmt.Errorf("lookup: %w", context.Canceled), false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			retry, wait := Retry(tc.err)
			if retry != tc.retry || wait != tc.wait {
				t.Errorf("Retry(%v) = %v, %v; want %v, %v", tc.err, retry, wait, tc.retry, tc.wait)
			}
		})
	}
	if !errors.Is(Permanent(base), base) {
		t.Error("Permanent hides the error it wraps from errors.Is")
	}
	if Permanent(nil) != nil || Temporary(nil, time.Second) != nil {
		t.Error("classifying nil must stay nil")
	}
}
