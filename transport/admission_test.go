package transport_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"liveroom/access"
	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/transport"
)

// dial opens a socket at path; it returns the HTTP status when refused.
func dial(t *testing.T, srv *testserver.Server, path string, header http.Header) (*websocket.Conn, int, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if header == nil {
		header = http.Header{}
	}
	header.Set("Origin", srv.URL)
	conn, resp, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+path, &websocket.DialOptions{HTTPHeader: header})
	status := 0
	if resp != nil {
		status = resp.StatusCode
	}
	if err == nil {
		t.Cleanup(func() { _ = conn.CloseNow() })
	}
	return conn, status, err
}

// Sockets from one address are bounded across the room, button and agent
// endpoints together, and a closed socket frees its place.
func TestSocketsPerAddressAreCapped(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.MaxSocketsPerIP = 3; c.JoinTimeoutSeconds = 600 })
	var held []*websocket.Conn
	for _, path := range []string{"/ws", "/ws", "/ws/visitor"} {
		conn, status, err := dial(t, srv, path, nil)
		if err != nil {
			t.Fatalf("socket %d at %s refused under the cap: %d %v", len(held)+1, path, status, err)
		}
		held = append(held, conn)
	}
	for _, path := range []string{"/ws", "/ws/visitor"} {
		if _, status, err := dial(t, srv, path, nil); err == nil || status != http.StatusTooManyRequests {
			t.Fatalf("socket over the cap at %s: status %d, err %v; want 429", path, status, err)
		}
	}
	_ = held[0].CloseNow()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, status, err := dial(t, srv, "/ws", nil)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("a closed socket never freed its place: %d %v", status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A socket that never joins is closed with a clear code and reason; one
// that joined stays open past the join timeout.
func TestSocketThatNeverJoinsIsClosed(t *testing.T) {
	srv := testserver.Start(t, func(c *config.Config) { c.JoinTimeoutSeconds = 1 })
	agentCookie := http.Header{"Cookie": {access.AgentCookie + "=" + access.AgentCookieValue("alice", access.NewSecretToken(32))}}
	for _, ep := range []struct {
		path   string
		header http.Header
	}{{"/ws", nil}, {"/ws/visitor", nil}, {"/ws/agent", agentCookie}} {
		conn, status, err := dial(t, srv, ep.path, ep.header)
		if err != nil {
			t.Fatalf("dial %s: %d %v", ep.path, status, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		_, _, err = conn.Read(ctx)
		cancel()
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != transport.CloseJoinTimeout || !strings.Contains(ce.Reason, "join") {
			t.Fatalf("%s without a join: %v; want close %d with a reason", ep.path, err, transport.CloseJoinTimeout)
		}
	}

	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"stay","visitorName":"V"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %v %v", err, resp)
	}
	resp.Body.Close()
	conn, status, err := dial(t, srv, "/ws", nil)
	if err != nil {
		t.Fatalf("dial: %d %v", status, err)
	}
	roundTrip := func(frame, want string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatalf("write %s: %v", frame, err)
		}
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for %s: %v", want, err)
			}
			if strings.Contains(string(b), want) {
				return
			}
		}
	}
	roundTrip(`{"id":"j","join":{"roomId":"stay","name":"Pat"}}`, `"joined"`)
	time.Sleep(3 * time.Second) // three join timeouts
	roundTrip(`{"id":"p","ping":{}}`, `"pong"`)
}
