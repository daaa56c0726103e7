package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"liveroom/config"
	"liveroom/internal/testserver"
)

// TestCloseRoomTellsMembersAndRefusesVisitors: a supervisor closes a room
// with a visitor in it; the visitor gets room_closed, the room shows closed
// with no members, and a new visitor is refused.
func TestCloseRoomTellsMembersAndRefusesVisitors(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	admin := &caller{name: "admin", client: loggedIn(t, srv.URL, "root", "root-password")}
	if status, body := admin.do(t, "POST", srv.URL+"/api/admin/agents", `{"id":"sup","role":"supervisor","password":"sup-password"}`); status != 201 {
		t.Fatalf("create supervisor: %d %s", status, body)
	}
	sup := &caller{name: "supervisor", client: loggedIn(t, srv.URL, "sup", "sup-password")}
	if status, body := (&caller{name: "anon", client: http.DefaultClient}).do(t, "POST", srv.URL+"/api/rooms", `{"id":"shut"}`); status != 201 {
		t.Fatalf("create room: %d %s", status, body)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	join := func() *websocket.Conn {
		c, _, err := websocket.Dial(ctx, strings.Replace(srv.URL, "http", "ws", 1)+"/ws",
			&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Write(ctx, websocket.MessageText, []byte(`{"id":"j","join":{"roomId":"shut","name":"Pat"}}`)); err != nil {
			t.Fatal(err)
		}
		return c
	}
	// next returns the next frame's error code ("" for other frames) and reply id.
	next := func(c *websocket.Conn) (string, string) {
		_, data, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var f struct {
			ReplyTo string `json:"replyTo"`
			Joined  any    `json:"joined"`
			Error   *struct{ Code string }
		}
		_ = json.Unmarshal(data, &f)
		if f.Error != nil {
			return f.Error.Code, f.ReplyTo
		}
		if f.Joined != nil {
			return "joined", f.ReplyTo
		}
		return "", f.ReplyTo
	}
	v := join()
	defer v.CloseNow()
	if code, _ := next(v); code != "joined" {
		t.Fatalf("first frame %q, want joined", code)
	}
	status, body := sup.do(t, "GET", srv.URL+"/api/admin/rooms/shut", "")
	if status != 200 || !strings.Contains(string(body), `"name":"Pat"`) {
		t.Fatalf("members now: %d %s", status, body)
	}
	status, body = sup.do(t, "POST", srv.URL+"/api/admin/rooms/shut/close", "")
	if status != 200 || !strings.Contains(string(body), `"state":"closed"`) || !strings.Contains(string(body), `"members":[]`) {
		t.Fatalf("close: %d %s", status, body)
	}
	for {
		code, _ := next(v)
		if code == "room_closed" {
			break
		}
		if code != "" {
			t.Fatalf("visitor got %q, want room_closed", code)
		}
	}
	v2 := join()
	defer v2.CloseNow()
	if code, reply := next(v2); code != "room_closed" || reply != "j" {
		t.Fatalf("a new visitor after closing: %q (reply %q), want room_closed", code, reply)
	}
	status, body = admin.do(t, "GET", srv.URL+"/api/admin/audit?q=room.close", "")
	if status != 200 || !strings.Contains(string(body), `"actor":"sup"`) {
		t.Fatalf("audit: %d %s", status, body)
	}
}
