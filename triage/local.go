package triage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// runLocal runs argv on this machine. Without shell, argv goes to execve
// as it is: no shell ever parses it. With shell, argv joined by spaces is
// the script of /bin/sh -c, and the target reaches it only through env.
//
// The command gets a small environment (PATH, HOME, LC_ALL=C and env), not
// ours: our environment holds the mailbox and provider secrets.
// It runs in its own process group, killed as a whole on timeout, so a
// shell's children cannot outlive the job.
func runLocal(ctx context.Context, argv []string, shell bool, env []string, w io.Writer) (int, error) {
	var cmd *exec.Cmd
	if shell {
		cmd = exec.CommandContext(ctx, "/bin/sh", "-c", strings.Join(argv, " "))
	} else {
		cmd = exec.CommandContext(ctx, argv[0], argv[1:]...)
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	cmd.Env = append([]string{"PATH=" + path, "HOME=" + os.Getenv("HOME"), "LC_ALL=C"}, env...)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = closeGrace

	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return -1, fmt.Errorf("%s killed: %w", argv[0], ctx.Err())
	case errors.Is(err, exec.ErrNotFound), errors.Is(err, fs.ErrNotExist):
		// What a shell reports for a missing command.
		return 127, nil
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), nil
	case err != nil:
		return -1, fmt.Errorf("running %s: %w", argv[0], err)
	}
	return 0, nil
}
