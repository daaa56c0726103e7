package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"liveroom/config"
	"liveroom/internal/testserver"
	"liveroom/persistence"
	"liveroom/proto/pb"
	"liveroom/webhook"
)

// seedAdmin writes an admin account into a fresh data folder, as
// `liveroom admin admin add` does before the first start.
func seedAdmin(t *testing.T, dir, id, password string) {
	t.Helper()
	store, err := persistence.OpenPebble(filepath.Join(dir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), 4)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := proto.Marshal(&pb.AgentRecord{Id: id, Name: id, PasswordHash: string(hash), Role: "admin",
		CreatedAtMs: time.Now().UnixMilli()})
	if err := store.Set(persistence.AgentKey(id), raw); err != nil {
		t.Fatal(err)
	}
}

type caller struct {
	name    string
	client  *http.Client
	headers map[string]string
}

func (c *caller) do(t *testing.T, method, url, body string) (int, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range c.headers {
		req.Header.Set(k, v)
	}
	resp, err := c.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s %s: %v", c.name, method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

func loggedIn(t *testing.T, base, id, password string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.Post(base+"/api/agent/login", "application/json",
		strings.NewReader(`{"agentId":"`+id+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %s", id, resp.Status)
	}
	return c
}

// TestAdminAuthorizationMatrix calls every admin endpoint as each kind of
// caller over real HTTP and checks each answer.
func TestAdminAuthorizationMatrix(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	base := srv.URL
	adminCookie := loggedIn(t, base, "root", "root-password")
	admin := &caller{name: "admin", client: adminCookie}

	// The admin makes a supervisor, an agent, and keys for each, through the API.
	for _, a := range []struct{ id, role string }{{"sup", "supervisor"}, {"agent1", ""}} {
		status, body := admin.do(t, "POST", base+"/api/admin/agents",
			`{"id":"`+a.id+`","role":"`+a.role+`","password":"`+a.id+`-password"}`)
		if status != http.StatusCreated {
			t.Fatalf("create %s: %d %s", a.id, status, body)
		}
	}
	key := func(agentID string) string {
		status, body := admin.do(t, "POST", base+"/api/admin/agents/"+agentID+"/keys", `{"name":"matrix"}`)
		if status != http.StatusCreated {
			t.Fatalf("key for %s: %d %s", agentID, status, body)
		}
		var res struct{ Key string }
		_ = json.Unmarshal(body, &res)
		return res.Key
	}
	rootKey, supKey, agentKey := key("root"), key("sup"), key("agent1")
	// A room with one chat message to read.
	status, body := (&caller{name: "anon", client: http.DefaultClient}).do(t, "POST", base+"/api/rooms", `{"id":"r1"}`)
	if status != http.StatusCreated {
		t.Fatalf("create room: %d %s", status, body)
	}

	plain := &http.Client{Timeout: 30 * time.Second}
	// The panel page itself: a strict policy, never framed.
	resp, err := plain.Get(base + "/admin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if csp := resp.Header.Get("Content-Security-Policy"); resp.StatusCode != 200 || !strings.Contains(csp, "frame-ancestors 'none'") ||
		!strings.Contains(csp, "connect-src 'self'") || strings.Contains(csp, "https:") || resp.Header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("/admin: %s, CSP %q, X-Frame-Options %q", resp.Status, csp, resp.Header.Get("X-Frame-Options"))
	}
	callers := map[string]*caller{
		"anonymous":      {name: "anonymous", client: plain},
		"agent cookie":   {name: "agent cookie", client: loggedIn(t, base, "agent1", "agent1-password")},
		"agent key":      {name: "agent key", client: plain, headers: map[string]string{"Authorization": "Bearer " + agentKey}},
		"bad key":        {name: "bad key", client: plain, headers: map[string]string{"Authorization": "Bearer lrk_nonsense"}},
		"supervisor":     {name: "supervisor", client: loggedIn(t, base, "sup", "sup-password")},
		"supervisor key": {name: "supervisor key", client: plain, headers: map[string]string{"Authorization": "Bearer " + supKey}},
		"admin":          admin,
		"admin key":      {name: "admin key", client: plain, headers: map[string]string{"Authorization": "Bearer " + rootKey}},
		"foreign origin": {name: "foreign origin", client: adminCookie, headers: map[string]string{"Origin": "http://evil.example"}},
		"cross-site":     {name: "cross-site", client: adminCookie, headers: map[string]string{"Sec-Fetch-Site": "cross-site"}},
	}
	const forbidden = http.StatusForbidden
	// ok is the answer for a caller allowed in; admin-only endpoints answer
	// forbidden to supervisors.
	endpoints := []struct {
		method, path, body string
		adminOnly          bool
		ok                 int
	}{
		{"GET", "/api/admin/me", "", false, 200},
		{"GET", "/api/admin/overview", "", false, 200},
		{"GET", "/api/admin/settings", "", false, 200},
		{"GET", "/api/admin/agents", "", false, 200},
		{"POST", "/api/admin/agents", `{"id":"not valid!"}`, true, 400},
		{"PATCH", "/api/admin/agents/agent1", `{"name":"Agent One"}`, true, 200},
		{"DELETE", "/api/admin/agents/agent1", "", true, 428},
		{"GET", "/api/admin/agents/agent1/keys", "", true, 200},
		{"POST", "/api/admin/agents/nobody/keys", `{"name":"x"}`, true, 404},
		{"DELETE", "/api/admin/agents/agent1/keys/lrk_whatever", "", true, 428},
		{"GET", "/api/admin/rooms", "", false, 200},
		{"GET", "/api/admin/rooms/r1", "", false, 200},
		{"POST", "/api/admin/rooms/no-such-room/close", "", false, 404},
		{"DELETE", "/api/admin/rooms/r1", "", false, 428},
		{"GET", "/api/admin/rooms/r1/chat", "", false, 200},
		{"GET", "/api/admin/rooms/r1/export?format=csv", "", false, 200},
		{"GET", "/api/admin/chat?q=hello", "", false, 200},
		{"GET", "/api/admin/chat/export?q=hello&format=json", "", false, 200},
		{"GET", "/api/admin/files", "", false, 200},
		{"GET", "/api/admin/files/r1/nofile", "", false, 404},
		{"DELETE", "/api/admin/files/r1/nofile", "", false, 404},
		{"GET", "/api/admin/recordings", "", false, 200},
		{"GET", "/api/admin/recordings?room=r1", "", false, 200},
		{"GET", "/api/admin/recordings/r1/norec", "", false, 404},
		{"DELETE", "/api/admin/recordings/r1/norec", "", false, 404},
		{"GET", "/api/admin/offline", "", false, 200},
		{"GET", "/api/admin/entries", "", false, 200},
		{"GET", "/api/admin/audit", "", false, 200},
		{"GET", "/api/admin/audit/export", "", false, 200},
		{"GET", "/api/admin/webhooks", "", true, 200},
		{"POST", "/api/admin/webhooks", `{"url":"ftp://nowhere"}`, true, 400},
		{"DELETE", "/api/admin/webhooks/nohook", "", true, 428},
		{"GET", "/api/admin/webhooks/nohook/deliveries", "", true, 200},
	}
	for _, e := range endpoints {
		for name, c := range callers {
			want := e.ok
			switch name {
			case "anonymous", "bad key":
				want = http.StatusUnauthorized
			case "agent cookie", "agent key", "foreign origin", "cross-site":
				want = forbidden
			case "supervisor", "supervisor key":
				if e.adminOnly {
					want = forbidden
				}
			}
			status, body := c.do(t, e.method, base+e.path, e.body)
			if status != want {
				t.Errorf("%s %s as %s: %d, want %d (%s)", e.method, e.path, name, status, want, strings.TrimSpace(string(body)))
			}
		}
	}
}

// TestWebhooksFromARunningServer: a receiver added through the admin API
// gets a signed room.created event when a room is made.
func TestWebhooksFromARunningServer(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	got := make(chan webhook.Body, 10)
	var secret atomic.Value
	secret.Store("")
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !webhook.Verify(secret.Load().(string), r.Header.Get(webhook.HeaderTimestamp), r.Header.Get(webhook.HeaderSignature),
			body, time.Now(), time.Minute) {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		var b webhook.Body
		_ = json.Unmarshal(body, &b)
		got <- b
	}))
	defer recv.Close()
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	admin := &caller{name: "admin", client: loggedIn(t, srv.URL, "root", "root-password")}
	status, body := admin.do(t, "POST", srv.URL+"/api/admin/webhooks", `{"url":"`+recv.URL+`","events":["room.created"]}`)
	if status != http.StatusCreated {
		t.Fatalf("create webhook: %d %s", status, body)
	}
	var created struct {
		Secret  string
		Webhook struct{ ID string }
	}
	_ = json.Unmarshal(body, &created)
	secret.Store(created.Secret)
	status, body = (&caller{name: "anon", client: http.DefaultClient}).do(t, "POST", srv.URL+"/api/rooms", `{"id":"hooked"}`)
	if status != http.StatusCreated {
		t.Fatalf("create room: %d %s", status, body)
	}
	select {
	case b := <-got:
		if b.Type != "room.created" || b.RoomID != "hooked" {
			t.Fatalf("received %+v", b)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no webhook delivery within 30s")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		status, body = admin.do(t, "GET", srv.URL+"/api/admin/webhooks/"+created.Webhook.ID+"/deliveries", "")
		if status == 200 && strings.Contains(string(body), `"status":200`) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %d %s", status, body)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
