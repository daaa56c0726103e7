package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// waitBroadcast polls a JavaScript expression like waitJS, with a deadline fit
// for many pages with video on a busy machine.
func waitBroadcast(t *testing.T, ctx context.Context, what, js string) {
	t.Helper()
	waitLong(t, ctx, what, js, 90*time.Second)
}

// decoding waits until the viewer decodes at least n video tracks and each
// of them keeps decoding.
func decoding(t *testing.T, page context.Context, what string, n int) {
	t.Helper()
	stats := `window.liveroomViewer.stats().then(s => s.filter(x => x.framesDecoded > 5))`
	waitBroadcast(t, page, what, stats+`.then(s => s.length >= `+fmt.Sprint(n)+`)`)
	first := eval[map[string]float64](t, page, stats+`.then(s => Object.fromEntries(s.map(x => [x.mid, x.framesDecoded])))`)
	waitBroadcast(t, page, what+" (still growing)", stats+`.then(s => { const first = `+mapJS(first)+`;
		return Object.keys(first).every(mid => s.some(x => x.mid === mid && x.framesDecoded > first[mid])); })`)
}

func mapJS(m map[string]float64) string {
	out := "{"
	for k, v := range m {
		out += jsString(k) + ":" + fmt.Sprint(v) + ","
	}
	return out + "}"
}

