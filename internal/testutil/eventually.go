// Package testutil holds what tests of several packages share and that is
// not a server (those are in testserver).
package testutil

import (
	"testing"
	"time"
)

// Eventually polls cond until it holds, and fails the test with what
// failure says (computed then, so it can show the state that was reached)
// once within has passed. Tests wait for a state with it; they do not time
// anything: within is generous.
func Eventually(t testing.TB, within time.Duration, cond func() bool, failure func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", within, failure())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
