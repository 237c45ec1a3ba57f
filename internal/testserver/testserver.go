// Package testserver starts the real servers that integration tests talk to
// (Dovecot, sshd) on loopback, in throwaway directories.
//
// A server whose binary is missing skips the test on a developer's machine
// and fails it in CI (CI=true), where scripts/test-deps.sh must have
// installed it: a green CI run never hides a test that did not run.
package testserver

import (
	"net"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// RequireBinary returns the path of a server binary or ends the test.
func RequireBinary(t testing.TB, name string, candidates ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("%s: integration test skipped in -short mode", name)
	}
	for _, c := range append([]string{name}, candidates...) {
		if p, err := exec.LookPath(c); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is not installed; scripts/test-deps.sh should have installed it", name)
	}
	t.Skipf("%s is not installed (run scripts/test-deps.sh)", name)
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// WaitPort waits until addr accepts TCP connections or the timeout passes.
func WaitPort(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not accept connections within %s: %v", addr, timeout, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startInGroup starts cmd in a process group of its own, so that stopping
// the server signals every child it forked and a signal meant for the test
// does not reach it, and returns a channel closed when it has exited.
func startInGroup(cmd *exec.Cmd) (chan struct{}, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	return done, nil
}
