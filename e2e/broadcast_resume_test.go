package e2e

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
)

func TestBroadcasterDropsAndReturnsWithinGraceViewersNeverSeeEnded(t *testing.T) {
	dir := t.TempDir()
	addAgent(t, dir, "nia", "Nia", "", "nia-password")
	key := addAPIKey(t, dir, "nia")
	srv := startServer(t, dir, "--resume-grace-seconds", "30")
	_, broadcasterURL := createBroadcast(t, srv, key, "radio")
	proxy := newCutProxy(t, strings.TrimPrefix(srv.URL, "http://"))

	browser := newBrowser(t)
	host := newPage(t, browser)
	do(t, host, chromedp.Navigate(strings.Replace(broadcasterURL, srv.URL, proxy.URL(), 1)))
	waitBroadcast(t, host, "the broadcaster preview", `!document.querySelector("#live").hidden &&
		document.querySelector("#preview").srcObject !== null`)
	viewer := newPage(t, browser)
	do(t, viewer, chromedp.Navigate(srv.URL+"/watch/radio"))
	waitBroadcast(t, viewer, "viewer waiting", `document.body.dataset.phase === "waiting"`)
	do(t, host, chromedp.Click(chromedp.ID("go-live")))
	decoding(t, viewer, "the viewer decodes", 1)
	eval[bool](t, viewer, `(() => { window.sawEnded = false;
		setInterval(() => { if (document.body.dataset.phase !== "live") window.sawEnded = true; }, 20); return true; })()`)
	before := eval[[]float64](t, viewer, `window.liveroomViewer.stats().then(s => s.map(x => x.ssrc))`)

	// The broadcaster's socket drops; its page reconnects and sends again.
	proxy.Cut() // a network change: every open connection is reset at once
	proxy.Restore()
	old, _ := json.Marshal(before)
	waitBroadcast(t, viewer, "video from the returned broadcaster (a new stream)",
		`window.liveroomViewer.stats().then(s => s.some(x => !`+string(old)+`.includes(x.ssrc) && x.framesDecoded > 5))`)
	decoding(t, viewer, "the viewer decodes again", 1)
	if eval[bool](t, viewer, `window.sawEnded`) {
		t.Fatal("the viewer saw the broadcast leave the live phase while the broadcaster came back")
	}
	waitBroadcast(t, host, "the broadcaster still live", `!document.querySelector("#stop").hidden`)
}
