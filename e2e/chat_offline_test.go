package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// While the link is down the page says so, offers "Reconnect now", and shows
// a message at once as "sending"; when the link is back the message goes out
// and is marked sent. A too long paste is kept whole and explained.
func TestChatWhileTheLinkIsDown(t *testing.T) {
	srv := startServer(t, t.TempDir())
	visitorLink, agentLink := createRoomLinks(t, srv, "offline-chat")
	proxy := newCutProxy(t, srv.URL[len("http://"):])
	visitorLink = proxy.URL() + visitorLink[len(srv.URL):]
	browser := newBrowser(t)
	agent, visitor := newPage(t, browser), newPage(t, browser)
	joinAs(t, agent, agentLink, "Ann")
	joinAs(t, visitor, visitorLink, "Bob")

	proxy.Cut()
	waitLong(t, visitor, "the page saying it lost the link, with Reconnect now", `document.querySelector("#conn-status").dataset.status !== "connected" &&
		!/^Connected/.test(document.querySelector("#conn-status").textContent) && !document.querySelector("#reconnect-now").hidden`, 60*time.Second)
	sendChat(t, visitor, "written while cut off")
	waitJS(t, visitor, "the message shown at once as sending", `[...document.querySelectorAll("#messages .msg.pending")].some(m =>
		m.querySelector(".msg-text").textContent === "written while cut off" && /sending/.test(m.textContent))`)
	proxy.Restore()
	// A person would press the button now rather than sit out the backoff.
	do(t, visitor, chromedp.Evaluate[chromedp.Void](`document.querySelector("#reconnect-now").click()`))
	waitLong(t, agent, "the message at the agent", seesMessage("Bob", "written while cut off"), 60*time.Second)
	waitJS(t, visitor, "the message marked sent", `!document.querySelector("#messages .msg.pending") && `+seesMessage("Bob", "written while cut off"))
	if n := eval[int](t, visitor, `[...document.querySelectorAll("#messages .msg")].filter(m => m.querySelector(".msg-text").textContent === "written while cut off").length`); n != 1 {
		t.Fatalf("the message shows %d times", n)
	}

	// A paste over the limit is kept whole; the page says why it cannot go.
	long := strings.Repeat("x", 4001)
	do(t, visitor, chromedp.SetValue(chromedp.ID("chat-input"), long),
		chromedp.Evaluate[chromedp.Void](`document.querySelector("#chat-input").dispatchEvent(new Event("input"))`))
	waitJS(t, visitor, "the length explained", `/4,001/.test(document.querySelector("#chat-error").textContent) &&
		/4,000/.test(document.querySelector("#chat-error").textContent) && document.querySelector("#chat-send").disabled`)
	if n := eval[int](t, visitor, `document.querySelector("#chat-input").value.length`); n != 4001 {
		t.Fatalf("the paste was cut to %d characters", n)
	}

	// The browser offline: the page does not claim to be connected.
	if _, err := chromedp.Call(visitor, network.Enable, network.EnableParams{}); err != nil {
		t.Fatal(err)
	}
	offline := func(off bool) {
		t.Helper()
		if _, err := chromedp.Call(visitor, network.OverrideNetworkState, network.OverrideNetworkStateParams{Offline: off, DownloadThroughput: -1, UploadThroughput: -1}); err != nil {
			t.Fatal(err)
		}
	}
	offline(true)
	waitJS(t, visitor, "offline shown", `!navigator.onLine && /offline/i.test(document.querySelector("#conn-status").textContent)`)
	offline(false)
	waitLong(t, visitor, "connected again", `navigator.onLine && document.querySelector("#conn-status").textContent === "Connected"`, 60*time.Second)
}
