// Package contain stops an incident's culprit on its host (a container, a
// process tree or a VM) and proves, with a snapshot before and after, that
// it is contained: nothing that runs the culprit's executables is left
// running outside it, and no traffic to the notice's destinations is still
// flowing.
//
// Every command runs as argv through a Remote (triage.Session over SSH is
// the real one): values that reach a command line are validated here first
// (names, PIDs, interface names read back from the host), and a Remote
// quotes each argument as one word. Containment is an operator's action;
// this package never decides to run on its own.
package contain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
)

// Remote runs one command on the host. triage.Session is the real one.
type Remote interface {
	Run(ctx context.Context, argv []string, stdout, stderr io.Writer) (int, error)
}

// Target kinds.
const (
	KindContainer = "container"
	KindProcess   = "process"
	KindVM        = "vm"
)

// Actions. Pause freezes and keeps memory for forensics (docker pause,
// SIGSTOP, virsh/qm suspend); stop ends a container (docker stop); kill
// ends it at once (docker kill, or SIGSTOP then SIGKILL for a process tree).
// Suspend is the VM word for pause.
const (
	ActionPause   = "pause"
	ActionStop    = "stop"
	ActionKill    = "kill"
	ActionSuspend = "suspend"
)

// Target is what to contain.
type Target struct {
	Kind string // KindContainer, KindProcess or KindVM
	Name string // container name or id, VM name (or Proxmox VMID)
	PID  int    // KindProcess
}

func (t Target) String() string {
	switch t.Kind {
	case KindProcess:
		return "pid " + strconv.Itoa(t.PID)
	case KindContainer, KindVM:
		return t.Kind + " " + t.Name
	}
	return t.Kind
}

// ErrRefused marks a request that is refused before anything runs (an
// invalid name, an action that does not fit the target) or whose target
// does not resolve to exactly one thing.
var ErrRefused = errors.New("refused")

var (
	// containerRE is Docker's own rule for names (and fits ids): no
	// leading '-', so a name is never read as an option.
	containerRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$`)
	// vmRE covers libvirt domain names as people choose them and Proxmox VMIDs.
	vmRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$`)
	// ifaceRE is a Linux interface name (IFNAMSIZ 16, with the NUL).
	ifaceRE = regexp.MustCompile(`^[A-Za-z0-9_.@-]{1,15}$`)
)

// Validate checks t before any of it reaches a command line.
func (t Target) Validate() error {
	switch t.Kind {
	case KindContainer:
		if !containerRE.MatchString(t.Name) {
			return fmt.Errorf("%w: container %q is not a container name or id", ErrRefused, t.Name)
		}
	case KindVM:
		if !vmRE.MatchString(t.Name) {
			return fmt.Errorf("%w: vm %q is not a VM name", ErrRefused, t.Name)
		}
	case KindProcess:
		// PID 1 is the host's init: stopping it is never containment.
		if t.PID < 2 {
			return fmt.Errorf("%w: pid %d is not a process that can be contained", ErrRefused, t.PID)
		}
	default:
		return fmt.Errorf("%w: target kind %q is not container, process or vm", ErrRefused, t.Kind)
	}
	return nil
}

// DefaultAction is the action when none is asked for: the one that keeps
// memory for forensics.
func DefaultAction(kind string) string {
	if kind == KindVM {
		return ActionSuspend
	}
	return ActionPause
}

// CheckAction says whether action applies to a target of kind.
func CheckAction(kind, action string) error {
	ok := map[string][]string{
		KindContainer: {ActionPause, ActionStop, ActionKill},
		KindProcess:   {ActionPause, ActionKill},
		KindVM:        {ActionSuspend, ActionPause},
	}[kind]
	for _, a := range ok {
		if a == action {
			return nil
		}
	}
	return fmt.Errorf("%w: action %q does not apply to a %s (one of %v)", ErrRefused, action, kind, ok)
}

// Releasable reports whether an action can be undone by Release.
func Releasable(action string) bool {
	return action == ActionPause || action == ActionSuspend
}
