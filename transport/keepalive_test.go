package transport_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"liveroom/actors/room"
	"liveroom/transport"
)

// The shared pinger closes a member whose client stopped answering pings
// (here: a socket nobody reads), and leaves one that answers alone.
func TestPingsCloseSilentClientsOnly(t *testing.T) {
	e := startEndpoint(t, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 256,
		RatePerSecond: 20, RateBurst: 40, PingInterval: 200 * time.Millisecond}, room.Settings{}, nil)
	e.createRoom(t, "pings")

	alive := e.dial(t, 0)
	alive.join("pings", "Reader")
	frames := make(chan []byte, 64)
	readErr := make(chan error, 1)
	go func() {
		for {
			_, b, err := alive.conn.Read(context.Background())
			if err != nil {
				readErr <- err
				return
			}
			frames <- b
		}
	}()

	silent, err := rawJoin(strings.TrimPrefix(e.url, "ws://"), "pings", "Silent")
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	// The silent socket gets pings it never answers, then a close frame
	// ("no answer to ping", 1008), then the end.
	_ = silent.SetReadDeadline(time.Now().Add(60 * time.Second))
	br := bufio.NewReader(silent)
	var code uint16
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			break
		}
		n := int(h[1] & 0x7f)
		if n >= 126 {
			// Only control frames and short ones are expected after the
			// join; skip a longer one whole.
			ext := 2
			if n == 127 {
				ext = 8
			}
			x := make([]byte, ext)
			if _, err := io.ReadFull(br, x); err != nil {
				break
			}
			n = 0
			for _, v := range x {
				n = n<<8 | int(v)
			}
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			break
		}
		if h[0]&0x0f == 0x8 && len(p) >= 2 {
			code = binary.BigEndian.Uint16(p)
			break
		}
	}
	if code != 1008 {
		t.Fatalf("silent client closed with %d, want 1008 (no answer to ping)", code)
	}

	// Several intervals later the reading client is still there and answered.
	if err := alive.send(`{"id":"p","ping":{}}`); err != nil {
		t.Fatalf("answering client was closed: %v", err)
	}
	for {
		select {
		case b := <-frames:
			if strings.Contains(string(b), `"replyTo":"p"`) {
				return
			}
		case err := <-readErr:
			t.Fatalf("answering client was closed: %v", err)
		case <-time.After(60 * time.Second):
			t.Fatal("no pong")
		}
	}
}
