package e2e

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

// Past the per-address room creation limit, the start page shows why.
func TestRoomCreationLimitShownOnStartPage(t *testing.T) {
	srv := startServer(t, t.TempDir(), "--rooms-per-ip-per-minute", "1")
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json", strings.NewReader(`{"id":"first"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("first room: %v %v", err, resp)
	}
	resp.Body.Close()
	browser := newBrowser(t)
	page := newPage(t, browser)
	do(t, page, chromedp.Navigate(srv.URL+"/"), chromedp.Click(chromedp.ID("create-room")))
	waitJS(t, page, "the limit's reason on the start page",
		`/too many rooms/i.test(document.querySelector("#create-error")?.textContent || "")`)
}

// Agent ids are public: a stranger who locks the account by guessing locks
// out only their own address; the owner, elsewhere, still logs in.
func TestStrangerCannotLockTheOwnerOut(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "erin", "Erin", "", "erin-password")
	srv := startServer(t, dataDir, "--login-max-failures", "3")
	stranger := &http.Client{}
	// The owner's requests come from another loopback address.
	owner := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{
		LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}).DialContext}}
	login := func(c *http.Client, pw string) (int, string) {
		return postJSON(t, c, srv, "/api/agent/login", fmt.Sprintf(`{"agentId":"erin","password":%q}`, pw), nil)
	}
	status, body := 0, ""
	for i := 0; i < 3; i++ {
		status, body = login(stranger, "guess")
	}
	if status != http.StatusTooManyRequests || !strings.Contains(body, "account_locked") {
		t.Fatalf("third wrong password from the stranger: %d %s", status, body)
	}
	if status, body := login(stranger, "erin-password"); status != http.StatusTooManyRequests {
		t.Fatalf("the stranger's address with the right password while locked: %d %s", status, body)
	}
	if status, body := login(owner, "erin-password"); status != http.StatusOK {
		t.Fatalf("the owner, from another address, was locked out: %d %s", status, body)
	}
}
