package mediapeer

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/server"
)

func startServer(t *testing.T) string {
	t.Helper()
	// The server binds UDP on the HTTP port's number too.
	addr := fmt.Sprintf("127.0.0.1:%d", testserver.FreePort(t))
	cfg := config.Default()
	cfg.Addr, cfg.DataDir, cfg.LogLevel, cfg.PasswordCost = addr, t.TempDir(), "error", 4
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Run(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	url := "http://" + addr
	for deadline := time.Now().Add(20 * time.Second); ; {
		if resp, err := http.Get(url + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("server not healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// member is a socket in a room with a media peer behind it.
type member struct {
	conn *websocket.Conn
	peer *Peer
	mu   sync.Mutex
	n    int
	errs chan string
}

func join(t *testing.T, url, room string, opts Options, action string) *member {
	t.Helper()
	ctx := context.Background()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(url, "http")+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {url}}})
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadLimit(1 << 20)
	m := &member{conn: conn, errs: make(chan string, 16)}
	send := func(body map[string]any) error {
		m.mu.Lock()
		m.n++
		body["id"] = fmt.Sprint("f", m.n)
		m.mu.Unlock()
		b, _ := json.Marshal(body)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	api, err := NewAPI()
	if err != nil {
		t.Fatal(err)
	}
	m.peer = New(api, opts, send)
	t.Cleanup(func() {
		m.peer.Close()
		_ = conn.CloseNow()
	})
	joined := make(chan struct{})
	go func() {
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var f struct {
				Frame
				Joined *struct{} `json:"joined"`
				Error  *struct{ Code, Message string }
			}
			if json.Unmarshal(b, &f) != nil {
				continue
			}
			switch {
			case f.Joined != nil:
				close(joined)
			case f.Error != nil:
				m.errs <- f.Error.Code + ": " + f.Error.Message
			default:
				if err := m.peer.OnFrame(f.Frame); err != nil {
					m.errs <- err.Error()
				}
			}
		}
	}()
	if err := send(map[string]any{"join": map[string]any{"roomId": room, "name": "load"}}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-joined:
	case <-time.After(10 * time.Second):
		t.Fatal("not joined")
	}
	if err := send(map[string]any{"call": map[string]any{"action": action, "video": opts.Video}}); err != nil {
		t.Fatal(err)
	}
	if err := m.peer.Publish(); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestPeersExchangeMediaThroughTheSFU(t *testing.T) {
	url := startServer(t)
	resp, err := http.Post(url+"/api/rooms", "application/json", strings.NewReader(`{"id":"load"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %v %v", err, resp.Status)
	}
	resp.Body.Close()
	a := join(t, url, "load", Options{Video: true}, "ACTION_RING")
	b := join(t, url, "load", Options{}, "ACTION_ACCEPT")

	deadline := time.Now().Add(20 * time.Second)
	for {
		sa, sb := a.peer.Stats(), b.peer.Stats()
		// b receives a's audio and video; a receives b's audio.
		if sb.RemoteTracks == 2 && sb.PacketsReceived > 300 && sa.RemoteTracks == 1 && sa.PacketsReceived > 50 {
			if sa.KeyframesAsked == 0 {
				t.Fatal("the server never asked the video publisher for a keyframe")
			}
			if sb.PacketsLost > sb.PacketsReceived/20 {
				t.Fatalf("lost %d of %d packets on loopback", sb.PacketsLost, sb.PacketsReceived)
			}
			return
		}
		select {
		case e := <-a.errs:
			t.Fatal("a:", e)
		case e := <-b.errs:
			t.Fatal("b:", e)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("media did not flow: a %+v, b %+v", sa, sb)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
