package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// wsClient speaks the wire protocol directly, as an integrator would.
type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialWS(t *testing.T, srv *server) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	conn.SetReadLimit(1 << 20)
	t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(frame string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

type frame struct {
	ReplyTo string `json:"replyTo"`
	Error   *struct{ Code, Message string }
	Joined  *struct {
		MemberID string `json:"memberId"`
	}
	Chat *struct {
		Seq  string
		Text string
	}
	Pong *struct{}
}

func (c *wsClient) read() (frame, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var f frame
	_, b, err := c.conn.Read(ctx)
	if err != nil {
		return f, err
	}
	if err := json.Unmarshal(b, &f); err != nil {
		c.t.Fatalf("server sent invalid JSON %q: %v", b, err)
	}
	return f, nil
}

func (c *wsClient) expectError(code string) frame {
	c.t.Helper()
	for {
		f, err := c.read()
		if err != nil {
			c.t.Fatalf("waiting for error %s: %v", code, err)
		}
		if f.Error != nil {
			if f.Error.Code != code || f.Error.Message == "" {
				c.t.Fatalf("got error %+v, want code %s", *f.Error, code)
			}
			return f
		}
	}
}

func createRoomAPI(t *testing.T, srv *server, id string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"`+id+`","visitorName":"V"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room %s: %d", id, resp.StatusCode)
	}
}

func TestBadFramesGetClearErrorsAndKeepTheConnection(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--max-chat-chars", "100")
	createRoomAPI(t, srv, "r")
	c := dialWS(t, srv)

	c.send(`not json`)
	c.expectError("bad_frame")
	c.send(`{"id":"1","teleport":{}}`)
	c.expectError("bad_frame")
	c.send(`{"id":"2"}`)
	c.expectError("bad_frame")
	c.send(`{"id":"3","chat":{"text":"hi"}}`)
	if f := c.expectError("not_joined"); f.ReplyTo != "3" {
		t.Fatalf("error answers %q, want 3", f.ReplyTo)
	}
	c.send(`{"id":"3b","publishOffer":{"sdp":"v=0"}}`)
	c.expectError("not_joined")
	c.send(`{"id":"4","join":{"roomId":"../etc","name":"V"}}`)
	c.expectError("invalid")
	c.send(`{"id":"5","join":{"roomId":"missing","name":"V"}}`)
	c.expectError("room_not_found")
	c.send(`{"id":"6","join":{"roomId":"r","name":"   "}}`)
	c.expectError("invalid")

	// Still connected and usable after all of that.
	c.send(`{"id":"7","join":{"roomId":"r","name":"V"}}`)
	if f, err := c.read(); err != nil || f.Joined == nil || f.ReplyTo != "7" {
		t.Fatalf("join after errors: %+v %v", f, err)
	}
	// Call signalling from a member who is not in the call touches nothing.
	c.send(`{"id":"7b","publishOffer":{"sdp":"v=0"}}`)
	c.expectError("not_in_call")
	c.send(`{"id":"7c","ice":{"pc":"PEER_ROLE_PUBLISH","candidate":"candidate:1 1 udp 1 127.0.0.1 9 typ host"}}`)
	c.expectError("not_in_call")
	c.send(`{"id":"7d","call":{"action":"ACTION_ACCEPT"}}`)
	c.expectError("no_call")
	// In the call, malformed SDP is refused with a reason.
	c.send(`{"id":"7e","call":{"action":"ACTION_RING"}}`)
	c.send(`{"id":"7f","publishOffer":{"sdp":"this is not sdp"}}`)
	c.expectError("bad_sdp")
	c.send(`{"id":"7g","call":{"action":"ACTION_HANGUP"}}`)
	c.send(`{"id":"8","chat":{"text":"` + strings.Repeat("x", 101) + `"}}`)
	c.expectError("too_large")
	c.send(`{"id":"9","chat":{"text":"fine"}}`)
	for {
		// Call-state frames and acks from the call above may come first.
		f, err := c.read()
		if err != nil || f.Error != nil {
			t.Fatalf("chat after errors: %+v %v", f, err)
		}
		if f.Chat != nil {
			if f.Chat.Text != "fine" || f.ReplyTo != "9" {
				t.Fatalf("chat after errors: %+v", f)
			}
			break
		}
	}

	// A frame over the size limit closes the socket with 1009 and a reason.
	c.send(`{"id":"10","chat":{"text":"` + strings.Repeat("y", 70<<10) + `"}}`)
	for {
		_, err := c.read()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
				t.Fatalf("oversized frame: %v", err)
			}
			break
		}
	}
}

func TestRateLimitAnswersWithError(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--rate-per-second", "1", "--rate-burst", "3")
	c := dialWS(t, srv)
	for i := range 6 {
		c.send(fmt.Sprintf(`{"id":"p%d","ping":{}}`, i))
	}
	c.expectError("rate_limited")
}

