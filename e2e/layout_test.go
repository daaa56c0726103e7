package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// tilesFit checks what a person sees in a call with a shared screen: the
// share's video is shown whole (object-fit contain, its whole box inside the
// window), every camera tile and its name are inside the window and inside
// the call area (not cut off or scrolled away).
const tilesFit = `(() => {
	const vw = window.innerWidth, vh = window.innerHeight;
	const inside = (r, b) => r.width > 0 && r.height > 0 && r.left >= b.left - 1 && r.top >= b.top - 1 && r.right <= b.right + 1 && r.bottom <= b.bottom + 1;
	const view = {left: 0, top: 0, right: vw, bottom: vh};
	const area = document.querySelector("#tiles").getBoundingClientRect();
	const screen = document.querySelector(".tile-screen video");
	if (!screen || !screen.videoWidth) return "no share video yet";
	if (getComputedStyle(screen).objectFit !== "contain") return "share is cropped (object-fit " + getComputedStyle(screen).objectFit + ")";
	const sr = screen.getBoundingClientRect();
	if (!inside(sr, view) || !inside(sr, area)) return "share box outside the window: " + JSON.stringify(sr);
	// The frame's shown size at contain scale must be a real picture, not a strip.
	const scale = Math.min(sr.width / screen.videoWidth, sr.height / screen.videoHeight);
	if (screen.videoWidth * scale < 200 && screen.videoWidth * scale < sr.width * 0.9) return "share shown too small: " + screen.videoWidth * scale;
	const cams = [...document.querySelectorAll(".tile:not(.tile-screen)")];
	if (cams.length < 2) return "camera tiles missing: " + cams.length;
	for (const t of cams) {
		const r = t.getBoundingClientRect(), n = t.querySelector(".tile-name").getBoundingClientRect();
		if (!inside(r, view) || !inside(r, area)) return "camera tile cut off: " + JSON.stringify(r);
		if (!inside(n, r)) return "tile name cut off";
		if (r.width < 60) return "camera tile too small: " + r.width;
	}
	return "ok";
})()`

// waitOK polls a check that returns "ok" or what is wrong, and reports the
// last answer when it never turns "ok".
func waitOK(t *testing.T, page context.Context, what, js string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	last := ""
	for time.Now().Before(deadline) {
		if last = eval[string](t, page, js); last == "ok" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("%s: %s", what, last)
}

func TestCallWithShareFitsLaptopAndPhone(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "fit")
	browser := newBrowser(t)
	agent := newPage(t, browser)
	do(t, agent, chromedp.EmulateViewport(1366, 768))
	visitor := phone(t, browser)
	agentID := joinAs(t, agent, agentLink, "Ann")
	joinAs(t, visitor, visitorLink, "Bob")
	// Two more people with long names: the phone's member strip cannot show
	// everyone, and its edge fades to say it scrolls.
	for _, name := range []string{"Bartholomew Longname", "Philippa Evenlongername"} {
		joinAs(t, newPage(t, browser), visitorLink, name)
	}
	waitJS(t, visitor, "the member strip fading at its edge", `document.querySelectorAll("#members .member").length === 4 &&
		document.querySelector("#members").classList.contains("more-right")`)
	shot(t, visitor, "phone-members")
	eval[bool](t, visitor, `(document.querySelector("#members").scrollLeft = 10000, true)`)
	waitJS(t, visitor, "no fade at the end of the strip", `!document.querySelector("#members").classList.contains("more-right")`)

	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	// While ringing, the caller's own preview stays small.
	waitJS(t, agent, "the small preview while ringing", `document.querySelector("#tiles").dataset.mode === "preview" &&
		document.querySelector(".tile[data-local]").getBoundingClientRect().width <= 330`)
	shot(t, agent, "laptop-ringing")
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	waitGrowing(t, visitor, "agent video", agentID, "video", "framesDecoded")

	shot(t, visitor, "phone-call")

	do(t, agent, chromedp.Click(chromedp.ID("screen-btn")))
	waitGrowing(t, visitor, "the agent's screen", agentID, "screen", "framesDecoded")
	for name, page := range map[string]context.Context{"laptop": agent, "phone": visitor} {
		waitOK(t, page, name+": share whole and tiles in view", tilesFit)
		if !eval[bool](t, page, fitsWidth) {
			t.Fatalf("%s: the page scrolls sideways", name)
		}
		shot(t, page, name+"-call-share")
	}
	// On the laptop the chat sits beside the call with room to read.
	if h := eval[float64](t, agent, `document.querySelector("#messages").getBoundingClientRect().height`); h < 250 {
		t.Fatalf("laptop: chat area only %vpx high during the call", h)
	}
	// Hiding the chat gives the call the page; bringing it below works too.
	do(t, agent, chromedp.SetValue(chromedp.ID("call-layout"), "nochat"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#call-layout").dispatchEvent(new Event("change"))`))
	waitJS(t, agent, "chat hidden", `getComputedStyle(document.querySelector(".chat")).display === "none" && document.querySelector("#call-panel").getBoundingClientRect().height > 500`)
	waitOK(t, agent, "laptop, chat hidden: share whole", tilesFit)
	shot(t, agent, "laptop-call-share-nochat")
	// With the chat hidden, the chooser says that something arrived.
	sendChat(t, visitor, "did you see the screen?")
	waitJS(t, agent, "new messages counted on the chooser", `document.querySelector('#call-layout option[value="nochat"]').textContent === "Hide chat (1 new)"`)
	do(t, agent, chromedp.SetValue(chromedp.ID("call-layout"), "below"), chromedp.Evaluate[chromedp.Void](`document.querySelector("#call-layout").dispatchEvent(new Event("change"))`))
	waitOK(t, agent, "laptop, chat below: share whole", tilesFit)
	waitJS(t, agent, "the message in the chat below", seesMessage("Bob", "did you see the screen?")+
		` && document.querySelector('#call-layout option[value="nochat"]').textContent === "Hide chat"`)
	shot(t, agent, "laptop-call-share-below")
}

// An audio-only call shows small name cards, not big empty video boxes.
func TestAudioCallShowsCompactTiles(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "cards")
	browser := newBrowser(t)
	agent := newPage(t, browser)
	do(t, agent, chromedp.EmulateViewport(1366, 768))
	visitor := newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	visitorID := joinAs(t, visitor, visitorLink, "Bob")
	do(t, agent, chromedp.Click(chromedp.ID("call-audio")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-audio")))
	waitGrowing(t, agent, "visitor audio", visitorID, "audio", "packetsReceived")
	waitOK(t, agent, "compact cards", `(() => {
		const panel = document.querySelector("#call-panel"), tiles = [...document.querySelectorAll(".tile")];
		if (!panel.classList.contains("audio-only")) return "not shown as audio-only: " + tiles.map(t => t.className).join(" / ");
		if (tiles.length !== 2) return tiles.length + " tiles";
		const big = tiles.find(t => t.getBoundingClientRect().height > 80);
		if (big) return "a tile " + big.getBoundingClientRect().height + "px high";
		const h = panel.getBoundingClientRect().height;
		return h < 250 ? "ok" : "call area " + h + "px high";
	})()`)
	shot(t, agent, "laptop-audio-call")
}
