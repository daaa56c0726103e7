package e2e

import (
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