// A client that stops reading is disconnected with 4008; the room goes on for
// everyone else.
func TestSlowClientIsDroppedAndRoomKeepsGoing(t *testing.T) {
	// The queue is small so the silent client overflows soon, but not so small
	// that the sender, which reads everything, overflows on a busy machine.
	srv := startServer(t, t.TempDir(), "--session-queue", "64", "--rate-per-second", "100000", "--rate-burst", "100000",
		"--max-chat-chars", "4000")
	createRoomAPI(t, srv, "busy")
	sender, slow := dialWS(t, srv), dialWS(t, srv)
	slow.send(`{"id":"j","join":{"roomId":"busy","name":"Slow"}}`)
	if f, err := slow.read(); err != nil || f.Joined == nil {
		t.Fatalf("slow join: %+v %v", f, err)
	}
	sender.send(`{"id":"j","join":{"roomId":"busy","name":"Sender"}}`)

	// The sender reads everything it gets, the slow one nothing; the sender
	// keeps writing until the server has given up on the slow client.
	text := strings.Repeat("z", 3900)
	senderGone := make(chan error, 1)
	go func() {
		for {
			if _, _, err := sender.conn.Read(context.Background()); err != nil {
				senderGone <- err
				return
			}
		}
	}()
	deadline := time.Now().Add(60 * time.Second)
	for i := 0; ; i++ {
		sender.send(fmt.Sprintf(`{"id":"c%d","chat":{"text":"%s"}}`, i, text))
		if i%50 == 49 && metric(t, srv, "liveroom_slow_clients_total") >= 1 {
			break
		}
		select {
		case err := <-senderGone:
			t.Fatalf("the reading sender was disconnected: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("slow client never dropped")
		}
	}
	// Read what was queued before the close; the close must follow.
	readCtx, cancelRead := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancelRead()
	var closeErr error
	for closeErr == nil {
		_, _, closeErr = slow.conn.Read(readCtx)
	}
	if readCtx.Err() != nil {
		t.Fatal("the slow client was never closed (was the sender dropped instead?)")
	}
	if websocket.CloseStatus(closeErr) != 4008 {
		var ce websocket.CloseError
		errors.As(closeErr, &ce)
		t.Fatalf("slow client closed with %v (%q), want 4008", websocket.CloseStatus(closeErr), ce.Reason)
	}
	// The room still takes the sender's messages.
	before := metric(t, srv, "liveroom_chat_messages_total")
	for i := range 5 {
		sender.send(fmt.Sprintf(`{"id":"after%d","chat":{"text":"still here"}}`, i))
	}
	for metric(t, srv, "liveroom_chat_messages_total") < before+5 {
		if time.Now().After(deadline) {
			t.Fatal("room stopped storing messages after the slow client left")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func metric(t *testing.T, srv *server, name string) float64 {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	return 0
}

// SIGTERM closes open sockets with 1001 and a reason, and the process exits 0.
func TestShutdownClosesSocketsWithGoingAway(t *testing.T) {
	srv := startServer(t, t.TempDir())
	createRoomAPI(t, srv, "bye")
	c := dialWS(t, srv)
	c.send(`{"id":"j","join":{"roomId":"bye","name":"V"}}`)
	if f, err := c.read(); err != nil || f.Joined == nil {
		t.Fatalf("join: %+v %v", f, err)
	}
	srv.stop()
	_, err := c.read()
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != websocket.StatusGoingAway || ce.Reason == "" {
		t.Fatalf("socket ended with %v, want 1001 with a reason", err)
	}
}

// A client that vanishes without closing (it stops answering pings) leaves
// the room for everyone else.
func TestVanishedClientLeavesTheRoom(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--ping-seconds", "1", "--resume-grace-seconds", "1")
	createRoomAPI(t, srv, "ghost")
	watcher, ghost := dialWS(t, srv), dialWS(t, srv)
	watcher.send(`{"id":"j","join":{"roomId":"ghost","name":"Watcher"}}`)
	if f, err := watcher.read(); err != nil || f.Joined == nil {
		t.Fatalf("watcher join: %+v %v", f, err)
	}
	ghost.send(`{"id":"j","join":{"roomId":"ghost","name":"Ghost"}}`)
	// The ghost never reads again, so it never answers a ping.
	var left bool
	deadline := time.Now().Add(15 * time.Second)
	for !left && time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
		_, b, err := watcher.conn.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("watcher: %v", err)
		}
		left = strings.Contains(string(b), `"KIND_LEFT"`) && strings.Contains(string(b), "Ghost")
	}
	if !left {
		t.Fatal("the silent client is still in the room")
	}
}
