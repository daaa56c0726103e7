package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestAPIKeysCreateListDeleteRooms(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "carol", "Carol", "", "carol-password")
	addAgent(t, dataDir, "dave", "Dave", "", "dave-password")
	key := addAPIKey(t, dataDir, "carol")
	daveKey := addAPIKey(t, dataDir, "dave")
	srv := startServer(t, dataDir)

	roomExists := func(id string) bool {
		resp, err := http.Get(srv.URL + "/api/rooms/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}

	// Without a key, or with a bad one: 401, and nothing changes.
	for _, k := range []string{"", "lrk_not-a-real-key", key + "x", strings.TrimPrefix(key, "lrk_")} {
		for _, c := range []struct{ method, path, body string }{
			{"POST", "/api/v1/rooms", `{"id":"nokey"}`},
			{"GET", "/api/v1/rooms", ""},
			{"GET", "/api/v1/rooms/nokey", ""},
			{"DELETE", "/api/v1/rooms/nokey", ""},
		} {
			status, res := apiCall(t, srv, c.method, c.path, k, c.body)
			if status != http.StatusUnauthorized || res["error"] == nil {
				t.Fatalf("%s %s with key %q: %d %v", c.method, c.path, k, status, res)
			}
		}
	}
	if roomExists("nokey") {
		t.Fatal("a request without a valid key created a room")
	}
	req, _ := http.NewRequest("GET", srv.URL+"/api/v1/rooms", nil)
	req.Header.Set("Authorization", "Basic "+key)
	if resp, _ := http.DefaultClient.Do(req); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("Basic auth: %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}

	// With the key: create, list, get, delete.
	status, res := apiCall(t, srv, "POST", "/api/v1/rooms", key,
		`{"id":"crm-42","visitorName":"Pat","password":"s3cret","shortName":"pat-call","durationMinutes":90}`)
	if status != http.StatusCreated {
		t.Fatalf("create: %d %v", status, res)
	}
	if res["visitorUrl"] != srv.URL+"/room/crm-42" || !strings.HasPrefix(res["agentUrl"].(string), srv.URL+"/room/crm-42#agent=") ||
		res["shortVisitorUrl"] != srv.URL+"/r/pat-call" || res["shortAgentUrl"] != srv.URL+"/a/pat-call" ||
		res["agentName"] != "Carol" || res["hasPassword"] != true || res["endsAtMs"] == nil {
		t.Fatalf("created: %v", res)
	}
	status, res = apiCall(t, srv, "POST", "/api/v1/rooms", key, `{"visitorName":"Random id"}`)
	if status != http.StatusCreated || res["id"] == "" {
		t.Fatalf("create with a random id: %d %v", status, res)
	}
	randomID := res["id"].(string)
	for body, want := range map[string]int{
		`{"id":"crm-42"}`:                                            http.StatusConflict,
		`{"id":"other","shortName":"pat-call"}`:                      http.StatusConflict,
		`{"id":"../x"}`:                                              http.StatusBadRequest,
		`{"id":"t","startsAt":"tomorrow"}`:                           http.StatusBadRequest,
		`{"id":"t","durationMinutes":-5}`:                            http.StatusBadRequest,
		`{"id":"t","visitorName":"` + strings.Repeat("n", 65) + `"}`: http.StatusBadRequest,
		`{"id":"t","unknown":1}`:                                     http.StatusBadRequest,
		`not json`:                                                   http.StatusBadRequest,
	} {
		if status, res := apiCall(t, srv, "POST", "/api/v1/rooms", key, body); status != want {
			t.Errorf("create %s: %d %v, want %d", body, status, res, want)
		}
	}
	if roomExists("other") || roomExists("t") {
		t.Fatal("a refused create left a room")
	}
	status, res = apiCall(t, srv, "GET", "/api/v1/rooms", key, "")
	if rooms, _ := res["rooms"].([]any); status != http.StatusOK || len(rooms) != 2 {
		t.Fatalf("list: %d %v", status, res)
	}
	if status, res = apiCall(t, srv, "GET", "/api/v1/rooms/crm-42", key, ""); status != http.StatusOK || res["id"] != "crm-42" {
		t.Fatalf("get: %d %v", status, res)
	}
	// Another agent's key sees and deletes nothing of Carol's.
	if status, _ := apiCall(t, srv, "DELETE", "/api/v1/rooms/crm-42", daveKey, ""); status != http.StatusNotFound {
		t.Fatalf("delete with another agent's key: %d", status)
	}
	if _, res := apiCall(t, srv, "GET", "/api/v1/rooms", daveKey, ""); len(res["rooms"].([]any)) != 0 {
		t.Fatalf("dave lists %v", res)
	}
	// The short visitor link leads to the room.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(srv.URL + "/r/pat-call")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || resp.Header.Get("Location") != "/room/crm-42" {
		t.Fatalf("short link: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	if status, _ := apiCall(t, srv, "DELETE", "/api/v1/rooms/crm-42", key, ""); status != http.StatusNoContent {
		t.Fatalf("delete: %d", status)
	}
	if roomExists("crm-42") || !roomExists(randomID) {
		t.Fatal("delete removed the wrong rooms")
	}
	if status, _ := apiCall(t, srv, "DELETE", "/api/v1/rooms/crm-42", key, ""); status != http.StatusNotFound {
		t.Fatalf("second delete: %d", status)
	}
	resp, _ = noRedirect.Get(srv.URL + "/r/pat-call")
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("short link after delete: %d", resp.StatusCode)
	}
	// The short name is free again.
	if status, res := apiCall(t, srv, "POST", "/api/v1/rooms", key, `{"id":"crm-43","shortName":"pat-call"}`); status != http.StatusCreated {
		t.Fatalf("reuse short name: %d %v", status, res)
	}
}

// agentClient is an HTTP client holding an agent's login cookie.
func agentClient(t *testing.T, srv *server, id, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	status, res := postJSON(t, c, srv, "/api/agent/login", fmt.Sprintf(`{"agentId":%q,"password":%q}`, id, password), nil)
	if status != http.StatusOK {
		t.Fatalf("login %s: %d %v", id, status, res)
	}
	return c
}

func postJSON(t *testing.T, c *http.Client, srv *server, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", srv.URL+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp.StatusCode, b.String()
}

func TestAgentLoginLimitsCookieAndCrossSiteRequests(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "erin", "Erin", "", "erin-password")
	addAgent(t, dataDir, "finn", "Finn", "", "finn-password")
	srv := startServer(t, dataDir, "--login-per-minute", "9", "--login-max-failures", "3")
	anon := &http.Client{}
	login := func(id, pw string) (int, string) {
		return postJSON(t, anon, srv, "/api/agent/login", fmt.Sprintf(`{"agentId":%q,"password":%q}`, id, pw), nil)
	}

	// Wrong password: a clear error; the third failure locks the account,
	// even against the right password.
	if status, body := login("erin", "nope"); status != http.StatusUnauthorized || !strings.Contains(body, "wrong_login") {
		t.Fatalf("wrong password: %d %s", status, body)
	}
	if status, body := login("nobody", "nope"); status != http.StatusUnauthorized || !strings.Contains(body, "wrong_login") {
		t.Fatalf("unknown agent: %d %s", status, body)
	}
	login("erin", "nope")
	if status, body := login("erin", "nope"); status != http.StatusTooManyRequests || !strings.Contains(body, "account_locked") {
		t.Fatalf("third failure: %d %s", status, body)
	}
	if status, body := login("erin", "erin-password"); status != http.StatusTooManyRequests || !strings.Contains(body, "Try again in") {
		t.Fatalf("right password while locked: %d %s", status, body)
	}
	// Another account still works, until this address has used its attempts.
	c := agentClient(t, srv, "finn", "finn-password") // attempt 6
	login("finn", "x")
	login("finn", "y")
	if status, body := login("finn", "finn-password"); status != http.StatusOK {
		t.Fatalf("ninth attempt: %d %s", status, body)
	}
	if status, body := login("finn", "finn-password"); status != http.StatusTooManyRequests || !strings.Contains(body, "rate_limited") {
		t.Fatalf("tenth attempt from one address: %d %s", status, body)
	}

	// The login cookie is HttpOnly and SameSite.
	u, _ := url.Parse(srv.URL)
	cookies := c.Jar.Cookies(u)
	if len(cookies) != 1 || cookies[0].Name != "liveroom_agent" {
		t.Fatalf("cookies: %v", cookies)
	}
	req, _ := http.NewRequest("POST", srv.URL+"/api/agent/login", strings.NewReader(`{"agentId":"finn","password":"finn-password"}`))
	_ = req

	// Cross-site state changes are refused even with the cookie.
	for name, h := range map[string]map[string]string{
		"foreign Origin":   {"Origin": "http://evil.example"},
		"cross-site fetch": {"Sec-Fetch-Site": "cross-site"},
		"form-like post":   {"Content-Type": "text/plain"},
		"foreign login":    {"Origin": "http://evil.example"},
	} {
		path := "/api/agent/rooms"
		if name == "foreign login" {
			path = "/api/agent/login"
		}
		status, body := postJSON(t, c, srv, path, `{"id":"csrf"}`, h)
		if status != http.StatusForbidden && status != http.StatusUnsupportedMediaType {
			t.Fatalf("%s: %d %s", name, status, body)
		}
	}
	if status, body := postJSON(t, c, srv, "/api/agent/rooms", `{"id":"mine","shortName":"finn-desk"}`, map[string]string{"Origin": srv.URL}); status != http.StatusCreated {
		t.Fatalf("same-site create: %d %s", status, body)
	}
	resp, _ := c.Get(srv.URL + "/api/agent/rooms")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("list: %d", resp.StatusCode)
	}
	if _, err := http.Get(srv.URL + "/api/rooms/csrf"); err != nil {
		t.Fatal(err)
	}

	// /a/NAME needs the owner's login; the name alone gives nothing.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, _ = noRedirect.Get(srv.URL + "/a/finn-desk")
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound || !strings.HasPrefix(resp.Header.Get("Location"), "/agent?next=") {
		t.Fatalf("/a/ without login: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	resp, _ = c.Get(srv.URL + "/a/finn-desk")
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusFound || !strings.HasPrefix(loc, "/room/mine#agent=") {
		t.Fatalf("/a/ as the owner: %d %q", resp.StatusCode, loc)
	}

	// The agent socket needs the cookie and this origin; the visitor socket
	// knows no agent frames.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	wsURL := strings.Replace(srv.URL, "http", "ws", 1)
	if _, resp, err := websocket.Dial(ctx, wsURL+"/ws/agent", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {srv.URL}}}); err == nil || resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("agent socket without login: %v", err)
	}
	cookie := c.Jar.Cookies(u)[0]
	if _, _, err := websocket.Dial(ctx, wsURL+"/ws/agent", &websocket.DialOptions{HTTPHeader: http.Header{
		"Origin": {"http://evil.example"}, "Cookie": {cookie.Name + "=" + cookie.Value}}}); err == nil {
		t.Fatal("agent socket accepted another site's page")
	}
	vc, _, err := websocket.Dial(ctx, wsURL+"/ws/visitor", &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {"http://shop.example"}}})
	if err != nil {
		t.Fatalf("visitor socket from another site: %v", err)
	}
	defer vc.CloseNow()
	v := &wsClient{t: t, conn: vc}
	v.send(`{"id":"1","watch":{}}`)
	v.expectError("bad_frame")
	v.send(`{"id":"2","answer":{"requestId":"x","accept":true}}`)
	v.expectError("bad_frame")
	v.send(`{"id":"3","call":{"kind":"CALL_KIND_CHAT"}}`)
	v.expectError("not_joined")
	v.send(`{"id":"4","hello":{"agentId":"../finn"}}`)
	v.expectError("invalid")
	v.send(`{"id":"5","hello":{"agentId":"ghost"}}`)
	v.expectError("agent_not_found")
}
