// Command udpfloor measures what the kernel charges a sender for UDP
// datagrams fanned out to many receivers over loopback: the floor under any
// SFU's CPU per forwarded packet when its subscribers run on the same
// machine (as in bench/sfu-compare.sh), since loopback delivery runs in the
// sender's system call. It sends PACKETS copies of a SIZE-byte datagram,
// one to each of FANOUT sockets in turn, with one sendto each or with
// sendmmsg batches of FANOUT, and prints the sender's CPU per datagram.
// The receiving sockets are read by a child process.
//
//	go run ./bench/udpfloor [-fanout 19] [-size 1200] [-packets 300000]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/ipv4"

	"liveroom/internal/selfcpu"
)

func main() {
	fanout := flag.Int("fanout", 19, "receiving sockets")
	size := flag.Int("size", 1200, "datagram bytes")
	packets := flag.Int("packets", 300000, "datagrams per mode")
	recv := flag.Bool("recv", false, "(internal) be the receiving child")
	flag.Parse()
	if *recv {
		receive(*fanout)
		return
	}
	child := exec.Command(os.Args[0], "-recv", "-fanout", strconv.Itoa(*fanout))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := child.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	buf := make([]byte, 4096)
	n, _ := out.Read(buf)
	var dests []*net.UDPAddr
	for _, p := range strings.Fields(string(buf[:n])) {
		port, _ := strconv.Atoi(p)
		dests = append(dests, &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
	}
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		panic(err)
	}
	payload := make([]byte, *size)
	rounds := *packets / len(dests)

	c0, t0 := selfcpu.Used(), time.Now()
	for range rounds {
		for _, d := range dests {
			_, _ = c.WriteToUDP(payload, d)
		}
	}
	report("sendto, one call per datagram", rounds*len(dests), selfcpu.Used()-c0, time.Since(t0))

	pc := ipv4.NewPacketConn(c)
	msgs := make([]ipv4.Message, len(dests))
	for i, d := range dests {
		msgs[i] = ipv4.Message{Buffers: [][]byte{payload}, Addr: d}
	}
	c0, t0 = selfcpu.Used(), time.Now()
	for range rounds {
		for sent := 0; sent < len(msgs); {
			k, err := pc.WriteBatch(msgs[sent:], 0)
			if err != nil {
				panic(err)
			}
			sent += k
		}
	}
	report(fmt.Sprintf("sendmmsg, %d datagrams per call", len(dests)), rounds*len(dests), selfcpu.Used()-c0, time.Since(t0))
}

func report(mode string, n int, cpu, wall time.Duration) {
	per := cpu / time.Duration(n)
	fmt.Printf("%-34s %8d datagrams  %6.2f µs CPU each  %8.0f per CPU-second  (%.1f s wall)\n",
		mode, n, float64(per.Nanoseconds())/1000, float64(n)/cpu.Seconds(), wall.Seconds())
}

func receive(n int) {
	var ports []string
	for range n {
		c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
		if err != nil {
			panic(err)
		}
		_ = c.SetReadBuffer(4 << 20)
		ports = append(ports, strconv.Itoa(c.LocalAddr().(*net.UDPAddr).Port))
		go func() {
			b := make([]byte, 65536)
			for {
				if _, err := c.Read(b); err != nil {
					return
				}
			}
		}()
	}
	fmt.Println(strings.Join(ports, " "))
	select {}
}
