package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// createRoomLinks makes a room through the API and returns the visitor and
// agent links.
func createRoomLinks(t *testing.T, srv *server, id string) (visitor, agent string) {
	t.Helper()
	resp, err := http.Post(srv.URL+"/api/rooms", "application/json",
		strings.NewReader(`{"id":"`+id+`","visitorName":"Guest","agentName":"Agent"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct{ VisitorURL, AgentURL string }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %d %v", resp.StatusCode, err)
	}
	return out.VisitorURL, out.AgentURL
}

func joinAs(t *testing.T, page context.Context, link, name string) string {
	t.Helper()
	joinRoom(t, page, link, name, "")
	waitJS(t, page, name+" joined", `document.body.dataset.state === "joined"`)
	return eval[string](t, page, `window.liveroomCall.memberIdOf()`)
}

// inbound reads the page's receive statistics for one remote member.
func inbound(t *testing.T, page context.Context, memberID, kind, field string) float64 {
	t.Helper()
	return eval[float64](t, page, `window.liveroomCall.stats().then(s => (s[`+jsString(memberID+":"+kind)+`] || {}).`+field+` || 0)`)
}

// waitGrowing waits until a statistic is above min and still growing.
func waitGrowing(t *testing.T, page context.Context, what, memberID, kind, field string) {
	t.Helper()
	waitJS(t, page, what, `window.liveroomCall.stats().then(s => ((s[`+jsString(memberID+":"+kind)+`] || {}).`+field+` || 0) > 5)`)
	first := inbound(t, page, memberID, kind, field)
	deadline := time.Now().Add(15 * time.Second)
	for inbound(t, page, memberID, kind, field) <= first {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s stopped at %v", what, field, first)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestVideoCallWithTwoVisitorsMuteScreenShareHangup(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "clinic")
	browser := newBrowser(t)
	agent, v1, v2 := newPage(t, browser), newPage(t, browser), newPage(t, browser)
	agentID := joinAs(t, agent, agentLink, "Dr Alex")
	v1ID := joinAs(t, v1, visitorLink, "Vera")
	v2ID := joinAs(t, v2, visitorLink, "Victor")

	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	for _, v := range []context.Context{v1, v2} {
		waitJS(t, v, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden &&
			document.querySelector("#incoming-text").textContent.includes("Dr Alex")`)
		do(t, v, chromedp.Click(chromedp.ID("accept-video")))
	}

	pages := map[string]context.Context{agentID: agent, v1ID: v1, v2ID: v2}
	for me, page := range pages {
		for other := range pages {
			if other == me {
				continue
			}
			waitGrowing(t, page, "video from "+other+" at "+me, other, "video", "framesDecoded")
			waitGrowing(t, page, "audio from "+other+" at "+me, other, "audio", "packetsReceived")
		}
	}
	// The fake microphone beeps: the agent sees the visitors light up as speaking.
	for _, id := range []string{v1ID, v2ID} {
		waitJS(t, agent, "speaking indicator", `document.querySelector(`+jsString(`.tile[data-member-id="`+id+`"][data-spoke]`)+`)`)
	}
	// Chat stays usable during the call.
	sendChat(t, v1, "can you see me?")
	waitJS(t, agent, "chat during the call", seesMessage("Vera", "can you see me?"))

	// Mute: the others stop receiving Vera's audio packets; Victor's go on.
	do(t, v1, chromedp.Click(chromedp.ID("mute-btn")))
	waitJS(t, agent, "Vera shown muted", `document.querySelector(`+jsString(`.tile[data-member-id="`+v1ID+`"].muted`)+`)`)
	time.Sleep(time.Second) // packets already on the way still arrive
	before := inbound(t, agent, v1ID, "audio", "packetsReceived")
	time.Sleep(2 * time.Second)
	if after := inbound(t, agent, v1ID, "audio", "packetsReceived"); after-before > 3 {
		t.Fatalf("muted audio still arriving: %v -> %v packets", before, after)
	}
	waitGrowing(t, agent, "Victor's audio while Vera is muted", v2ID, "audio", "packetsReceived")

	// Screen share: one more video track, decoded by the others and shown large.
	do(t, agent, chromedp.Click(chromedp.ID("screen-btn")))
	for _, v := range []context.Context{v1, v2} {
		waitGrowing(t, v, "the agent's screen", agentID, "screen", "framesDecoded")
		waitJS(t, v, "the screen tile", `document.querySelector(".tile-screen")`)
	}
	do(t, agent, chromedp.Click(chromedp.ID("screen-btn")))
	waitJS(t, v1, "the screen tile gone after stop", `!document.querySelector(".tile-screen")`)

	// Hang up: Victor's tiles go away for the others.
	do(t, v2, chromedp.Click(chromedp.ID("hangup-btn")))
	for _, page := range []context.Context{agent, v1} {
		waitJS(t, page, "Victor's tile gone", `!document.querySelector(`+jsString(`.tile[data-member-id="`+v2ID+`"]`)+`)`)
	}
	if n := eval[int](t, v2, `document.querySelectorAll(".tile").length`); n != 0 {
		t.Fatalf("%d tiles left after hanging up", n)
	}
}

