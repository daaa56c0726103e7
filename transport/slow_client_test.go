package transport_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"liveroom/actors/room"
	"liveroom/transport"
)

// A client that stops reading while its queue still has room is caught by
// the write timeout instead of the queue; it must be counted and closed as
// a slow client all the same. (It went uncounted about half the time when
// the reader noticed the socket the timed-out write closed before the
// writer did.)
func TestWriteTimeoutCountsSlowClient(t *testing.T) {
	e := startEndpoint(t, transport.Limits{MaxFrameBytes: 1 << 20, QueueFrames: 100000,
		RatePerSecond: 1000, RateBurst: 1000, WriteTimeout: 2 * time.Second, PingInterval: time.Hour},
		room.Settings{MaxMembers: 10, MaxChatChars: 64000, MaxNameChars: 64, HistoryPage: 1,
			IdleTimeout: time.Minute, TokenTTL: time.Hour}, nil)
	e.createRoom(t, "slow")
	stuck := e.dial(t, 4096)
	stuck.join("slow", "Stuck")
	talker := e.dial(t, 0)
	talker.join("slow", "Talker")
	go func() { // the talker reads its own echoes so it is never the slow one (the 2 s
		// write timeout leaves room for a busy machine to schedule this reader)
		for {
			if _, err := talker.read(time.Minute); err != nil {
				return
			}
		}
	}()
	big := strings.Repeat("x", 60000)
	// Until the write times out: the kernel buffers between server and
	// client hold a few MB, and how fast they fill depends on the machine's
	// load, so the bound (60 MB) is far above what they take.
	for i := 0; i < 1000 && e.counter("liveroom_slow_clients_total") == 0; i++ {
		if err := talker.send(chatFrame("", big)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	deadline := time.Now().Add(60 * time.Second)
	for e.counter("liveroom_slow_clients_total") == 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if got := e.counter("liveroom_slow_clients_total"); got != 1 {
		t.Fatalf("liveroom_slow_clients_total = %v, want 1", got)
	}
	// The stuck client, once it reads again, finds its socket closed as slow.
	var err error
	for err == nil {
		_, err = stuck.read(60 * time.Second)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code != transport.CloseSlowConsumer {
		t.Errorf("closed with %v, want %d", ce.Code, transport.CloseSlowConsumer)
	}
}
