// Package errkind classifies errors where they arise — temporary (a later
// attempt may succeed, perhaps not before a wait the server asked for) or
// permanent (authentication, permission, not found, invalid input) — so that
// one predicate, Retry, decides for every task kind whether to try again.
// The shape follows maddy's exterrors.WithTemporary: the classification
// travels with the error through %w wrapping.
package errkind

import (
	"context"
	"errors"
	"time"
)

type classified struct {
	err       error
	temporary bool
	wait      time.Duration
}

func (c *classified) Error() string { return c.err.Error() }
func (c *classified) Unwrap() error { return c.err }

// Temporary marks err as worth retrying, not before wait when wait > 0 (a
// Retry-After or a rate limit's reset).
func Temporary(err error, wait time.Duration) error {
	if err == nil {
		return nil
	}
	return &classified{err: err, temporary: true, wait: wait}
}

// Permanent marks err as one no retry can cure until something changes (the
// configuration, the provider's records).
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &classified{err: err}
}

// Retry reports whether the operation that returned err may succeed if tried
// again, and the least wait before that attempt. The outermost classification
// wins, so a caller can reclassify what it wraps. A cancelled context is
// permanent (the caller gave up); an unclassified error is temporary, because
// the errors nobody classified are the network's.
func Retry(err error) (retry bool, wait time.Duration) {
	if err == nil {
		return false, 0
	}
	var c *classified
	if errors.As(err, &c) {
		return c.temporary, c.wait
	}
	if errors.Is(err, context.Canceled) {
		return false, 0
	}
	return true, 0
}