func TestAudioOnlyCallCarriesNoVideo(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "phone-only")
	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	agentID := joinAs(t, agent, agentLink, "Sam")
	visitorID := joinAs(t, visitor, visitorLink, "Pat")

	do(t, agent, chromedp.Click(chromedp.ID("call-audio")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-audio")))
	waitGrowing(t, visitor, "agent audio", agentID, "audio", "packetsReceived")
	waitGrowing(t, agent, "visitor audio", visitorID, "audio", "packetsReceived")
	for _, page := range []context.Context{agent, visitor} {
		n := eval[int](t, page, `window.liveroomCall.sub.getStats().then(r => [...r.values()].filter(s => s.type === "inbound-rtp" && s.kind === "video").length)`)
		if n != 0 {
			t.Fatalf("audio-only call has %d inbound video streams", n)
		}
	}
}

// videoCallOfTwo starts a server and a room where the agent (Ann) calls the
// visitor (Bob) with video; it returns once the agent decodes Bob's video.
func videoCallOfTwo(t *testing.T, roomID string) (agent, visitor context.Context, visitorID string) {
	t.Helper()
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, roomID)
	browser := newBrowser(t)
	agent, visitor = newPage(t, browser), newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	visitorID = joinAs(t, visitor, visitorLink, "Bob")
	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, visitor, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, visitor, chromedp.Click(chromedp.ID("accept-video")))
	waitGrowing(t, agent, "visitor video", visitorID, "video", "framesDecoded")
	return agent, visitor, visitorID
}

// A reload drops the page's media; the page rejoins the call by itself.
func TestReloadRejoinsTheCall(t *testing.T) {
	agent, visitor, visitorID := videoCallOfTwo(t, "reload")

	do(t, visitor, chromedp.Reload())
	waitJS(t, agent, "the old tile gone", `!document.querySelector(`+jsString(`.tile[data-member-id="`+visitorID+`"]`)+`)`)
	// A reload of a room this tab was in goes straight back in.
	waitJS(t, visitor, "rejoined without a click", `document.body.dataset.state === "joined"`)
	newID := eval[string](t, visitor, `window.liveroomCall.memberIdOf()`)
	waitGrowing(t, agent, "visitor video after reload", newID, "video", "framesDecoded")
	waitGrowing(t, visitor, "agent video after reload", eval[string](t, agent, `window.liveroomCall.memberIdOf()`), "video", "framesDecoded")
}

// A connection that drops without a goodbye comes back as the same member:
// the call goes on with the same peer connections and nobody sees a leave.
func TestDroppedConnectionKeepsTheCall(t *testing.T) {
	agent, visitor, visitorID := videoCallOfTwo(t, "tunnel")

	tile := jsString(`.tile[data-member-id="` + visitorID + `"]`)
	eval[bool](t, agent, `(document.querySelector(`+tile+`).dataset.mark = "before") === "before"`)
	eval[bool](t, visitor, `(window.liveroomCall.pub.mark = "before") === "before"`)
	// 4001 is not a goodbye: to the server this is a dropped connection.
	eval[bool](t, visitor, `(window.oldSocket = window.liveroomCall.wire.ws, window.oldSocket.close(4001, "network changed"), true)`)
	waitJS(t, visitor, "reconnected on a new socket", `window.liveroomCall.wire.ws && window.liveroomCall.wire.ws !== window.oldSocket && window.liveroomCall.wire.connected`)
	if id := eval[string](t, visitor, `window.liveroomCall.memberIdOf()`); id != visitorID {
		t.Fatalf("member id changed from %s to %s", visitorID, id)
	}
	if !eval[bool](t, visitor, `window.liveroomCall.inCall && window.liveroomCall.pub.mark === "before"`) {
		t.Fatal("the call was set up again instead of continuing")
	}
	waitGrowing(t, agent, "visitor video after the drop", visitorID, "video", "framesDecoded")
	if !eval[bool](t, agent, `document.querySelector(`+tile+`)?.dataset.mark === "before"`) {
		t.Fatal("the agent's tile of the visitor was replaced")
	}
	if eval[bool](t, agent, `[...document.querySelectorAll("#messages .system, #messages li")].some(e => /Bob left/.test(e.textContent))`) {
		t.Fatal("the agent was told the visitor left")
	}
}

// A member whose page asks for simulcast (?simulcast=1) sends its camera as
// layers; the SFU gives the other member one of them, decoded like any
// video, and the member's own picture of the other is unchanged.
func TestVideoCallWithSimulcastCamera(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "layers")
	u, err := url.Parse(agentLink)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("simulcast", "1")
	u.RawQuery = q.Encode()
	browser := newBrowser(t)
	agent, v := newPage(t, browser), newPage(t, browser)
	agentID := joinAs(t, agent, u.String(), "Dr Alex")
	vID := joinAs(t, v, visitorLink, "Vera")

	do(t, agent, chromedp.Click(chromedp.ID("call-video")))
	waitJS(t, v, "the incoming-call prompt", `!document.querySelector("#incoming-call").hidden`)
	do(t, v, chromedp.Click(chromedp.ID("accept-video")))
	waitGrowing(t, v, "the agent's simulcast camera at the visitor", agentID, "video", "framesDecoded")
	waitGrowing(t, agent, "the visitor's camera at the agent", vID, "video", "framesDecoded")
	waitJS(t, agent, "the agent sending simulcast layers", `window.liveroomCall.pub.getStats().then(s => {
		let n = 0;
		s.forEach(r => { if (r.type === "outbound-rtp" && r.kind === "video" && r.rid && r.bytesSent > 0) n++; });
		return n >= 2;
	})`)
	if n := srv.waitLogCount(`"simulcast layer"`, 2); n < 2 {
		t.Fatalf("the SFU took %d simulcast layers of the agent's camera, want at least 2", n)
	}
	waitGrowing(t, v, "the agent's camera still decoding", agentID, "video", "framesDecoded")
}
