package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/zap"

	"liveroom/internal/smtptest"
	"liveroom/persistence"
)

// admin runs `liveroom admin ...` on dataDir (the server must not run on it).
// admin refuses a folder without a store, so a fresh dataDir first gets one,
// as a server's first start would make it.
func admin(t *testing.T, dataDir, stdin string, args ...string) string {
	t.Helper()
	ensureStore(t, dataDir)
	cmd := exec.Command(binary, append(append([]string{"admin"}, args...), "--data-dir", dataDir, "--password-cost", "4")...)
	cmd.Dir = t.TempDir()
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("liveroom admin %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// ensureStore creates an empty store in dataDir unless it has one.
func ensureStore(t *testing.T, dataDir string) {
	t.Helper()
	s, err := persistence.OpenPebble(filepath.Join(dataDir, "store"), zap.NewNop(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func addAgent(t *testing.T, dataDir, id, name, email, password string) {
	t.Helper()
	args := []string{"agent", "add", "--id", id, "--name", name, "--password-stdin"}
	if email != "" {
		args = append(args, "--email", email)
	}
	admin(t, dataDir, password+"\n", args...)
}

var keyRE = regexp.MustCompile(`lrk_[A-Za-z0-9_-]+`)

func addAPIKey(t *testing.T, dataDir, agentID string) string {
	t.Helper()
	out := admin(t, dataDir, "", "apikey", "add", "--agent", agentID, "--name", "test")
	key := keyRE.FindString(out)
	if key == "" {
		t.Fatalf("no key in %q", out)
	}
	return key
}

// hostSite serves a page on another origin (127.0.0.2, or another port when
// that address is not available) that embeds the contact button.
func hostSite(t *testing.T, srv *server, attrs string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.2:0")
	if err != nil {
		l, err = net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
	}
	page := `<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Shop · Blue kettle</title>
<style>button { background: red !important; font-size: 40px !important; }</style></head>
<body><h1>Blue kettle</h1><p>A page on another site.</p>
<script src="` + srv.URL + `/static/button.js" ` + attrs + ` async></script></body></html>`
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = io.WriteString(w, page)
	}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(l) }()
	t.Cleanup(func() { _ = hs.Close() })
	return "http://" + l.Addr().String() + "/shop/kettle?id=7"
}

// openPage is newPage with the tab's own cancel, to close it mid-test.
func openPage(t *testing.T, browser context.Context) (context.Context, context.CancelFunc) {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	if err := chromedp.Do(ctx); err != nil {
		cancel()
		t.Fatalf("open tab: %v", err)
	}
	t.Cleanup(cancel)
	return ctx, cancel
}

// btn evaluates an expression on the button's shadow root, bound as `b`.
func btn(expr string) string {
	return `(() => { const host = document.querySelector(".liveroom-button"); if (!host) return null;
		const b = host.shadowRoot; return (` + expr + `); })()`
}

func presenceIs(p string) string {
	return btn(`host.dataset.presence === ` + jsString(p))
}

func loginAgent(t *testing.T, page context.Context, srv *server, id, password string) {
	t.Helper()
	do(t, page, chromedp.Navigate(srv.URL+"/agent"))
	waitJS(t, page, "the login form", `document.body.dataset.state === "login"`)
	do(t, page,
		chromedp.SetValue(chromedp.ID("login-id"), id),
		chromedp.SetValue(chromedp.ID("login-password"), password),
		chromedp.Click(chromedp.ID("login-button")))
	waitJS(t, page, "the agent dashboard", `document.body.dataset.state === "dashboard"`)
}

// decodedBody returns a received mail's text body.
func decodedBody(t *testing.T, m smtptest.Mail) (*mail.Message, string) {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(m.Data))
	if err != nil {
		t.Fatalf("received mail does not parse: %v\n%s", err, m.Data)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatal(err)
	}
	return msg, string(b)
}

func TestContactButtonFromAnotherSiteToRoomPresenceAndOfflineMail(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "alice", "Alice Agent", "alice@example.com", "correct horse battery")
	smtp := smtptest.Start(t)
	srv := startServer(t, dataDir, "--smtp-addr", smtp.Addr, "--smtp-tls", "none")
	site := hostSite(t, srv, `data-agent-id="alice" data-text="Talk to us" data-offline_email="alice@example.com"`)
	t.Logf("host page %s, Liveroom %s", site, srv.URL)
	if strings.HasPrefix(site, srv.URL) {
		t.Fatalf("host page %s is on the server's origin", site)
	}
	browser := newBrowser(t)

	// A visitor on the shop page: the button says no one is there.
	visitor := newPage(t, browser)
	do(t, visitor, chromedp.Navigate(site))
	waitJS(t, visitor, "the button, offline", presenceIs("offline"))
	// The host page's CSS does not reach into the button.
	if fs := eval[string](t, visitor, btn(`getComputedStyle(b.querySelector(".fab")).fontSize`)); fs == "40px" {
		t.Fatal("the host page's CSS styled the button")
	}
	// A second visitor stays on the page the whole time.
	watcher := newPage(t, browser)
	do(t, watcher, chromedp.Navigate(site))
	waitJS(t, watcher, "the second button, offline", presenceIs("offline"))

	// The agent logs in; both buttons turn online.
	agentPage, closeAgentPage := openPage(t, browser)
	loginAgent(t, agentPage, srv, "alice", "correct horse battery")
	waitJS(t, visitor, "the button, online", presenceIs("online"))
	waitJS(t, watcher, "the second button, online", presenceIs("online"))

	// Presence is a switch: off means away, and the button says so (not
	// the same words as when nobody is there).
	waitJS(t, agentPage, "the presence switch, on", `document.querySelector("#presence-toggle").getAttribute("role") === "switch" &&
		document.querySelector("#presence-toggle").getAttribute("aria-checked") === "true"`)
	do(t, agentPage, chromedp.Click(chromedp.ID("presence-toggle")))
	waitJS(t, agentPage, "the presence switch, off", `document.querySelector("#presence-toggle").getAttribute("aria-checked") === "false" &&
		document.querySelector("#presence-state").textContent === "away"`)
	waitJS(t, watcher, "the button saying away", presenceIs("away")+` && `+btn(`/away/i.test(b.querySelector(".label").textContent)`))
	do(t, agentPage, chromedp.Click(chromedp.ID("presence-toggle")))
	waitJS(t, watcher, "the button online again", presenceIs("online"))

	// The agent sees the visitors: page address and time on page.
	waitJS(t, agentPage, "two visitors listed", `document.querySelectorAll("#visitors li.visitor").length === 2`)
	if got := eval[string](t, agentPage, `document.querySelector("#visitors .visitor-page").textContent`); got != site {
		t.Fatalf("visitor page shown as %q, want %q", got, site)
	}
	if got := eval[string](t, agentPage, `document.querySelector("#visitors .visitor-title").textContent`); got != "Shop · Blue kettle" {
		t.Fatalf("visitor page title shown as %q", got)
	}
	waitJS(t, agentPage, "time on page counting", `/^0:0[1-9]$|^0:[1-5]\d$/.test(document.querySelector("#visitors .visitor-time").textContent)`)

	// The visitor asks for a video call.
	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".fab").click()`)))
	waitJS(t, visitor, "the chat or call choice", btn(`host.dataset.view === "choose"`))
	do(t, visitor, chromedp.Evaluate[chromedp.Void](btn(`(b.querySelector("#lr-name").value = "Vera", b.querySelector(".video").click())`)))
	waitJS(t, visitor, "waiting in line", btn(`host.dataset.view === "waiting"`))

	// The agent gets the request, with the name, and accepts.
	waitJS(t, agentPage, "the request", `document.querySelector("#requests li.request .item-name")?.textContent === "Vera" &&
		document.querySelector("#requests li.request .tag").textContent === "video call"`)
	// Accepting opens the room in a new tab, which goes straight in. Here a
	// popup blocker stops that tab, so the agent uses the page's link.
	eval[bool](t, agentPage, `(window.open = () => null, true)`)
	do(t, agentPage, chromedp.Click(chromedp.CSS(`#requests li.request button.accept`)))
	waitJS(t, agentPage, "the room link", `document.querySelector("#requests a.open-room")`)
	agentLink := eval[string](t, agentPage, `document.querySelector("#requests a.open-room").href`)
	waitJS(t, visitor, "the room is ready", btn(`host.dataset.view === "ready"`))
	visitorLink := eval[string](t, visitor, btn(`b.querySelector("a.join").href`))
	roomURL := strings.TrimSuffix(visitorLink, "#call=video")
	if !strings.HasPrefix(visitorLink, srv.URL+"/room/") || !strings.HasSuffix(visitorLink, "#call=video") ||
		!strings.HasPrefix(agentLink, roomURL+"#agent=") || !strings.HasSuffix(agentLink, "&call=video") {
		t.Fatalf("links: visitor %q agent %q", visitorLink, agentLink)
	}

	// Both meet in the room and chat: the links go straight in, no form
	// to confirm (names are known, the agent needs no password).
	agentRoom := newPage(t, browser)
	do(t, agentRoom, chromedp.Navigate(agentLink))
	waitJS(t, agentRoom, "agent in the room without a click", `document.body.dataset.state === "joined"`)
	do(t, visitor, chromedp.Navigate(visitorLink)) // the visitor's tab follows the link
	waitJS(t, visitor, "visitor in the room without a click", `document.body.dataset.state === "joined"`)
	waitJS(t, agentRoom, "agent sees Vera", seesMember("Vera"))
	waitJS(t, visitor, "Vera sees the agent", seesMember("Alice Agent"))
	sendChat(t, visitor, "Hello, is the blue kettle in stock?")
	waitJS(t, agentRoom, "the question at the agent", seesMessage("Vera", "Hello, is the blue kettle in stock?"))
	sendChat(t, agentRoom, "Yes, two left.")
	waitJS(t, visitor, "the answer at the visitor", seesMessage("Alice Agent", "Yes, two left."))
	// They asked for video: both pages are in the call and get the other's video.
	for _, p := range []context.Context{agentRoom, visitor} {
		waitJS(t, p, "both in the call", `window.liveroomCall.inCall && window.liveroomCall.participants.size === 2`)
	}
	waitGrowing(t, visitor, "the agent's video at the visitor", eval[string](t, agentRoom, `window.liveroomCall.memberIdOf()`), "video", "framesDecoded")
	if h := eval[string](t, visitor, `location.hash`); h != "" {
		t.Fatalf("the call hint stayed in the address: %q", h)
	}

	// The agent closes the agent page: the other visitor's button goes
	// offline within seconds.
	start := time.Now()
	closeAgentPage()
	waitJS(t, watcher, "the button, offline again", presenceIs("offline"))
	took := time.Since(start)
	// waitJS's deadline bounds it; how long it took depends on the machine.
	t.Logf("button went offline %v after the agent page closed", took)

	// Offline: the form mails the agent through the SMTP server.
	offlineSend := func(text string) {
		do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".fab").click()`)))
		waitJS(t, watcher, "the offline form", btn(`!!b.querySelector("form.offline-form")`))
		do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`(() => {
			b.querySelector("#lr-off-name").value = "Walter";
			b.querySelector("#lr-off-email").value = "walter@example.org";
			b.querySelector("#lr-off-message").value = `+jsString(text)+`;
			b.querySelector("form.offline-form .send").click(); })()`)))
	}
	// Required fields are checked in the form first.
	do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".fab").click()`)))
	waitJS(t, watcher, "the offline form", btn(`!!b.querySelector("form.offline-form")`))
	do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector("form.offline-form .send").click()`)))
	waitJS(t, watcher, "the missing-name error", btn(`/name/i.test(b.querySelector("form.offline-form .error").textContent)`))
	// A wrong address is flagged; correcting it clears the error at once.
	do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`(() => { b.querySelector("#lr-off-name").value = "Walter";
		b.querySelector("#lr-off-email").value = "walter@"; b.querySelector("form.offline-form .send").click(); })()`)))
	waitJS(t, watcher, "the email error", btn(`/email/i.test(b.querySelector("form.offline-form .error").textContent) &&
		b.querySelector("#lr-off-email").getAttribute("aria-invalid") === "true"`))
	do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`(() => { const e = b.querySelector("#lr-off-email");
		e.value = "walter@example.org"; e.dispatchEvent(new Event("input")); })()`)))
	waitJS(t, watcher, "the email error gone without pressing Send", btn(`b.querySelector("form.offline-form .error").textContent === "" &&
		!b.querySelector("#lr-off-email").hasAttribute("aria-invalid")`))
	do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".close").click()`)))

	mailed := "Please call me back about the kettle.\nThanks — Walter"
	offlineSend(mailed)
	waitJS(t, watcher, "the thank-you note", btn(`host.dataset.sent === "mailed"`))
	// Nobody is there yet: the panel does not go back to "Talk to us".
	if title := eval[string](t, watcher, btn(`b.querySelector("#lr-title").textContent`)); title != "Message sent" {
		t.Fatalf("after sending, the panel's title is %q", title)
	}
	select {
	case <-smtp.Received():
	case <-time.After(10 * time.Second):
		t.Fatal("no mail reached the SMTP server")
	}
	m := smtp.Mails()[0]
	msg, body := decodedBody(t, m)
	if len(m.To) != 1 || m.To[0] != "alice@example.com" || !strings.Contains(body, strings.ReplaceAll(mailed, "\n", "\r\n")) ||
		!strings.Contains(msg.Header.Get("Reply-To"), "walter@example.org") || !strings.Contains(body, site) {
		t.Fatalf("mail to %v, Reply-To %q, body:\n%s", m.To, msg.Header.Get("Reply-To"), body)
	}

	// SMTP down: the visitor is told, and the message is kept for the agent.
	smtp.Close()
	kept := "Second try while your mail server is down."
	do(t, watcher, chromedp.Evaluate[chromedp.Void](btn(`b.querySelector(".close").click()`)))
	offlineSend(kept)
	waitJS(t, watcher, "the kept note", btn(`host.dataset.sent === "kept"`))
	if note := eval[string](t, watcher, btn(`b.querySelector(".note").textContent`)); !strings.Contains(note, "saved") {
		t.Fatalf("visitor was told %q", note)
	}
	again := newPage(t, browser)
	loginAgent(t, again, srv, "alice", "correct horse battery")
	waitJS(t, again, "the kept message on the agent page", `[...document.querySelectorAll("#offline .offline-msg")].some(m =>
		m.querySelector(".offline-text").textContent === `+jsString(kept)+` && m.textContent.includes("not emailed"))`)
	waitJS(t, again, "the mailed message too", `[...document.querySelectorAll("#offline .offline-msg")].some(m =>
		m.textContent.includes("emailed") && m.querySelector(".offline-text").textContent.startsWith("Please call me back"))`)
}

