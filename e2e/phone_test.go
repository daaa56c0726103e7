package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// fitsWidth is true when nothing on the page scrolls sideways.
const fitsWidth = `document.documentElement.scrollWidth <= window.innerWidth + 1`

// shot saves a screenshot under $LIVEROOM_SCREENSHOTS, when set, for a person
// to look at; the test itself only checks the layout numbers.
func shot(t *testing.T, page context.Context, name string) {
	t.Helper()
	dir := os.Getenv("LIVEROOM_SCREENSHOTS")
	if dir == "" {
		return
	}
	time.Sleep(300 * time.Millisecond) // let transitions and fonts settle
	tctx, cancel := context.WithTimeout(page, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(tctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", name, err)
		return
	}
	_ = os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644)
}

func phone(t *testing.T, browser context.Context) context.Context {
	t.Helper()
	page := newPage(t, browser)
	do(t, page, chromedp.EmulateViewport(390, 780, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait))
	return page
}

func TestAgentPageButtonAndEntryFormOnAPhone(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "gina", "Gina with a rather long display name", "gina@example.com", "gina-password")
	key := addAPIKey(t, dataDir, "gina")
	srv := startServer(t, dataDir)
	site := hostSite(t, srv, `data-agent-id="gina" data-text="Questions? Talk to a real person now" data-offline_email="gina@example.com"`)
	if status, res := apiCall(t, srv, "POST", "/api/v1/rooms", key,
		`{"id":"phone-room","shortName":"phone","durationMinutes":60,"entryForm":{"enabled":true,"showEmail":true,"showAvatar":true,"private":true}}`); status != 201 {
		t.Fatalf("create: %d %v", status, res)
	}
	browser := newBrowser(t)

	// The button, offline, and its offline form.
	visitor := phone(t, browser)
	do(t, visitor, chromedp.Navigate(site))
	waitJS(t, visitor, "the button", presenceIs("offline"))
	shot(t, visitor, "phone-button-offline")
	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".fab").click()`)))
	waitJS(t, visitor, "the offline form", btn(`!!b.querySelector("form.offline-form")`))
	shot(t, visitor, "phone-offline-form")
	inView := btn(`(() => { const r = b.querySelector(".panel").getBoundingClientRect();
		const f = b.querySelector(".fab").getBoundingClientRect();
		return r.left >= 0 && r.right <= innerWidth && r.top >= 0 && f.right <= innerWidth && f.bottom <= innerHeight; })()`)
	if !eval[bool](t, visitor, inView) || !eval[bool](t, visitor, fitsWidth) {
		t.Fatal("the button's panel does not fit a phone screen")
	}

	// The agent page on a phone.
	agent := phone(t, browser)
	loginAgent(t, agent, srv, "gina", "gina-password")
	waitJS(t, agent, "the visitor", `document.querySelectorAll("#visitors li.visitor").length === 1`)
	waitJS(t, visitor, "the button, online", presenceIs("online"))
	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".close").click()`)),
		chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".fab").click()`)))
	waitJS(t, visitor, "the choice", btn(`host.dataset.view === "choose"`))
	shot(t, visitor, "phone-button-choose")
	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".video").click()`)))
	waitJS(t, agent, "the request", `document.querySelector("#requests li.request")`)
	shot(t, agent, "phone-agent-page")
	if !eval[bool](t, agent, fitsWidth) {
		t.Fatalf("the agent page scrolls sideways on a phone: %v > %v",
			eval[float64](t, agent, `document.documentElement.scrollWidth`), eval[float64](t, agent, `innerWidth`))
	}
	// Touch targets stay usable.
	if h := eval[float64](t, agent, `document.querySelector("#requests button.accept").getBoundingClientRect().height`); h < 32 {
		t.Fatalf("accept button is %vpx high", h)
	}

	// The room's join form with the entry form.
	room := phone(t, browser)
	do(t, room, chromedp.Navigate(srv.URL+"/r/phone"))
	waitJS(t, room, "the entry form", `document.body.dataset.state === "joining" && !document.querySelector("#join-email-field").hidden`)
	if eval[bool](t, room, `document.querySelector("#join-password-field").hidden || document.querySelector("#join-avatar-field").hidden`) {
		t.Fatal("private entry form without password or avatar field")
	}
	shot(t, room, "phone-entry-form")
	if !eval[bool](t, room, fitsWidth) {
		t.Fatal("the entry form scrolls sideways on a phone")
	}

	// Wide screen, for the screenshots.
	if os.Getenv("LIVEROOM_SCREENSHOTS") != "" {
		wide := newPage(t, browser)
		do(t, wide, chromedp.EmulateViewport(1280, 900))
		loginAgent(t, wide, srv, "gina", "gina-password")
		waitJS(t, wide, "the request", `document.querySelector("#requests li.request")`)
		shot(t, wide, "wide-agent-page")
	}
}
