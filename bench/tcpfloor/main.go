// Command tcpfloor measures what the kernel charges a server for writing
// small messages to many TCP connections over loopback, one write per
// message: the floor under the server CPU of every chat delivery when the
// members' sockets end on the same machine (as in bench/run.sh's chat
// scenarios), since loopback runs the receiving side's TCP work in the
// sender's system call. It writes MESSAGES messages of SIZE bytes, to each
// of CONNS connections in turn, and prints the writer's CPU per message
// next to the readers'. The readers are a child process with a goroutine
// per connection, like the load tool. Flat out, the readers fall behind and
// take several messages per wakeup; at a chat bench's pace (-rate 19000:
// 1,000 members each receiving 19 messages a second) every message wakes
// its reader, and the wakeup is charged to the writer too.
//
//	go run ./bench/tcpfloor [-conns 1000] [-size 300] [-messages 400000] [-rate 0]
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"liveroom/internal/selfcpu"
)

func main() {
	conns := flag.Int("conns", 1000, "connections")
	size := flag.Int("size", 300, "message bytes")
	messages := flag.Int("messages", 400000, "messages written in all")
	rate := flag.Int("rate", 0, "messages per second (0: as fast as it goes)")
	read := flag.String("read", "", "(internal) be the reading child, dialling this address")
	flag.Parse()
	if *read != "" {
		readAll(*read, *conns)
		return
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	child := exec.Command(os.Args[0], "-read", ln.Addr().String(), "-conns", strconv.Itoa(*conns))
	child.Stderr = os.Stderr
	report, err := child.StdoutPipe()
	if err != nil {
		panic(err)
	}
	if err := child.Start(); err != nil {
		panic(err)
	}
	defer func() { _ = child.Process.Kill(); _ = child.Wait() }()
	cs := make([]net.Conn, *conns)
	for i := range cs {
		if cs[i], err = ln.Accept(); err != nil {
			panic(err)
		}
	}
	msg := make([]byte, *size)
	start, t0 := selfcpu.Used(), time.Now()
	perTick := *messages // per millisecond when paced
	if *rate > 0 {
		perTick = max(1, *rate/1000)
	}
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for i := range *messages {
		if _, err := cs[i%len(cs)].Write(msg); err != nil {
			panic(err)
		}
		if *rate > 0 && (i+1)%perTick == 0 {
			<-tick.C
		}
	}
	spent, wall := selfcpu.Used()-start, time.Since(t0)
	for _, c := range cs {
		_ = c.Close()
	}
	childCPU, _ := bufio.NewReader(report).ReadString('\n')
	readers, _ := time.ParseDuration(strings.TrimSpace(childCPU))
	n := float64(*messages)
	fmt.Printf("%d messages of %d bytes to %d connections in %v: writer %.2f µs CPU per message (%.0f per CPU-second), readers %.2f µs per message\n",
		*messages, *size, *conns, wall.Round(time.Millisecond),
		float64(spent.Microseconds())/n, n/spent.Seconds(), float64(readers.Microseconds())/n)
}

// readAll dials conns connections to addr, reads each until it closes, and
// prints its own CPU time.
func readAll(addr string, conns int) {
	done := make(chan struct{})
	for range conns {
		c, err := net.Dial("tcp4", addr)
		if err != nil {
			panic(err)
		}
		go func() {
			_, _ = io.Copy(io.Discard, c)
			done <- struct{}{}
		}()
	}
	start := selfcpu.Used()
	for range conns {
		<-done
	}
	fmt.Println(selfcpu.Used() - start)
}
