package transport_test

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

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

// An idle member's socket waits in the endpoint's parking, with no reader
// goroutine, through pings (whose pongs the parked reader takes itself),
// messages to it and from it; the ping's pong never reaches the library,
// yet the socket is not taken for a silent one.
func TestIdleMembersParkThroughPingsAndMessages(t *testing.T) {
	const members = 20
	e := startEndpoint(t, transport.Limits{MaxFrameBytes: 1 << 16, QueueFrames: 256,
		RatePerSecond: 20, RateBurst: 40, PingInterval: 200 * time.Millisecond}, room.Settings{}, nil)
	e.createRoom(t, "parked")
	pings := make(chan struct{}, 1024)
	clients := make([]*wsClient, members)
	chats := make(chan string, members*4)
	for i := range clients {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		conn, _, err := websocket.Dial(ctx, e.url, &websocket.DialOptions{
			OnPingReceived: func(context.Context, []byte) bool {
				select {
				case pings <- struct{}{}:
				default:
				}
				return true
			}})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = conn.CloseNow() })
		clients[i] = &wsClient{tb: t, conn: conn}
		clients[i].join("parked", fmt.Sprintf("m%d", i))
		// The client reads from here on (answering pings as it goes).
		go func() {
			for {
				_, b, err := conn.Read(context.Background())
				if err != nil {
					return
				}
				if strings.Contains(string(b), `"chat"`) {
					chats <- string(b)
				}
			}
		}()
	}
	waitParked := func(what string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for e.gauge("liveroom_sockets_parked") < members {
			if time.Now().After(deadline) {
				t.Fatalf("%s: %v of %d sockets parked", what, e.gauge("liveroom_sockets_parked"), members)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitParked("after joining")

	// Ten ping intervals: every socket stays open and parks again.
	for range 5 * members {
		select {
		case <-pings:
		case <-time.After(60 * time.Second):
			t.Fatal("pings stopped")
		}
	}
	waitParked("after pings")
	if got := e.gauge("liveroom_sockets_open"); got != members {
		t.Fatalf("%v sockets open after pings, want %d", got, members)
	}

	// A message from a parked socket wakes it; every member gets it.
	if err := clients[0].send(chatFrame("c1", "hello from a parked socket")); err != nil {
		t.Fatal(err)
	}
	for range members {
		select {
		case b := <-chats:
			if !strings.Contains(b, "hello from a parked socket") {
				t.Fatalf("unexpected chat %s", b)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("chat did not reach every member")
		}
	}
	waitParked("after the message")
}