func TestScheduledRoomsAndEntryForm(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "bob", "Bob Host", "", "bob-password-1")
	key := addAPIKey(t, dataDir, "bob")
	srv := startServer(t, dataDir)
	create := func(body string) map[string]any {
		t.Helper()
		status, res := apiCall(t, srv, "POST", "/api/v1/rooms", key, body)
		if status != http.StatusCreated {
			t.Fatalf("create %s: %d %v", body, status, res)
		}
		return res
	}
	now := time.Now()
	create(fmt.Sprintf(`{"id":"later","startsAt":%q,"durationMinutes":30}`, now.Add(2*time.Hour).UTC().Format(time.RFC3339)))
	create(fmt.Sprintf(`{"id":"over","startsAt":%q,"durationMinutes":60}`, now.Add(-3*time.Hour).UTC().Format(time.RFC3339)))
	form := create(`{"id":"form","visitorName":"Vi","entryForm":{"enabled":true,"required":true,"showEmail":true,"showAvatar":true}}`)

	browser := newBrowser(t)
	page := newPage(t, browser)
	do(t, page, chromedp.Navigate(srv.URL+"/room/later"))
	waitJS(t, page, "the not-open page", `document.body.dataset.state === "not-open"`)
	text := eval[string](t, page, `document.querySelector("#schedule-panel").textContent`)
	if !strings.Contains(text, "not open yet") || !strings.Contains(text, "opens on") || eval[bool](t, page, `!document.querySelector("#join-panel").hidden`) {
		t.Fatalf("before the window the page says %q", text)
	}
	do(t, page, chromedp.Navigate(srv.URL+"/room/over"))
	waitJS(t, page, "the closed page", `document.body.dataset.state === "closed"`)
	if text := eval[string](t, page, `document.querySelector("#schedule-panel").textContent`); !strings.Contains(text, "closed") {
		t.Fatalf("after the window the page says %q", text)
	}
	// The server refuses too, whatever the page does.
	c := dialWS(t, srv)
	c.send(`{"id":"1","join":{"roomId":"later","name":"Early"}}`)
	c.expectError("room_not_open")
	c.send(`{"id":"2","join":{"roomId":"over","name":"Late"}}`)
	c.expectError("room_closed")
	c.send(`{"id":"3","join":{"roomId":"form","name":"Vi","email":"vi@example.com"}}`)
	c.expectError("entry_required")

	// The entry form: required fields block entry until filled.
	joinRoom(t, page, srv.URL+"/room/form", "", "")
	waitJS(t, page, "the missing-email error", `/email/i.test(document.querySelector("#join-error").textContent)`)
	do(t, page, chromedp.SetValue(chromedp.ID("join-email"), "vi@example.com"), chromedp.Click(chromedp.ID("join-button")))
	waitJS(t, page, "the missing-avatar error", `/avatar/i.test(document.querySelector("#join-error").textContent)`)
	do(t, page, chromedp.SetValue(chromedp.ID("join-avatar"), "javascript:alert(1)"), chromedp.Click(chromedp.ID("join-button")))
	waitJS(t, page, "the bad-avatar error", `/http/i.test(document.querySelector("#join-error").textContent)`)
	if eval[string](t, page, `document.body.dataset.state`) != "joining" {
		t.Fatal("joined without a complete entry form")
	}
	do(t, page, chromedp.SetValue(chromedp.ID("join-avatar"), "https://avatars.example/vi.png"), chromedp.Click(chromedp.ID("join-button")))
	waitJS(t, page, "joined after filling the form", `document.body.dataset.state === "joined"`)

	// The agent sees the entry details in the members list.
	agent := newPage(t, browser)
	joinRoom(t, agent, form["agentUrl"].(string), "", "")
	waitJS(t, agent, "the visitor's email at the agent", `document.querySelector("#members .member-email")?.textContent === "vi@example.com"`)
	if src := eval[string](t, agent, `document.querySelector("#members .member-avatar")?.src || ""`); src != "https://avatars.example/vi.png" {
		t.Fatalf("avatar shown as %q", src)
	}
	// ... and the entry is stored with the room.
	status, res := apiCall(t, srv, "GET", "/api/v1/rooms/form", key, "")
	if status != http.StatusOK || res["entryForm"] == nil {
		t.Fatalf("room: %d %v", status, res)
	}
}

