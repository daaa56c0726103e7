package testserver

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// ephemeralRange is the span the kernel picks listening ports from.
func ephemeralRange() (lo, hi int) {
	lo, hi = 32768, 60999
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		_, _ = fmt.Sscan(string(b), &lo, &hi)
	}
	return lo, hi
}

// FreePort must not hand out a number whose UDP side is taken: the server
// binds UDP on that number on every interface for call media, so such a
// port makes it fail to start.
func TestFreePortAvoidsTakenUDPPorts(t *testing.T) {
	// Take UDP on three in four odd ports of the range the kernel hands TCP
	// listeners out of (Linux gives bind(port 0) odd ports first, connect
	// even ones), as many as the open-file limit allows, so a TCP-only
	// check lands on a taken one most times.
	var lim syscall.Rlimit
	_ = syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	budget := int(lim.Cur) - 500
	lo, hi := ephemeralRange()
	held := map[int]bool{}
	for p := lo | 1; p <= hi && len(held) < budget; p += 2 {
		if p%8 == 1 {
			continue
		}
		u, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", p))
		if err != nil {
			continue
		}
		held[p] = true
		defer u.Close()
	}
	t.Logf("holding UDP on %d ports of %d-%d", len(held), lo, hi)
	for range 40 {
		p := FreePort(t)
		if held[p] {
			t.Fatalf("FreePort returned %d, whose UDP port is in use", p)
		}
		u, err := net.ListenPacket("udp4", fmt.Sprintf(":%d", p))
		if err != nil {
			t.Fatalf("UDP %d: %v", p, err)
		}
		_ = u.Close()
	}
}
