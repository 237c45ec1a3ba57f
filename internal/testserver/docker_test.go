package testserver

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestDocker: the engine starts on its own socket, imports the busybox
// image without a registry, runs a container on a network of its own with
// a published port, and its bridge is gone once the engine is stopped.
func TestDocker(t *testing.T) {
	var bridge string
	t.Run("engine", func(t *testing.T) {
		d := StartDocker(t)
		image := d.ImportBusybox(t, "aw-busybox:test", nil)
		name, prefix := d.Network(t)
		bridge = name
		port := FreePort(t)
		d.Run(t, "run", "-d", "--name", "echo", "--network", name, "--ip", prefix+"9", "-p", "127.0.0.1:"+itoa(port)+":7/tcp",
			image, "nc", "-ll", "-p", "7", "-e", "cat")
		if got := d.Run(t, "inspect", "--format", "{{.State.Running}} {{.NetworkSettings.Networks."+name+".IPAddress}}", "echo"); strings.TrimSpace(got) != "true "+prefix+"9" {
			t.Fatalf("container: %q, want it running at %s9", got, prefix)
		}
		WaitPort(t, "127.0.0.1:"+itoa(port), 10*time.Second)
		c, err := net.Dial("tcp", "127.0.0.1:"+itoa(port))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if _, err := c.Write([]byte("ping\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 5)
		if _, err := c.Read(buf); err != nil || string(buf) != "ping\n" {
			t.Fatalf("through the published port: %q %v, want the echo", buf, err)
		}
		if _, err := net.InterfaceByName(name); err != nil {
			t.Fatalf("bridge %s: %v", name, err)
		}
	})
	if _, err := net.InterfaceByName(bridge); bridge != "" && err == nil {
		t.Errorf("bridge %s is left after the engine stopped", bridge)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
