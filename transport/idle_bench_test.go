package transport_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"liveroom/actors/room"
	"liveroom/metrics"
	"liveroom/transport"
)

// BenchmarkIdleSessions opens many sessions that join rooms of 10 and then
// stay quiet, and reports what each one costs the server: live heap and
// goroutine stacks (bytes/session), goroutines/session and resident memory
// (rss-bytes/session, Linux only). The clients are bare TCP sockets that
// spoke the handshake and the join by hand and hold no goroutine or buffer,
// so nearly all of the figure is the server's; the client's socket object
// (a few hundred bytes) is included.
//
//	LIVEROOM_IDLE_SESSIONS=5000 go test ./transport -run '^$' -bench IdleSessions -benchtime 1x
//
// Every session is both ends of a loopback connection in this process, so
// the count is bounded by the open-file limit (two descriptors each).
func BenchmarkIdleSessions(b *testing.B) {
	n := 2000
	if v := os.Getenv("LIVEROOM_IDLE_SESSIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < 10 {
			b.Fatalf("LIVEROOM_IDLE_SESSIONS=%q: want a number of at least 10", v)
		}
	}
	const roomSize = 10
	for range b.N {
		e := startEndpoint(b, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 256,
			RatePerSecond: 20, RateBurst: 40, PingInterval: time.Hour},
			room.Settings{}, nil)
		addr := strings.TrimPrefix(e.url, "ws://")
		heap0, stack0, rss0 := memNow()
		g0 := runtime.NumGoroutine()

		conns := make([]net.Conn, 0, n)
		b.Cleanup(func() {
			for _, c := range conns {
				_ = c.Close()
			}
		})
		for i := range n {
			roomID := fmt.Sprintf("idle-%d", i/roomSize)
			if i%roomSize == 0 {
				e.createRoom(b, roomID)
			}
			c, err := rawJoin(addr, roomID, fmt.Sprintf("m%d", i))
			if err != nil {
				b.Fatalf("session %d: %v", i, err)
			}
			conns = append(conns, c)
		}
		// Let the last joins' fan-out drain and the writers go quiet.
		waitQuiet(e.metrics)
		heap1, stack1, rss1 := memNow()
		g1 := runtime.NumGoroutine()
		b.ReportMetric(float64(heap1+stack1-heap0-stack0)/float64(n), "bytes/session")
		b.ReportMetric(float64(stack1-stack0)/float64(n), "stack-bytes/session")
		b.ReportMetric(float64(g1-g0)/float64(n), "goroutines/session")
		if rss0 > 0 {
			b.ReportMetric(float64(rss1-rss0)/float64(n), "rss-bytes/session")
		}
	}
}

// waitQuiet waits until the count of frames sent stops moving.
func waitQuiet(m *metrics.Metrics) {
	last := -1.0
	for range 100 {
		time.Sleep(200 * time.Millisecond)
		v := metrics.Read(m.FramesOut)
		if v == last {
			return
		}
		last = v
	}
}

// memNow returns live heap bytes, goroutine stack bytes and resident bytes
// after a few collections (each lets goroutine stacks shrink by half).
func memNow() (heap, stack, rss uint64) {
	for range 4 {
		runtime.GC()
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	if b, err := os.ReadFile("/proc/self/statm"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			pages, _ := strconv.ParseUint(f[1], 10, 64)
			rss = pages * uint64(os.Getpagesize())
		}
	}
	return ms.HeapAlloc, ms.StackInuse, rss
}

// rawJoin opens a socket by hand, joins room and returns the bare
// connection once the server said joined; nothing reads from it afterwards.
func rawJoin(addr, roomID, name string) (net.Conn, error) {
	c, err := net.DialTimeout("tcp", addr, 30*time.Second)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(60 * time.Second))
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
	if _, err := io.WriteString(c, req); err != nil {
		c.Close()
		return nil, err
	}
	br := bufio.NewReader(c)
	status, err := br.ReadString('\n')
	if err != nil || !strings.Contains(status, " 101 ") {
		c.Close()
		return nil, fmt.Errorf("upgrade: %q %v", status, err)
	}
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			c.Close()
			return nil, err
		}
		if line == "\r\n" {
			break
		}
	}
	join := `{"id":"j","join":{"roomId":"` + roomID + `","name":"` + name + `"}}`
	if _, err := c.Write(maskedText([]byte(join))); err != nil {
		c.Close()
		return nil, err
	}
	for {
		payload, err := readFrame(br)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("waiting for joined: %w", err)
		}
		if bytes.Contains(payload, []byte(`"replyTo":"j"`)) {
			if !bytes.Contains(payload, []byte(`"joined"`)) {
				c.Close()
				return nil, fmt.Errorf("join refused: %s", payload)
			}
			break
		}
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

// maskedText is one client-to-server text frame (clients must mask).
func maskedText(p []byte) []byte {
	var f []byte
	f = append(f, 0x81)
	switch {
	case len(p) < 126:
		f = append(f, 0x80|byte(len(p)))
	case len(p) < 1<<16:
		f = append(f, 0x80|126, byte(len(p)>>8), byte(len(p)))
	default:
		panic("frame too long for this helper")
	}
	key := [4]byte{1, 2, 3, 4}
	f = append(f, key[:]...)
	for i, c := range p {
		f = append(f, c^key[i%4])
	}
	return f
}

// readFrame reads one unmasked server frame and returns its payload.
func readFrame(br *bufio.Reader) ([]byte, error) {
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	n := uint64(h[1] & 0x7f)
	switch n {
	case 126:
		var x [2]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return nil, err
		}
		n = uint64(x[0])<<8 | uint64(x[1])
	case 127:
		var x [8]byte
		if _, err := io.ReadFull(br, x[:]); err != nil {
			return nil, err
		}
		n = 0
		for _, v := range x {
			n = n<<8 | uint64(v)
		}
	}
	if n > 1<<24 {
		return nil, fmt.Errorf("frame of %d bytes", n)
	}
	p := make([]byte, n)
	_, err := io.ReadFull(br, p)
	return p, err
}
