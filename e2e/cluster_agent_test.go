package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// presenceConn reads visitor or agent frames as loose JSON.
type presenceConn struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialPresence(t *testing.T, url string, h http.Header) *presenceConn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: h})
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return &presenceConn{t: t, conn: c}
}

func (p *presenceConn) send(frame string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.conn.Write(ctx, websocket.MessageText, []byte(frame)); err != nil {
		p.t.Fatalf("write: %v", err)
	}
}

// waitFor reads frames until one has the field key; an error frame fails.
func (p *presenceConn) waitFor(key string) map[string]any {
	p.t.Helper()
	v, e := p.waitForOrError(key)
	if e != nil {
		p.t.Fatalf("waiting for %s got error %v", key, e)
	}
	return v
}

// waitForOrError reads frames until one has the field key or is an error.
func (p *presenceConn) waitForOrError(key string) (value, errFrame map[string]any) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	for {
		_, b, err := p.conn.Read(ctx)
		if err != nil {
			p.t.Fatalf("waiting for %s: %v", key, err)
		}
		f := map[string]any{}
		_ = json.Unmarshal(b, &f)
		if v, ok := f[key].(map[string]any); ok {
			return v, nil
		}
		if e, ok := f["error"].(map[string]any); ok && key != "error" {
			return nil, e
		}
	}
}

// Two nodes of one cluster: the agent logs in and keeps its page on one node,
// the visitor's button talks to the other. Whichever node hosts the agent
// grain, one side reaches it across nodes.
func TestContactButtonAcrossTwoNodes(t *testing.T) {
	auto1, auto2 := freePort(t), freePort(t)
	peers := fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", auto1, auto2)
	var nodes []*server
	name := fmt.Sprintf("agents-%d", time.Now().UnixNano())
	for _, auto := range []int{auto1, auto2} {
		dir := t.TempDir()
		// No store shared by the nodes yet (see DESIGN.md): each gets the account.
		addAgent(t, dir, "hana", "Hana", "", "hana-password")
		nodes = append(nodes, startServer(t, dir, "--cluster-provider", "automanaged", "--cluster-name", name,
			"--cluster-port", fmt.Sprint(freePort(t)), "--cluster-auto-port", fmt.Sprint(auto), "--cluster-peers", peers))
	}
	n1, n2 := nodes[0], nodes[1]
	// Grains are placed by the member list: wait until both nodes agree.
	deadline := time.Now().Add(45 * time.Second)
	for round := 0; !placementAgrees(t, n1, n2, round); round++ {
		if time.Now().After(deadline) {
			t.Fatal("the two nodes did not form a cluster")
		}
		time.Sleep(500 * time.Millisecond)
	}

	c := agentClient(t, n1, "hana", "hana-password")
	u, _ := url.Parse(n1.URL)
	cookie := ""
	for _, ck := range c.Jar.Cookies(u) {
		cookie = ck.Name + "=" + ck.Value
	}
	agent := dialPresence(t, strings.Replace(n2.URL, "http", "ws", 1)+"/ws/agent",
		http.Header{"Origin": {n2.URL}, "Cookie": {cookie}})
	agent.send(`{"id":"w","watch":{}}`)
	agent.waitFor("snapshot")

	visitor := dialPresence(t, strings.Replace(n1.URL, "http", "ws", 1)+"/ws/visitor", http.Header{"Origin": {"http://shop.example"}})
	visitor.send(`{"id":"h","hello":{"agentId":"hana","pageUrl":"http://shop.example/x","name":"Ivo"}}`)
	if p := visitor.waitFor("presence"); p["presence"] != "PRESENCE_ONLINE" {
		t.Fatalf("presence across nodes: %v", p)
	}
	if v := agent.waitFor("visitor"); v["pageUrl"] != "http://shop.example/x" || v["name"] != "Ivo" {
		t.Fatalf("visitor at the agent: %v", v)
	}
	visitor.send(`{"id":"c","call":{"kind":"CALL_KIND_CHAT"}}`)
	req := agent.waitFor("request")
	agent.send(`{"id":"a","answer":{"requestId":"` + req["requestId"].(string) + `","accept":true}}`)
	acc := visitor.waitFor("accepted")
	ans := agent.waitFor("answered")
	if acc["roomId"] == nil || acc["roomId"] != ans["roomId"] {
		t.Fatalf("accepted %v answered %v", acc, ans)
	}
	// The room exists, whichever node holds it.
	for _, n := range nodes {
		resp, err := http.Get(n.URL + "/api/rooms/" + acc["roomId"].(string))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("room from %s: %d", n.URL, resp.StatusCode)
		}
	}

	start := time.Now()
	_ = agent.conn.Close(websocket.StatusNormalClosure, "bye")
	if p := visitor.waitFor("presence"); p["presence"] != "PRESENCE_OFFLINE" {
		t.Fatalf("presence after the agent left: %v", p)
	}
	t.Logf("offline crossed nodes in %v", time.Since(start))
}

// placementAgrees creates rooms through one node and reads them through the
// other. The nodes have separate stores, so that works for every room only
// when both route each room id to the same member: the cluster has formed.
func placementAgrees(t *testing.T, a, b *server, round int) bool {
	t.Helper()
	for i := range 8 {
		from, to := a, b
		if i%2 == 1 {
			from, to = b, a
		}
		id := fmt.Sprintf("probe-%d-%d", round, i)
		resp, err := http.Post(from.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"`+id+`"}`))
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			return false
		}
		resp, err = http.Get(to.URL + "/api/rooms/" + id)
		if err != nil {
			return false
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return false
		}
	}
	return true
}
