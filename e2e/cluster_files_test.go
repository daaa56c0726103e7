package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// agentOnBoard joins room at base as its agent over a socket, opens the
// room's whiteboard and returns the agent's member token; the socket stays
// open until the test ends (uploads need a member attached to the board).
func agentOnBoard(t *testing.T, base, room, agentKey string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	conn.SetReadLimit(8 << 20)
	// ask sends frame and reads until the frame answering id.
	ask := func(id, frame string) map[string]json.RawMessage {
		t.Helper()
		if err := conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
			t.Fatal(err)
		}
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("waiting for the answer to %s: %v", id, err)
			}
			f := map[string]json.RawMessage{}
			_ = json.Unmarshal(b, &f)
			var reply string
			_ = json.Unmarshal(f["replyTo"], &reply)
			if reply != id {
				continue
			}
			if e, ok := f["error"]; ok {
				t.Fatalf("%s refused: %s", id, e)
			}
			return f
		}
	}
	joined := ask("j", `{"id":"j","join":{"roomId":"`+room+`","name":"Ann","agentKey":"`+agentKey+`"}}`)
	var j struct {
		AccessToken string `json:"accessToken"`
	}
	_ = json.Unmarshal(joined["joined"], &j)
	if j.AccessToken == "" {
		t.Fatalf("join as agent: %s", joined["joined"])
	}
	ask("s", `{"id":"s","wb":{"sync":{}}}`)
	ask("o", `{"id":"o","wb":{"op":{"kind":"WB_OP_OPEN"}}}`)
	return j.AccessToken
}

// checkWhiteboardImageAcrossNodes: an image put on a room's whiteboard
// through node 1 is served by node 3 (the files folder is shared).
func checkWhiteboardImageAcrossNodes(t *testing.T, r *clusterRig) {
	room := "boards"
	key := createRoomAt(t, r.nodes[0].URL, room)
	token := agentOnBoard(t, r.nodes[0].URL, room, key)

	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := 0; x < 64; x++ {
		img.Set(x, x*48/64, color.RGBA{R: 200, A: 255})
	}
	var content bytes.Buffer
	if err := png.Encode(&content, img); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, r.nodes[0].URL+"/api/rooms/"+room+"/wb/images", bytes.NewReader(content.Bytes()))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "image/png")
	req.Header.Set("Origin", r.nodes[0].URL)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var ref struct{ ID string }
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_ = json.Unmarshal(body, &ref)
	if resp.StatusCode != http.StatusCreated || ref.ID == "" {
		t.Fatalf("whiteboard image through node 1: %d %s", resp.StatusCode, body)
	}
	resp, err = http.Get(r.nodes[2].URL + "/wb/" + room + "/" + ref.ID + "?t=" + token)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, content.Bytes()) || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("whiteboard image through node 3: %d %s, %d bytes (want %d)", resp.StatusCode,
			resp.Header.Get("Content-Type"), len(got), content.Len())
	}
}

// tryWatch opens an agent page socket on base and returns its snapshot, or
// nil when the agent did not answer (its grain is moving).
func tryWatch(t *testing.T, base, cookie string) (*presenceConn, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(base, "http", "ws", 1)+"/ws/agent",
		&websocket.DialOptions{HTTPHeader: http.Header{"Origin": {base}, "Cookie": {cookie}}})
	if err != nil {
		return nil, nil
	}
	p := &presenceConn{t: t, conn: c}
	p.send(`{"id":"w","watch":{}}`)
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			_ = c.CloseNow()
			return nil, nil
		}
		f := map[string]any{}
		_ = json.Unmarshal(b, &f)
		if s, ok := f["snapshot"].(map[string]any); ok {
			t.Cleanup(func() { _ = c.CloseNow() })
			return p, s
		}
		if _, ok := f["error"]; ok {
			_ = c.CloseNow()
			return nil, nil
		}
	}
}

// checkAgentPresenceAcrossKill: an agent page and a visitor (with a queued
// call request) have their sockets on two nodes; the node holding the
// agent's grain is killed. The grain re-activates on another node from the
// store: a new agent page sees the visitor and its request, and the page
// opened before the kill still answers it.
func checkAgentPresenceAcrossKill(t *testing.T, r *clusterRig) {
	host := -1
	for i, n := range r.nodes {
		if metric(t, n, `liveroom_grain_activations_total{kind="agent"}`) >= 1 {
			host = i
		}
	}
	if host < 0 {
		t.Fatal("no node reports the agent's grain")
	}
	o1, o2 := r.nodes[(host+1)%3], r.nodes[(host+2)%3]
	t.Logf("agent grain on node %d; sockets on nodes %d and %d", host+1, (host+1)%3+1, (host+2)%3+1)

	c := agentClient(t, o1, "kai", "kai-password")
	u, _ := url.Parse(o1.URL)
	cookie := ""
	for _, ck := range c.Jar.Cookies(u) {
		cookie = ck.Name + "=" + ck.Value
	}
	page, _ := tryWatch(t, o1.URL, cookie)
	if page == nil {
		t.Fatal("the agent page did not attach")
	}
	visitor := dialPresence(t, strings.Replace(o2.URL, "http", "ws", 1)+"/ws/visitor", http.Header{"Origin": {"http://shop.example"}})
	visitor.send(`{"id":"h","hello":{"agentId":"kai","pageUrl":"http://shop.example/kettle","name":"Ivo","sessionKey":"cluster-visitor-0123456789"}}`)
	if p := visitor.waitFor("presence"); p["presence"] != "PRESENCE_ONLINE" {
		t.Fatalf("presence: %v", p)
	}
	visitor.send(`{"id":"c","call":{"kind":"CALL_KIND_AUDIO"}}`)
	queued := visitor.waitFor("queued")
	page.waitFor("request")

	if err := r.nodes[host].cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-r.nodes[host].done
	var snap map[string]any
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if _, s := tryWatch(t, o1.URL, cookie); s != nil {
			snap = s
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no agent page could attach after the kill")
		}
		time.Sleep(500 * time.Millisecond)
	}
	vs, _ := snap["visitors"].([]any)
	rs, _ := snap["requests"].([]any)
	if len(vs) != 1 || vs[0].(map[string]any)["pageUrl"] != "http://shop.example/kettle" || len(rs) != 1 ||
		rs[0].(map[string]any)["requestId"] != queued["requestId"] {
		t.Fatalf("after the kill the agent sees visitors %v requests %v", vs, rs)
	}
	if s, _ := vs[0].(map[string]any)["session"].(map[string]any); s == nil || s["pageLoads"] != float64(1) {
		t.Fatalf("visitor session after the kill: %v", vs[0])
	}
	// The page opened before the kill still counts, and answers. Right after
	// the kill a request may still answer "unavailable, please retry" while
	// the grain settles on its new node; pages retry, so does this.
	for deadline := time.Now().Add(time.Minute); ; {
		page.send(`{"id":"d","answer":{"requestId":"` + queued["requestId"].(string) + `","accept":false}}`)
		d, e := visitor.waitForOrError("declined")
		if d != nil {
			if d["requestId"] != queued["requestId"] {
				t.Fatalf("declined: %v", d)
			}
			break
		}
		if e["code"] != "unavailable" || time.Now().After(deadline) {
			t.Fatalf("waiting for declined got error %v", e)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
