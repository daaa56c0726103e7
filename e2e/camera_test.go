package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// newBrowserWithCameras is newBrowser with several fake cameras that report
// no facing mode, like the webcams of a computer.
func newBrowserWithCameras(t *testing.T, n string) context.Context {
	t.Helper()
	return startChromium(t, "device-count="+n)
}

// "Switch camera" on a computer walks through the cameras by device, shows
// which one is in use, and swaps the track in place (no new offer).
func TestSwitchCameraCyclesComputerCameras(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "cams")
	browser := newBrowserWithCameras(t, "3")
	agent, visitor := newPage(t, browser), newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	visitorID := joinAs(t, visitor, visitorLink, "Bob")
	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	waitGrowing(t, agent, "visitor video", visitorID, "video", "framesDecoded")

	waitJS(t, visitor, "the camera menu with three cameras", `!document.querySelector("#switch-camera-btn").hidden &&
		!document.querySelector("#camera-menu").hidden && document.querySelectorAll("#camera-menu option").length === 3`)
	// Count offers from here on: a camera switch must not renegotiate.
	eval[bool](t, visitor, `(() => { const w = window.liveroomCall.wire; window.offers = 0; const send = w.send.bind(w);
		w.send = (body, id) => { if (body.publishOffer) window.offers++; return send(body, id); }; return true; })()`)
	current := `window.liveroomCall.cam.getSettings().deviceId`
	seen := map[string]bool{eval[string](t, visitor, current): true}
	for i := 1; i <= 3; i++ {
		before := eval[string](t, visitor, current)
		do(t, visitor, chromedp.Click(chromedp.ID("switch-camera-btn")))
		waitJS(t, visitor, "a different camera", current+` !== `+jsString(before))
		id := eval[string](t, visitor, current)
		// The menu names the camera in use, and the sender sends it.
		waitJS(t, visitor, "the menu showing the camera in use", `document.querySelector("#camera-menu").value === `+jsString(id)+
			` && window.liveroomCall.senders.camera.track === window.liveroomCall.cam`)
		seen[id] = true
		if i == 2 {
			// The third fake camera sends frames: the agent sees them.
			time.Sleep(time.Second)
			waitGrowing(t, agent, "video from the third camera", visitorID, "video", "framesDecoded")
		}
	}
	if len(seen) != 3 {
		t.Fatalf("switching went through %d cameras, want 3", len(seen))
	}
	if n := eval[int](t, visitor, `window.offers`); n != 0 {
		t.Fatalf("switching cameras sent %d new offers", n)
	}
	// Back on the first camera, frames flow again.
	waitGrowing(t, agent, "video back on the first camera", visitorID, "video", "framesDecoded")
}
