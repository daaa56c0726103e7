package web_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"liveroom/access"
	"liveroom/config"
	"liveroom/internal/testserver"
)

func login(t *testing.T, base, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(base+"/api/agent/login", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var res struct{ Error struct{ Code string } }
	_ = json.NewDecoder(resp.Body).Decode(&res)
	return resp.StatusCode, res.Error.Code
}

// TestSecondFactorLogin: an admin turns on TOTP; from then on the password
// alone is not enough, a wrong code counts as a failure, and a code works
// only once.
func TestSecondFactorLogin(t *testing.T) {
	dir := t.TempDir()
	seedAdmin(t, dir, "root", "root-password")
	srv := testserver.Start(t, func(c *config.Config) { c.DataDir = dir })
	admin := &caller{name: "admin", client: loggedIn(t, srv.URL, "root", "root-password")}
	status, body := admin.do(t, "POST", srv.URL+"/api/admin/me/totp/new", "")
	var proposal struct{ Secret, URI string }
	if status != 200 || json.Unmarshal(body, &proposal) != nil || !strings.HasPrefix(proposal.URI, "otpauth://totp/Liveroom:root?") {
		t.Fatalf("totp/new: %d %s", status, body)
	}
	secret, ok := access.ParseTOTPText(proposal.Secret)
	if !ok {
		t.Fatalf("secret %q", proposal.Secret)
	}
	if status, body = admin.do(t, "POST", srv.URL+"/api/admin/me/totp", `{"secret":"`+proposal.Secret+`","code":"000000"}`); status == 200 &&
		access.TOTPAt(secret, time.Now()) != "000000" {
		t.Fatalf("a wrong code turned the second factor on: %s", body)
	}
	code := access.TOTPAt(secret, time.Now())
	if status, body = admin.do(t, "POST", srv.URL+"/api/admin/me/totp", `{"secret":"`+proposal.Secret+`","code":"`+code+`"}`); status != 200 {
		t.Fatalf("turning it on: %d %s", status, body)
	}
	if status, code := login(t, srv.URL, `{"agentId":"root","password":"root-password"}`); status != 401 || code != "totp_required" {
		t.Fatalf("password alone: %d %s", status, code)
	}
	if status, code := login(t, srv.URL, `{"agentId":"root","password":"root-password","code":"12345x"}`); status != 401 || code != "wrong_login" {
		t.Fatalf("wrong code: %d %s", status, code)
	}
	next := access.TOTPAt(secret, time.Now().Add(30*time.Second))
	if status, code := login(t, srv.URL, `{"agentId":"root","password":"root-password","code":"`+next+`"}`); status != 200 {
		t.Fatalf("password and code: %d %s", status, code)
	}
	if status, code := login(t, srv.URL, `{"agentId":"root","password":"root-password","code":"`+next+`"}`); status != 401 {
		t.Fatalf("the same code again: %d %s", status, code)
	}
	status, body = admin.do(t, "GET", srv.URL+"/api/admin/me", "")
	if status != 200 || !strings.Contains(string(body), `"totp":true`) {
		t.Fatalf("me: %d %s", status, body)
	}
}