func TestBroadcastOneBroadcasterFiveViewersSecondBroadcasterEnded(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "lena", "Lena", "", "secret-pass")
	key := addAPIKey(t, dir, "lena")
	srv := startServer(t, dir, "--broadcast-max-viewers", "5")

	if code, _ := apiCall(t, srv, "POST", "/api/v1/broadcasts", "", `{"id":"physics"}`); code != 401 {
		t.Fatalf("create without a key: %d, want 401", code)
	}
	code, b := apiCall(t, srv, "POST", "/api/v1/broadcasts", key, `{"id":"physics","title":"Physics 101"}`)
	if code != 201 {
		t.Fatalf("create broadcast: %d %v", code, b)
	}
	broadcasterURL, viewerURL := b["broadcasterUrl"].(string), b["viewerUrl"].(string)
	if code, _ := apiCall(t, srv, "POST", "/api/v1/broadcasts", key, `{"id":"physics"}`); code != 409 {
		t.Fatalf("same id again: %d, want 409", code)
	}

	browser := newBrowser(t)
	host := newPage(t, browser)
	do(t, host, chromedp.Navigate(broadcasterURL))
	waitBroadcast(t, host, "the broadcaster page with its preview",
		`!document.querySelector("#live").hidden && document.querySelector("#preview").srcObject !== null`)

	viewers := make([]context.Context, 5)
	for i := range viewers {
		viewers[i] = newPage(t, browser)
		do(t, viewers[i], chromedp.Navigate(viewerURL))
		waitBroadcast(t, viewers[i], "viewer waiting", `document.body.dataset.phase === "waiting" &&
			document.querySelector("#waiting").textContent.includes("Waiting for the broadcast to start")`)
	}
	waitBroadcast(t, host, "5 watching", `document.querySelector("#viewer-count").textContent === "5"`)

	// The sixth is one too many.
	extra := newPage(t, browser)
	do(t, extra, chromedp.Navigate(viewerURL))
	waitBroadcast(t, extra, "the full page", `document.body.dataset.error === "broadcast_full" &&
		document.querySelector("#notice-title").textContent.includes("full")`)

	// A viewer may not send media.
	refused := eval[string](t, viewers[0], `(async () => {
		const pc = new RTCPeerConnection();
		pc.addTransceiver("video", { direction: "sendonly" });
		await pc.setLocalDescription(await pc.createOffer());
		try { await window.liveroomViewer.o.wire().request({ publishOffer: { sdp: pc.localDescription.sdp } }); return "accepted"; }
		catch (e) { return e.code; } finally { pc.close(); }
	})()`)
	if refused != "receive_only" {
		t.Fatalf("a viewer's offer to send: %q, want receive_only", refused)
	}

	do(t, host, chromedp.Click(chromedp.ID("go-live")))
	for i, v := range viewers {
		waitBroadcast(t, v, "live", `document.body.dataset.phase === "live"`)
		decoding(t, v, fmt.Sprintf("viewer %d decodes the broadcaster", i+1), 1)
	}
	// The broadcaster sends simulcast (Chrome may leave out the top layer
	// for a small camera) and each viewer decodes the layer the SFU picks.
	waitBroadcast(t, host, "the broadcaster sending simulcast layers", `window.liveroomBroadcast.pub.getStats().then(s => {
		let n = 0;
		s.forEach(r => { if (r.type === "outbound-rtp" && r.kind === "video" && r.rid && r.bytesSent > 0) n++; });
		return n >= 2;
	})`)
	layers := srv.waitLogCount(`"simulcast layer"`, 2)
	if layers < 2 {
		t.Fatalf("the SFU took %d simulcast layers of the broadcaster's video, want at least 2", layers)
	}
	if layers >= 3 {
		// Viewers start on the middle layer and clean reports move them up:
		// they keep decoding across the switch.
		deadline := time.Now().Add(90 * time.Second)
		for metric(t, srv, "liveroom_simulcast_layer_switches_total") < float64(len(viewers)) {
			if time.Now().After(deadline) {
				t.Fatalf("%v simulcast layer switches, want one per viewer", metric(t, srv, "liveroom_simulcast_layer_switches_total"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		for i, v := range viewers {
			decoding(t, v, fmt.Sprintf("viewer %d decodes after a layer switch", i+1), 1)
		}
	}
	t.Logf("the broadcaster sends %d simulcast layers", layers)

	// A second device joins with the same broadcaster link.
	host2 := newPage(t, browser)
	do(t, host2, chromedp.Navigate(broadcasterURL))
	waitBroadcast(t, host2, "the second broadcaster's preview",
		`!document.querySelector("#live").hidden && document.querySelector("#preview").srcObject !== null`)
	do(t, host2, chromedp.Click(chromedp.ID("go-live")))
	for i, v := range viewers {
		waitBroadcast(t, v, "two tiles", `document.querySelectorAll("#tiles video").length === 2`)
		decoding(t, v, fmt.Sprintf("viewer %d decodes both broadcasters", i+1), 2)
	}

	// One stops: still live. Both stop: ended.
	do(t, host2, chromedp.Click(chromedp.ID("stop")))
	waitBroadcast(t, viewers[0], "one tile again", `document.querySelectorAll("#tiles video").length === 1 &&
		document.body.dataset.phase === "live"`)
	do(t, host, chromedp.Click(chromedp.ID("stop")))
	for _, v := range viewers {
		waitBroadcast(t, v, "the ended notice", `document.body.dataset.phase === "ended" &&
			document.querySelector("#waiting").textContent.includes("ended")`)
	}

	code, info := apiCall(t, srv, "GET", "/api/broadcasts/physics", "", "")
	if code != 200 || info["phase"] != "ended" || info["title"] != "Physics 101" {
		t.Fatalf("broadcast info: %d %v", code, info)
	}
}

func TestAgentPageNewBroadcastOpensBroadcasterTabAndShowsViewerLink(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "omar", "Omar", "", "omar-password")
	srv := startServer(t, dir)
	browser := newBrowser(t)
	page := newPage(t, browser)
	loginAgent(t, page, srv, "omar", "omar-password")

	opened := chromedp.WaitNewTarget(page, func(i *target.Info) bool { return strings.Contains(i.URL, "/broadcast/") })
	do(t, page, chromedp.SetValue(chromedp.ID("broadcast-title"), "Town hall"),
		chromedp.Click(chromedp.ID("broadcast-button")))
	waitJS(t, page, "the broadcast links", `!document.querySelector("#broadcast-created").hidden &&
		document.querySelector("#broadcast-viewer").textContent.includes("/watch/")`)
	select {
	case <-opened:
	case <-time.After(30 * time.Second):
		t.Fatal("no broadcaster tab opened")
	}
	viewerURL := eval[string](t, page, `document.querySelector("#broadcast-viewer").href`)
	id := viewerURL[strings.LastIndex(viewerURL, "/")+1:]
	// The new tab joined as a broadcaster (it holds the key from the link).
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, info := apiCall(t, srv, "GET", "/api/broadcasts/"+id, "", "")
		if code == 200 && info["broadcasters"] == float64(1) && info["title"] == "Town hall" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the broadcaster tab did not join: %d %v", code, info)
		}
		time.Sleep(250 * time.Millisecond)
	}

	// The viewer is on a phone.
	viewer := newPage(t, browser)
	do(t, viewer, chromedp.EmulateViewport(390, 780, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait),
		chromedp.Navigate(viewerURL))
	waitBroadcast(t, viewer, "the viewer waiting", `document.body.dataset.phase === "waiting" &&
		document.title === "Town hall"`)
	waitBroadcast(t, viewer, "the phone layout: stage on top, chat below, nothing wider than the screen", fitsWidth+` &&
		document.querySelector(".live-stage").getBoundingClientRect().bottom <= document.querySelector("#chat").getBoundingClientRect().top + 1 &&
		document.querySelector("#chat-input").getBoundingClientRect().width > 200`)
	if code, info := apiCall(t, srv, "GET", "/api/broadcasts/"+id, "", ""); code != 200 || info["viewers"] != float64(1) {
		t.Fatalf("broadcast info: %d %v", code, info)
	}

	// The card lists it; Delete (confirmed) ends it and takes it off.
	item := `document.querySelector('#broadcasts li[data-broadcast-id="` + id + `"]')`
	waitJS(t, page, "the broadcast in the card's list", item+` !== null && `+item+`.textContent.includes("Town hall")`)
	eval[bool](t, page, `(window.confirm = () => true, true)`)
	do(t, page,
		chromedp.Click(`#broadcasts li[data-broadcast-id="`+id+`"] .delete-broadcast`))
	waitJS(t, page, "the broadcast gone from the list", item+` === null`)
	waitBroadcast(t, viewer, "the viewer sees it end", `document.body.dataset.phase === "ended"`)
	if code, _ := apiCall(t, srv, "GET", "/api/broadcasts/"+id, "", ""); code != 404 {
		t.Fatalf("info after delete: %d", code)
	}
}