// apiCall sends a JSON request with an optional API key and decodes the answer.
func apiCall(t *testing.T, srv *server, method, path, key, body string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, srv.URL+path, rd)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := map[string]any{}
	if len(bytes.TrimSpace(raw)) > 0 {
		_ = json.Unmarshal(raw, &out)
	}
	return resp.StatusCode, out
}

// The agent page's room form starts from the server's recording defaults,
// and what the agent changes there is the new room's recording options.
func TestAgentPageRoomFormRecordingOptions(t *testing.T) {
	dataDir := t.TempDir()
	addAgent(t, dataDir, "ada", "Ada Host", "", "ada-password-1")
	key := addAPIKey(t, dataDir, "ada")
	srv := startServer(t, dataDir, "--recording=true", "--recording-save-server=true", "--recording-auto-start=false",
		"--recording-download=false")
	page := newPage(t, newBrowser(t))
	loginAgent(t, page, srv, "ada", "ada-password-1")
	boxes := `["new-rec-enabled","new-rec-autostart","new-rec-save","new-rec-download","new-rec-visitors"]
		.map((id) => document.getElementById(id).checked).join(",")`
	if got := eval[string](t, page, boxes); got != "true,false,true,false,false" {
		t.Fatalf("recording boxes start as %s, want the server's defaults", got)
	}
	do(t, page,
		chromedp.SetValue(chromedp.ID("new-room-id"), "taped"),
		chromedp.Click(chromedp.ID("new-rec-autostart")),
		chromedp.Click(chromedp.ID("new-rec-save")),
		chromedp.Click(chromedp.ID("create-button")))
	waitJS(t, page, "the new room in the list with its recording tag",
		`[...document.querySelectorAll("#rooms li")].some((li) => li.textContent.includes("taped") && li.textContent.includes("records calls"))`)
	if got := eval[string](t, page, boxes); got != "true,false,true,false,false" {
		t.Fatalf("recording boxes after creating: %s, want the defaults again", got)
	}
	status, res := apiCall(t, srv, "GET", "/api/v1/rooms/taped", key, "")
	rec, _ := res["recording"].(map[string]any)
	if status != http.StatusOK || rec["enabled"] != true || rec["autoStart"] != true || rec["saveServer"] != false {
		t.Fatalf("room: %d %v", status, res)
	}
}
