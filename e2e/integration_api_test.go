package e2e

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// GET /api/v1/agent over real HTTP: what an integration (the WordPress
// plugin's "test connection" and dashboard widget) learns from a key.
func TestAPIAgentOverviewAndRoomEmbedding(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "olga", "Olga Host", "", "olga-password-1")
	addAgent(t, dataDir, "gone", "Gone Soon", "", "gone-password-1")
	key := addAPIKey(t, dataDir, "olga")
	orphan := addAPIKey(t, dataDir, "gone")
	admin(t, dataDir, "", "agent", "remove", "--id", "gone")
	srv := startServer(t, dataDir, "--embed-origins", "http://wp.example:8081")

	for _, k := range []string{"", "lrk_notARealKeyAtAll", "Basic abc"} {
		status, res := apiCall(t, srv, "GET", "/api/v1/agent", k, "")
		if status != http.StatusUnauthorized || res["error"].(map[string]any)["code"] != "unauthorized" {
			t.Fatalf("key %q: %d %v", k, status, res)
		}
	}
	// Removing an agent revokes its keys.
	if status, res := apiCall(t, srv, "GET", "/api/v1/agent", orphan, ""); status != http.StatusUnauthorized {
		t.Fatalf("key of a removed agent: %d %v", status, res)
	}
	status, res := apiCall(t, srv, "GET", "/api/v1/agent", key, "")
	if status != http.StatusOK || res["id"] != "olga" || res["name"] != "Olga Host" || res["presence"] != "offline" ||
		res["visitors"] != float64(0) || res["waiting"] != float64(0) {
		t.Fatalf("overview: %d %v", status, res)
	}

	// The agent opens the agent page and a visitor opens a page with the button.
	c := agentClient(t, srv, "olga", "olga-password-1")
	u, _ := url.Parse(srv.URL)
	cookie := ""
	for _, ck := range c.Jar.Cookies(u) {
		cookie = ck.Name + "=" + ck.Value
	}
	ws := strings.Replace(srv.URL, "http", "ws", 1)
	agent := dialPresence(t, ws+"/ws/agent", http.Header{"Origin": {srv.URL}, "Cookie": {cookie}})
	agent.send(`{"id":"w","watch":{}}`)
	agent.waitFor("snapshot")
	visitor := dialPresence(t, ws+"/ws/visitor", http.Header{"Origin": {"http://wp.example:8081"}})
	visitor.send(`{"id":"h","hello":{"agentId":"olga","pageUrl":"http://wp.example:8081/?page_id=2"}}`)
	visitor.waitFor("presence")
	visitor.send(`{"id":"c","call":{"kind":"CALL_KIND_CHAT"}}`)
	agent.waitFor("request")
	status, res = apiCall(t, srv, "GET", "/api/v1/agent", key, "")
	if status != http.StatusOK || res["presence"] != "online" || res["visitors"] != float64(1) || res["waiting"] != float64(1) {
		t.Fatalf("overview with the agent online and a visitor waiting: %d %v", status, res)
	}
	agent.send(`{"id":"a","away":{"away":true}}`)
	agent.waitFor("status")
	if _, res = apiCall(t, srv, "GET", "/api/v1/agent", key, ""); res["presence"] != "away" {
		t.Fatalf("overview with the agent away: %v", res)
	}

	// Room pages may be framed by the configured site only; other pages by no one.
	csp := func(path string) string {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("Content-Security-Policy")
	}
	if p := csp("/room/any"); !strings.Contains(p, "frame-ancestors 'self' http://wp.example:8081") {
		t.Fatalf("room page CSP: %s", p)
	}
	for _, path := range []string{"/agent", "/"} {
		if p := csp(path); !strings.Contains(p, "frame-ancestors 'none'") {
			t.Fatalf("%s CSP: %s", path, p)
		}
	}
}