func TestBroadcastViewerChatSwitchedByBroadcaster(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "kai", "Kai", "", "kai-password")
	key := addAPIKey(t, dir, "kai")
	addAgent(t, dir, "other", "Other", "", "other-password")
	otherKey := addAPIKey(t, dir, "other")
	srv := startServer(t, dir)
	_, broadcasterURL := createBroadcast(t, srv, key, "qa")

	browser := newBrowser(t)
	host, viewer := newPage(t, browser), newPage(t, browser)
	do(t, host, chromedp.Navigate(broadcasterURL))
	waitBroadcast(t, host, "the broadcaster page", `!document.querySelector("#live").hidden`)
	do(t, viewer, chromedp.Navigate(srv.URL+"/watch/qa"))
	waitBroadcast(t, viewer, "the viewer's chat", `!document.querySelector("#live").hidden && !document.querySelector("#chat").hidden`)

	do(t, viewer, chromedp.SetValue(chromedp.ID("chat-input"), "<b>Hello</b> from the back row"),
		chromedp.Click(`#chat-form button`))
	waitBroadcast(t, host, "the viewer's message, as text", `[...document.querySelectorAll("#chat-list li")].some(li =>
		li.textContent.includes("<b>Hello</b> from the back row")) && !document.querySelector("#chat-list b")`)

	do(t, host, chromedp.Click(chromedp.ID("chat-toggle")))
	waitBroadcast(t, viewer, "chat switched off", `document.querySelector("#chat").hidden`)
	refused := eval[string](t, viewer, `window.liveroomViewer.o.wire().request({ chat: { text: "still here?" } })
		.then(() => "accepted", e => e.code)`)
	if refused != "chat_off" {
		t.Fatalf("chat while off: %q", refused)
	}
	do(t, host, chromedp.Click(chromedp.ID("chat-toggle")))
	waitBroadcast(t, viewer, "chat back on", `!document.querySelector("#chat").hidden && !document.querySelector("#chat-input").disabled`)

	// Chat is stored: a viewer who opens the page now sees what was said,
	// once, and a reload does not repeat it.
	late := newPage(t, browser)
	do(t, late, chromedp.Navigate(srv.URL+"/watch/qa"))
	once := `[...document.querySelectorAll("#chat-list li")].filter(li => li.textContent.includes("from the back row")).length === 1`
	waitBroadcast(t, late, "the earlier message in a late viewer's chat", once)
	do(t, late, chromedp.Reload())
	waitBroadcast(t, late, "the earlier message once after a reload", `!document.querySelector("#live").hidden && `+once)

	// The API lists the key's broadcasts and deletes one: everyone in it
	// sees it end, and it is gone.
	code, list := apiCall(t, srv, "GET", "/api/v1/broadcasts", key, "")
	items, _ := list["broadcasts"].([]any)
	if code != 200 || len(items) != 1 || items[0].(map[string]any)["id"] != "qa" ||
		!strings.HasSuffix(items[0].(map[string]any)["viewerUrl"].(string), "/watch/qa") {
		t.Fatalf("list: %d %v", code, list)
	}
	if code, list := apiCall(t, srv, "GET", "/api/v1/broadcasts", otherKey, ""); code != 200 || len(list["broadcasts"].([]any)) != 0 {
		t.Fatalf("another agent's list: %d %v", code, list)
	}
	if code, _ := apiCall(t, srv, "DELETE", "/api/v1/broadcasts/qa", otherKey, ""); code != 404 {
		t.Fatalf("delete by another agent: %d", code)
	}
	if code, _ := apiCall(t, srv, "DELETE", "/api/v1/broadcasts/qa", key, ""); code != 204 {
		t.Fatalf("delete: %d", code)
	}
	waitBroadcast(t, viewer, "the broadcast ended for the viewer", `document.body.dataset.phase === "ended"`)
	if code, _ := apiCall(t, srv, "GET", "/api/broadcasts/qa", "", ""); code != 404 {
		t.Fatalf("info after delete: %d", code)
	}
	if code, _ := apiCall(t, srv, "DELETE", "/api/v1/broadcasts/qa", key, ""); code != 404 {
		t.Fatalf("second delete: %d", code)
	}
}
