// Command culprit is the stand-in for the processes that triage must name:
// it listens on a UDP port like an open NTP reflector, holds connected
// sockets to a notice's destinations like a flooding trojan, and can delete
// its own executable or burn CPU as such trojans do. Tests copy it into a
// container or a temporary directory under the name they want found
// (e.g. /tmp/.x/wate). It sends packets only to the addresses it is given,
// which the tests choose on loopback or their own networks.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	listen := flag.Int("listen-udp", 0, "UDP port to listen on (0: none)")
	proto := flag.String("proto", "udp", "protocol of the sockets to -to: udp or tcp")
	to := flag.String("to", "", "ip:port to hold sockets to")
	n := flag.Int("n", 1, "how many sockets to hold to -to")
	deleteSelf := flag.Bool("delete-self", false, "remove the executable once started")
	busy := flag.Bool("busy", false, "burn one CPU")
	flag.Parse()

	if *listen > 0 {
		c, err := net.ListenPacket("udp", fmt.Sprintf(":%d", *listen))
		if err != nil {
			log.Fatalf("culprit: listen: %v", err)
		}
		defer c.Close()
	}
	var conns []net.Conn
	for range *n {
		if *to == "" {
			break
		}
		c, err := net.Dial(*proto, *to)
		if err != nil {
			log.Fatalf("culprit: dial %s %s: %v", *proto, *to, err)
		}
		conns = append(conns, c)
	}
	if *deleteSelf {
		exe, err := os.Executable()
		if err == nil {
			err = os.Remove(exe)
		}
		if err != nil {
			log.Fatalf("culprit: delete self: %v", err)
		}
	}
	if *busy {
		go func() {
			var spins atomic.Uint64
			for {
				spins.Add(1)
			}
		}()
	}
	// A packet now and then makes the traffic sample see the sender; errors
	// (nobody listening there) do not matter.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	fmt.Println("culprit: ready")
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			for _, c := range conns {
				_, _ = c.Write([]byte("culprit"))
			}
		}
	}
}
