package testserver

import (
	"fmt"
	"testing"
)

func TestDovecot(t *testing.T) {
	d := StartDovecot(t)
	msg := func(i int) []byte {
		return fmt.Appendf(nil, "From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n", i, i)
	}

	if got := d.Append(t, "INBOX", msg(1), msg(2)); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Fatalf("Append UIDs = %v, want [1 2]", got)
	}
	d.Stop()
	if got := d.AppendDirect(t, "INBOX", msg(3)); len(got) != 1 || got[0] != 3 {
		t.Fatalf("AppendDirect while stopped: UIDs = %v, want [3]", got)
	}
	d.Restart()
	if got := d.Messages(t, "INBOX"); len(got) != 3 || got[2].UID != 3 {
		t.Fatalf("after restart: messages %v, want UIDs 1..3", got)
	}

	v1 := d.Create(t, "Abuse")
	d.Append(t, "Abuse", msg(4))
	v2 := d.Recreate(t, "Abuse")
	if v1 == v2 {
		t.Errorf("Recreate kept UIDVALIDITY %d", v1)
	}
	if got := d.Messages(t, "Abuse"); len(got) != 0 {
		t.Errorf("recreated folder holds %v, want nothing", got)
	}
	if got := d.Messages(t, "Processed"); got != nil {
		t.Errorf("Processed holds %v, want an empty folder that exists", got)
	}
}
